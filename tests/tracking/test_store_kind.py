"""Swapped stores (issue 35, item 2): `tracking.uri` at the Optuna database, or `sweep.storage` at MLflow's (or
both at one database), is refused in one line naming the key, and the file is left byte for byte as it was."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import optuna
import pytest

from garbage_hpo.tracking.store_kind import MLFLOW_TABLES, OPTUNA_TABLES, holds, table_names
from tests.conftest import run_cli
from tests.sweep.test_sweep import TINY_SWEEP

TINY_TRAIN = ("data.image_size=64", "train.epochs=1", "train.batch_size=8")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def optuna_database(path: Path) -> str:
    url = f"sqlite:///{path}"
    optuna.create_study(study_name="head_depth", storage=url).optimize(lambda t: t.suggest_float("x", 0, 1), 2)
    return url


def test_tables_tell_the_two_tools_apart(runs, tmp_path):
    optuna_url = optuna_database(tmp_path / "optuna.db")
    assert holds(table_names(optuna_url), OPTUNA_TABLES) and not holds(table_names(optuna_url), MLFLOW_TABLES)
    mlflow_tables = table_names(f"sqlite:///{runs / 'mlflow.db'}")  # the migrated store every test gets
    assert holds(mlflow_tables, MLFLOW_TABLES) and not holds(mlflow_tables, OPTUNA_TABLES)
    assert table_names(f"sqlite:///{tmp_path / 'absent.db'}") == set()
    assert not (tmp_path / "absent.db").exists()


def test_tracking_uri_at_the_optuna_database_is_refused_before_writing(runs, tiny_demo, tmp_path):
    db = tmp_path / "optuna.db"
    optuna_database(db)
    before = digest(db)
    proc = run_cli("garbage_hpo.train", f"data.root={tiny_demo}", *TINY_TRAIN, f"tracking.uri=sqlite:///{db}",
                   check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"error: tracking.uri=sqlite:///{db}: this database holds Optuna's tables" in proc.stderr
    assert "Traceback" not in proc.stderr and digest(db) == before


def test_sweep_storage_at_the_mlflow_database_is_refused_before_writing(runs, tiny_demo, tmp_path):
    mlflow_db = runs / "mlflow.db"
    before = digest(mlflow_db)
    other = tmp_path / "elsewhere.db"
    proc = run_cli("garbage_hpo.sweep", *TINY_SWEEP, f"data.root={tiny_demo}", "sweep.n_trials=1",
                   f"sweep.storage=sqlite:///{mlflow_db}", f"tracking.uri=sqlite:///{other}", check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"error: sweep.storage=sqlite:///{mlflow_db}: this database holds MLflow's tables" in proc.stderr
    assert "Traceback" not in proc.stderr and digest(mlflow_db) == before and not other.exists()
    same = run_cli("garbage_hpo.sweep", *TINY_SWEEP, f"data.root={tiny_demo}", "sweep.n_trials=1",
                   f"sweep.storage=sqlite:///{mlflow_db}", f"tracking.uri=sqlite:///{mlflow_db}", check=False)
    assert same.returncode == 2 and "the same database as tracking.uri" in same.stderr
    assert digest(mlflow_db) == before


@pytest.mark.postgres
def test_a_postgresql_optuna_database_is_recognised_too():
    from garbage_hpo.tracking import check_tracking_store
    from tests.sweep.test_distributed import PG, admin

    name = f"ghpo_{uuid.uuid4().hex[:10]}_kind"
    try:
        admin("select 1")
    except Exception as err:  # the same rule as the multi-worker tests
        if os.environ.get("GARBAGE_HPO_SKIP_PG") == "1":
            pytest.skip(f"no PostgreSQL at {PG} and GARBAGE_HPO_SKIP_PG=1: {err}")
        pytest.fail(f"no PostgreSQL at {PG} ({err}); set GARBAGE_HPO_TEST_PG, or GARBAGE_HPO_SKIP_PG=1")
    admin(f"create database {name}")
    try:
        url = f"{PG}/{name}"
        optuna.create_study(study_name="s", storage=url)
        with pytest.raises(ValueError, match=r"tracking.uri=.*: this database holds Optuna's tables"):
            check_tracking_store(url)
    finally:
        admin(f"drop database if exists {name} with (force)")
