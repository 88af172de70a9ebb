"""What a sweep does about workers that died: heartbeats, one retry, and closing the runs they left open.

A worker killed with SIGKILL (or a lost machine) leaves its trial RUNNING in Optuna and its MLflow runs
RUNNING. With `sweep.heartbeat_interval` set, every running trial records a heartbeat; the next worker to
start a trial on the study marks trials whose heartbeat is older than the grace period FAIL, queues them
once more with the same parameters, and closes their MLflow runs as FAILED. A sweep's own parent run is
closed when the process that owned it (same host, pid no longer alive) is gone.
"""

from __future__ import annotations

import datetime
import logging
import os
import random
import socket
import time
import warnings

import optuna
from mlflow.tracking import MlflowClient
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial
from sqlalchemy.exc import IntegrityError, ProgrammingError

from garbage_hpo.runtime import process_alive, schema_lock, use_wal
from garbage_hpo.tracking import client_for, hide_password

log = logging.getLogger("garbage_hpo.sweep")
SCHEMA_ATTEMPTS = 5
LOST_WORKER = "worker lost: no heartbeat within the grace period (process killed or machine gone)"


class StaleTrialHandler:
    """Optuna's stale-trial callback: close the dead trial's MLflow run as FAILED, then retry it (once)."""

    def __init__(self, tracking_uri: str, max_retry: int = 1) -> None:
        self.tracking_uri = tracking_uri
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        retries = len(trial.system_attrs.get("retry_history", []))
        closed = close_trial_runs(client_for(self.tracking_uri), study.study_name, trial.number, LOST_WORKER)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.retry(study, trial)
        again = "queued again with the same parameters" if retries < 1 else "not retried again (already a retry)"
        log.warning("trial %d: %s; marked FAIL, %s; closed %d MLflow run(s) as FAILED", trial.number, LOST_WORKER,
                    again, closed)


def close_trial_runs(client: MlflowClient, study_name: str, number: int, reason: str) -> int:
    """Mark the still-open MLflow runs of trial `number` FAILED with the reason; returns how many."""
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=(f"tags.`optuna.study_name` = '{study_name}' and tags.`optuna.trial_number` = '{number}' "
                       "and attributes.status != 'FAILED'"))
    for run in runs:
        client.set_tag(run.info.run_id, "hpo.state", "FAILED")
        client.set_tag(run.info.run_id, "hpo.fail_reason", reason)
        client.set_terminated(run.info.run_id, "FAILED")
    return len(runs)


def make_storage(url: str, heartbeat_interval: int | None, grace_period: int | None,
                 on_stale: StaleTrialHandler) -> RDBStorage:
    """Optuna's RDB storage (SQLite, PostgreSQL, MySQL) with heartbeats when an interval is given."""
    if heartbeat_interval is not None and int(heartbeat_interval) <= 0:
        raise ValueError(f"sweep.heartbeat_interval={heartbeat_interval}: a positive number of seconds, or null")
    if grace_period is not None and heartbeat_interval is not None and int(grace_period) <= int(heartbeat_interval):
        raise ValueError(f"sweep.heartbeat_grace={grace_period}: must exceed sweep.heartbeat_interval "
                         f"({heartbeat_interval}), or a live trial would be taken for a dead one")
    options = {} if not heartbeat_interval else {
        "heartbeat_interval": int(heartbeat_interval), "grace_period": int(grace_period) if grace_period else None,
        "heartbeat_stale_trial_callback": on_stale}
    for attempt in range(SCHEMA_ATTEMPTS):
        try:
            with warnings.catch_warnings(), schema_lock(url):  # workers starting together on a new SQLite file
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = RDBStorage(url, **options)
            use_wal(storage.engine)
            return storage
        except (IntegrityError, ProgrammingError) as err:
            # workers started together on a new database race to create the schema: wait for the winner
            racing = isinstance(err, IntegrityError) or "already exists" in str(err)
            if not racing or attempt + 1 == SCHEMA_ATTEMPTS:
                raise _unusable(url, err) from err
            time.sleep(0.5 + random.random())
        except Exception as err:  # a typo in the scheme, a missing driver, a server that does not answer
            raise _unusable(url, err) from err
    raise AssertionError("unreachable")


def _unusable(url: str, err: Exception) -> ValueError:
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ValueError(f"sweep.storage={hide_password(url)}: cannot open it ({type(err).__name__}: {reason})")


def fail_stale_trials(study: optuna.Study) -> None:
    """Settle trials of dead workers now (Optuna otherwise does it only when the next trial starts)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def fail_dead_local_trials(study: optuna.Study, handler: StaleTrialHandler, grace_seconds: float) -> int:
    """RUNNING trials whose worker is known to be gone, failed now rather than after the heartbeat grace period:
    started by a process of this host that no longer exists, or never claimed by any worker (killed between
    Optuna creating the trial and the objective starting, so no heartbeat was ever recorded) for longer than
    `grace_seconds`."""
    host = socket.gethostname()
    now = datetime.datetime.now()
    settled = 0
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        owner_host, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
        if not pid:
            started = trial.datetime_start or now
            if (now - started).total_seconds() <= grace_seconds:
                continue
        elif owner_host != host or not pid.isdigit() or int(pid) == os.getpid() or process_alive(int(pid)):
            continue
        try:
            if not study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:  # another worker settled it first
            continue
        handler(study, study._storage.get_trial(trial._trial_id))
        settled += 1
    return settled
