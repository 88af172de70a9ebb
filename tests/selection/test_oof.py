"""Out-of-fold predictions (garbage_hpo/selection/oof.py), with real MindSpore training and a real MLflow store."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from garbage_hpo.selection.oof import OOF_FILE, PHOTOS_FILE, OutOfFold, softmax
from tests.conftest import run_cli, settings_of

TINY = ("data.image_size=64", "train.epochs=4", "train.batch_size=16", "sweep.cv_folds=3")


def test_a_cv_run_keeps_every_photos_prediction_from_the_fold_that_did_not_train_on_it(runs, tiny_demo):
    from garbage_hpo.pipeline.preparation import prepare
    from garbage_hpo.selection.run import folds_for, run_cv
    from garbage_hpo.tracking.runs import Tracker

    settings = settings_of(f"data.root={tiny_demo}", *TINY)
    prepared = prepare(settings)
    tracker = Tracker(f"sqlite:///{runs / 'mlflow.db'}", "oof", runs / "mlartifacts")
    result = run_cv(settings, prepared, tracker)
    tracker.end()
    folds = folds_for(settings, prepared)
    local = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}").download_artifacts(
        tracker.run_id, OOF_FILE, str(runs))
    oof = OutOfFold.load(Path(local))

    # every distinct training photo once, in the fold it was validated in, with its given class
    assert sorted(oof.positions) == sorted(np.concatenate([f.val for f in folds]))
    for f, fold in enumerate(folds):
        assert set(oof.positions[oof.folds == f]) == set(fold.val)
        assert not set(fold.val) & set(fold.train)  # its head never trained on it
    assert np.array_equal(oof.labels, prepared.labels[oof.positions])
    # the fold heads' own scores at refit_epochs: the same accuracies the run reports, photo for photo
    assert oof.fold_accuracies() == pytest.approx(result.fold_acc, abs=1e-12)
    assert np.allclose(oof.probs, softmax(np.concatenate(result.fold_scores())))
    assert np.allclose(oof.probs.sum(axis=1), 1.0, atol=1e-5) and oof.probs.dtype == np.float32


def test_train_with_folds_lists_the_photos_its_predictions_name_and_draws_them(runs, tiny_demo):
    proc = run_cli("garbage_hpo.train", f"data.root={tiny_demo}", *TINY)
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("garbage-hpo-train").experiment_id])[0]
    oof = OutOfFold.load(Path(client.download_artifacts(run.info.run_id, OOF_FILE, str(runs))))
    with open(client.download_artifacts(run.info.run_id, PHOTOS_FILE, str(runs)), encoding="utf-8") as listing:
        rows = {int(r["position"]): r for r in csv.DictReader(listing)}
    for position in oof.positions:
        row = rows[int(position)]
        assert (Path(tiny_demo) / row["path"]).is_file() and row["path"].startswith("train/")
        assert row["class"] == Path(row["path"]).parent.name
    # its own pictures and suspect labels, from the same predictions
    drawn = {a.path for a in client.list_artifacts(run.info.run_id, "out_of_fold")}
    assert {"out_of_fold/oof_confusion_matrix.png", "out_of_fold/oof_per_class.json",
            "out_of_fold/errors_01.png"} <= drawn
    report = json.loads(Path(client.download_artifacts(run.info.run_id, "out_of_fold/oof_per_class.json",
                                                       str(runs))).read_text(encoding="utf-8"))
    assert report["correct"] == int((oof.predicted == oof.labels).sum()) and report["n"] == len(oof.labels)
    # one per-class table (the artifact viewer shows a CSV as a table) and one figure, counts in both
    assert {"out_of_fold/per_class.csv", "out_of_fold/per_class.png"} <= drawn
    with open(client.download_artifacts(run.info.run_id, "out_of_fold/per_class.csv", str(runs)),
              encoding="utf-8") as table:
        classes = list(csv.DictReader(table))
    assert len(classes) == 26 and sum(int(c["correct"]) for c in classes) == report["correct"]
    assert sum(int(c["photos"]) for c in classes) == report["n"] and all(c["chinese"] for c in classes)
    suspects = Path(client.download_artifacts(run.info.run_id, "suspects/suspects.csv", str(runs)))
    assert len(suspects.read_text(encoding="utf-8").splitlines()) - 1 == run.data.metrics["suspect_labels"]
    assert f"{int(run.data.metrics['suspect_labels'])} suspect labels" in proc.stdout
