"""MLflow tracking: one run per training, params from the resolved config, batched metrics, artifacts.

Uses `MlflowClient` with explicit run ids (never the fluent global "active run"), so a sweep can hold a
parent run and nested trial runs in one process.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from garbage_hpo.runtime import process_alive, remove_partial_files, schema_lock, use_wal
from garbage_hpo.tracking.uris import hide_password

T = TypeVar("T")

log = logging.getLogger(__name__)
# MLflow's own terminal output: a tqdm bar per artifact download and, with an http:// server, a "View run" pair
# of lines (and one more request) after every run; the commands print their own links (read at call time)
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
MAX_PARAMS_PER_BATCH = 100
MAX_PARAM_LENGTH = 6000


_INVALID_KEY_CHARS = re.compile(r"[^\w\-. :/]")
SIGNIFICANT_DIGITS = 4


def shown(value: float) -> float:
    """A metric as runs record it: whole numbers exact, others to 4 significant digits. The MLflow UI prints a
    metric with every digit it has (0.9672359...); one photo of 2,225 is 0.00045, so a fifth digit of an
    accuracy is noise. Optuna keeps the exact values (selection reads them there)."""
    value = float(value)
    if not math.isfinite(value) or value.is_integer():
        return value
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def mlflow_key(name: str) -> str:
    """MLflow keys allow alphanumerics, _ - . space : /; search-space tags such as `key@tag` become `key_tag`."""
    return _INVALID_KEY_CHARS.sub("_", name)


def default_tracking_uri(runs: Path) -> str:
    return f"sqlite:///{(runs / 'mlflow.db').absolute()}"


def is_local_store(uri: str) -> bool:
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)[:MAX_PARAM_LENGTH]
    return out


@functools.cache
def client_for(uri: str) -> MlflowClient:
    """One client per tracking URI and process: creating one sets up the store, which was once per trial before
    this cache (BENCHMARKS.md). A local SQLite store is opened under a file lock: two workers starting together on a
    new store would otherwise both run MLflow's schema migrations and one crash (alembic)."""
    if not uri.startswith("sqlite:///"):
        return MlflowClient(tracking_uri=uri)
    with schema_lock(uri):
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)  # creates or migrates the schema, one process at a time
        engine = getattr(getattr(client._tracking_client, "store", None), "engine", None)
        if engine is not None:  # MLflow's SQLAlchemy store: commits in WAL mode (sqlite_wal.py)
            use_wal(engine)
    return client


@functools.cache
def git_commit() -> str:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).parent)
        return result.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


UI_PORT = int(os.environ.get("GARBAGE_HPO_UI_PORT") or 5000)  # `make ui`'s port (the Makefile reads the same)
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"  # MLflow 3: "custom_model_development" = classic training runs


def ui_link(uri: str, experiment_id: str, run_id: str | None = None, view: str | None = None) -> str:
    """Where the MLflow UI shows this experiment's training runs (or one run, or a saved view of the runs
    table: garbage_hpo.tracking.ui_views). MLflow 3 opens an experiment on its GenAI overview unless the URL asks for
    `workflowType=machine_learning`."""
    base = hide_password(uri).rstrip("/").replace(":***@", "@") if uri.startswith(("http://", "https://")) \
        else f"http://127.0.0.1:{UI_PORT}"
    return f"{base}/{page_link(experiment_id, run_id, view)}"


def page_link(experiment_id: str, run_id: str | None = None, view: str | None = None) -> str:
    """The UI page relative to the UI itself (`#/experiments/...`): what descriptions link to, so the link works
    on whichever host and port the UI is served (an absolute link named the port at sweep time)."""
    if run_id:
        return f"#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"
    shown = f"&viewStateShareKey={view}" if view else ""
    return f"#/experiments/{experiment_id}/runs?workflowType=machine_learning{shown}"


def ui_hint(uri: str) -> str:
    """How to open a local store in the UI (`make ui` serves runs/mlflow.db unless STORE= names another)."""
    if uri.startswith(("http://", "https://")):
        return ""
    port = f" UI_PORT={UI_PORT}" if UI_PORT != 5000 else ""
    return f" (start the UI with: make ui STORE={hide_password(uri)}{port})"


OPEN_TRACKERS: set[Tracker] = set()  # runs this process has open, closed KILLED by close_open_runs on a stop
_OPEN_LOCK = threading.Lock()


def owner_tags() -> dict[str, str]:
    """Who runs this process; lets a later start on the same host tell a dead owner from a live one."""
    return {"hpo.host": socket.gethostname(), "hpo.pid": str(os.getpid())}


def close_open_runs() -> None:
    """On a stop (from the stop watcher thread): end every run this process has open as KILLED and remove the
    files it was writing. A run whose store cannot be reached is left for close_dead_runs of a later command."""
    remove_partial_files()
    with _OPEN_LOCK:
        trackers = list(OPEN_TRACKERS)
    for tracker in sorted(trackers, key=lambda t: t.parent_run_id is None):  # children before their parent
        with contextlib.suppress(Exception):
            tracker.set_tags({"hpo.state": "INTERRUPTED"})
        with contextlib.suppress(Exception):
            tracker.end("KILLED")


