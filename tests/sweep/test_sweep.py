"""Sweeps: search-space validation, every experiment's space, and a real tiny sweep checked end to end."""

from __future__ import annotations

import itertools
import math
import shutil
import sqlite3
import textwrap
import threading
import time
from pathlib import Path

import optuna
import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from garbage_hpo.config.settings import read_settings
from garbage_hpo.sweep.space import SearchSpaceError, check_against_config, load_space, run_facts
from garbage_hpo.sweep.space_check import check_enqueue, check_values
from garbage_hpo.sweep.trial_config import TrialConfigs
from garbage_hpo.tracking.runs import shown
from tests.conftest import REPO, run_cli

EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))


def test_every_seed_experiment_exists():
    assert set(EXPERIMENTS) >= {"batch_epochs", "activation", "reduction", "optimizer", "lr_schedule", "two_stage",
                                "head_depth", "label_smoothing", "full"}


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_space_is_valid_and_every_sample_composes_a_valid_config(experiment):
    overrides = [f"+experiment={experiment}"]
    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "conf")):
        cfg = compose(config_name="sweep", overrides=overrides)
        space = load_space(REPO / "sweeps" / f"{cfg.sweep.space}.yaml", REPO / "conf")
        assert space.question, f"sweeps/{experiment}.yaml states no question"
        check_against_config(space, cfg)
        space = space.given(run_facts(read_settings(cfg)))  # as build_sweep does
        configs = TrialConfigs(cfg, overrides)
        check_values(space, configs, read_settings)  # every bound and choice is a legal value
        check_enqueue(space, cfg)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(12):
            trial = study.ask()
            sampled = space.sample(trial)
            groups, scalars = space.config_values(sampled)
            trial_cfg = configs.build(groups, scalars)
            read_settings(trial_cfg)
            for key, value in scalars.items():
                assert trial_cfg_value(trial_cfg, key) == value
            for group, choice in groups.items():
                assert trial_cfg.get(group) is not None and choice
            study.tell(trial, 0.5)


def trial_cfg_value(cfg, key):
    from omegaconf import OmegaConf

    return OmegaConf.select(cfg, key)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "message"), [
    ("params: {}\n", "non-empty `params:`"),
    ("params:\n  head.depth: [1, 2]\n", "entry 'head.depth': expected a mapping"),
    ("params:\n  head.depth: {choices: []}\n", "entry 'head.depth': `choices` must be a non-empty list"),
    ("params:\n  schedule.lr_max: {low: 0.1, high: 0.01}\n", "entry 'schedule.lr_max': low=0.1 must be below"),
    ("params:\n  schedule.lr_max: {low: 0, high: 1, log: true}\n", "log scale needs low > 0"),
    ("params:\n  head.dropout: {low: 0.1, high: 0.5, when: {use_dropout: true}}\n", "depends on 'use_dropout'"),
    ("params:\n  optimizer: {choices: [momentum, sgd]}\n", "optimizer/sgd.yaml"),
    ("params:\n  head.depth: {choices: [1, 2], bins: 3}\n", "unknown fields ['bins']"),
    ("params:\n  head.depth: {choices: [1, 2]\n", "not valid YAML"),
    ("switches:\n  d: [true, false]\nparams:\n  head.dropout: {low: 0.1, high: 0.5, when: {d: maybe}}\n",
     "waits for d in ['maybe']"),
    ("params:\n  features.companion_taps: {choices: ['-1'], when: {model.companion: resnet}}\n",
     "waits for model.companion in ['resnet'], but model.companion is one of"),
])
def test_malformed_space_files_are_rejected_naming_the_entry(tmp_path, text, message):
    with pytest.raises(SearchSpaceError) as err:
        load_space(write(tmp_path, text), REPO / "conf")
    assert message in str(err.value) and "space.yaml" in str(err.value)


def champion_settings(*overrides: str):
    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "conf")):
        return read_settings(compose(config_name="sweep", overrides=["+experiment=champion", *overrides]))


