"""A saved view of a sweep's trials in the MLflow 3 UI: ranked by their score, with its interval and the sampled
values.

MLflow's runs table opens on a few attribute columns (no metric, no param) with parent runs collapsed, so a
sweep's trials and their scores are out of sight. The UI keeps named views of its runs table in experiment
tags `mlflow.sharedViewState.<key>` (an envelope {name, createdAt, updatedAt, state}; `state` is the JSON of
the table's search facets and columns) and opens one from the URL parameter `viewStateShareKey=<key>`; it
also lists them under the page's "Views" menu. tests/test_ui_browser.py opens it in the pinned MLflow's UI
in headless Chromium (where Chromium is installed) and checks the rows' order.
"""

from __future__ import annotations

import contextlib
import json
import time

from garbage_hpo.tracking.names import interval_names
from garbage_hpo.tracking.runs import mlflow_key

VIEW_KEY = "trials"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
VIEW_NAME = "trials by score"


def column(kind: str, name: str) -> str:
    """The UI's canonical column key, e.g. metrics.`cv_mean`."""
    return f"{kind}.`{name}`"


def trials_view_state(sampled: list[str], scores: list[str], ascending: bool = False) -> dict:
    """Trial runs only (shown flat, not under their collapsed parents), best score first, with the score(s)
    under their one names (metric_names.score_name), each followed by its 95% interval, then every sampled
    value as columns."""
    metrics: list[str] = []
    for score in scores:
        metrics += [score, *(interval_names(score) or ())]
    if "cv_mean" in scores:
        metrics.append("cv_std")
    columns = [column("metrics", k) for k in metrics]
    columns += [column("params", mlflow_key(f"sampled.{name}")) for name in sampled]  # as trial runs log them
    return {"searchFilter": "tags.`hpo.role` = 'trial'", "orderByKey": column("metrics", scores[0]),
            "orderByAsc": ascending, "selectedColumns": columns}


def save_trials_view(client, experiment_id: str, sampled: list[str], scores: list[str],
                     ascending: bool = False) -> None:
    """Store the view on the experiment unless it is already there with the same state."""
    state = json.dumps(trials_view_state(sampled, scores, ascending), sort_keys=True)
    current = client.get_experiment(experiment_id).tags.get(VIEW_TAG)
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        if current and json.loads(current).get("state") == state:
            return
    now = int(time.time() * 1000)
    envelope = json.dumps({"name": VIEW_NAME, "createdAt": now, "updatedAt": now, "state": state})
    with contextlib.suppress(Exception):  # two workers racing to insert the same tag: the loser finds it set
        client.set_experiment_tag(experiment_id, VIEW_TAG, envelope)
