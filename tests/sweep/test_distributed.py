"""Two sweep workers share one study: Optuna storage on PostgreSQL, tracking on an MLflow server backed by
PostgreSQL, as a cluster would run them. Each test gets fresh databases on the local server (trust auth)."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from garbage_hpo.tracking.runs import shown
from tests.conftest import spawn

PG = os.environ.get("GARBAGE_HPO_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
N_TRIALS = 10
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True, connect_timeout=5) as con:
        con.execute(sql)


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    import psycopg

    try:
        admin("select 1")
    except psycopg.OperationalError as err:
        if os.environ.get("GARBAGE_HPO_SKIP_PG") == "1":
            pytest.skip(f"no PostgreSQL at {PG} and GARBAGE_HPO_SKIP_PG=1: {err}")
        pytest.fail(f"no PostgreSQL at {PG} ({err}); set GARBAGE_HPO_TEST_PG to a server's URL, or "
                    "GARBAGE_HPO_SKIP_PG=1 to skip the multi-worker tests")
    names = [f"ghpo_{uuid.uuid4().hex[:10]}_{kind}" for kind in ("optuna", "mlflow")]
    for name in names:
        admin(f"create database {name}")
    yield f"{PG}/{names[0]}", f"{PG}/{names[1]}"
    for name in names:
        admin(f"drop database if exists {name} with (force)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mlflow_server(databases, tmp_path) -> Iterator[str]:
    port = free_port()
    log = tmp_path / "mlflow-server.log"
    server = spawn(
        [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri", databases[1],
         "--artifacts-destination", (tmp_path / "artifacts").as_uri(), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"], log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise AssertionError(f"MLflow server did not start:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.5)
    yield url
    server.terminate()
    server.wait(timeout=30)


def test_two_workers_share_one_study_without_losing_or_doubling_trials(runs, tiny_demo, databases, mlflow_server,
                                                                      tmp_path):
    args = [sys.executable, "-m", "garbage_hpo.sweep", "+experiment=head_depth", f"data.root={tiny_demo}",
            "data.image_size=64", "train.epochs=10", "train.batch_size=8", "sweep.pruner=none",
            f"sweep.n_trials={N_TRIALS}", f"sweep.storage={databases[0]}", f"tracking.uri={mlflow_server}"]
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = [spawn(args, log) for log in logs]
    for worker, log in zip(workers, logs, strict=True):
        assert worker.wait(timeout=600) == 0, log.read_text()[-4000:]

    study = optuna.load_study(study_name="head_depth", storage=databases[0])
    trials = study.trials
    assert [t.number for t in trials] == list(range(len(trials)))  # no number twice, none missing
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    # both workers enqueue the baseline trial at once: one runs it, the other skips its copy (PRUNED, no run)
    skipped = [t for t in trials if "duplicate_of" in t.user_attrs]
    assert len(skipped) <= 1 and all(t.state == TrialState.PRUNED for t in skipped)
    trials = [t for t in trials if t not in skipped]
    # each worker stops once it sees n_trials done; the other may be finishing one more at that moment
    assert N_TRIALS - len(skipped) <= len(done) <= N_TRIALS + 1 and len(done) == len(trials)
    # no point trained twice: each worker's sampler draws from its own trial numbers, not one shared seed
    points = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(points)) == len(points), points

    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("head_depth")
    found = client.search_runs([experiment.experiment_id], max_results=500)
    parents = [r for r in found if r.data.tags.get("hpo.role") == "sweep"]
    children = [r for r in found if r.data.tags.get("hpo.role") == "trial"]
    assert len(parents) == 2 and all(p.info.status == "FINISHED" for p in parents)
    assert sorted(int(r.data.tags["optuna.trial_number"]) for r in children) == [t.number for t in trials]
    by_id = {r.info.run_id: r for r in children}
    for trial in done:
        run = by_id[trial.user_attrs["mlflow_run_id"]]
        assert run.info.status == "FINISHED" and run.data.metrics["cv_mean"] == shown(trial.value)
    # both workers did trials, each under its own parent run
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {p.info.run_id for p in parents}
    assert len({t.user_attrs["worker"] for t in trials}) == 2

    # the same best trial from both stores
    best_value = study.best_value
    best_in_optuna = {t.number for t in done if t.value == best_value}
    best_in_mlflow = {int(r.data.tags["optuna.trial_number"]) for r in children
                      if r.data.metrics["cv_mean"] == shown(best_value)}
    assert study.best_trial.number in best_in_optuna and best_in_optuna == best_in_mlflow
    last = max(parents, key=lambda r: r.info.end_time)
    assert last.data.metrics["best_cv_mean"] == shown(best_value)
    assert "best_objective" not in last.data.metrics and "objective" not in run.data.metrics  # one score, one name


def test_workers_starting_together_on_a_new_database_all_open_the_storage(databases):
    from garbage_hpo.sweep.recovery import StaleTrialHandler, make_storage

    start = threading.Barrier(4)
    opened, failed = [], []

    def open_storage() -> None:
        start.wait()
        try:
            opened.append(make_storage(databases[0], 10, None, StaleTrialHandler("http://127.0.0.1:1")))
        except ValueError as err:
            failed.append(err)

    threads = [threading.Thread(target=open_storage) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failed and len(opened) == 4
    study = optuna.create_study(storage=opened[0], study_name="race", load_if_exists=True)
    assert optuna.load_study(study_name="race", storage=opened[3]).study_name == study.study_name



def test_a_database_password_is_never_recorded_nor_printed(runs, tiny_demo, databases):
    from mlflow.tracking import MlflowClient

    from tests.conftest import run_cli
    from tests.sweep.test_sweep import TINY_SWEEP

    secret = "s3cret-Pw"  # the server trusts local connections: any password opens them, none may be written
    optuna_db, mlflow_db = (url.replace("postgres@", f"postgres:{secret}@") for url in databases)
    proc = run_cli("garbage_hpo.sweep", *TINY_SWEEP, f"data.root={tiny_demo}", "sweep.n_trials=1",
                   f"sweep.storage={optuna_db}", f"tracking.uri={mlflow_db}")
    assert secret not in proc.stdout + proc.stderr
    client = MlflowClient(tracking_uri=mlflow_db)
    found = client.search_runs([client.get_experiment_by_name("head_depth").experiment_id])
    assert {r.data.tags["hpo.role"] for r in found} == {"sweep", "trial"}
    for run in found:
        recorded = [*run.data.params.values(), *run.data.tags.values(), run.info.run_name or ""]
        assert not [v for v in recorded if secret in v], run.info.run_name
        for artifact in client.list_artifacts(run.info.run_id):
            if artifact.path.endswith((".yaml", ".json", ".txt", ".md", ".html")):
                text = Path(client.download_artifacts(run.info.run_id, artifact.path, str(runs))).read_text()
                assert secret not in text, artifact.path
    assert any(v == optuna_db.replace(secret, "***") for r in found for v in r.data.params.values())
    written = [p for p in runs.rglob("*") if p.is_file() and p.suffix in (".yaml", ".json", ".txt", ".csv")]
    assert written and not [p for p in written if secret in p.read_text(errors="replace")]
    trained = run_cli("garbage_hpo.train", f"data.root={tiny_demo}", "data.image_size=64", "train.epochs=1",
                      f"tracking.uri={mlflow_db}")
    assert secret not in trained.stdout + trained.stderr and "postgres:***@" in trained.stdout