def test_the_companions_taps_are_searched_only_where_the_run_has_a_companion():
    space = load_space(REPO / "sweeps" / "champion.yaml", REPO / "conf")
    alone = space.given(run_facts(champion_settings()))  # the default weights: model.companion=auto finds none
    paired = space.given(run_facts(champion_settings(
        "model.pretrained=none", "model.companion.name=mobilenetv1", "model.companion.pretrained=none")))
    names = [p.name for p in space.params]
    assert [p.name for p in alone.params] == [n for n in names if n != "features.companion_taps"]
    assert [p.name for p in paired.params] == [n for n in names if n != "head.depth"]  # one dense layer
    assert alone.dropped == ("features.companion_taps",) and paired.dropped == ("head.depth",)
    trial_0 = {"head.depth": 1, "features.tta": "none"}  # sweep.enqueue, written for both kinds of run
    assert paired.enqueued(trial_0) == {"features.tta": "none"} and alone.enqueued(trial_0) == trial_0
    companion_taps = next(p for p in paired.params if p.name == "features.companion_taps")
    assert companion_taps.when == {} and companion_taps.choices == ("-1", "11,12,-1", "7,9,11,12,-1")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(6):
        trial = study.ask()
        assert "features.companion_taps" in paired.sample(trial)
        study.tell(trial, 0.5)
    assert all("features.companion_taps" not in alone.sample(study.ask()) for _ in range(3))


def test_entry_for_a_missing_config_key_is_rejected(tmp_path):
    space = load_space(write(tmp_path, "params:\n  head.width: {choices: [1, 2]}\n"), REPO / "conf")
    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "conf")):
        cfg = compose(config_name="sweep", overrides=["+experiment=head_depth"])
    with pytest.raises(SearchSpaceError, match="entry 'head.width' is not a key of the config"):
        check_against_config(space, cfg)


def test_bad_space_stops_the_sweep_before_any_trial(runs, tiny_demo, tmp_path):
    bad = write(tmp_path, "params:\n  head.widht: {choices: [1, 2]}\n")
    proc = run_cli("garbage_hpo.sweep", "+experiment=head_depth", f"sweep.space={bad}", f"data.root={tiny_demo}",
                   check=False)
    assert proc.returncode == 2 and "head.widht" in proc.stderr and "Traceback" not in proc.stderr
    assert not (runs / "optuna.db").exists() and not (runs / "cache").exists()


def test_sweep_without_experiment_says_how_to_choose_one(runs):
    proc = run_cli("garbage_hpo.sweep", check=False)
    assert proc.returncode == 2 and "+experiment=head_depth" in proc.stderr and "lr_schedule" in proc.stderr


# one split (the experiment's default is 5-fold CV; tests/selection/test_selection.py covers that path)
TINY_SWEEP = ("+experiment=head_depth", "data.image_size=64", "train.epochs=4", "train.batch_size=16",
              "sweep.cv_folds=1")
GOOD = "{head.depth:1,use_dropout:false,schedule.lr_max:0.05},{head.depth:2,use_dropout:false,schedule.lr_max:0.05}"
HOPELESS = "{head.depth:1,use_dropout:false,schedule.lr_max:0.001}"


