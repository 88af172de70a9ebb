"""Per-class results as one table a person reads: each class in English and Chinese, correct of its photos, the
Wilson 95% interval, and the class it is most often mistaken for (how often). Written as CSV, which MLflow's
artifact viewer shows as a table (a chart per class without its photo count, or a long JSON, does not read)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from garbage_hpo.metrics.classification import confusion_matrix
from garbage_hpo.metrics.intervals import Interval, wilson

if TYPE_CHECKING:
    from garbage_hpo.data import ClassInfo

COLUMNS = ("class", "chinese", "correct", "photos", "accuracy", "ci95", "most_confused_with", "category", "folder")


def class_table(pred: np.ndarray, labels: np.ndarray, classes: list[ClassInfo]) -> list[dict]:
    """One row per class, in class order (a class without photos has empty accuracy and interval)."""
    matrix = confusion_matrix(pred, labels, len(classes))
    rows = []
    for info in classes:
        photos, correct = int(matrix[info.index].sum()), int(matrix[info.index, info.index])
        wrong = matrix[info.index].copy()
        wrong[info.index] = 0
        other = int(wrong.argmax())
        ci = wilson(correct, photos) if photos else None
        rows.append({"folder": info.folder, "english": info.english, "chinese": info.chinese,
                     "category": info.category, "correct": correct, "photos": photos,
                     "accuracy": round(correct / photos, 4) if photos else None,
                     "ci95_low": round(ci.low, 4) if ci else None, "ci95_high": round(ci.high, 4) if ci else None,
                     "most_confused_with": classes[other].english if wrong[other] else "",
                     "confused_photos": int(wrong[other])})
    return rows


def write_class_table(rows: list[dict], path: Path) -> Path:
    """The table as CSV, counts beside the name (the viewer shows the first columns without scrolling)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        for r in rows:
            confused = f"{r['most_confused_with']} x{r['confused_photos']}" if r["confused_photos"] else ""
            ci = str(Interval(r["ci95_low"], r["ci95_high"])) if r["photos"] else ""
            writer.writerow({"class": r["english"], "chinese": r["chinese"], "correct": r["correct"],
                             "photos": r["photos"], "accuracy": "" if r["accuracy"] is None else r["accuracy"],
                             "ci95": ci, "most_confused_with": confused, "category": r["category"],
                             "folder": r["folder"]})
    return path
