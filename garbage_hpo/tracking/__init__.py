"""MLflow: runs and what they record (runs), the names of what they record (names), stores checked
before use (store_check), a command's store and Ctrl-C (commands), the UI's saved view and app (ui_views, ui_app).

The names below are this package's public face, each loaded on first use (runtime/lazy.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from garbage_hpo.runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from garbage_hpo.tracking.commands import stop_at_once, tracking_uri
    from garbage_hpo.tracking.names import (
        CURVE,
        CV_CURVE,
        CV_SCORES,
        MODEL,
        PER_CATEGORY,
        PER_CLASS,
        best_name,
        class_labels,
        per_category_metrics,
        per_class_metrics,
        score_name,
    )
    from garbage_hpo.tracking.runs import (
        Tracker,
        client_for,
        default_tracking_uri,
        flatten,
        git_commit,
        mlflow_key,
        owner_tags,
        page_link,
        ui_hint,
        ui_link,
    )
    from garbage_hpo.tracking.store_check import check_tracking_store
    from garbage_hpo.tracking.store_kind import refuse_mlflow_database
    from garbage_hpo.tracking.ui_views import VIEW_KEY, save_trials_view
    from garbage_hpo.tracking.uris import hide_password, hide_passwords

_WHERE = {
    "CURVE": "names",
    "CV_CURVE": "names",
    "CV_SCORES": "names",
    "MODEL": "names",
    "PER_CATEGORY": "names",
    "PER_CLASS": "names",
    "Tracker": "runs",
    "VIEW_KEY": "ui_views",
    "best_name": "names",
    "check_tracking_store": "store_check",
    "class_labels": "names",
    "client_for": "runs",
    "default_tracking_uri": "runs",
    "flatten": "runs",
    "git_commit": "runs",
    "hide_password": "uris",
    "hide_passwords": "uris",
    "mlflow_key": "runs",
    "owner_tags": "runs",
    "per_category_metrics": "names",
    "per_class_metrics": "names",
    "refuse_mlflow_database": "store_kind",
    "save_trials_view": "ui_views",
    "score_name": "names",
    "stop_at_once": "commands",
    "tracking_uri": "commands",
    "ui_hint": "runs",
    "page_link": "runs",
    "ui_link": "runs",
}
__all__ = [
    "CURVE",
    "CV_CURVE",
    "CV_SCORES",
    "MODEL",
    "PER_CATEGORY",
    "PER_CLASS",
    "Tracker",
    "VIEW_KEY",
    "best_name",
    "check_tracking_store",
    "class_labels",
    "client_for",
    "default_tracking_uri",
    "flatten",
    "git_commit",
    "hide_password",
    "hide_passwords",
    "mlflow_key",
    "owner_tags",
    "per_category_metrics",
    "per_class_metrics",
    "refuse_mlflow_database",
    "save_trials_view",
    "score_name",
    "stop_at_once",
    "tracking_uri",
    "ui_hint",
    "page_link",
    "ui_link",
]
__getattr__ = lazy_exports(__name__, _WHERE)
