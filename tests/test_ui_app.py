"""`make ui`'s server: MLflow's own, serving its UI page with the training-runs default (garbage_hpo/ui_app.py).
What the browser then shows is in test_ui_browser.py (where Chromium is installed)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest

from garbage_hpo.ui_app import TRAINING_DEFAULT, WORKFLOW_KEY, with_training_default
from tests.test_ui_browser import free_port

UI = Path(mlflow.__file__).parent / "server" / "js" / "build"


def test_the_shipped_ui_still_reads_the_entry_the_default_sets():
    # MLflow's useLocalStorage stores `${key}_v${version}`; an MLflow that renames the entry fails here, not silently
    bundle = next((UI / "static" / "js").glob("main.*.js")).read_text(encoding="utf-8")
    found = re.search(r'key:"(mlflow\.workflowType)",version:(\d+)', bundle)
    assert found is not None and f"{found.group(1)}_v{found.group(2)}" == WORKFLOW_KEY
    assert "e.GENAI=\"genai\",e.MACHINE_LEARNING=\"machine_learning\"" in bundle


def test_the_default_runs_before_mlflows_scripts_and_keeps_a_users_choice():
    page = with_training_default((UI / "index.html").read_text(encoding="utf-8"))
    assert page.index(TRAINING_DEFAULT) < page.index("<script defer")
    assert f"if(!localStorage.getItem('{WORKFLOW_KEY}'))" in TRAINING_DEFAULT  # set only where nothing is


@pytest.mark.slow
def test_make_uis_server_serves_the_page_with_the_default(runs):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--app-name", "garbage-hpo",
                               "--backend-store-uri", f"sqlite:///{runs / 'mlflow.db'}", "--host", "127.0.0.1",
                               "--port", str(port), "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    page = response.read().decode()
                break
            except OSError:
                assert server.poll() is None, "the server exited"
                time.sleep(0.5)
        assert TRAINING_DEFAULT in page
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=5",
                                    timeout=10) as response:
            assert b"experiments" in response.read()  # and MLflow's API behind it
    finally:
        server.terminate()
        server.wait(timeout=30)
