"""Ctrl-C/SIGTERM on the one-run commands, and runs left RUNNING by a killed process, closed by the next command.

Each case starts `python -m garbage_hpo.train` on the tiny demo set in a subprocess, waits until MindSpore has
trained a few epochs (the state in which the process used to die as SIGTERM, exit 143, with its run RUNNING),
and signals or kills it.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import run_cli, spawn
from tests.sweep.test_resume import wait_for

pytestmark = pytest.mark.slow

LONG_TRAIN = ("data.image_size=64", "train.epochs=400", "train.batch_size=8", "sweep.cv_folds=1")


def epochs_logged(runs: Path) -> int:
    """Per-epoch validation values the running train command has sent to its MLflow store (read-only)."""
    try:
        with sqlite3.connect(f"file:{runs / 'mlflow.db'}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("select count(*) from metrics where key = 'epoch/val_acc'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def start_train(tiny_demo: Path, log: Path) -> subprocess.Popen:
    return spawn([sys.executable, "-m", "garbage_hpo.train", *LONG_TRAIN, f"data.root={tiny_demo}"], log)


def train_runs(runs: Path) -> list:
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    return client.search_runs([client.get_experiment_by_name("garbage-hpo-train").experiment_id])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_train_closes_its_run_killed_and_exits_130(runs, tiny_demo, tmp_path, signum):
    log = tmp_path / "train.log"
    proc = start_train(tiny_demo, log)
    wait_for(lambda: epochs_logged(runs) >= 2, proc, log)
    proc.send_signal(signum)
    assert proc.wait(timeout=60) == 130, log.read_text()
    text = log.read_text()
    assert "train stopped; its open MLflow runs are closed as KILLED" in text
    assert "Traceback" not in text, text
    # MindSpore re-sends a Ctrl-C as SIGTERM: the message never names a signal the user may not have sent
    assert "stop request (Ctrl-C or SIGTERM)" in text and "(SIGTERM)" not in text and "(SIGINT)" not in text
    (run,) = train_runs(runs)
    assert run.info.status == "KILLED" and run.data.tags["hpo.state"] == "INTERRUPTED"
    assert not list((runs / "models").glob("*/model.tmp"))  # nothing half-written left behind


def test_a_run_left_running_by_a_killed_process_is_closed_by_the_next_command(runs, tiny_demo, tmp_path):
    log = tmp_path / "train.log"
    proc = start_train(tiny_demo, log)
    wait_for(lambda: epochs_logged(runs) >= 2, proc, log)
    proc.send_signal(signal.SIGKILL)  # nothing can close a run after this
    proc.wait()
    (orphan,) = train_runs(runs)
    assert orphan.info.status == "RUNNING"
    run_cli("garbage_hpo.train", "data.image_size=64", "train.epochs=1", "train.batch_size=8",
            "sweep.cv_folds=1", f"data.root={tiny_demo}")
    found = {r.info.run_id: r for r in train_runs(runs)}
    assert len(found) == 2 and found[orphan.info.run_id].info.status == "FAILED"
    assert f"process {orphan.data.tags['hpo.pid']} ended without closing" in \
        found[orphan.info.run_id].data.tags["hpo.fail_reason"]
    assert all(r.info.status != "RUNNING" for r in found.values())
