"""SQLite stores in write-ahead-log mode: a commit costs one append instead of a journaled rewrite.

A sweep writes to its Optuna store a few dozen times per trial (20 per-epoch reports, user attributes,
heartbeats, ask/tell). In SQLite's default rollback-journal mode with full synchronisation each commit waits
for several fsyncs; in WAL mode with `synchronous=NORMAL` Optuna's bookkeeping per trial takes about a third
of that time (BENCHMARKS.md). WAL also lets readers (the dashboard,
`reproduce`, a second worker) read while a worker writes.

What it gives up: with `synchronous=NORMAL` a power cut or kernel crash may lose the last commits (never
corrupt the file); a killed process loses nothing, which is what kill/resume relies on. WAL needs the
database on a local file system (not NFS), as SQLite's locking does anyway.
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy
from sqlalchemy import event


@contextlib.contextmanager
def schema_lock(url: str) -> Iterator[None]:
    """For a local SQLite file (`sqlite:///...`), hold an exclusive lock on `.<name>.lock` beside it: processes
    opening a new store at the same moment would otherwise all create its schema, and all but one fail (Optuna's
    and MLflow's alembic: `table alembic_version already exists`). Other databases create their schema in
    transactions of their own: no lock."""
    if not url.startswith("sqlite:///"):
        yield
        return
    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def use_wal(engine: sqlalchemy.engine.Engine) -> None:
    """Put `engine`'s SQLite database in WAL mode (kept in the file) and every connection, including those
    already pooled, on `synchronous=NORMAL`. Other engines are left alone."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # another process may hold a lock right now: the file is switched by a later connection
            with contextlib.suppress(sqlite3.OperationalError):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    engine.dispose()  # connections opened before the listener reconnect with it