def test_tiny_sweep_records_storage_and_mlflow_consistently_and_resumes(runs, tiny_demo):
    first = run_cli("garbage_hpo.sweep", *TINY_SWEEP, f"data.root={tiny_demo}", "sweep.n_trials=3",
                    "sweep.pruner=none", f"sweep.enqueue=[{GOOD}]")
    assert "[3/3]" in first.stdout and "sweep head_depth: best model.val_acc in trial" in first.stdout
    assert "one split" in first.stdout and "(n=" in first.stdout and "95% CI" in first.stdout
    # resume with a pruner; the hopeless LR is queued first and must be stopped early
    second = run_cli("garbage_hpo.sweep", *TINY_SWEEP, f"data.root={tiny_demo}", "sweep.n_trials=5",
                     "sweep.pruner_startup_trials=1", "sweep.pruner_warmup_epochs=0",
                     f"sweep.enqueue=[{GOOD},{HOPELESS}]")
    assert "[5/5]" in second.stdout and "3 of 5 trials done" in second.stdout + second.stderr

    study = optuna.load_study(study_name="head_depth", storage=f"sqlite:///{runs / 'optuna.db'}")
    trials = study.trials
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 5
    assert [t.number for t in trials] == list(range(len(trials)))
    assert trials[0].params == {"head.depth": 1, "use_dropout": False, "schedule.lr_max": 0.05}
    assert all(t.state == TrialState.COMPLETE for t in trials[:3])
    assert trials[3].params["schedule.lr_max"] == 0.001  # queued, and not re-run for the good ones
    assert trials[3].state == TrialState.PRUNED  # reported after every epoch, stopped by the median rule
    assert all(len(t.intermediate_values) >= 1 for t in trials)

    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("head_depth")
    runs_found = client.search_runs([experiment.experiment_id], max_results=100)
    parents = [r for r in runs_found if r.data.tags.get("hpo.role") == "sweep"]
    children = [r for r in runs_found if r.data.tags.get("hpo.role") == "trial"]
    assert len(parents) == 2 and all(p.info.status == "FINISHED" for p in parents)
    assert len(children) == len(trials)
    by_run = {r.info.run_id: r for r in children}
    for trial in trials:
        run = by_run[trial.user_attrs["mlflow_run_id"]]
        assert run.data.tags["optuna.trial_number"] == str(trial.number)
        assert run.data.tags["optuna.study_name"] == "head_depth"
        assert f"Trial {trial.number} of sweep study head_depth: " in run.data.tags["mlflow.note.content"]
        assert run.data.tags["mlflow.parentRunId"] in {p.info.run_id for p in parents}
        assert run.data.params["sampled.head.depth"] == str(trial.params["head.depth"])
        assert run.data.params["head.depth"] == str(trial.params["head.depth"])  # the resolved config, too
        history = client.get_metric_history(run.info.run_id, "epoch/val_acc")
        assert {m.step: m.value for m in history} == {e: shown(v) for e, v in trial.intermediate_values.items()}
        times = {k: v for k, v in run.data.metrics.items() if k.startswith("time.")}
        assert times["time.train_s"] > 0 and 0 <= times["time.overhead_pct"] < 100  # in-process counters
        parts = sum(times[f"time.{p}_s"] for p in ("prepare", "train", "mlflow", "optuna", "config", "other"))
        assert parts == pytest.approx(times["time.total_s"], rel=1e-3)  # each rounded to 4 digits
        if trial.state == TrialState.COMPLETE:
            assert run.info.status == "FINISHED"
            assert run.data.metrics["model.val_acc"] == shown(trial.value)  # the value Optuna got, under its one name
            assert not {k for k in run.data.metrics if k.startswith(("val_", "objective"))}
            assert run.data.tags["mlflow.note.content"].startswith(f"**model.val_acc** one split {trial.value:.4f}")
        else:
            assert run.info.status == "FINISHED" and run.data.tags["hpo.state"] == "PRUNED"  # not drawn like a crash
            assert run.info.run_name == f"trial-{trial.number} (pruned)" and "model.val_acc" not in run.data.metrics
            assert run.data.metrics["pruned_at_epoch"] == max(trial.intermediate_values)
            assert max(trial.intermediate_values) < 4

    latest = max(parents, key=lambda r: r.info.start_time)
    best = study.best_trial
    assert latest.data.metrics["best_val_acc"] == shown(best.value) and "best_objective" not in latest.data.metrics
    assert latest.data.metrics["time.trials_s"] >= latest.data.metrics["time.train_s"] > 0
    assert "overhead" in second.stdout and "time in 2 trials" in second.stdout
    best_run = by_run[best.user_attrs["mlflow_run_id"]]
    for key in ("model.val_top5", "model.val_loss", "model.val_ci95_low", "per_category/wet"):
        assert latest.data.metrics[key] == pytest.approx(best_run.data.metrics[key])
    assert latest.data.tags["hpo.best_run_id"] == best.user_attrs["mlflow_run_id"]
    # the parent's plain params are the winner's configuration (the base config is base_config.yaml)
    assert latest.data.params["head.depth"] == str(best.params["head.depth"])
    assert latest.data.params["sampled.head.depth"] == str(best.params["head.depth"])
    assert latest.data.params["sweep.name"] == "head_depth"
    artifacts = {a.path for a in client.list_artifacts(latest.info.run_id)}
    assert {"trials.csv", "plots", "head_depth.yaml", "base_config.yaml"} <= artifacts
    plots = {a.path for a in client.list_artifacts(latest.info.run_id, "plots")}
    assert {"plots/optimization_history.png", "plots/param_importances.png", "plots/best_confusion_matrix.png"} <= plots
    trial_artifacts = {a.path for a in client.list_artifacts(best_run.info.run_id)}
    assert "confusion_matrix.json" in trial_artifacts and "confusion_matrix.png" not in trial_artifacts
    csv = Path(client.download_artifacts(latest.info.run_id, "trials.csv"))
    assert len(csv.read_text().strip().splitlines()) == len(trials) + 1

    # features were extracted once for the whole study: one cache file, reused by the second invocation
    assert len(list((runs / "cache" / "features").glob("*.npz"))) == 1
    with sqlite3.connect(runs / "mlflow.db") as db:
        assert db.execute("select count(*) from runs where status='RUNNING'").fetchone()[0] == 0


