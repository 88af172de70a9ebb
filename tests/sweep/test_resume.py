"""A sweep killed for real (SIGKILL mid-trial, between trials, SIGINT) resumes without losing or doubling work.

Each case starts `python -m garbage_hpo.sweep` in a subprocess on the tiny demo set, kills it, re-runs the
same command, and checks the Optuna storage against the MLflow store.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from garbage_hpo.tracking.runs import shown
from tests.conftest import run_cli, spawn

pytestmark = pytest.mark.slow  # `make test-fast` leaves these out; `make test` runs them

N_TRIALS = 4
SWEEP = ("+experiment=head_depth", "sweep.cv_folds=1", "data.image_size=64", "train.epochs=12", "train.batch_size=8",
         "sweep.pruner=none", "sweep.heartbeat_interval=1", "sweep.heartbeat_grace=2", "sweep.enqueue=[]",
         f"sweep.n_trials={N_TRIALS}")


def start_sweep(tiny_demo: Path, log: Path) -> subprocess.Popen:
    return spawn([sys.executable, "-m", "garbage_hpo.sweep", *SWEEP, f"data.root={tiny_demo}"], log)


def wait_for(condition, proc: subprocess.Popen, log: Path, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"sweep ended before the kill point (exit {proc.returncode}):\n{log.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"kill point not reached in {timeout}s:\n{log.read_text()}")
        time.sleep(0.05)


def trials_in(runs: Path) -> list[optuna.trial.FrozenTrial]:
    """The study's trials, once the sweep process has finished with the storage."""
    return optuna.load_study(study_name="head_depth", storage=f"sqlite:///{runs / 'optuna.db'}").trials


def peek(runs: Path) -> list[tuple[int, str, int]]:
    """(number, state, epochs reported) of each trial, read-only while the sweep runs: opening the study with
    Optuna here would race the sweep process creating its schema."""
    db = runs / "optuna.db"
    if not db.is_file():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("select t.number, t.state, (select count(*) from trial_intermediate_values v "
                               "where v.trial_id = t.trial_id) from trials t").fetchall()
    except sqlite3.OperationalError:  # schema not created yet
        return []


def running_mid_epoch(runs: Path, after_completed: int = 0) -> bool:
    rows = peek(runs)
    return (sum(state == "COMPLETE" for _, state, _ in rows) >= after_completed
            and any(state == "RUNNING" and epochs >= 2 for _, state, epochs in rows))


def check_consistent(runs: Path, before: dict[int, float]) -> list[optuna.trial.FrozenTrial]:
    """Completed trials untouched, the total right, one FINISHED MLflow child per completed trial, none RUNNING."""
    trials = optuna.load_study(study_name="head_depth", storage=f"sqlite:///{runs / 'optuna.db'}").trials
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == N_TRIALS
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert {n: v for n, v in ((t.number, t.value) for t in trials) if n in before} == before

    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("head_depth")
    found = client.search_runs([experiment.experiment_id], max_results=500)
    assert not [r.info.run_name for r in found if r.info.status == "RUNNING"]
    children = [r for r in found if r.data.tags.get("hpo.role") == "trial"]
    for trial in trials:
        mine = [r for r in children if r.data.tags["optuna.trial_number"] == str(trial.number)]
        finished = [r for r in mine if r.info.status == "FINISHED"]
        if trial.state == TrialState.COMPLETE:
            assert len(finished) == 1 and len(mine) == 1, trial.number
            assert finished[0].data.metrics["model.val_acc"] == shown(trial.value)
        else:
            assert not finished, f"trial {trial.number} is {trial.state.name} but has a FINISHED run"
    return trials


def completed_values(runs: Path) -> dict[int, float]:
    return {t.number: t.value for t in trials_in(runs) if t.state == TrialState.COMPLETE}


def test_sigkill_mid_trial_is_failed_retried_with_same_params_and_its_run_closed(runs, tiny_demo, tmp_path):
    log = tmp_path / "first.log"
    proc = start_sweep(tiny_demo, log)
    wait_for(lambda: running_mid_epoch(runs, after_completed=1), proc, log)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = completed_values(runs)
    killed = next(t for t in trials_in(runs) if t.state == TrialState.RUNNING)

    second = run_cli("garbage_hpo.sweep", *SWEEP, f"data.root={tiny_demo}")
    assert "left RUNNING by a dead process settled" in second.stdout + second.stderr
    trials = check_consistent(runs, before)
    failed = next(t for t in trials if t.number == killed.number)
    assert failed.state == TrialState.FAIL
    retry = next(t for t in trials if t.system_attrs.get("failed_trial") == killed.number)
    assert retry.params == killed.params and retry.state == TrialState.COMPLETE
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    orphan = client.get_run(killed.user_attrs["mlflow_run_id"])
    assert orphan.info.status == "FAILED" and "worker lost" in orphan.data.tags["hpo.fail_reason"]
    parents = client.search_runs([orphan.info.experiment_id], "tags.`hpo.role` = 'sweep'")
    assert sorted(p.info.status for p in parents) == ["FAILED", "FINISHED"]


def test_sigkill_of_another_hosts_worker_is_settled_by_heartbeat(runs, tiny_demo, tmp_path):
    log = tmp_path / "first.log"
    proc = start_sweep(tiny_demo, log)
    wait_for(lambda: running_mid_epoch(runs), proc, log)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    storage = optuna.storages.RDBStorage(f"sqlite:///{runs / 'optuna.db'}")
    killed = next(t for t in trials_in(runs) if t.state == TrialState.RUNNING)
    # as if the worker had run on another machine: only its silence (no heartbeat) tells that it is gone
    storage.set_trial_user_attr(killed._trial_id, "worker", "elsewhere:1")
    before = completed_values(runs)

    second = run_cli("garbage_hpo.sweep", *SWEEP, f"data.root={tiny_demo}")
    assert "settled" not in second.stdout + second.stderr  # not the same-host shortcut
    trials = check_consistent(runs, before)
    assert next(t for t in trials if t.number == killed.number).state == TrialState.FAIL
    assert any(t.system_attrs.get("failed_trial") == killed.number for t in trials)


