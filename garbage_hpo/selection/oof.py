"""Out-of-fold predictions: every distinct training photo's class probabilities from the fold head that did not
train on it, at the configuration's `refit_epochs`.

Cross-validation computes them anyway; kept, they are what a confusion matrix, an error gallery, suspect labels
or a bias-corrected estimate of the winner are made from, with no training and no test photo spent. A trial
stores them as one small artifact (`oof.npz`); the photos they index are listed once (`photos.csv`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from garbage_hpo.data import DatasetIndex
from garbage_hpo.models import softmax
from garbage_hpo.selection.cv import CVResult
from garbage_hpo.selection.folds import Fold

OOF_FILE = "oof.npz"
PHOTOS_FILE = "photos.csv"


@dataclass(frozen=True)
class OutOfFold:
    positions: np.ndarray  # (n,) photos, as positions into the prepared index (photos.csv)
    folds: np.ndarray  # (n,) the fold each photo was validated in
    labels: np.ndarray  # (n,) given class
    probs: np.ndarray  # (n, classes) float32

    @classmethod
    def from_cv(cls, cv: CVResult, folds: list[Fold], labels: np.ndarray) -> OutOfFold:
        """The fold heads' validation scores at refit_epochs, photo by photo."""
        return cls.from_fold_scores(cv.fold_scores(), folds, labels)

    @classmethod
    def from_fold_scores(cls, scores: list[np.ndarray], folds: list[Fold], labels: np.ndarray) -> OutOfFold:
        """Each fold's (validation photos, classes) scores, in the folds' validation order (an ensemble's: the
        log of its members' mean probability, tta.average_views)."""
        return cls.from_fold_probabilities([softmax(s) for s in scores], folds, labels)

    @classmethod
    def from_fold_probabilities(cls, probs: list[np.ndarray], folds: list[Fold], labels: np.ndarray) -> OutOfFold:
        """Each fold's (validation photos, classes) probabilities, in the folds' validation order."""
        positions = np.concatenate([f.val for f in folds])
        fold_of = np.concatenate([np.full(len(f.val), i) for i, f in enumerate(folds)])
        return cls(positions, fold_of, labels[positions], np.concatenate(probs).astype(np.float32))

    @property
    def predicted(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    def fold_accuracies(self) -> list[float]:
        right = self.predicted == self.labels
        return [float(right[self.folds == f].mean()) for f in np.unique(self.folds)]

    def save(self, path: Path) -> Path:
        np.savez_compressed(path, positions=self.positions, folds=self.folds, labels=self.labels, probs=self.probs)
        return path

    @classmethod
    def load(cls, path: Path) -> OutOfFold:
        with np.load(path) as data:
            return cls(data["positions"], data["folds"], data["labels"], data["probs"])


def by_photo(predictions: dict[int, OutOfFold], reference: OutOfFold) -> dict[int, OutOfFold]:
    """Every trial's predictions with the rows sorted by photo, so columns of different trials compare photo by
    photo; trials that predicted other photos than `reference` (another data setting) are left out."""
    photos = np.sort(reference.positions)
    out = {}
    for number, oof in predictions.items():
        order = np.argsort(oof.positions)
        if np.array_equal(oof.positions[order], photos):
            out[number] = OutOfFold(oof.positions[order], oof.folds[order], oof.labels[order], oof.probs[order])
    return out


def write_photo_list(index: DatasetIndex, path: Path) -> Path:
    """position, path (relative to the data root), class folder: what an out-of-fold position names."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["position", "path", "class"])
        for position, sample in enumerate(index.samples):
            writer.writerow([position, sample.path.relative_to(index.root).as_posix(),
                             index.classes[sample.label].folder])
    return path
