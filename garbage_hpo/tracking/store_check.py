"""The MLflow tracking store checked at start-up: a few seconds and one line naming `tracking.uri`.

Left to MLflow, a store that cannot work shows up late and loudly: after the features were computed and
minutes of SQLAlchemy or HTTP request retries (BENCHMARKS.md), each with a long traceback. Each kind is probed
here before any data or model work, with a short timeout and no retries.
"""

from __future__ import annotations

import contextlib
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from garbage_hpo.runtime import NoSpaceError, check_room
from garbage_hpo.tracking.store_kind import refuse_optuna_database
from garbage_hpo.tracking.uris import DATABASE_SCHEMES, hide_password

STORE_ROOM_BYTES = 16 << 20  # free space a local store needs to record a run (its WAL file grows first)


def _check_sqlite(uri: str) -> None:
    path = Path(uri.removeprefix("sqlite:///"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with open(path, "r+b"):
                pass
            _check_is_database(uri, path)
        else:
            with tempfile.NamedTemporaryFile(dir=path.parent):
                pass
    except OSError as err:
        raise ValueError(f"tracking.uri={uri}: cannot write the MLflow store there ({err.strerror}: "
                         f"{err.filename or path.parent}); choose a writable folder") from None


def _check_room(uri: str, path: Path) -> None:
    """SQLite reports a full disk as "disk I/O error" in the middle of a run: refuse a store without room."""
    try:
        check_room(path, STORE_ROOM_BYTES)
    except NoSpaceError as err:
        raise NoSpaceError(err.errno, f"tracking.uri={uri}: {err}") from None


def _check_is_database(uri: str, path: Path) -> None:
    """An existing file must be an SQLite database (MLflow's own error is an 80-line traceback)."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            db.execute("pragma schema_version").fetchone()
    except sqlite3.DatabaseError as err:
        if "not a database" not in str(err) and "malformed" not in str(err):
            return  # busy or locked by a writer: a database all the same
        raise ValueError(f"tracking.uri={uri}: {path} is not an SQLite database ({err}); point tracking.uri at "
                         "an MLflow store, or at a file that does not exist yet") from None


def _check_http(uri: str, timeout: float) -> None:
    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout).close()  # noqa: S310 (http only)
    except urllib.error.HTTPError:
        return  # something answers (e.g. behind authentication): MLflow will say more if it is not MLflow
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ValueError(f"tracking.uri={uri}: no MLflow server answers ({reason}); start one (make "
                         "mlflow-server) or fix the URI") from None


def _check_database(uri: str, timeout: float) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    args = {"connect_timeout": int(timeout)}
    try:
        engine = create_engine(uri, connect_args=args, pool_pre_ping=False)
        with engine.connect():
            pass
        engine.dispose()
    except (SQLAlchemyError, ImportError) as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise ValueError(f"tracking.uri={hide_password(uri)}: cannot open the MLflow store ({reason})") from None


def check_tracking_store(uri: str, timeout: float = 5.0) -> None:
    """Raise ValueError (one line, naming tracking.uri) when MLflow could not record anything at `uri`."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0]
    if uri.startswith("sqlite:///"):
        _check_sqlite(uri)
        _check_room(uri, Path(uri.removeprefix("sqlite:///")))
    elif scheme in ("http", "https"):
        _check_http(uri, timeout)
    elif scheme in DATABASE_SCHEMES:
        _check_database(uri, timeout)
    refuse_optuna_database(uri)
