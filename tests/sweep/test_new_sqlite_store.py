"""Workers started at the same instant on a NEW SQLite Optuna store (the embedded default): every one opens it,
and together they run distinct points."""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import spawn


def _open_and_join(url: str, barrier, results) -> None:
    from garbage_hpo.sweep.recovery import StaleTrialHandler, make_storage

    handler = StaleTrialHandler("http://127.0.0.1:1")
    barrier.wait()  # imports done: the processes reach the new file together
    try:
        storage = make_storage(url, 10, None, handler)
        optuna.create_study(storage=storage, study_name="race", load_if_exists=True)
        results.put("ok")
    except Exception as err:  # reported to the test, which names it
        results.put(f"{type(err).__name__}: {err}")


@pytest.mark.parametrize("workers", [2, 4])
def test_processes_opening_a_new_sqlite_store_at_one_instant_all_open_it(tmp_path, workers):
    # processes, not threads: the collision was between processes each creating the schema of a new file
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(workers), context.Queue()
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    procs = [context.Process(target=_open_and_join, args=(url, barrier, results)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    outcomes = [results.get(timeout=5) for _ in procs]
    assert outcomes == ["ok"] * workers
    assert [s.study_name for s in optuna.get_all_study_summaries(url)] == ["race"]


@pytest.mark.slow
@pytest.mark.parametrize("workers", [2, 4])
def test_sweep_workers_started_together_on_a_new_sqlite_store_all_finish_with_distinct_points(
        runs, tiny_demo, tmp_path, workers):
    store = runs / "optuna.db"
    assert not store.exists()
    args = [sys.executable, "-m", "garbage_hpo.sweep", "+experiment=head_depth", f"data.root={tiny_demo}",
            "data.image_size=64", "train.epochs=3", "train.batch_size=16", "sweep.pruner=none", "sweep.cv_folds=1",
            f"sweep.n_trials={2 * workers}", "sweep.probe=false"]
    logs = [tmp_path / f"worker{i}.log" for i in range(workers)]
    procs = [spawn(args, log) for log in logs]
    for proc, log in zip(procs, logs, strict=True):
        assert proc.wait(timeout=900) == 0, Path(log).read_text()[-4000:]
    trials = optuna.load_study(study_name="head_depth", storage=f"sqlite:///{store}").trials
    ran = [t for t in trials if "duplicate_of" not in t.user_attrs]
    assert all(t.state == TrialState.COMPLETE for t in ran)
    points = [tuple(sorted(t.params.items())) for t in ran]
    assert len(points) >= 2 * workers and len(set(points)) == len(points), points
