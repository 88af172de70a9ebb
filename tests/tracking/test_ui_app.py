"""`make ui`'s server: MLflow's own, serving its UI page with the training-runs default (tracking/ui_app.py).
What the browser then shows is in test_ui_browser.py (where Chromium is installed)."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import mlflow
import pytest

from garbage_hpo.tracking.ui_app import ASSISTANT_KEY, TRAINING_DEFAULT, WORKFLOW_KEY, with_training_default
from tests.conftest import make_ui_server

UI = Path(mlflow.__file__).parent / "server" / "js" / "build"


def test_the_shipped_ui_still_reads_the_entry_the_default_sets():
    # MLflow's useLocalStorage stores `${key}_v${version}`; an MLflow that renames the entry fails here, not silently
    bundle = next((UI / "static" / "js").glob("main.*.js")).read_text(encoding="utf-8")
    found = re.search(r'key:"(mlflow\.workflowType)",version:(\d+)', bundle)
    assert found is not None and f"{found.group(1)}_v{found.group(2)}" == WORKFLOW_KEY
    assert "e.GENAI=\"genai\",e.MACHINE_LEARNING=\"machine_learning\"" in bundle
    # the Assistant's record that it opened itself once: set, the panel stays closed
    found = re.search(r'key:"(mlflow\.assistant\.fab\.autoOpenedOnFirstLoad)",version:(\d+)', bundle)
    assert found is not None and f"{found.group(1)}_v{found.group(2)}" == ASSISTANT_KEY
    assert f"if(!localStorage.getItem('{ASSISTANT_KEY}'))" in TRAINING_DEFAULT


def test_the_default_runs_before_mlflows_scripts_and_keeps_a_users_choice():
    page = with_training_default((UI / "index.html").read_text(encoding="utf-8"))
    assert page.index(TRAINING_DEFAULT) < page.index("<script defer")
    assert f"if(!localStorage.getItem('{WORKFLOW_KEY}'))" in TRAINING_DEFAULT  # set only where nothing is


@pytest.mark.slow
def test_make_uis_server_serves_the_page_with_the_default(runs):
    with make_ui_server(runs / "mlflow.db") as base:
        with urllib.request.urlopen(f"{base}/", timeout=10) as response:
            page = response.read().decode()
        assert TRAINING_DEFAULT in page
        with urllib.request.urlopen(f"{base}/api/2.0/mlflow/experiments/search?max_results=5", timeout=10) as reply:
            assert b"experiments" in reply.read()  # and MLflow's API behind it
