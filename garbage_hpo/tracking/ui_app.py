"""The MLflow UI server as `make ui` starts it: MLflow's own, opening experiments on their training runs.

MLflow 3.17's UI (its `main.*.js`) picks an experiment's view from the URL's `workflowType` parameter, else from
the browser's local-storage entry `mlflow.workflowType_v1`, which starts as "genai" and which the sidebar's
"Model training" toggle writes. No experiment tag or server flag sets it, and links inside the UI (the
experiment list, a run's breadcrumbs, Compare) carry no parameter, so every way in but our printed links
landed on the empty GenAI overview. This app serves the UI page with one line of script that sets that entry
to "machine_learning" where the browser has none yet; a user who switches the toggle keeps their choice. The
same line keeps the Assistant panel from opening by itself on a first visit (it halved every picture).

Registered as MLflow app `garbage-hpo` (pyproject.toml, entry point group `mlflow.app`):
`mlflow server --app-name garbage-hpo ...`.
"""

from __future__ import annotations

from pathlib import Path

WORKFLOW_KEY = "mlflow.workflowType_v1"  # MLflow's useLocalStorage key: `${key}_v${version}`
# The Assistant panel opens by itself on a browser's first visit to a local server (the bundle records that it
# did under this key) and shrinks every picture beside it to about half; marked as done, it stays closed until
# the user opens it
ASSISTANT_KEY = "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1"
TRAINING_DEFAULT = (
    f"<script>try{{if(!localStorage.getItem('{WORKFLOW_KEY}'))localStorage.setItem('{WORKFLOW_KEY}',"
    "JSON.stringify('machine_learning'));"
    f"if(!localStorage.getItem('{ASSISTANT_KEY}'))localStorage.setItem('{ASSISTANT_KEY}','true')}}catch(e){{}}"
    "</script>")


def with_training_default(index_html: str) -> str:
    """The UI page with the default set before MLflow's own scripts run (they read it once, on start)."""
    head = index_html.find("<head>")
    if head < 0:
        return TRAINING_DEFAULT + index_html
    at = head + len("<head>")
    return index_html[:at] + TRAINING_DEFAULT + index_html[at:]


def create_app():
    """MLflow's app (the FastAPI wrapper under uvicorn, MLflow's default server; the Flask app otherwise) with the
    UI page served through `with_training_default`."""
    from flask import Response
    from mlflow.environment_variables import _MLFLOW_SGI_NAME
    from mlflow.server import app as flask_app

    index = Path(flask_app.static_folder) / "index.html"
    page = with_training_default(index.read_text(encoding="utf-8")) if index.is_file() else None

    def serve() -> Response:
        if page is None:  # MLflow's own message for a wheel without the UI
            return original()
        return Response(page, mimetype="text/html")

    original = flask_app.view_functions["serve"]
    flask_app.view_functions["serve"] = serve
    if _MLFLOW_SGI_NAME.get() == "uvicorn":
        from mlflow.server.fastapi_app import create_fastapi_app

        return create_fastapi_app(flask_app)
    return flask_app
