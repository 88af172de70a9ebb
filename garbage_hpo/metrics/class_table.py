"""Per-class results as one table a person reads: each class in English and Chinese, correct of its photos, the
Wilson 95% interval, and the class it is most often mistaken for (how often). Written as CSV, which MLflow's
artifact viewer shows as a table (a chart per class without its photo count, or a long JSON, does not read)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from garbage_hpo.metrics.classification import confusion_matrix
from garbage_hpo.metrics.intervals import wilson

if TYPE_CHECKING:
    from garbage_hpo.data import ClassInfo

COLUMNS = ("folder", "english", "chinese", "category", "correct", "photos", "accuracy", "ci95_low", "ci95_high",
           "most_confused_with", "confused_photos")


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
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return path