@pytest.mark.slow
def test_multi_objective_sweep_keeps_a_pareto_front_across_architectures(runs, tiny_demo, tmp_path):
    space = write(tmp_path, """\
        question: tiny width x resolution trade-off
        params:
          model: {choices: [mobilenetv2, mobilenetv1]}
          model.width@v2: {choices: [0.35], when: {model: mobilenetv2}}
          model.width@v1: {choices: [0.25], when: {model: mobilenetv1}}
          model.pretrained@scratch: {choices: [none], when: {model.width@v2: [0.35]}}
          data.image_size: {choices: [32, 64]}
        """)
    proc = run_cli("garbage_hpo.sweep", "+experiment=width_resolution", f"sweep.space={space}",
                   f"data.root={tiny_demo}", "sweep.n_trials=3", "sweep.sampler=random", "train.epochs=1",
                   "train.batch_size=16", "sweep.cv_folds=2")
    assert "Pareto front" in proc.stdout
    assert proc.stdout.count("used from") == 1  # one photo line, whatever sizes and networks read the photos
    study = optuna.load_study(study_name="width_resolution", storage=f"sqlite:///{runs / 'optuna.db'}")
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    # 4 points, 3 asked for: a repeat drawn on the way is skipped, and does not use up sweep.n_trials
    assert len(complete) == 3 and all(len(t.values) == 3 for t in complete)
    assert len({tuple(sorted(t.params.items())) for t in complete}) == len(complete)
    for t in complete:
        accuracy, latency_ms, params_m = t.values
        assert 0 <= accuracy <= 1 and latency_ms > 0
        expected = {"mobilenetv2": 0.43, "mobilenetv1": 0.24}[t.params["model"]]
        assert params_m == pytest.approx(expected, abs=0.08)  # measured from the built network
    assert study.best_trials
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    exp = client.get_experiment_by_name("width_resolution")
    parent = next(r for r in client.search_runs([exp.experiment_id]) if r.data.tags["hpo.role"] == "sweep")
    assert "plots/pareto_front.png" in {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}


@pytest.mark.slow
def test_a_resumed_sweep_never_repeats_the_points_it_already_tried(runs, tiny_demo):
    args = (*TINY_SWEEP, f"data.root={tiny_demo}", "sweep.pruner=none", "sweep.sampler=random")
    run_cli("garbage_hpo.sweep", *args, "sweep.n_trials=2")
    run_cli("garbage_hpo.sweep", *args, "sweep.n_trials=4")  # a second invocation: a new process, same seed
    study = optuna.load_study(study_name="head_depth", storage=f"sqlite:///{runs / 'optuna.db'}")
    points = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(points) == 4 and len(set(points)) == 4, points


def test_per_trial_seeding_gives_workers_different_points_and_one_sweep_the_same_points():
    from garbage_hpo.sweep.strategies import PerTrialSeeded

    def sweep(seed: int) -> list[float]:
        study = optuna.create_study()
        sampler = PerTrialSeeded(lambda s: optuna.samplers.RandomSampler(seed=s), seed)
        study.sampler = sampler
        out = []
        for _ in range(3):
            trial = study.ask()
            out.append(trial.suggest_float("x", 0, 1))
            study.tell(trial, out[-1])
        return out

    assert sweep(42) == sweep(42)  # reproducible for a seed
    # two "workers" (two sampler objects of one seed) on one study draw different points
    study = optuna.create_study()
    workers = [PerTrialSeeded(lambda s: optuna.samplers.RandomSampler(seed=s), 42) for _ in range(2)]
    values = []
    for worker in workers * 2:
        study.sampler = worker
        trial = study.ask()
        values.append(trial.suggest_float("x", 0, 1))
        study.tell(trial, values[-1])
    assert len(set(values)) == 4


