"""Run an Optuna study whose trials train the pipeline's configuration and record themselves in MLflow."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import optuna
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

from garbage_hpo.features import COUNTERS
from garbage_hpo.paths import runs_dir
from garbage_hpo.selection.probe import ProbeResult
from garbage_hpo.settings import cv_folds_setting, validate_config
from garbage_hpo.stop import GracefulStop
from garbage_hpo.store_check import check_tracking_store
from garbage_hpo.sweep.fingerprint import check_study_space
from garbage_hpo.sweep.recovery import (
    StaleTrialHandler,
    fail_dead_local_trials,
    fail_stale_trials,
    make_storage,
)
from garbage_hpo.sweep.report import best_trials, finish_parent, run_in_store
from garbage_hpo.sweep.settings import check_sweep_settings
from garbage_hpo.sweep.space import SearchSpace, check_against_config
from garbage_hpo.sweep.space_check import check_enqueue, check_values
from garbage_hpo.sweep.strategies import make_pruner, make_sampler
from garbage_hpo.sweep.study_settings import check_study_settings, fixed_settings
from garbage_hpo.sweep.timing import SweepTimes
from garbage_hpo.sweep.trial import Objective, TrialRecording, Trials
from garbage_hpo.sweep.trial_config import PreparedCache, TrialConfigs
from garbage_hpo.sweep.verdict import log_probe, parent_note, summary_text
from garbage_hpo.tracking import Tracker, client_for, default_tracking_uri, flatten, owner_tags, ui_hint, ui_link
from garbage_hpo.training.cached_finetune import FINETUNE_STEPS
from garbage_hpo.training.cut_cache import COUNTERS as CUT
from garbage_hpo.training.head_stage import COMPILED_STEPS
from garbage_hpo.ui_views import VIEW_KEY, save_trials_view

log = logging.getLogger("garbage_hpo.sweep")
METRICS = {"val_acc": "maximize", "val_top5": "maximize", "val_loss": "minimize", "latency_ms": "minimize",
           "params_m": "minimize"}
DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)


class TooManyFailures(RuntimeError):
    """The sweep stopped after `sweep.max_failures` consecutive failed trials."""


def objectives(cfg: DictConfig) -> list[Objective]:
    out = []
    for i, entry in enumerate(cfg.sweep.objectives):
        metric, direction = str(entry.metric), str(entry.direction)
        if metric not in METRICS:
            raise ValueError(f"sweep.objectives[{i}].metric={metric!r}: choose one of {sorted(METRICS)}")
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"sweep.objectives[{i}].direction={direction!r}: maximize or minimize")
        out.append(Objective(metric, direction))
    if not out:
        raise ValueError("sweep.objectives: at least one objective is needed")
    return out


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


def storage_url(cfg: DictConfig) -> str:
    return str(cfg.sweep.storage or f"sqlite:///{runs_dir(cfg.runs_dir) / 'optuna.db'}")


class Sweep:
    def __init__(self, cfg: DictConfig, space: SearchSpace, base_overrides: list[str]) -> None:
        self.cfg = cfg
        self.space = space
        self.goals = objectives(cfg)
        self.multi = len(self.goals) > 1
        check_sweep_settings(cfg)
        self.study_name = str(cfg.sweep.study_name or cfg.sweep.name)
        self.runs = runs_dir(cfg.runs_dir)
        self.tracking_uri = str(cfg.tracking.uri or default_tracking_uri(self.runs))
        check_tracking_store(self.tracking_uri)
        self.configs = TrialConfigs(cfg, base_overrides)
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
            self.tracking_uri, str(cfg.tracking.experiment), self.runs, self.study_name,
            bool(cfg.sweep.save_checkpoints), bool(cfg.sweep.trial_plots)), self.stop, self.times)
        check_against_config(space, cfg)
        validate_config(cfg)
        check_enqueue(space, cfg)
        check_values(space, self.configs, validate_config)
        self.sampler = make_sampler(str(cfg.sweep.sampler), int(cfg.seed), space, self.multi)
        self.cv_folds = cv_folds_setting(cfg)
        self.pruner = make_pruner(str(cfg.sweep.pruner), int(cfg.train.epochs) + int(cfg.finetune.epochs),
                                  int(cfg.sweep.pruner_startup_trials), cfg.sweep.pruner_warmup_epochs)
        self.probe: ProbeResult | None = None
        if not cfg.sweep.verbose:  # one line per trial instead of one per epoch
            logging.getLogger("garbage_hpo.pipeline").setLevel(logging.WARNING)
            logging.getLogger("garbage_hpo.selection").setLevel(logging.WARNING)
            # ERROR: Optuna's "Trial failed" warning repeats the sweep's own FAIL line with a traceback (the
            # traceback is kept in runs/sweeps/<study>/trial-<n>-traceback.txt and on the trial's run)
            optuna.logging.set_verbosity(optuna.logging.ERROR)

    # -- study --------------------------------------------------------------------------------------------
    def study(self) -> optuna.Study:
        storage = make_storage(storage_url(self.cfg), self.cfg.sweep.heartbeat_interval,
                               self.cfg.sweep.heartbeat_grace, self.on_stale)
        study = optuna.create_study(
            storage=storage, study_name=self.study_name, sampler=self.sampler,
            pruner=self.pruner, directions=[g.direction for g in self.goals], load_if_exists=True)
        recorded = study.user_attrs.get("objectives")
        wanted = [g.metric for g in self.goals]
        if recorded is not None and recorded != wanted:
            raise ValueError(f"sweep.study_name={self.study_name}: the stored study optimises {recorded}, "
                             f"not {wanted}; choose another sweep.study_name")
        allow_change = bool(self.cfg.sweep.get("allow_space_change", False))
        check_study_space(study, str(self.cfg.sweep.name), self.space, allow_change)
        index = self.prepared.get(self.cfg).index  # prepared here once; the trials reuse it
        check_study_settings(study, fixed_settings(self.cfg, self.space, index), allow_change)
        for params in self.cfg.sweep.enqueue or []:  # skipped where a trial with these params exists
            study.enqueue_trial(OmegaConf.to_container(params, resolve=True), skip_if_exists=True)
        study.set_user_attr("objectives", wanted)
        study.set_user_attr("space", str(self.space.source))
        study.set_user_attr("question", self.space.question)
        return study

    def grace_seconds(self) -> float:
        interval = self.cfg.sweep.heartbeat_interval
        return float(self.cfg.sweep.heartbeat_grace or 2 * (interval or 30))

    def run(self) -> optuna.Study:
        study = self.study()
        lost = fail_dead_local_trials(study, self.on_stale, self.grace_seconds())
        fail_stale_trials(study)
        done = sum(t.state in DONE_STATES for t in study.trials)
        target = int(self.cfg.sweep.n_trials)
        log.info("sweep %s: %s", self.study_name, self.space.question or "(no question stated)")
        log.info("study %r in %s: %d of %d trials done%s; MLflow %s", self.study_name,
                 storage_url(self.cfg).split("@")[-1], done, target,
                 f", {lost} left RUNNING by a dead process settled" if lost else "", self.tracking_uri)
        if done >= target:  # no new parent run for a sweep with nothing left to do
            print(f"nothing to do: study {self.study_name!r} has {done} of sweep.n_trials={target} trials done; "
                  "raise sweep.n_trials to run more", flush=True)
            return study
        self.parent = Tracker(
            self.tracking_uri, str(self.cfg.tracking.experiment), self.runs / "mlartifacts",
            run_name=f"sweep-{self.study_name}-{time.strftime('%Y%m%d-%H%M%S')}",
            tags={"hpo.role": "sweep", "optuna.study_name": self.study_name,
                  "optuna.storage": storage_url(self.cfg).split("@")[-1], "hpo.question": self.space.question}
            | owner_tags(), description=self.space.question)
        self.trials.parent_run_id = self.parent.run_id
        status = "FAILED"
        try:
            self.log_base_config()
            save_trials_view(self.parent.client, self.parent.experiment_id, [p.name for p in self.space.params],
                             [g.metric for g in self.goals], ascending=self.goals[0].direction == "minimize")
            self.parent.log_artifact(self.space.source)
            self.probe = log_probe(self.cfg, self.prepared, self.parent)
            optimize_start = self.times.last_end = time.perf_counter()
            if done < target:
                study.optimize(
                    self.trials.run, n_trials=None, timeout=self.cfg.sweep.timeout, catch=(Exception,),
                    callbacks=[optuna.study.MaxTrialsCallback(target, states=DONE_STATES), self.after_trial])
            self.parent.log_metrics({"sweep_trials_seconds": time.perf_counter() - optimize_start}
                                    | self.work_counters() | self.times.metrics())
            fail_stale_trials(study)
            if self.aborted:
                raise TooManyFailures(self.aborted)
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            try:
                finish_parent(self.parent, study, [g.metric for g in self.goals],
                              self.runs / "sweeps" / self.study_name / self.parent.run_id)
                self.parent.set_tags({"mlflow.note.content": self.note(study)})
            finally:
                self.parent.end(status)
        return study

    def log_base_config(self) -> None:
        """The sweep's own settings as params; the base config as an artifact. The parent's other plain params
        are the winner's configuration, logged when the sweep ends (sweep.report.log_winner)."""
        assert self.parent is not None
        config = OmegaConf.to_container(self.cfg, resolve=True)
        self.parent.log_params(flatten({"sweep": config["sweep"]}))
        path = self.runs / "sweeps" / self.study_name / self.parent.run_id / "base_config.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(OmegaConf.to_yaml(self.cfg, resolve=True), encoding="utf-8")
        self.parent.log_artifact(path)

    def note(self, study: optuna.Study) -> str:
        best = best_trials(study)
        run_id = best[0].user_attrs.get("mlflow_run_id") if best else None
        link = ui_link(self.tracking_uri, self.parent.experiment_id, run_id) if self.parent and run_id else None
        summary = summary_text(self.study_name, study, [g.metric for g in self.goals], self.probe,
                               time.perf_counter() - self.started)
        return parent_note(self.space.question, summary, link)

    def work_counters(self) -> dict[str, float]:
        """What this invocation computed, to show nothing was done twice that could be done once."""

        return {"work.peak_rss_mb": peak_rss_mb(), "work.prepare_calls": self.prepared.misses,
                "work.feature_extractions": COUNTERS["extractions"],
                "work.feature_cache_hits": COUNTERS["cache_hits"], "work.head_graphs_compiled": COMPILED_STEPS.builds,
                "work.head_graphs_reused": COMPILED_STEPS.reuses, "work.cut_views_built": CUT["views_built"],
                "work.cut_cache_build_seconds": CUT["build_seconds"],
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
        done = sum(t.state in DONE_STATES for t in study.trials)
        if trial.state == TrialState.FAIL:
            self.consecutive_failures += 1
            value = trial.user_attrs.get("fail_reason", "failed")
        else:
            self.consecutive_failures = 0
            value = ", ".join(f"{g.metric}={v:.4f}" for g, v in zip(self.goals, trial.values or [], strict=False))
            if trial.state == TrialState.PRUNED:
                last = max(trial.intermediate_values) if trial.intermediate_values else 0
                value = f"pruned at epoch {last}"
                if "duplicate_of" in trial.user_attrs:
                    value = f"skipped: the same parameters as trial {trial.user_attrs['duplicate_of']}"
        best = best_trials(study)
        best_text = ""
        if best and not self.multi:
            best_text = f" | best {self.goals[0].metric}={best[0].value:.4f} (#{best[0].number})"
        elif best:
            best_text = f" | Pareto front: {len(best)} trials"
        print(f"[{done}/{self.cfg.sweep.n_trials}] trial {trial.number} {trial.state.name} {value} "
              f"({duration:.1f}s){best_text}", flush=True)
        self.stop.check()  # a stop asked for during the trial's last moments: do not start another
        limit = int(self.cfg.sweep.max_failures)
        if limit and self.consecutive_failures >= limit:
            self.aborted = (f"sweep stopped after {self.consecutive_failures} consecutive failed trials "
                            f"(sweep.max_failures={limit}); last: {trial.user_attrs.get('fail_reason')}")
            study.stop()

    def summary(self, study: optuna.Study) -> str:
        text = summary_text(self.study_name, study, [g.metric for g in self.goals], self.probe,
                            time.perf_counter() - self.started)
        text += "".join(f"\n  {line}" for line in self.prepared.photo_counts())
        if self.times.trials:
            text += f"\n  {self.times.line()}"
        if self.parent is not None:
            experiment = self.parent.experiment_id
            text += (f"\n  MLflow: this sweep {ui_link(self.tracking_uri, experiment, self.parent.run_id)}"
                     f"\n          trials ranked by objective {ui_link(self.tracking_uri, experiment, view=VIEW_KEY)}"
                     f"{ui_hint(self.tracking_uri)}")
        best = best_trials(study)
        run_id = best[0].user_attrs.get("mlflow_run_id") if best else None
        if run_id and run_in_store(client_for(self.tracking_uri), run_id) is None:
            text += (f"\n  note: the best trial's MLflow run {run_id} is not in tracking.uri={self.tracking_uri}: "
                     "this study's trials were recorded in another MLflow store; pass that tracking.uri to see them")
        return text
