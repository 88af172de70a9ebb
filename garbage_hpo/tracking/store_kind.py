"""Which tool's tables a database holds, read without writing: so `tracking.uri` pointed at the Optuna database,
or `sweep.storage` at MLflow's, is refused in one line naming the key, before either tool creates its tables
in the other's file (each would, then fail with a long traceback and leave the file modified)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from garbage_hpo.tracking.uris import DATABASE_SCHEMES, hide_password

# tables each tool creates first (mlflow/store/db_migrations, optuna/storages/_rdb/models.py)
MLFLOW_TABLES = frozenset({"experiments", "runs", "metrics", "alembic_version"})
OPTUNA_TABLES = frozenset({"studies", "trials", "version_info"})


def table_names(uri: str, timeout: float = 5.0) -> set[str]:
    """The tables of the database at `uri` (empty when it does not exist yet, or is not a database)."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.is_file():
            return set()
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout)) as db:
                return {row[0] for row in db.execute("select name from sqlite_master where type = 'table'")}
        except sqlite3.DatabaseError:
            return set()  # not a database (or locked): the store's own check says so
    if uri.split(":", 1)[0].split("+", 1)[0] not in DATABASE_SCHEMES:
        return set()
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.exc import SQLAlchemyError

    try:
        engine = create_engine(uri, connect_args={"connect_timeout": int(timeout)})
        try:
            return set(inspect(engine).get_table_names())
        finally:
            engine.dispose()
    except (SQLAlchemyError, ImportError):
        return set()  # unreachable: the store's own check names the cause


def holds(tables: set[str], kind: frozenset[str]) -> bool:
    return len(tables & kind) >= 2


def refuse_optuna_database(uri: str) -> None:
    """`tracking.uri` must not be a sweep's Optuna database."""
    tables = table_names(uri)
    if holds(tables, OPTUNA_TABLES) and not holds(tables, MLFLOW_TABLES):
        raise ValueError(f"tracking.uri={hide_password(uri)}: this database holds Optuna's tables (studies, trials): "
                         "it is a sweep.storage, not an MLflow store; point tracking.uri at the MLflow store "
                         "(default runs/mlflow.db); nothing was written")


def refuse_mlflow_database(storage: str, tracking_uri: str | None = None) -> None:
    """`sweep.storage` must be neither MLflow's database nor the same database as `tracking.uri`."""
    shown = hide_password(storage)
    if tracking_uri is not None and storage == tracking_uri:
        raise ValueError(f"sweep.storage={shown}: the same database as tracking.uri; give Optuna and MLflow a "
                         "database each (defaults runs/optuna.db and runs/mlflow.db)")
    tables = table_names(storage)
    if holds(tables, MLFLOW_TABLES) and not holds(tables, OPTUNA_TABLES):
        raise ValueError(f"sweep.storage={shown}: this database holds MLflow's tables (experiments, runs): it is a "
                         "tracking.uri, not an Optuna storage; point sweep.storage at the Optuna database "
                         "(default runs/optuna.db); nothing was written")