@pytest.mark.parametrize(("override", "message"), [
    ("sweep.n_trials=-3", "sweep.n_trials=-3: a whole number, 0 or more"),
    ("sweep.timeout=-5", "sweep.timeout=-5: seconds, more than 0"),
    ("sweep.max_failures=-1", "sweep.max_failures=-1: a whole number, 0 or more"),
    ("sweep.ensemble=0", "sweep.ensemble=0: the number of top trials `make reproduce-best` combines, 1 or more"),
    ("sweep.ensemble=-1", "sweep.ensemble=-1: the number of top trials"),
    ("sweep.study_name=../../x", "sweep.study_name='../../x': letters, digits"),
])
def test_bad_sweep_settings_stop_before_any_study_or_run(runs, tiny_demo, override, message):
    proc = run_cli("garbage_hpo.sweep", *TINY_SWEEP, f"data.root={tiny_demo}", override, check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (runs / "optuna.db").exists() and not (runs.parent / "x").exists()


def test_the_documented_sweep_ensemble_caruana_is_taken_on_the_command_line(runs, tiny_demo):
    proc = run_cli("garbage_hpo.sweep", *TINY_SWEEP, f"data.root={tiny_demo}", "sweep.ensemble=caruana",
                   "sweep.n_trials=0", check=False)
    assert proc.returncode == 0 and "expected a whole number" not in proc.stderr, proc.stderr
    assert "nothing to do" in proc.stdout


@pytest.mark.slow
def test_a_finished_sweep_or_n_trials_0_says_nothing_to_do_and_opens_no_run(runs, tiny_demo):
    proc = run_cli("garbage_hpo.sweep", *TINY_SWEEP, f"data.root={tiny_demo}", "sweep.n_trials=0")
    assert "nothing to do" in proc.stdout
    run_cli("garbage_hpo.sweep", *TINY_SWEEP, f"data.root={tiny_demo}", "sweep.n_trials=1", "sweep.enqueue=[]")
    again = run_cli("garbage_hpo.sweep", *TINY_SWEEP, f"data.root={tiny_demo}", "sweep.n_trials=1")
    assert "nothing to do: study 'head_depth' has 1 of sweep.n_trials=1 trials done" in again.stdout
    assert "best model.val_acc in trial #0" in again.stdout  # the summary is still printed
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    found = client.search_runs([client.get_experiment_by_name("head_depth").experiment_id])
    assert len([r for r in found if r.data.tags["hpo.role"] == "sweep"]) == 1


@pytest.mark.slow
def test_a_study_continued_with_another_mlflow_store_says_where_its_runs_are(runs, tiny_demo):
    run_cli("garbage_hpo.sweep", *TINY_SWEEP, f"data.root={tiny_demo}", "sweep.n_trials=1",
            "sweep.enqueue=[{head.depth:1,use_dropout:false,schedule.lr_max:0.05}]")
    other = f"tracking.uri=sqlite:///{runs / 'other.db'}"
    more = run_cli("garbage_hpo.sweep", *TINY_SWEEP, f"data.root={tiny_demo}", "sweep.n_trials=2", other,
                   f"sweep.enqueue=[{HOPELESS}]")
    assert "Traceback" not in more.stderr and "best model.val_acc in trial #0" in more.stdout
    assert "is not in tracking.uri=" in more.stdout and "recorded in another MLflow store" in more.stdout
    again = run_cli("garbage_hpo.sweep", *TINY_SWEEP, f"data.root={tiny_demo}", "sweep.n_trials=2", other)
    assert "nothing to do" in again.stdout and "recorded in another MLflow store" in again.stdout
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'other.db'}")
    parents = [r for r in client.search_runs([client.get_experiment_by_name("head_depth").experiment_id])
               if r.data.tags["hpo.role"] == "sweep"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"


@pytest.mark.slow
def test_a_study_refuses_another_experiment_unless_asked(runs, tiny_demo):
    run_cli("garbage_hpo.sweep", *TINY_SWEEP, f"data.root={tiny_demo}", "sweep.n_trials=1", "sweep.enqueue=[]")
    experiment = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}").get_experiment_by_name("head_depth")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # MLflow 3: training views
    assert experiment.tags["mlflow.note.content"].startswith("Does an extra dense layer")  # the question
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    parent = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags["hpo.role"] == "sweep"]
    note = parent[0].data.tags["mlflow.note.content"]  # the parent run says what won, by how much, where
    assert "Does an extra dense layer" in note and "best model.val_acc in trial #0" in note and "95% CI" in note
    # relative to the UI: it works on whichever host and port the UI is served
    assert f"Winning trial: [trial #0](#/experiments/{experiment.experiment_id}/runs/" in note
    assert "workflowType=machine_learning" in note and "http://" not in note
    other = ("+experiment=reduction", "data.image_size=64", "train.epochs=4", "train.batch_size=16",
             "sweep.cv_folds=1", f"data.root={tiny_demo}", "sweep.study_name=head_depth", "sweep.n_trials=2")
    refused = run_cli("garbage_hpo.sweep", *other, check=False)
    assert refused.returncode == 2 and "holds trials of experiment 'head_depth'" in refused.stderr
    assert "sweep.allow_space_change=true" in refused.stderr and "Traceback" not in refused.stderr
    study = optuna.load_study(study_name="head_depth", storage=f"sqlite:///{runs / 'optuna.db'}")
    assert len(study.trials) == 1 and study.user_attrs["experiment"] == "head_depth"
    run_cli("garbage_hpo.sweep", *other, "sweep.allow_space_change=true")
    study = optuna.load_study(study_name="head_depth", storage=f"sqlite:///{runs / 'optuna.db'}")
    assert len(study.trials) == 2 and study.user_attrs["experiment"] == "reduction"


