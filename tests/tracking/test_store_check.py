"""The local MLflow store under concurrent start-up (several workers on one machine share runs/mlflow.db)."""

from __future__ import annotations

import subprocess
import sys

from mlflow.tracking import MlflowClient


def test_workers_starting_together_on_a_new_mlflow_sqlite_store_all_open_it(tmp_path):
    uri = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    code = (f"from garbage_hpo.tracking.runs import Tracker; t = Tracker({uri!r}, 'race', None); t.end(); print('ok')")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    results = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in results]
    client = MlflowClient(tracking_uri=uri)
    assert len(client.search_runs([client.get_experiment_by_name("race").experiment_id])) == 3
