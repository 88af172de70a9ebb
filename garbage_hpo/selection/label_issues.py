"""Suspect labels: the training photos whose given class the out-of-fold predictions doubt, by confident
learning (Northcutt, Jiang and Chuang, JAIR 70, 2021) as cleanlab implements it.

`cleanlab.filter.find_label_issues` estimates, from out-of-fold class probabilities, how often each given class
stands for each true class and flags that many photos per pair, the most confidently contradicted first; they
are ranked by their label quality (the probability the predictions give the given class: low is doubtful). The
list is for a person to review: nothing here moves, renames or drops a photo.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from garbage_hpo.data import DatasetIndex
from garbage_hpo.figures import PAGE, SUSPECTS_LEGEND, contact_sheets, figure_names
from garbage_hpo.selection.oof import OutOfFold
from garbage_hpo.tracking import Tracker

SUSPECTS_CSV = "suspects.csv"
CSV_COLUMNS = ("rank", "path", "given_class", "given_name", "likely_class", "likely_name", "label_quality",
               "likely_probability", "fold")


@dataclass(frozen=True)
class Suspects:
    rows: np.ndarray  # rows of the out-of-fold predictions, the most doubtful first
    quality: np.ndarray  # their label quality scores (the probability of the given class), ascending
    checked: int  # photos looked at

    def __len__(self) -> int:
        return len(self.rows)


def find_suspects(oof: OutOfFold) -> Suspects:
    """Confident learning on the out-of-fold probabilities; ranked by self-confidence (lowest first)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    labels, probs = oof.labels.astype(np.int64), oof.probs.astype(np.float64)
    probs = probs / probs.sum(axis=1, keepdims=True)  # float32 sums drift from 1; cleanlab checks
    rows = find_label_issues(labels, probs, return_indices_ranked_by="self_confidence", n_jobs=1)
    quality = get_label_quality_scores(labels, probs, method="self_confidence")
    return Suspects(np.asarray(rows, dtype=np.int64), quality[rows], len(labels))


def write_suspects(suspects: Suspects, oof: OutOfFold, index: DatasetIndex, out: Path) -> list[Path]:
    """`suspects.csv` (one line per suspect: path relative to the data root, given and likely class, label
    quality) and `suspects_01.png`, the top PAGE suspects as a contact sheet. Returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    names = figure_names(index.classes)
    likely = oof.predicted[suspects.rows]
    paths = [index.samples[oof.positions[r]].path for r in suspects.rows]
    with (out / SUSPECTS_CSV).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for rank, (row, path, quality, guess) in enumerate(
                zip(suspects.rows, paths, suspects.quality, likely, strict=True), start=1):
            given = index.classes[oof.labels[row]]
            writer.writerow([rank, path.relative_to(index.root).as_posix(), given.folder, given.english,
                             index.classes[guess].folder, index.classes[guess].english, f"{quality:.4f}",
                             f"{oof.probs[row, guess]:.4f}", int(oof.folds[row])])
    captions = [f"#{rank} given {names[oof.labels[row]]}\nlikely {names[guess]}\nquality {quality:.3f}"
                for rank, (row, guess, quality) in enumerate(zip(suspects.rows, likely, suspects.quality,
                                                                 strict=True), start=1)]
    sheets = contact_sheets(paths[:PAGE], captions[:PAGE], out, "suspects", "no suspect labels",
                            SUSPECTS_LEGEND)
    return [out / SUSPECTS_CSV, *sheets]


def log_suspects(tracker: Tracker, oof: OutOfFold, index: DatasetIndex, out: Path) -> int:
    """Suspect labels on `tracker`'s run (`suspects/suspects.csv`, `suspects/suspects_01.png`, metric
    `suspect_labels`); how many."""
    suspects = find_suspects(oof)
    for path in write_suspects(suspects, oof, index, out):
        tracker.log_artifact(path, "suspects")
    tracker.log_metrics({"suspect_labels": len(suspects)}, flush=True)
    return len(suspects)
