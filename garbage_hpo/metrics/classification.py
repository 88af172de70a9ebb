"""Classification metrics from score matrices (NumPy; the same code for every stage)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from garbage_hpo.data import ClassInfo


class Measured(Protocol):
    """A configuration's measurement, on one validation split (pipeline.TrainResult) or by k-fold cross-validation
    (selection.cv.CVResult): what a sweep's objectives read, and what its trial keeps."""

    def objective_values(self) -> dict[str, float]:
        """The objective metrics (`val_acc`, `val_top5`, `val_loss`), however they were measured."""
        ...

    def trial_attrs(self) -> dict[str, float | int | str]:
        """How it was measured (folds, photo count, interval, refit epochs): an Optuna trial's user attributes."""
        ...


def log_softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def top_k_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean()) if len(labels) else 0.0


def cross_entropy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Softmax cross-entropy of the network's output, as training computes it (no smoothing)."""
    if not len(labels):
        return 0.0
    return float(-log_softmax(scores.astype(np.float64))[np.arange(len(labels)), labels].mean())


def confusion_matrix(pred: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (labels, pred), 1)
    return matrix


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    top5: float
    loss: float
    n: int
    # the (photos, classes) scores these figures were computed from: cross-validation keeps them per epoch
    # (out-of-fold predictions); not compared, not printed
    scores: np.ndarray | None = field(default=None, compare=False, repr=False)

    def as_metrics(self, prefix: str = "val_") -> dict[str, float]:
        return {f"{prefix}acc": self.accuracy, f"{prefix}top5": self.top5, f"{prefix}loss": self.loss}


def evaluate_scores(scores: np.ndarray, labels: np.ndarray) -> Evaluation:
    return Evaluation(
        accuracy=top_k_accuracy(scores, labels, 1),
        top5=top_k_accuracy(scores, labels, 5),
        loss=cross_entropy(scores, labels),
        n=int(len(labels)),
        scores=scores,
    )


def per_class_accuracy(pred: np.ndarray, labels: np.ndarray, classes: list[ClassInfo]) -> dict[str, float | None]:
    """Every class, in class order; None for a class with no photo to score (e.g. a single-photo class
    whose only photo is in training), so no class silently drops out of the report."""
    out: dict[str, float | None] = {}
    for info in classes:
        mask = labels == info.index
        out[info.folder] = float((pred[mask] == info.index).mean()) if mask.any() else None
    return out


def per_category_accuracy(pred: np.ndarray, labels: np.ndarray, classes: list[ClassInfo]) -> dict[str, float]:
    """Accuracy of the garbage category (recyclable/dry/hazardous/wet) implied by the predicted class."""
    category = np.array([c.category for c in classes])
    out = {}
    for name in sorted(set(category)):
        mask = category[labels] == name
        if mask.any():
            out[name] = float((category[pred[mask]] == name).mean())
    return out
