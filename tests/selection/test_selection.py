"""Honest selection: CV folds, intervals, the fold stack, refit on every photo, val/ as a test set, the probe.

Real MindSpore, scikit-learn, Optuna and MLflow on small generated data.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mindspore as ms
import numpy as np
import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from garbage_hpo.data.dataset import index_dataset, positions
from garbage_hpo.metrics.intervals import newcombe_difference, paired_difference, summarize_folds, t_interval, wilson
from garbage_hpo.models.head import HeadSpec
from garbage_hpo.selection.folds import Fold, cv_folds
from garbage_hpo.selection.oof import OutOfFold
from garbage_hpo.selection.probe import run_probe
from garbage_hpo.tracking.runs import shown
from garbage_hpo.training.fold_stack import FoldInputs, train_fold_stack
from garbage_hpo.training.head_stage import StageConfig, train_head
from garbage_hpo.training.loop import StageRun, TrainVal
from tests.conftest import run_cli, settings_of
from tests.data.test_data import make_dataset

TINY = ("data.image_size=64", "train.epochs=4", "train.batch_size=16")


# -- intervals ------------------------------------------------------------------------------------------------
def test_wilson_interval_on_known_counts():
    ci = wilson(8, 10)
    assert ci.low == pytest.approx(0.4902, abs=1e-4) and ci.high == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 10).low == 0.0 and wilson(0, 10).high == pytest.approx(0.2775, abs=1e-4)
    assert wilson(10, 10).high == 1.0 and wilson(10, 10).low == pytest.approx(0.7225, abs=1e-4)
    # the guide's figure: one photo of 225 is 0.44 pp; 216/225 = 0.96 is known only to about +-2.5 pp
    ci = wilson(216, 225)
    assert ci.low == pytest.approx(0.9257, abs=1e-3) and ci.high == pytest.approx(0.9788, abs=1e-3)


def test_fold_intervals_use_student_t_and_sklearn_std():
    s = summarize_folds([0.90, 0.92, 0.94])
    assert s.mean == pytest.approx(0.92) and s.std == pytest.approx(np.std([0.90, 0.92, 0.94]))  # ddof=0
    half = 4.302653 * 0.02 / np.sqrt(3)  # t(0.975, 2) * sd(ddof=1) / sqrt(k)
    assert s.ci95.low == pytest.approx(0.92 - half, abs=1e-6) and s.ci95.high == pytest.approx(0.92 + half, abs=1e-6)
    assert t_interval([0.5]).low == t_interval([0.5]).high == 0.5
    d = paired_difference([0.95, 0.96, 0.97], [0.94, 0.95, 0.96])
    assert d.mean == pytest.approx(0.01) and d.ci95.low == pytest.approx(0.01) == pytest.approx(d.ci95.high)
    diff = newcombe_difference(0.95, 200, 0.90, 200)
    assert diff.low < 0.05 < diff.high and diff.low > -0.01


# -- folds ------------------------------------------------------------------------------------------------
def duplicated_dataset(root: Path) -> Path:
    make_dataset(root, classes=("00_00", "00_01", "02_01"), per_class=8, val=True)
    folder = root / "train" / "00_01"
    for i in range(6):  # a class made mostly of copies, like the course's Eggshell folder
        shutil.copy(folder / "train0.jpg", folder / f"copy{i}.jpg")
    shutil.copy(root / "train" / "02_01" / "train3.jpg", root / "train" / "02_01" / "again.jpg")
    return root


def test_folds_never_split_duplicates_and_cover_every_distinct_photo_once(tmp_path):
    index = index_dataset(duplicated_dataset(tmp_path / "d"))
    folds = cv_folds(index, 4, seed=0)
    digest = [s.digest for s in index.samples]
    train_photos = positions(index, "train")
    seen_val: list[str] = []
    for fold in folds:
        train_d, val_d = {digest[i] for i in fold.train}, [digest[i] for i in fold.val]
        assert not train_d & set(val_d)  # no photo (or copy of it) on both sides
        assert len(val_d) == len(set(val_d))  # each validation photo counted once
        assert {index.samples[i].subset for i in np.r_[fold.train, fold.val]} == {"train"}  # val/ is never used
        assert {index.samples[i].label for i in fold.val} == {0, 1, 2}  # stratified
        seen_val += val_d
    assert sorted(seen_val) == sorted({digest[i] for i in train_photos})  # every distinct photo validated once
    assert [f.val.tolist() for f in folds] == [f.val.tolist() for f in cv_folds(index, 4, seed=0)]
    assert [f.val.tolist() for f in folds] != [f.val.tolist() for f in cv_folds(index, 4, seed=1)]


def test_cv_settings_are_checked_with_the_key_named(tmp_path):
    index = index_dataset(duplicated_dataset(tmp_path / "d"))
    with pytest.raises(ValueError, match=r"sweep.cv_folds=9: class 00_0\d has only 8 distinct photos"):
        cv_folds(index, 9, seed=0)
    for value, message in (("0", "sweep.cv_folds=0"), ("2.5", "sweep.cv_folds=2.5")):
        with pytest.raises(ValueError, match=message):
            settings_of(f"sweep.cv_folds={value}")


# -- the fold stack ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("depth", "dropout", "optimizer", "activation"), [
    (1, 0.0, "momentum", "none"), (2, 0.3, "adam", "none"), (2, 0.0, "momentum", "softmax")])
def test_folds_trained_side_by_side_equal_each_fold_trained_alone(depth, dropout, optimizer, activation):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 64)).astype(np.float32)
    y = rng.integers(0, 5, 300).astype(np.int32)
    x[np.arange(300), y] += 2
    trains = [np.arange(0, 200), np.arange(100, 300), np.r_[0:100, 200:300]]  # equal sizes: equal steps
    vals = [np.arange(200, 300), np.arange(0, 100), np.arange(100, 200)]
    spec = HeadSpec(num_classes=5, in_features=64, depth=depth, dropout=dropout, activation=activation)
    cfg = StageConfig(epochs=4, batch_size=16, optimizer={"name": optimizer, "weight_decay": 1e-4},
                      schedule={"name": "cosine", "lr_max": 0.05, "warmup_steps": 3}, label_smoothing=0.1)
    ms.set_seed(7)
    stacked = train_fold_stack(spec, FoldInputs(x, y, trains, vals), cfg, 7)
    for f, (train, val) in enumerate(zip(trains, vals, strict=True)):
        ms.set_seed(7)
        _, alone = train_head(spec, TrainVal(x[train], y[train], x[val], y[val]), cfg, StageRun(7))
        assert stacked.loss[f] == pytest.approx([r.val.loss for r in alone.history], abs=1e-5)
        assert stacked.acc[f].tolist() == [r.val.accuracy for r in alone.history]


# -- CV runs, refit, val/ as a test set ----------------------------------------------------------------------
def test_cv_value_is_deterministic_and_val_folder_never_influences_it(runs, tiny_demo, tmp_path):
    from garbage_hpo.pipeline.preparation import prepare
    from garbage_hpo.selection.run import run_cv

    with_test = tmp_path / "with_test"
    shutil.copytree(tiny_demo, with_test)
    for folder in (with_test / "train").iterdir():  # a val/ folder of photos of the WRONG classes
        other = sorted((with_test / "train").iterdir())[0] if folder.name != "00_00" else folder
        (with_test / "val" / folder.name).mkdir(parents=True)
        shutil.copy(next(other.iterdir()), with_test / "val" / folder.name / "odd.png")
    results = []
    for root in (tiny_demo, tiny_demo, with_test):
        cfg = settings_of(f"data.root={root}", "sweep.cv_folds=3", *TINY)
        prepared = prepare(cfg)
        results.append(run_cv(cfg, prepared))
    assert results[0].curves.tolist() == results[1].curves.tolist()  # same seed, same numbers
    assert results[2].curves.tolist() == results[0].curves.tolist()  # the test set changes nothing selected
    r = results[0]
    assert r.refit_epochs == int(np.argmax(r.curves.mean(axis=0))) + 1  # one epoch count, from the fold mean
    assert r.objective_values()["val_acc"] == r.summary.mean == pytest.approx(r.curves[:, r.refit_epochs - 1].mean())
    assert r.n == len({s.digest for s in index_dataset(tiny_demo).samples})


def test_train_cli_with_folds_refits_on_every_photo_and_scores_the_test_set_once(runs, tiny_demo, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_demo, data)
    for folder in (data / "train").iterdir():  # one photo per class becomes the test set
        (data / "val" / folder.name).mkdir(parents=True)
        photo = sorted(folder.iterdir())[0]
        photo.rename(data / "val" / folder.name / photo.name)
    proc = run_cli("garbage_hpo.train", f"data.root={data}", "sweep.cv_folds=3", *TINY)
    n_train = sum(1 for _ in (data / "train").glob("*/*"))
    assert f"refit on all {n_train} training photos" in proc.stdout
    assert "3 folds" in proc.stdout and "95% CI" in proc.stdout
    assert "test (val/, scored once, never selected on): accuracy" in proc.stdout and "n=26," in proc.stdout
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("garbage-hpo-train").experiment_id])[0]
    metrics = run.data.metrics
    assert {"cv_mean", "cv_std", "fold_acc.0", "fold_acc.2", "refit_epochs", "test_acc", "test_n"} <= set(metrics)
    assert metrics["train_images"] == n_train and metrics["test_n"] == 26
    card = json.loads(Path(client.download_artifacts(run.info.run_id, "model/model.json", str(tmp_path))).read_text())
    assert card["train_images"] == n_train
    assert card["selection"]["cv_folds"] == 3 and card["selection"]["refit_epochs"] == metrics["refit_epochs"]
    assert shown(card["selection"]["cv_mean"]) == metrics["cv_mean"]


# -- the probe ----------------------------------------------------------------------------------------------
def test_probe_is_scikit_learn_on_standardized_features_with_c_chosen_on_the_folds():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(240, 20)) * rng.uniform(0.1, 50, 20)  # unscaled features: standardizing matters
    y = rng.integers(0, 4, 240)
    x[np.arange(240), y] += 30
    folds = [Fold(np.setdiff1d(np.arange(240), np.arange(i, 240, 3)), np.arange(i, 240, 3)) for i in range(3)]
    result = run_probe(x, y, folds, grid=(0.01, 1.0))
    assert result.folds == 3 and result.C in (0.01, 1.0) and result.n == 240
    for fold, acc in zip(folds, result.fold_acc, strict=True):  # the chosen C, refitted independently
        scaler = StandardScaler().fit(x[fold.train])
        model = LogisticRegression(C=result.C, max_iter=2000).fit(scaler.transform(x[fold.train]), y[fold.train])
        assert acc == pytest.approx((model.predict(scaler.transform(x[fold.val])) == y[fold.val]).mean(), abs=0.02)
    assert result.cv_acc == pytest.approx(max(result.grid.values()))


def test_baseline_cli_prints_the_probe_and_caches_it(runs, tiny_demo):
    first = run_cli("garbage_hpo.baseline", f"data.root={tiny_demo}", "data.image_size=64", "sweep.cv_folds=3")
    line = json.loads(first.stdout.strip().splitlines()[-1])
    assert set(line) == {"cv_acc", "cv_std", "folds", "C", "bbc_acc", "bbc_ci95"} and line["folds"] == 3
    assert 0 < line["cv_acc"] <= 1 and line["bbc_ci95"][0] <= line["bbc_acc"] <= line["bbc_ci95"][1]
    assert "95% CI" in first.stdout and "bias-corrected for choosing C" in first.stdout
    second = run_cli("garbage_hpo.baseline", f"data.root={tiny_demo}", "data.image_size=64", "sweep.cv_folds=3",
                     "--json")
    assert json.loads(second.stdout.strip().splitlines()[-1]) == line
    assert len(list((runs / "cache" / "probe").glob("*.json"))) == 1


# -- a cross-validated sweep ------------------------------------------------------------------------------------
def test_cv_sweep_records_folds_best_cv_and_the_probe(runs, tiny_demo):
    proc = run_cli("garbage_hpo.sweep", "+experiment=head_depth", f"data.root={tiny_demo}", "sweep.cv_folds=3",
                   "sweep.n_trials=3", "sweep.pruner=none", *TINY)
    assert "3-fold CV mean" in proc.stdout and "best - probe:" in proc.stdout
    assert "paired over the same 3 folds" in proc.stdout
    study = optuna.load_study(study_name="head_depth", storage=f"sqlite:///{runs / 'optuna.db'}")
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(done) == 3
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    found = client.search_runs([client.get_experiment_by_name("head_depth").experiment_id])
    parent = next(r for r in found if r.data.tags["hpo.role"] == "sweep")
    best = study.best_trial
    assert parent.data.metrics["best_cv_mean"] == shown(best.value) and "best_objective" not in parent.data.metrics
    assert parent.data.metrics["best_cv_std"] == shown(best.user_attrs["cv_std"])
    assert 0 < parent.data.metrics["probe_cv_acc"] <= 1 and parent.data.metrics["probe_folds"] == 3
    for trial in done:
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        folds = [trial.user_attrs[f"fold_acc.{i}"] for i in range(3)]
        assert trial.value == pytest.approx(np.mean(folds))
        assert [run.data.metrics[f"fold_acc.{i}"] for i in range(3)] == [shown(v) for v in folds]
        assert run.data.metrics["cv_mean"] == shown(trial.value)  # the value Optuna got, under its one name
        assert list(run.data.metrics)[:3] == ["cv_mean", "cv_ci95_low", "cv_ci95_high"]  # first, interval beside
        assert "objective" not in run.data.metrics
        note = run.data.tags["mlflow.note.content"]
        assert note.startswith(f"**cv_mean** 3-fold CV mean {trial.value:.4f} +- ") and "95% CI [" in note
        history = client.get_metric_history(run.info.run_id, "epoch/cv_mean_acc")
        assert {m.step: m.value for m in history} == {e: shown(v) for e, v in trial.intermediate_values.items()}
        curve = trial.intermediate_values  # what pruning saw: the fold mean per epoch
        assert max(curve.values()) == pytest.approx(trial.value)
        assert run.data.metrics["refit_epochs"] == max(curve, key=lambda e: (curve[e], -e))
    assert "photos.csv" in {a.path for a in client.list_artifacts(parent.info.run_id)}  # what oof.npz indexes
    # the winner in pictures, from its out-of-fold predictions (selection/oof_pictures.py)
    pictures = {a.path for a in client.list_artifacts(parent.info.run_id, "winner")}
    assert {"winner/oof_confusion_matrix.png", "winner/oof_per_class.json", "winner/errors_01.png"} <= pictures
    report = json.loads(Path(client.download_artifacts(parent.info.run_id, "winner/oof_per_class.json",
                                                       str(runs))).read_text(encoding="utf-8"))
    assert report["n"] == sum(c["n"] for c in report["per_class"].values()) == int(best.user_attrs["cv_n"])
    oof = OutOfFold.load(Path(client.download_artifacts(best.user_attrs["mlflow_run_id"], "oof.npz", str(runs))))
    sizes = np.bincount(oof.folds)
    folds_right = sum(round(best.user_attrs[f"fold_acc.{i}"] * n) for i, n in enumerate(sizes))
    assert report["correct"] == folds_right  # the same predictions the fold accuracies counted
    assert any(k.startswith("per_class/") for k in parent.data.metrics)
    assert all("oof.npz" in {a.path for a in client.list_artifacts(t.user_attrs["mlflow_run_id"])} for t in done)
    # the honest figure: BBC-CV over the 3 trials' out-of-fold predictions, beside the score it corrects
    metrics = parent.data.metrics
    assert metrics["best_cv_bbc_ci95_low"] <= metrics["best_cv_bbc"] <= metrics["best_cv_bbc_ci95_high"]
    order = list(metrics)
    assert order.index("best_cv_mean") < order.index("best_cv_bbc") < order.index("best_cv_std")
    assert "best_cv_bbc: " in proc.stdout and "quote this one" in proc.stdout
    assert 0 < metrics["probe_cv_bbc"] <= 1 and "bias-corrected for choosing C" in proc.stdout
    # the labels the winner doubts (confident learning on its out-of-fold predictions); nothing moved
    suspects = Path(client.download_artifacts(parent.info.run_id, "suspects/suspects.csv", str(runs)))
    rows = suspects.read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("rank,path,given_class,given_name,likely_class") and len(rows) - 1 == metrics[
        "suspect_labels"]
    assert all((Path(tiny_demo) / row.split(",")[1]).is_file() for row in rows[1:])
    assert "suspects/suspects_01.png" in {a.path for a in client.list_artifacts(parent.info.run_id, "suspects")}
    assert metrics["work.winner_findings_seconds"] > 0
    csv = Path(client.download_artifacts(parent.info.run_id, "trials.csv", str(runs)))
    header = csv.read_text().splitlines()[0].split(",")
    assert {"cv_mean", "cv_std", "fold_acc.0", "fold_acc.2", "refit_epochs"} <= set(header)
    assert not {"value", "values_0", "val_acc", "user_attrs_val_acc"} & set(header)  # the score under one name
    assert len(header) == len(set(header)) and header.index("cv_mean") < header.index("cv_std")  # once, in front


def test_a_cv_trial_pruned_mid_way_keeps_its_fold_mean_curve_in_mlflow(runs, tiny_demo):
    from garbage_hpo.pipeline.preparation import prepare
    from garbage_hpo.selection.run import run_cv
    from garbage_hpo.tracking.runs import Tracker

    settings = settings_of(f"data.root={tiny_demo}", "sweep.cv_folds=3", *TINY)
    tracker = Tracker(f"sqlite:///{runs / 'mlflow.db'}", "pruned", runs / "mlartifacts")
    seen = {}

    def prune_at_two(epoch, partial) -> None:  # what the sweep's pruning hook does when the pruner says stop
        seen[epoch] = float(partial.mean_curve[-1])
        if epoch == 2:
            raise optuna.TrialPruned("2")

    with pytest.raises(optuna.TrialPruned):
        run_cv(settings, prepare(settings), tracker, on_epoch=prune_at_two)
    tracker.end("KILLED")
    history = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}").get_metric_history(
        tracker.run_id, "epoch/cv_mean_acc")
    assert {m.step: m.value for m in history} == {e: shown(v) for e, v in seen.items()} and sorted(seen) == [1, 2]