@functools.cache
def close_dead_runs(uri: str, experiment_id: str) -> int:
    """Runs of this experiment left RUNNING by a process of this host that no longer exists (killed before it
    could close them: SIGKILL, power loss), ended FAILED with the reason; once per store and experiment a
    process. A live process's runs, and other hosts' (no way to tell from here), are left alone."""
    host = socket.gethostname()
    client = client_for(uri)
    runs = client.search_runs([experiment_id], max_results=1000, filter_string=(
        f"attributes.status = 'RUNNING' and tags.`hpo.host` = '{host}'"))
    closed = 0
    for run in runs:
        pid = int(run.data.tags.get("hpo.pid", "0") or 0)
        if pid and pid != os.getpid() and not process_alive(pid):
            client.set_tag(run.info.run_id, "hpo.fail_reason", f"process {pid} ended without closing this run")
            client.set_terminated(run.info.run_id, "FAILED")
            closed += 1
    if closed:
        log.warning("closed %d MLflow run(s) of this experiment left RUNNING by processes that no longer exist",
                    closed)
    return closed


def _timed(method: Callable[..., T]) -> Callable[..., T]:
    """Add the call's duration to the tracker's `seconds` (the sweep's in-process overhead counters)."""

    @functools.wraps(method)
    def wrapper(self: Tracker, *args: Any, **kwargs: Any) -> T:
        start = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start

    return wrapper


class Tracker:
    """One MLflow run; metrics are buffered and sent with `log_batch` at most every `flush_seconds`.
    `seconds` adds up the time spent in MLflow calls, run creation included."""

    seconds: float = 0.0

    @_timed
    def __init__(self, uri: str, experiment: str, artifact_root: Path | None, run_name: str | None = None,
                 tags: Mapping[str, str] | None = None, parent_run_id: str | None = None,
                 flush_seconds: float = 2.0, description: str | None = None) -> None:
        self.client = client_for(uri)
        self.experiment_id = self._experiment(experiment, artifact_root, uri, description)
        close_dead_runs(uri, self.experiment_id)
        all_tags = owner_tags() | dict(tags or {})
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        self.parent_run_id = parent_run_id
        self._pending: list[Metric] = []
        self._last_flush = time.monotonic()
        self._flush_seconds = flush_seconds
        self.finished = False
        self.run = self.client.create_run(self.experiment_id, run_name=run_name, tags=all_tags)
        self.run_id = self.run.info.run_id
        with _OPEN_LOCK:
            OPEN_TRACKERS.add(self)

    def _experiment(self, name: str, artifact_root: Path | None, uri: str, description: str | None) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is None:
            location = None
            if artifact_root is not None and is_local_store(uri):  # a server decides its own artifact store
                location = (artifact_root / name).absolute().as_uri()
            with contextlib.suppress(Exception):  # fails when created concurrently by another process
                self.client.create_experiment(name, artifact_location=location)
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise RuntimeError(f"MLflow experiment {name!r} could neither be created nor found in {uri}")
        wanted = {EXPERIMENT_KIND_TAG: "custom_model_development"} | (
            {"mlflow.note.content": description} if description else {})
        for key, value in wanted.items():  # model-training views in MLflow 3's UI; the question as description
            if found.tags.get(key) != value:
                # workers starting together race to insert the same tag (a unique-key violation on a database
                # store): the one that loses finds it set by the other, nothing is lost
                with contextlib.suppress(Exception):
                    self.client.set_experiment_tag(found.experiment_id, key, value)
        return found.experiment_id

    @_timed
    def log_params(self, params: Mapping[str, Any]) -> None:
        items = [Param(mlflow_key(k), str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
        for start in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=items[start : start + MAX_PARAMS_PER_BATCH])

    @_timed
    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    @_timed
    def log_metrics(self, metrics: Mapping[str, float], step: int = 0, flush: bool = False) -> None:
        now = int(time.time() * 1000)
        self._pending += [Metric(mlflow_key(k), shown(v), now, step) for k, v in metrics.items()]
        if flush or time.monotonic() - self._last_flush >= self._flush_seconds:
            self.flush()

    def flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:1000], self._pending[1000:]
            self.client.log_batch(self.run_id, metrics=batch)
        self._last_flush = time.monotonic()

    @_timed
    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def finish(self, status: str, metrics: Mapping[str, float], tags: Mapping[str, Any] | None = None) -> None:
        """A run's last records in one go: its tags, its final metrics, then its end state."""
        if tags:
            self.set_tags(tags)
        self.log_metrics(metrics, flush=True)
        self.end(status)

    @_timed
    @contextlib.contextmanager
    def outcome(self, before_end: Callable[[], None] | None = None) -> Iterator[Tracker]:
        """The run ends FINISHED when the block completes, KILLED at Ctrl-C, FAILED on any other error;
        `before_end` (the sweep's summary) runs first whatever happened."""
        status = "FAILED"
        try:
            yield self
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            try:
                if before_end is not None:
                    before_end()
            finally:
                self.end(status)

    def end(self, status: str = "FINISHED") -> None:
        if self.finished:
            return
        try:
            self.flush()
        finally:
            self.client.set_terminated(self.run_id, status)
            self.finished = True
            with _OPEN_LOCK:
                OPEN_TRACKERS.discard(self)
