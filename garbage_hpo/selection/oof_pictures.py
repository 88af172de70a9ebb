"""A cross-validated configuration in pictures, from its out-of-fold predictions (selection/oof.py), on a sweep's
parent run (its winner, under `winner/`) or on a `train sweep.cv_folds=k` run (under `out_of_fold/`): the
confusion matrix over every distinct training photo, per-class and per-category accuracy with photo counts and 95%
intervals (one table, `per_class.csv`, and one figure, `per_class.png`), and an error gallery (the most confident
mistakes first, in pages).

Each photo's prediction comes from the fold head that did not train on it, so the pictures show the winner's
mistakes without a test photo spent. The winner was chosen on these same folds: its accuracy here is its CV mean,
as optimistic as that is; the pictures are for looking, not for quoting.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from garbage_hpo.data import DatasetIndex
from garbage_hpo.figures import (
    ERRORS_LEGEND,
    class_accuracy_png,
    confusion_png,
    contact_sheets,
    error_captions,
    figure_names,
    most_confident_mistakes,
)
from garbage_hpo.metrics import class_table, confusion_matrix, wilson, write_class_table
from garbage_hpo.selection.oof import OutOfFold
from garbage_hpo.tracking import Tracker, per_category_metrics, per_class_metrics


def class_report(oof: OutOfFold, index: DatasetIndex) -> dict:
    """Per class and per category: photos, correct, accuracy and its Wilson 95% interval."""
    pred, labels = oof.predicted, oof.labels
    per_class = {}
    for info in index.classes:
        mask = labels == info.index
        n, correct = int(mask.sum()), int((pred[mask] == info.index).sum())
        per_class[info.folder] = {"name": info.english, "chinese": info.chinese, "category": info.category, "n": n,
                                  "correct": correct, "accuracy": correct / n if n else None,
                                  "ci95": wilson(correct, n).as_list() if n else None}
    category = np.array([c.category for c in index.classes])
    per_category = {}
    for name in sorted(set(category)):
        mask = category[labels] == name
        n, correct = int(mask.sum()), int((category[pred[mask]] == name).sum())
        if n:
            per_category[name] = {"n": n, "correct": correct, "accuracy": correct / n,
                                  "ci95": wilson(correct, n).as_list()}
    return {"n": len(labels), "correct": int((pred == labels).sum()), "per_class": per_class,
            "per_category": per_category}


def confident_mistakes(oof: OutOfFold) -> np.ndarray:
    """Rows of the misclassified photos, the most confident mistakes (highest predicted probability) first."""
    return most_confident_mistakes(oof.probs, oof.labels)


def gallery_pages(oof: OutOfFold, index: DatasetIndex, names: list[str], out: Path) -> list[Path]:
    """Contact sheets of the misclassified photos (`errors_NN.png`), the most confident mistakes first:
    thumbnail, 'true -> predicted', the predicted class's probability."""
    wrong = confident_mistakes(oof)
    return contact_sheets([index.samples[oof.positions[i]].path for i in wrong],
                          error_captions(wrong, oof.probs, oof.labels, names), out, "errors",
                          "no misclassified photos", ERRORS_LEGEND)


def log_oof_pictures(tracker: Tracker, oof: OutOfFold, index: DatasetIndex, out: Path, what: str,
                     artifact_dir: str) -> None:
    """The out-of-fold confusion matrix (titled `what`), per-class figures and error gallery on `tracker`'s run
    (artifacts under `artifact_dir`/; per_class/*, per_category/* metrics)."""
    out.mkdir(parents=True, exist_ok=True)
    names = figure_names(index.classes)
    report = class_report(oof, index)
    accuracy = report["correct"] / report["n"]
    paths = [confusion_png(confusion_matrix(oof.predicted, oof.labels, len(names)), names,
                           out / "oof_confusion_matrix.png",
                           f"{what}, out of fold: acc {accuracy:.3f} (n={report['n']})")]
    (out / "oof_per_class.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    rows = class_table(oof.predicted, oof.labels, index.classes)
    paths += [write_class_table(rows, out / "per_class.csv"),
              class_accuracy_png(rows, names, out / "per_class.png", f"{what}, out of fold, per class"),
              out / "oof_per_class.json", *gallery_pages(oof, index, names, out)]
    for path in paths:
        tracker.log_artifact(path, artifact_dir)
    accuracies = {folder: entry["accuracy"] for folder, entry in report["per_class"].items()}
    tracker.log_metrics(per_class_metrics(accuracies, index.classes) | per_category_metrics(
        {name: entry["accuracy"] for name, entry in report["per_category"].items()}), flush=True)