def test_sigkill_between_trials_loses_nothing(runs, tiny_demo, tmp_path):
    log = tmp_path / "first.log"
    proc = start_sweep(tiny_demo, log)
    wait_for(lambda: "] trial 1 COMPLETE" in log.read_text(), proc, log)  # printed after the trial is stored
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = completed_values(runs)
    assert len(before) >= 2
    run_cli("garbage_hpo.sweep", *SWEEP, f"data.root={tiny_demo}")
    check_consistent(runs, before)


@pytest.mark.parametrize("signals", [(signal.SIGINT,), (signal.SIGTERM, signal.SIGTERM)], ids=["once", "twice"])
def test_interrupt_ends_trial_and_runs_cleanly_and_requeues_the_trial(runs, tiny_demo, tmp_path, signals):
    """Once: the trial ends after its epoch. Twice within a fraction of a second (Python alone would see the
    pair as one signal while MindSpore runs): the process stops at once, the same records left behind."""
    log = tmp_path / "first.log"
    proc = start_sweep(tiny_demo, log)
    wait_for(lambda: running_mid_epoch(runs), proc, log)
    for i, signum in enumerate(signals):
        # 20 ms apart: well within one graph step, and before a tiny trial's first stop can end the process
        # (at 0.2 s it sometimes had, and the second signal met no process left to stop)
        time.sleep(0.02 * i)
        proc.send_signal(signum)
    assert proc.wait(timeout=120) == 130, log.read_text()
    text = log.read_text()
    assert "stopping after the current epoch" in text and "run the same command to continue" in text
    assert ("second stop request" in text) == (len(signals) == 2)
    assert "Traceback" not in text and "ERROR" not in text, text
    interrupted = next(t for t in trials_in(runs) if t.state == TrialState.FAIL)
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    run = client.get_run(interrupted.user_attrs["mlflow_run_id"])
    assert run.info.status == "KILLED" and run.data.tags["hpo.state"] == "INTERRUPTED"
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.info.status == "KILLED"
    queued = [t for t in trials_in(runs) if t.state == TrialState.WAITING]
    assert [t.system_attrs["fixed_params"] for t in queued] == [interrupted.params]

    before = completed_values(runs)
    run_cli("garbage_hpo.sweep", *SWEEP, f"data.root={tiny_demo}")
    trials = check_consistent(runs, before)
    assert any(t.user_attrs.get("requeued_from") == interrupted.number and t.state == TrialState.COMPLETE
               for t in trials)


def test_diverging_trials_fail_with_reason_and_traceback_and_the_sweep_stops_after_max_failures(
        runs, tiny_demo, tmp_path):
    space = tmp_path / "lr.yaml"
    space.write_text("params:\n  schedule.lr_max: {choices: [0.05, 1.0e+6, 2.0e+6, 3.0e+6]}\n", encoding="utf-8")
    good = "{schedule.lr_max:0.05}"
    huge, huger, hugest = (f"{{schedule.lr_max:{n}.0e+6}}" for n in (1, 2, 3))  # distinct: enqueue skips repeats
    proc = run_cli("garbage_hpo.sweep", *SWEEP[:3], f"data.root={tiny_demo}", f"sweep.space={space}",
                   "sweep.n_trials=10", "sweep.max_failures=2", f"sweep.enqueue=[{huge},{good},{huger},{hugest}]",
                   check=False)
    assert proc.returncode == 1
    assert "sweep stopped after 2 consecutive failed trials (sweep.max_failures=2)" in proc.stderr
    assert "NonFiniteLossError" in proc.stderr and "lower the learning rate" in proc.stderr

    trials = trials_in(runs)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL]
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    for trial in trials:
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        if trial.state == TrialState.COMPLETE:
            assert run.info.status == "FINISHED"
            continue
        assert "training loss became" in trial.user_attrs["fail_reason"]
        # stopped within the epoch whose loss went non-finite: the epochs before it are reported, none after
        diverged_at = len(trial.intermediate_values) + 1
        assert f"at epoch {diverged_at}," in trial.user_attrs["fail_reason"] and diverged_at <= 12
        assert run.info.status == "FAILED" and "NonFiniteLossError" in run.data.tags["hpo.fail_reason"]
        traceback = client.download_artifacts(run.info.run_id, f"trial-{trial.number}-traceback.txt", str(tmp_path))
        assert "NonFiniteLossError" in Path(traceback).read_text()
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.info.status == "FAILED" and parent.data.metrics["best_val_acc"] == shown(trials[1].value)


@pytest.mark.parametrize(("override", "message"), [
    ("sweep.storage=postgres://nobody:secret@127.0.0.1:1/x", "sweep.storage=postgres://nobody:***@127.0.0.1:1/x"),
    ("sweep.heartbeat_grace=5", "sweep.heartbeat_grace=5: must exceed sweep.heartbeat_interval"),
])
def test_bad_storage_or_heartbeat_settings_fail_before_any_trial_naming_the_key(runs, tiny_demo, override, message):
    proc = run_cli("garbage_hpo.sweep", "+experiment=head_depth", f"data.root={tiny_demo}",
                   "sweep.heartbeat_interval=10", override, check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (runs / "cache").exists()  # no trial, no feature work
