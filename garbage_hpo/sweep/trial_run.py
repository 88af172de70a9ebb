"""Each trial's MLflow run: opened nested under the sweep's run, closed with its last metrics and its state
(FINISHED, named "(pruned)" when pruned; KILLED when interrupted; FAILED with the traceback)."""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

import optuna

from garbage_hpo.metrics import format_params
from garbage_hpo.sweep.timing import TrialTimes
from garbage_hpo.sweep.verdict import describe_value
from garbage_hpo.tracking import Tracker, score_name


@dataclass(frozen=True)
class TrialRecording:
    """Where and how trials are recorded."""

    tracking_uri: str
    experiment: str
    runs: Path
    study_name: str
    save_checkpoints: bool
    trial_plots: bool


def describe_trial(number: int, study_name: str, sampled: dict) -> str:
    """The trial run's description in the MLflow UI: which trial, and the point it measures."""
    point = format_params(sampled)
    return f"Trial {number} of sweep study {study_name}: {point or 'the base configuration'}"


def describe_score(metric: str, value: float, attrs: dict, cross_validated: bool) -> str:
    """The trial's score under its one name, with its interval: first on its run's page."""
    return f"**{score_name(metric, cross_validated)}** {describe_value(attrs, value)}"


class TrialRuns:
    def __init__(self, record: TrialRecording) -> None:
        self.record = record
        self.interrupted: tuple[optuna.Trial, Tracker] | None = None  # the trial a first stop ended
        self.settle_lock = threading.Lock()
        self.settled: set[int] = set()  # interrupted trials already closed and queued again

    def open(self, number: int, parent_run_id: str, sampled: dict) -> Tracker:
        """The trial's run, with the sampled values as `sampled.*` params."""
        tracker = Tracker(
            self.record.tracking_uri, self.record.experiment, self.record.runs / "mlartifacts",
            run_name=f"trial-{number}", parent_run_id=parent_run_id,
            tags={"hpo.role": "trial", "optuna.trial_number": str(number), "optuna.study_name": self.record.study_name,
                  "mlflow.note.content": describe_trial(number, self.record.study_name, sampled)})
        tracker.log_params({f"sampled.{k}": v for k, v in sampled.items()})
        return tracker

    def scored_note(self, number: int, sampled: dict, metric: str, value: float, attrs: dict,
                    cross_validated: bool) -> str:
        """The finished trial's description: its score and interval, then the point it measured."""
        return (f"{describe_score(metric, value, attrs, cross_validated)}\n\n"
                f"{describe_trial(number, self.record.study_name, sampled)}")

    def settle_interrupted(self, trial: optuna.Trial, tracker: Tracker) -> None:
        """Close an interrupted trial's run and queue its point again, once: the main thread (first stop) and
        the stop watcher (second stop) may both get here for the same trial."""
        with self.settle_lock:  # held throughout: the watcher must not exit the process mid-way through
            if trial.number in self.settled:
                return
            self.settled.add(trial.number)
            self.interrupted = (trial, tracker)
            tracker.finish("KILLED", {}, {"hpo.state": "INTERRUPTED"})
            trial.study.enqueue_trial(trial.params, user_attrs={"requeued_from": trial.number})

    @staticmethod
    def end(tracker: Tracker, times: TrialTimes, status: str, metrics: dict[str, float], tags: dict | None = None
            ) -> None:
        """The run's last records: `metrics` with the trial's time split (its last MLflow calls count in the
        sweep's sums only), then its end state."""
        times.close(tracker.seconds)
        tracker.finish(status, {"trial_seconds": times.total} | times.metrics() | metrics, tags)

    @staticmethod
    def end_pruned(tracker: Tracker, times: TrialTimes, number: int, epoch: int) -> None:
        """A pruned trial did what a sweep asks of it (stopped when it could not win), so its run ends FINISHED,
        not KILLED (which MLflow's UI draws like a crash), and its name says it was pruned; its curve so far
        stays, and it has no score."""
        TrialRuns.end(tracker, times, "FINISHED", {"pruned_at_epoch": float(epoch)},
                      {"hpo.state": "PRUNED", "mlflow.runName": f"trial-{number} (pruned)"})

    def failed(self, tracker: Tracker, trial: optuna.Trial, err: Exception) -> None:
        """The failure on the trial (fail_reason) and on its run (tags, the traceback); the run ends FAILED."""
        reason = f"{type(err).__name__}: {err}"
        trial.set_user_attr("fail_reason", reason[:1000])
        tracker.set_tags({"hpo.state": "FAILED", "hpo.fail_reason": reason[:5000]})
        path = self.record.runs / "sweeps" / self.record.study_name / f"trial-{trial.number}-traceback.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(traceback.format_exception(err)), encoding="utf-8")
        tracker.log_artifact(path)
        tracker.end("FAILED")
