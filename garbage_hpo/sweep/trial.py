"""One trial of a sweep, read top-down as Optuna's `_run_trial`: sample the point (a duplicate is skipped), open
the trial's MLflow run, compose and check its config, train it on one split or k folds (reporting each epoch
to the pruner), hand the values back to Optuna and close the run as FINISHED (a pruned one named so), KILLED
(interrupted) or FAILED. Interrupts (stop.py) and timing (timing.py) are the trial's neighbours, not woven
through it."""

from __future__ import annotations

import contextlib

import optuna
from optuna.trial import TrialState

from garbage_hpo.config import Objective, RunSettings, read_settings
from garbage_hpo.metrics import Measured
from garbage_hpo.pipeline import Prepared, train
from garbage_hpo.runtime import GracefulStop
from garbage_hpo.selection import run_cv
from garbage_hpo.sweep.latency import objective_values
from garbage_hpo.sweep.pruning import EpochReports
from garbage_hpo.sweep.recovery import worker_id
from garbage_hpo.sweep.space import SearchSpace
from garbage_hpo.sweep.strategies import KIND_ATTR, earlier_duplicate
from garbage_hpo.sweep.timing import SweepTimes, TrialTimes
from garbage_hpo.sweep.trial_config import PreparedCache, TrialConfigs
from garbage_hpo.sweep.trial_run import TrialRecording, TrialRuns
from garbage_hpo.tracking import CV_SCORES, Tracker
from garbage_hpo.training import release_runtime_memory


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
        self.trial_runs = TrialRuns(record)
        self.stop = stop
        self.times = times
        self.trial_times = TrialTimes()  # the running trial's
        self.parent_run_id: str | None = None
        self.running: tuple[optuna.Trial, Tracker] | None = None  # the trial in progress, for close_running

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
            tracker = self._open_run(trial, sampled)
            return self._measure(trial, tracker, sampled)
        finally:
            self.running = None
            self.times.end_trial(times, tracker.seconds if tracker is not None else 0.0)

    def _open_run(self, trial: optuna.Trial, sampled: dict) -> Tracker:
        assert self.parent_run_id is not None, "the sweep's parent run opens before any trial"
        tracker = self.trial_runs.open(trial.number, self.parent_run_id, sampled)
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
                settings = read_settings(self.configs.build(groups, scalars))  # the trial's config, read once
            with times.part("prepare"):
                prepared = self.prepared.get(settings)
            with times.part_excluding("train", lambda: tracker.seconds + times.seconds["optuna"]):
                result = self._train(trial, settings, prepared, tracker)
            with times.part("train"):  # latency objectives are measured here: evaluation
                values = objective_values(self.goals, prepared, result)
            # the run holds every score already under its one name (cv_mean, ...), but for a latency measured here
            measured_here = {g.metric: v for g, v in zip(self.goals, values, strict=True) if g.metric not in CV_SCORES}
            note = self.trial_runs.scored_note(trial.number, sampled, self.goals[0].metric, values[0],
                                               result.trial_attrs(), settings.cv_folds > 1)
            self.trial_runs.end(tracker, times, "FINISHED", measured_here, {"mlflow.note.content": note})
            return values[0] if not self.multi else tuple(values)
        except optuna.TrialPruned as pruned:
            self.trial_runs.end_pruned(tracker, times, trial.number, int(str(pruned) or 0))
            raise
        except KeyboardInterrupt:  # Optuna records the trial FAIL; queue it again so a restart runs it first
            self.trial_runs.settle_interrupted(trial, tracker)
            raise
        except Exception as err:
            self.trial_runs.failed(tracker, trial, err)
            raise

    def close_running(self) -> None:
        """A second Ctrl-C (from the stop watcher thread, while the main thread may be inside MindSpore):
        record the running trial as interrupted and queue its parameters again."""
        # the interrupted trial too: the main thread clears `running` before Optuna records the trial FAIL, and
        # ending the process in between would leave it RUNNING
        running = self.running or self.trial_runs.interrupted
        if running is not None:
            trial, tracker = running
            self.trial_runs.settle_interrupted(trial, tracker)
            storage = trial.study._storage  # Optuna keeps no public handle on a running trial's storage
            if storage.get_trial(trial._trial_id).state == TrialState.RUNNING:  # the main thread is stuck in it
                with contextlib.suppress(RuntimeError):  # unless Optuna settled it in the meantime
                    storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)

    def _train(self, trial: optuna.Trial, settings: RunSettings, prepared: Prepared, tracker: Tracker) -> Measured:
        """One split (per-epoch pruning) or k folds (per-fold pruning); the trial keeps how it was measured."""
        result: Measured
        with self.trial_times.part("optuna"):  # the pruner compares it with trials of its kind only
            trial.set_user_attr(KIND_ATTR, "finetune" if settings.finetuning else "head")
        reports = EpochReports(trial, self.stop, self.trial_times, report=not self.multi)
        try:
            if settings.cv_folds > 1:
                result = run_cv(settings, prepared, tracker, on_epoch=reports.folds(), stop_check=self.stop.check)
            else:
                result = train(settings, prepared, tracker, on_epoch=reports.one_split(), evaluate_test=False,
                               save_checkpoint=self.record.save_checkpoints, plots=self.record.trial_plots)
        finally:  # pruned or not: many models run in one process (compiled_steps.py)
            release_runtime_memory()
        with self.trial_times.part("optuna"):
            for key, value in result.trial_attrs().items():
                trial.set_user_attr(key, value)
        return result
