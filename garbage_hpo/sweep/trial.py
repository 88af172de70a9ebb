"""One trial of a sweep, read top-down as Optuna's `_run_trial`: sample the point (a duplicate is skipped), open
the trial's MLflow run, compose and check its config, train it on one split or k folds (reporting each epoch
to the pruner), hand the values back to Optuna and close the run as FINISHED, KILLED (pruned, interrupted) or
FAILED. Interrupts (stop.py) and timing (timing.py) are the trial's neighbours, not woven through it."""

from __future__ import annotations

import contextlib
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

import optuna
from omegaconf import DictConfig
from optuna.trial import TrialState

from garbage_hpo.metric_names import objective_keys
from garbage_hpo.pipeline import TrainResult, train
from garbage_hpo.preparation import Prepared
from garbage_hpo.selection.cv import CVResult
from garbage_hpo.selection.run import run_cv
from garbage_hpo.settings import cv_folds_setting, validate_config
from garbage_hpo.stats import wilson
from garbage_hpo.stop import GracefulStop
from garbage_hpo.sweep.latency import measure
from garbage_hpo.sweep.recovery import worker_id
from garbage_hpo.sweep.space import SearchSpace
from garbage_hpo.sweep.strategies import earlier_duplicate
from garbage_hpo.sweep.timing import SweepTimes, TrialTimes
from garbage_hpo.sweep.trial_config import PreparedCache, TrialConfigs
from garbage_hpo.tracking import Tracker
from garbage_hpo.training.loop import EpochResult


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: str


@dataclass(frozen=True)
class TrialRecording:
    """Where and how trials are recorded."""

    tracking_uri: str
    experiment: str
    runs: Path
    study_name: str
    save_checkpoints: bool
    trial_plots: bool


