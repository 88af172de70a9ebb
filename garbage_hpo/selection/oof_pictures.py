"""A cross-validated winner in pictures, on the sweep's parent run, from its out-of-fold predictions
(selection/oof.py): the confusion matrix over every distinct training photo, per-class and per-category accuracy
with photo counts and 95% intervals, and an error gallery (the most confident mistakes first, in pages).

Each photo's prediction comes from the fold head that did not train on it, so the pictures show the winner's
mistakes without a test photo spent. The winner was chosen on these same folds: its accuracy here is its CV
mean, as optimistic as that is; the pictures are for looking, not for quoting.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np

from garbage_hpo.data.dataset import DatasetIndex
from garbage_hpo.data.images import read_rgb
from garbage_hpo.metric_names import class_labels, per_category_metrics, per_class_metrics
from garbage_hpo.metrics import confusion_matrix
from garbage_hpo.plots import confusion_png, misclassified_grid
from garbage_hpo.selection.oof import OOF_FILE, OutOfFold
from garbage_hpo.stats import wilson
from garbage_hpo.tracking import Tracker

log = logging.getLogger(__name__)
GALLERY_PAGE = 36  # mistakes per contact sheet
THUMBNAIL = 128  # pixels, the longer side


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


def thumbnail(path: Path) -> np.ndarray:
    """The photo as the project reads it (data/images.py: non-ASCII paths, CMYK and grey JPEGs), longer side
    THUMBNAIL pixels."""
    rgb = read_rgb(path)
    scale = THUMBNAIL / max(rgb.shape[:2])
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def confident_mistakes(oof: OutOfFold) -> np.ndarray:
    """Rows of the misclassified photos, the most confident mistakes (highest predicted probability) first."""
    wrong = np.flatnonzero(oof.predicted != oof.labels)
    return wrong[np.argsort(-oof.probs[wrong, oof.predicted[wrong]], kind="stable")]


def gallery_pages(oof: OutOfFold, index: DatasetIndex, names: list[str], out: Path) -> list[Path]:
    """Contact sheets of the misclassified photos, the most confident mistakes first: thumbnail,
    'true -> predicted', the predicted class's probability."""
    wrong = confident_mistakes(oof)
    pages = []
    for page, start in enumerate(range(0, max(len(wrong), 1), GALLERY_PAGE), start=1):
        rows = wrong[start : start + GALLERY_PAGE]
        images = [thumbnail(index.samples[oof.positions[i]].path) for i in rows]
        captions = [f"{names[oof.labels[i]]} -> {names[oof.predicted[i]]}\np={oof.probs[i, oof.predicted[i]]:.2f}"
                    for i in rows]
        pages.append(misclassified_grid(images, captions, out / f"errors_{page:02d}.png"))
    return pages


def log_winner_pictures(parent: Tracker, run_id: str, number: int, index: DatasetIndex, out: Path) -> None:
    """The winner's out-of-fold pictures and per-class figures on the parent run (artifacts under `winner/`)."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        oof = OutOfFold.load(Path(parent.client.download_artifacts(run_id, OOF_FILE, str(out))))
    except Exception as err:  # a trial from before out-of-fold predictions, or an unreachable artifact store
        log.info("the best trial's out-of-fold predictions are not available: %s", err)
        return
    labels_by_folder = class_labels(index.classes)
    names = [labels_by_folder[c.folder] for c in index.classes]
    report = class_report(oof, index)
    accuracy = report["correct"] / report["n"]
    paths = [confusion_png(confusion_matrix(oof.predicted, oof.labels, len(names)), names,
                           out / "oof_confusion_matrix.png",
                           f"best trial #{number}, out of fold: acc {accuracy:.3f} (n={report['n']})")]
    (out / "oof_per_class.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    paths += [out / "oof_per_class.json", *gallery_pages(oof, index, names, out)]
    for path in paths:
        parent.log_artifact(path, "winner")
    accuracies = {folder: entry["accuracy"] for folder, entry in report["per_class"].items()}
    parent.log_metrics(per_class_metrics(accuracies, index.classes) | per_category_metrics(
        {name: entry["accuracy"] for name, entry in report["per_category"].items()}), flush=True)
