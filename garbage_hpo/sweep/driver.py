"""Run an Optuna study whose trials train the pipeline's configuration and record themselves in MLflow."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from garbage_hpo.config import RunSettings, SweepSettings
from garbage_hpo.runtime import WORK, GracefulStop
from garbage_hpo.selection import ProbeResult, log_photo_list
from garbage_hpo.sweep.fingerprint import check_study_space
from garbage_hpo.sweep.recovery import (
    StaleTrialHandler,
    fail_dead_local_trials,
    fail_stale_trials,
    make_storage,
)
from garbage_hpo.sweep.report import WinnerFindings, best_trials, finish_parent, run_in_store
from garbage_hpo.sweep.space import SearchSpace
from garbage_hpo.sweep.strategies import TrialBudget, counted, make_pruner, make_sampler
from garbage_hpo.sweep.study_settings import check_study_settings, fixed_settings
from garbage_hpo.sweep.timing import SweepTimes
from garbage_hpo.sweep.trial import Trials
from garbage_hpo.sweep.trial_config import PreparedCache, TrialConfigs
from garbage_hpo.sweep.trial_run import TrialRecording
from garbage_hpo.sweep.verdict import log_probe, parent_note, summary_text
from garbage_hpo.tracking import (
    VIEW_KEY,
    Tracker,
    client_for,
    flatten,
    hide_password,
    owner_tags,
    page_link,
    save_trials_view,
    score_name,
    ui_hint,
    ui_link,
)
from garbage_hpo.training import COMPILED_STEPS, FINETUNE_STEPS

log = logging.getLogger("garbage_hpo.sweep")


class TooManyFailures(RuntimeError):
    """The sweep stopped after `sweep.max_failures` consecutive failed trials."""


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started (Linux VmHWM; 0 where /proc is missing). Unlike
    getrusage, it does not inherit the size of the process that forked this one."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Sweep:
    """The study and its parent run: trials (trial.py) run inside; progress, stops and the summary around them.
    Built from settings read once (sweep/__main__.py), after every check of the space against the config."""

    def __init__(self, settings: SweepSettings, base: RunSettings, space: SearchSpace, configs: TrialConfigs,
                 fixed_config: dict[str, str]) -> None:
        self.settings = settings
        self.base = base
        self.space = space
        self.fixed_config = fixed_config  # the base config, flat and unresolved: what a study is measured under
        self.goals = list(settings.objectives)
        self.multi = settings.multi
        self.study_name = settings.study_name
        self.runs = base.runs
        self.tracking_uri = settings.tracking_uri
        self.configs = configs
        self.on_stale = StaleTrialHandler(self.tracking_uri)
        self.stop = GracefulStop()  # installed as the signal handler by the CLI
        self.stop.on_force = self.close_now
        self.prepared = PreparedCache()
        self.parent: Tracker | None = None
        self.consecutive_failures = 0
        self.aborted: str | None = None  # why the sweep stopped early, if it did
        self.started = time.perf_counter()
        self.times = SweepTimes()  # in-process counters of where trial time goes (timing.py)
        self.trials = Trials(space, self.configs, self.prepared, self.goals, TrialRecording(
            self.tracking_uri, settings.experiment, self.runs, self.study_name, settings.save_checkpoints,
            settings.trial_plots), self.stop, self.times)
        self.sampler = make_sampler(settings.sampler, base.seed, space, self.multi)
        self.cv_folds = base.cv_folds
        self.scores = [score_name(g.metric, base.cv_folds > 1) for g in self.goals]  # the values' one names
        self.pruner = make_pruner(settings.pruner, base.train.epochs + base.finetune.epochs,
                                  settings.pruner_startup_trials, settings.pruner_warmup_epochs)
        self.probe: ProbeResult | None = None
        self.findings = WinnerFindings()  # the CV winner's BBC-CV figure and suspect labels, when the sweep ends
        self.budget = TrialBudget(settings.n_trials)  # trials skipped as duplicates do not use it up
        if not settings.verbose:  # one line per trial instead of one per epoch
            logging.getLogger("garbage_hpo.pipeline.one_split").setLevel(logging.WARNING)
            logging.getLogger("garbage_hpo.selection").setLevel(logging.WARNING)
            # ERROR: Optuna's "Trial failed" warning repeats the sweep's own FAIL line with a traceback (the
            # traceback is kept in runs/sweeps/<study>/trial-<n>-traceback.txt and on the trial's run)
            optuna.logging.set_verbosity(optuna.logging.ERROR)

    # -- study --------------------------------------------------------------------------------------------
    def study(self) -> optuna.Study:
        settings = self.settings
        storage = make_storage(settings.storage, settings.heartbeat_interval, settings.heartbeat_grace,
                               self.on_stale)
        study = optuna.create_study(
            storage=storage, study_name=self.study_name, sampler=self.sampler,
            pruner=self.pruner, directions=[g.direction for g in self.goals], load_if_exists=True)
        recorded = study.user_attrs.get("objectives")
        wanted = [g.metric for g in self.goals]
        if recorded is not None and recorded != wanted:
            raise ValueError(f"sweep.study_name={self.study_name}: the stored study optimises {recorded}, "
                             f"not {wanted}; choose another sweep.study_name")
        allow_change = settings.allow_space_change
        check_study_space(study, settings.name, self.space, allow_change)
        index = self.prepared.get(self.base).index  # prepared here once; the trials reuse it
        check_study_settings(study, fixed_settings(self.fixed_config, self.space, index), allow_change)
        for params in settings.enqueue:  # skipped where a trial with these params exists
            study.enqueue_trial(self.space.enqueued(dict(params)), skip_if_exists=True)
        study.set_user_attr("objectives", wanted)
        study.set_user_attr("space", str(self.space.source))
        study.set_user_attr("question", self.space.question)
        return study

    def run(self) -> optuna.Study:
        study = self.study()
        lost = fail_dead_local_trials(study, self.on_stale, self.settings.grace_seconds)
        fail_stale_trials(study)
        done = counted(study.trials)
        target = self.settings.n_trials
        log.info("sweep %s: %s", self.study_name, self.space.question or "(no question stated)")
        log.info("study %r in %s: %d of %d trials done%s; MLflow %s", self.study_name,
                 self.settings.storage.split("@")[-1], done, target,
                 f", {lost} left RUNNING by a dead process settled" if lost else "", hide_password(self.tracking_uri))
        if done >= target:  # no new parent run for a sweep with nothing left to do
            print(f"nothing to do: study {self.study_name!r} has {done} of sweep.n_trials={target} trials done; "
                  "raise sweep.n_trials to run more", flush=True)
            return study
        self.parent = Tracker(
            self.tracking_uri, self.settings.experiment, self.runs / "mlartifacts",
            run_name=f"sweep-{self.study_name}-{time.strftime('%Y%m%d-%H%M%S')}",
            tags={"hpo.role": "sweep", "optuna.study_name": self.study_name,
                  "optuna.storage": self.settings.storage.split("@")[-1], "hpo.question": self.space.question}
            | owner_tags(), description=self.space.question)
        self.trials.parent_run_id = self.parent.run_id

        def summarize() -> None:
            self.findings = finish_parent(self.parent, study, [g.metric for g in self.goals],
                                          self.runs / "sweeps" / self.study_name / self.parent.run_id,
                                          self.prepared.get(self.base).index)
            self.parent.set_tags({"mlflow.note.content": self.note(study)})

        with self.parent.outcome(before_end=summarize):
            self.log_base_config()
            save_trials_view(self.parent.client, self.parent.experiment_id, [p.name for p in self.space.params],
                             self.scores, ascending=self.goals[0].direction == "minimize")
            self.parent.log_artifact(self.space.source)
            if self.settings.probe:
                self.probe = log_probe(self.base, self.prepared, self.parent)
            optimize_start = self.times.last_end = time.perf_counter()
            if done < target:
                study.optimize(
                    self.trials.run, n_trials=None, timeout=self.settings.timeout, catch=(Exception,),
                    callbacks=[self.budget, self.after_trial])
            self.parent.log_metrics({"sweep_trials_seconds": time.perf_counter() - optimize_start}
                                    | self.work_counters() | self.times.metrics())
            fail_stale_trials(study)
            if self.aborted:
                raise TooManyFailures(self.aborted)
        return study

    def log_base_config(self) -> None:
        """The sweep's own settings as params; the base config as an artifact. The parent's other plain params
        are the winner's configuration, logged when the sweep ends (sweep.report.log_winner)."""
        assert self.parent is not None
        self.parent.log_params(flatten({"sweep": self.base.config["sweep"]}))
        path = self.runs / "sweeps" / self.study_name / self.parent.run_id / "base_config.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.base.config_yaml, encoding="utf-8")
        self.parent.log_artifact(path)
        if self.cv_folds > 1:  # what the trials' out-of-fold positions (oof.npz) name
            log_photo_list(self.parent, self.prepared.get(self.base), path.parent)

    def note(self, study: optuna.Study) -> str:
        best = best_trials(study)
        run_id = best[0].user_attrs.get("mlflow_run_id") if best else None
        link = (f"[trial #{best[0].number}]({page_link(self.parent.experiment_id, run_id)})"
                if self.parent and run_id else None)
        summary = summary_text(self.study_name, study, self.scores, self.probe,
                               time.perf_counter() - self.started, self.findings)
        return parent_note(self.space.question, summary, link, self.findings.leaderboard)

    def work_counters(self) -> dict[str, float]:
        """What this invocation computed, to show nothing was done twice that could be done once."""

        return {"work.peak_rss_mb": peak_rss_mb(), "work.prepare_calls": self.prepared.misses,
                "work.feature_extractions": WORK["feature_extractions"],
                "work.feature_cache_hits": WORK["feature_cache_hits"],
                "work.head_graphs_compiled": COMPILED_STEPS.builds,
                "work.head_graphs_reused": COMPILED_STEPS.reuses, "work.cut_views_built": WORK["cut_views_built"],
                "work.cut_cache_build_seconds": WORK["cut_cache_build_seconds"],
                "work.finetune_graphs_compiled": FINETUNE_STEPS.builds,
                "work.finetune_graphs_reused": FINETUNE_STEPS.reuses}

    def close_now(self) -> None:
        """A second Ctrl-C (from the stop watcher thread): settle the running trial, close the parent run."""
        self.trials.close_running()
        if self.parent is not None:
            self.parent.end("KILLED")

    # -- progress ---------------------------------------------------------------------------------------------
    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        duration = trial.duration.total_seconds() if trial.duration else 0.0
        done = counted(study.trials)
        if trial.state == TrialState.FAIL:
            self.consecutive_failures += 1
            value = trial.user_attrs.get("fail_reason", "failed")
        else:
            self.consecutive_failures = 0
            value = ", ".join(f"{name}={v:.4f}" for name, v in zip(self.scores, trial.values or [], strict=False))
            if trial.state == TrialState.PRUNED:
                last = max(trial.intermediate_values) if trial.intermediate_values else 0
                value = f"pruned at epoch {last}"
                if "duplicate_of" in trial.user_attrs:
                    value = f"skipped: the same parameters as trial {trial.user_attrs['duplicate_of']}"
        best = best_trials(study)
        best_text = ""
        if best and not self.multi:
            best_text = f" | best {self.scores[0]}={best[0].value:.4f} (#{best[0].number})"
        elif best:
            best_text = f" | Pareto front: {len(best)} trials"
        print(f"[{done}/{self.settings.n_trials}] trial {trial.number} {trial.state.name} {value} "
              f"({duration:.1f}s){best_text}", flush=True)
        self.stop.check()  # a stop asked for during the trial's last moments: do not start another
        limit = self.settings.max_failures
        if limit and self.consecutive_failures >= limit:
            self.aborted = (f"sweep stopped after {self.consecutive_failures} consecutive failed trials "
                            f"(sweep.max_failures={limit}); last: {trial.user_attrs.get('fail_reason')}")
            study.stop()

    def summary(self, study: optuna.Study) -> str:
        text = summary_text(self.study_name, study, self.scores, self.probe,
                            time.perf_counter() - self.started, self.findings)
        text += "".join(f"\n  {line}" for line in self.prepared.photo_counts())
        if self.budget.exhausted:
            text += (f"\n  stopped early: the last {self.budget.duplicate_limit} trials drew points already tried "
                     "(the space is nearly exhausted)")
        if self.times.trials:
            text += f"\n  {self.times.line()}"
        if self.parent is not None:
            experiment = self.parent.experiment_id
            text += (f"\n  MLflow: this sweep {ui_link(self.tracking_uri, experiment, self.parent.run_id)}"
                     f"\n          trials ranked by score {ui_link(self.tracking_uri, experiment, view=VIEW_KEY)}"
                     f"{ui_hint(self.tracking_uri)}")
        best = best_trials(study)
        run_id = best[0].user_attrs.get("mlflow_run_id") if best else None
        if run_id and run_in_store(client_for(self.tracking_uri), run_id) is None:
            text += (f"\n  note: the best trial's MLflow run {run_id} is not in tracking.uri={self.tracking_uri}: "
                     "this study's trials were recorded in another MLflow store; pass that tracking.uri to see them")
        return text