class Trials:
    """Runs the sweep's trials (Optuna's objective is `run`); the sweep sets `parent_run_id` once its run opens."""

    def __init__(self, space: SearchSpace, configs: TrialConfigs, prepared: PreparedCache, goals: list[Objective],
                 record: TrialRecording, stop: GracefulStop, times: SweepTimes) -> None:
        self.space = space
        self.configs = configs
        self.prepared = prepared
        self.goals = goals
        self.multi = len(goals) > 1
        self.record = record
        self.stop = stop
        self.times = times
        self.trial_times = TrialTimes()  # the running trial's
        self.parent_run_id: str | None = None
        self.running: tuple[optuna.Trial, Tracker] | None = None  # the trial in progress, for close_running
        self.interrupted: tuple[optuna.Trial, Tracker] | None = None  # the trial a first stop ended
        self.settle_lock = threading.Lock()
        self.settled: set[int] = set()  # interrupted trials already closed and queued again

    def run(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        """Optuna's objective: sample the point, skip a duplicate, open the trial's run, then measure it."""
        times = self.trial_times = self.times.start_trial()
        tracker: Tracker | None = None
        try:
            with times.part("optuna"):
                trial.set_user_attr("worker", worker_id())
                sampled = self.space.sample(trial)
                duplicate = earlier_duplicate(trial)
            if duplicate is not None:  # never train a point twice: Optuna records it PRUNED, no MLflow run
                trial.set_user_attr("duplicate_of", duplicate)
                raise optuna.TrialPruned(f"duplicate of trial {duplicate}")
            tracker = self._open_run(trial)
            return self._measure(trial, tracker, sampled)
        finally:
            self.running = None
            self.times.end_trial(times, tracker.seconds if tracker is not None else 0.0)

    def _open_run(self, trial: optuna.Trial) -> Tracker:
        assert self.parent_run_id is not None, "the sweep's parent run opens before any trial"
        tracker = Tracker(
            self.record.tracking_uri, self.record.experiment, self.record.runs / "mlartifacts",
            run_name=f"trial-{trial.number}", parent_run_id=self.parent_run_id,
            tags={"hpo.role": "trial", "optuna.trial_number": str(trial.number),
                  "optuna.study_name": self.record.study_name})
        with self.trial_times.part("optuna"):
            trial.set_user_attr("mlflow_run_id", tracker.run_id)
        self.running = (trial, tracker)
        return tracker

    def _measure(self, trial: optuna.Trial, tracker: Tracker, sampled: dict) -> float | tuple[float, ...]:
        """Compose the config, train (one split or k folds), report the values; the run ends with the trial."""
        times = self.trial_times
        try:
            self.stop.check()
            with times.part("config"):
                groups, scalars = self.space.config_values(sampled)
                cfg = self.configs.build(groups, scalars)
                validate_config(cfg)
            tracker.log_params({f"sampled.{k}": v for k, v in sampled.items()})
            with times.part("prepare"):
                prepared = self.prepared.get(cfg)
            with times.part_excluding("train", lambda: tracker.seconds + times.seconds["optuna"]):
                result = self._train(trial, cfg, prepared, tracker)
            with times.part("train"):  # latency objectives are measured here: evaluation
                values = self._values(prepared, result)
            with times.part("optuna"):
                for goal, value in zip(self.goals, values, strict=True):
                    trial.set_user_attr(goal.metric, value)
            keys = objective_keys([g.metric for g in self.goals])
            self._log_times(tracker)
            tracker.log_metrics(dict(zip(keys, values, strict=True)), flush=True)
            tracker.end("FINISHED")
            return values[0] if not self.multi else tuple(values)
        except optuna.TrialPruned as pruned:
            tracker.set_tags({"hpo.state": "PRUNED"})
            self._log_times(tracker)
            tracker.log_metrics({"pruned_at_epoch": float(str(pruned) or 0)}, flush=True)
            tracker.end("KILLED")
            raise
        except KeyboardInterrupt:  # Optuna records the trial FAIL; queue it again so a restart runs it first
            self._settle_interrupted(trial, tracker)
            raise
        except Exception as err:
            self._record_failure(tracker, trial, err)
            raise

    def _settle_interrupted(self, trial: optuna.Trial, tracker: Tracker) -> None:
        """Close an interrupted trial's run and queue its point again, once: the main thread (first stop) and
        the stop watcher (second stop) may both get here for the same trial."""
        with self.settle_lock:  # held throughout: the watcher must not exit the process mid-way through
            if trial.number in self.settled:
                return
            self.settled.add(trial.number)
            self.interrupted = (trial, tracker)
            tracker.set_tags({"hpo.state": "INTERRUPTED"})
            tracker.end("KILLED")
            trial.study.enqueue_trial(trial.params, user_attrs={"requeued_from": trial.number})

    def _log_times(self, tracker: Tracker) -> None:
        """The trial's time split (its last MLflow calls, this one included, count in the sweep's sums only)."""
        times = self.trial_times
        times.close(tracker.seconds)
        tracker.log_metrics({"trial_seconds": times.total} | times.metrics())

    def close_running(self) -> None:
        """A second Ctrl-C (from the stop watcher thread, while the main thread may be inside MindSpore):
        record the running trial as interrupted and queue its parameters again."""
        # the interrupted trial too: the main thread clears `running` before Optuna records the trial FAIL, and
        # ending the process in between would leave it RUNNING
        running = self.running or self.interrupted
        if running is not None:
            trial, tracker = running
            self._settle_interrupted(trial, tracker)
            storage = trial.study._storage  # Optuna keeps no public handle on a running trial's storage
            if storage.get_trial(trial._trial_id).state == TrialState.RUNNING:  # the main thread is stuck in it
                with contextlib.suppress(RuntimeError):  # unless Optuna settled it in the meantime
                    storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)

    def _train(self, trial: optuna.Trial, cfg: DictConfig, prepared: Prepared,
               tracker: Tracker) -> TrainResult | CVResult:
        """One split (per-epoch pruning) or k folds (per-fold pruning); the trial keeps how it was measured."""
        if cv_folds_setting(cfg) > 1:
            cv = run_cv(cfg, prepared, tracker, on_epoch=self._cv_pruning_hook(trial), stop_check=self.stop.check)
            with self.trial_times.part("optuna"):
                for key, value in cv.record().items():
                    trial.set_user_attr(key, value)
            return cv
        result = train(cfg, prepared, tracker, on_epoch=self._pruning_hook(trial), evaluate_test=False,
                       save_checkpoint=self.record.save_checkpoints, plots=self.record.trial_plots)
        ci = wilson(round(result.val_acc * len(prepared.split.val)), len(prepared.split.val))
        with self.trial_times.part("optuna"):
            self._set_split_attrs(trial, prepared, result, ci)
        return result

    @staticmethod
    def _set_split_attrs(trial: optuna.Trial, prepared: Prepared, result: TrainResult, ci) -> None:
        for key, value in {"cv_folds": 1, "val_n": len(prepared.split.val), "val_ci95_low": ci.low,
                           "val_ci95_high": ci.high, "refit_epochs": result.best_epoch,
                           "best_stage": result.best_stage}.items():
            trial.set_user_attr(key, value)

    def _cv_pruning_hook(self, trial: optuna.Trial):
        def hook(epoch: int, partial: CVResult) -> None:  # the fold-mean accuracy of this epoch
            self.stop.check()
            if self.multi:
                return
            with self.trial_times.part("optuna"):
                trial.report(float(partial.mean_curve[-1]), epoch)
                prune = trial.should_prune()
            if prune:
                raise optuna.TrialPruned(str(epoch))

        return hook

    def _pruning_hook(self, trial: optuna.Trial):
        def hook(result: EpochResult) -> None:
            self.stop.check()
            if self.multi:  # Optuna prunes single-objective studies only
                return
            with self.trial_times.part("optuna"):
                trial.report(result.val.accuracy, result.step)
                prune = trial.should_prune()
            if prune:
                raise optuna.TrialPruned(str(result.step))

        return hook

    def _values(self, prepared: Prepared, result: TrainResult | CVResult) -> list[float]:
        values = {"val_acc": result.val_acc, "val_top5": result.val_top5, "val_loss": result.val_loss}
        if any(g.metric in ("latency_ms", "params_m") for g in self.goals):
            spec = prepared.spec
            latency, params = measure(spec.arch, spec.width, prepared.image_size, prepared.index.num_classes,
                                      spec.profile)
            values |= {"latency_ms": latency, "params_m": params}
        return [values[g.metric] for g in self.goals]

    def _record_failure(self, tracker: Tracker, trial: optuna.Trial, err: Exception) -> None:
        reason = f"{type(err).__name__}: {err}"
        trial.set_user_attr("fail_reason", reason[:1000])
        tracker.set_tags({"hpo.state": "FAILED", "hpo.fail_reason": reason[:5000]})
        path = self.record.runs / "sweeps" / self.record.study_name / f"trial-{trial.number}-traceback.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(traceback.format_exception(err)), encoding="utf-8")
        tracker.log_artifact(path)
        tracker.end("FAILED")