@pytest.mark.parametrize(("entry", "message"), [
    ("head.dropout: {low: 0.5, high: 1.5}", "entry head.dropout: the value 1.5 is not valid: head.dropout=1.5"),
    ("schedule.lr_max: {choices: [0.01, 1.0e30]}", "entry schedule.lr_max: value '1.0e30' is a str"),
])
def test_search_space_values_outside_a_keys_legal_range_stop_before_trial_0(runs, tiny_demo, tmp_path, entry,
                                                                            message):
    space = write(tmp_path, f"""\
        question: bad bounds
        params:
          {entry}
        """)
    proc = run_cli("garbage_hpo.sweep", *TINY_SWEEP, f"data.root={tiny_demo}", f"sweep.space={space}",
                   "sweep.enqueue=[]", check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (runs / "optuna.db").exists()


def test_an_enqueued_trial_naming_no_entry_is_refused_with_a_suggestion(runs, tiny_demo):
    proc = run_cli("garbage_hpo.sweep", *TINY_SWEEP, f"data.root={tiny_demo}", "sweep.enqueue=[{head.dept:1}]",
                   check=False)
    assert proc.returncode == 2 and "sweep.enqueue[0]: 'head.dept' is not an entry" in proc.stderr
    assert "did you mean 'head.depth'?" in proc.stderr


def test_parallel_coordinate_plots_every_trial_with_inactive_parameters_marked(tmp_path):
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.trial import create_trial

    from garbage_hpo.sweep.parallel import parallel_coordinate_png, parallel_rows

    space = {"use_dropout": CategoricalDistribution([False, True]), "head.dropout": FloatDistribution(0.1, 0.7),
             "lr": FloatDistribution(0.005, 0.2, log=True)}
    study = optuna.create_study(direction="maximize")
    for params, value in (({"use_dropout": False, "lr": 0.05}, 0.90),
                          ({"use_dropout": True, "head.dropout": 0.3, "lr": 0.01}, 0.80),
                          ({"use_dropout": False, "lr": 0.1}, 0.95)):  # the best trial has no dropout value
        study.add_trial(create_trial(params=params, distributions={k: space[k] for k in params}, value=value))
    names, rows = parallel_rows(study)
    assert set(names) == set(space) and len(rows) == 3
    best = dict(zip(names, rows[2][1], strict=True))
    assert rows[2][0] == 0.95 and best["head.dropout"] is None and best["lr"] == 0.1
    assert parallel_coordinate_png(study, "val_acc", tmp_path / "p.png").stat().st_size > 1000


def _grid_points(experiment: str, workers: int, invocations: int) -> list[tuple]:
    """The points a grid sweep of a shipped experiment runs: `workers` threads with a sampler each on one
    study (trials overlapping in time), over `invocations` rounds of fresh samplers, as new processes would."""
    from garbage_hpo.sweep.strategies import earlier_duplicate, make_sampler

    space = load_space(REPO / "sweeps" / f"{experiment}.yaml", REPO / "conf")
    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(storage=storage, study_name="grid")
    n_trials = math.prod(len(values) for values in space.grid().values())

    def objective(trial: optuna.Trial) -> float:  # as Sweep.objective: a point in progress is not run twice
        space.sample(trial)
        duplicate = earlier_duplicate(trial)
        if duplicate is not None:
            trial.set_user_attr("duplicate_of", duplicate)
            raise optuna.TrialPruned()
        time.sleep(0.01)
        return 0.5

    for round_ in range(1, invocations + 1):
        target = min(n_trials, -(-n_trials * round_ // invocations))
        studies = [optuna.load_study(study_name="grid", storage=storage,
                                     sampler=make_sampler("grid", 7, space, multi_objective=False))
                   for _ in range(workers)]
        threads = [threading.Thread(target=s.optimize, args=(objective,), kwargs={
            "callbacks": [optuna.study.MaxTrialsCallback(target)]}) for s in studies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    study = optuna.load_study(study_name="grid", storage=storage)
    return [tuple(sorted(t.params.items())) for t in study.trials if "duplicate_of" not in t.user_attrs]


@pytest.mark.parametrize("experiment", ["activation", "reduction"])
@pytest.mark.parametrize(("workers", "invocations"), [(1, 1), (2, 1), (1, 3)])
def test_a_grid_sweep_runs_every_grid_point_exactly_once(experiment, workers, invocations):
    space = load_space(REPO / "sweeps" / f"{experiment}.yaml", REPO / "conf")
    grid = space.grid()
    expected = {tuple(sorted(zip(grid, values, strict=True))) for values in itertools.product(*grid.values())}
    points = _grid_points(experiment, workers, invocations)
    assert len(points) == len(expected) and set(points) == expected, points


DONE = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def _random_sweep_points(callback_for) -> tuple[list[tuple], int]:
    """A random-sampler sweep of the shipped `reduction` space (6 points) asked for 6 trials, skipping duplicates
    as Trials.run does: the distinct points it ran, and how many trials it made in all."""
    from garbage_hpo.sweep.strategies import earlier_duplicate, make_sampler

    space = load_space(REPO / "sweeps" / "reduction.yaml", REPO / "conf")
    study = optuna.create_study(sampler=make_sampler("random", 3, space, multi_objective=False))

    def objective(trial: optuna.Trial) -> float:
        space.sample(trial)
        duplicate = earlier_duplicate(trial)
        if duplicate is not None:
            trial.set_user_attr("duplicate_of", duplicate)
            raise optuna.TrialPruned()
        return 0.5

    study.optimize(objective, callbacks=[callback_for(6)])
    ran = [tuple(sorted(t.params.items())) for t in study.trials if "duplicate_of" not in t.user_attrs]
    return ran, len(study.trials)


def test_trials_skipped_as_duplicates_do_not_use_up_n_trials():
    from garbage_hpo.sweep.strategies import TrialBudget

    ran, made = _random_sweep_points(TrialBudget)
    assert len(ran) == len(set(ran)) == 6 and made > 6  # duplicates were drawn, and skipped for free
    # how it was: the sweep counted completed and pruned trials, duplicates (recorded PRUNED) among them
    before, _ = _random_sweep_points(lambda n: optuna.study.MaxTrialsCallback(n, states=DONE))
    assert len(set(before)) < 6


def test_a_sampler_that_only_draws_points_already_tried_stops_the_sweep():
    from garbage_hpo.sweep.strategies import TrialBudget

    budget = TrialBudget(target=10, duplicate_limit=5)
    ran, made = _random_sweep_points(lambda n: budget)  # 6 points exist, 10 asked for
    assert budget.exhausted and len(ran) == 6 and made >= 6 + 5


def _pruned_head_trials(pruner: optuna.pruners.BasePruner) -> list[bool]:
    """Decisions in a mixed space, as the sweep makes it: head trial 0 learns well, four cross-validated
    fine-tuning trials complete without per-epoch values, then five head trials, each a little better than the
    one before but all below trial 0 at every epoch, ask whether to stop after each of 4 epochs."""
    from garbage_hpo.sweep.strategies import KIND_ATTR

    study = optuna.create_study(direction="maximize", pruner=pruner)

    def run(kind: str, curve: list[float]) -> bool:
        trial = study.ask()
        trial.set_user_attr(KIND_ATTR, kind)
        for epoch, value in enumerate(curve, start=1):
            trial.report(value, epoch)
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                return True
        study.tell(trial, curve[-1] if curve else 0.9)
        return False

    run("head", [0.6, 0.7, 0.8, 0.85])
    for _ in range(4):
        run("finetune", [])
    return [run("head", [0.5 + i / 50, 0.6 + i / 50, 0.7 + i / 50, 0.75 + i / 50]) for i in range(5)]


def test_head_trials_are_pruned_against_head_trials_only_in_a_mixed_space():
    from garbage_hpo.sweep.strategies import make_pruner

    plain = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    # before: the fine-tuning trials filled the start-up count and trial 0 alone was the median: all pruned
    assert _pruned_head_trials(plain) == [True] * 5
    # now: head trials wait for 5 completed head trials of their own before any is pruned
    assert _pruned_head_trials(make_pruner("median", 4, startup_trials=5, warmup_epochs=1)) == [False] * 5
    # and once two head trials have completed (trial 0 and the first), the next two fall below their median at
    # epoch 2 (0.65) and are pruned; the last two are above it and run to the end
    few = make_pruner("median", 4, startup_trials=2, warmup_epochs=1)
    assert _pruned_head_trials(few) == [False, True, True, False, False]


@pytest.mark.slow
def test_a_study_refuses_to_continue_under_other_fixed_settings_naming_the_keys(runs, tiny_demo, tmp_path):
    run_cli("garbage_hpo.sweep", *TINY_SWEEP, f"data.root={tiny_demo}", "sweep.n_trials=1", "sweep.enqueue=[]")
    fewer = shutil.copytree(tiny_demo, tmp_path / "fewer")
    next((fewer / "train" / "00_00").iterdir()).unlink()  # another photo set, same layout
    # every changed setting is named: three in one invocation (one sweep process each costs ~20 s), the photo set
    changed = {"sweep.cv_folds=3": "sweep.cv_folds: 1 -> 3", "data.image_size=32": "data.image_size: 64 -> 32",
               "features.normalize=standardize": "features.normalize: none -> standardize"}
    for overrides, named in [(list(changed), list(changed.values())),
                             ([f"data.root={fewer}"], ["data.photos: 156 photos, sha256"])]:
        keys = {o.split("=")[0] for o in overrides}
        args = [a for a in TINY_SWEEP if a.split("=")[0] not in keys]
        root = [] if "data.root" in keys else [f"data.root={tiny_demo}"]
        refused = run_cli("garbage_hpo.sweep", *args, *root, *overrides, "sweep.n_trials=2", check=False)
        assert refused.returncode == 2 and "measured under other fixed settings" in refused.stderr, refused.stderr
        assert all(n in refused.stderr for n in named) and "Traceback" not in refused.stderr
    study = optuna.load_study(study_name="head_depth", storage=f"sqlite:///{runs / 'optuna.db'}")
    assert len(study.trials) == 1  # nothing was added by the refused invocations
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    found = client.search_runs([client.get_experiment_by_name("head_depth").experiment_id])
    assert len([r for r in found if r.data.tags["hpo.role"] == "sweep"]) == 1  # and no run was opened
    same = run_cli("garbage_hpo.sweep", *TINY_SWEEP, f"data.root={tiny_demo}", "sweep.n_trials=2",
                   "sweep.pruner=none")  # sweep settings that do not change what a value means are free
    assert "[2/2]" in same.stdout


def test_a_study_recorded_before_a_key_existed_continues_while_the_key_means_what_its_trials_did():
    from garbage_hpo.sweep.study_settings import SETTINGS_ATTR, check_study_settings

    study = optuna.create_study(study_name="older")
    study.optimize(lambda trial: 0.5, n_trials=1)
    study.set_user_attr(SETTINGS_ATTR, {"features.taps": "[18]", "data.image_size": "64"})  # before train_views
    now = {"features.taps": "[18]", "data.image_size": "64", "features.train_views": "0", "features.view_seed": "0"}
    check_study_settings(study, now, allow_change=False)
    assert study.user_attrs[SETTINGS_ATTR] == now
    with pytest.raises(ValueError, match="features.train_views: 0 -> 4"):
        check_study_settings(study, now | {"features.train_views": "4"}, allow_change=False)
