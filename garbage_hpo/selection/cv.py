"""The cross-validated objective, and the refit on every training photo that follows it.

A configuration trains its head once per fold (on cached features, reusing the compiled head graphs) and
records the validation accuracy of every epoch. The fold-mean curve picks ONE epoch count for all folds,
`refit_epochs`; the trial's value is the fold mean at that epoch. Taking each fold's own best epoch would be
optimistic (it selects on the photos it then reports). The refit trains the same configuration on every
training photo with the same learning-rate schedule, stops after `refit_epochs` and keeps that epoch's
weights: no photo is left to look at, and none is looked at.

All folds train side by side in one compiled graph (training/fold_stack.py), so pruning reports the
fold-mean accuracy after every epoch, exactly as a one-split trial reports its validation accuracy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import mindspore as ms
import numpy as np

from garbage_hpo.metrics import FoldSummary, describe_folds, summarize_folds
from garbage_hpo.models import Classifier, HeadSpec, Standardizer
from garbage_hpo.selection.folds import Fold
from garbage_hpo.training import FoldCurves, FoldInputs, StageRun, TrainVal, train_fold_stack, train_head


@dataclass
class CVResult:
    curves: np.ndarray  # (folds done, epochs): validation accuracy of each fold after each epoch
    top5: np.ndarray
    losses: np.ndarray
    fold_sizes: list[int]  # validation photos per fold (each distinct photo once)
    seconds: float = 0.0
    scores: list[np.ndarray] | None = None  # per epoch: (folds, largest fold, classes) validation scores
    head_epochs: int | None = None  # fine-tuning CV (cv_finetune.py): the curves' first head_epochs are the head's

    @property
    def refit_finetune_epochs(self) -> int:
        """How many of refit_epochs are fine-tuning epochs (0: the head alone is refit)."""
        return 0 if self.head_epochs is None else max(0, self.refit_epochs - self.head_epochs)

    def fold_scores(self) -> list[np.ndarray]:
        """Each fold's validation scores at refit_epochs (for ensembles measured on the same folds)."""
        if self.scores is None:
            raise ValueError("these CV results kept no validation scores")
        at = self.scores[self.refit_epochs - 1]
        return [at[f, :size] for f, size in enumerate(self.fold_sizes)]

    @property
    def mean_curve(self) -> np.ndarray:
        return self.curves.mean(axis=0)

    @property
    def refit_epochs(self) -> int:
        """The epoch count with the best fold-mean accuracy (the earliest of ties)."""
        return int(np.argmax(self.mean_curve)) + 1

    @property
    def fold_acc(self) -> list[float]:
        return [float(v) for v in self.curves[:, self.refit_epochs - 1]]

    @property
    def summary(self) -> FoldSummary:
        return summarize_folds(self.fold_acc)

    @property
    def n(self) -> int:
        return int(sum(self.fold_sizes))

    @property
    def mean_top5(self) -> float:
        """The fold-mean top-5 accuracy at refit_epochs."""
        return float(self.top5[:, self.refit_epochs - 1].mean())

    @property
    def mean_loss(self) -> float:
        """The fold-mean validation loss at refit_epochs."""
        return float(self.losses[:, self.refit_epochs - 1].mean())

    def objective_values(self) -> dict[str, float]:
        return {"val_acc": self.summary.mean, "val_top5": self.mean_top5, "val_loss": self.mean_loss}

    def trial_attrs(self) -> dict[str, float | int | str]:
        return dict(self.record())

    def record(self) -> dict[str, float]:
        """What a trial run logs and an Optuna trial keeps as user attributes."""
        s = self.summary
        out = {"cv_mean": s.mean, "cv_ci95_low": s.ci95.low, "cv_ci95_high": s.ci95.high, "cv_std": s.std,
               "cv_folds": float(s.k), "cv_n": float(self.n), "refit_epochs": float(self.refit_epochs),
               "cv_top5": self.mean_top5, "cv_loss": self.mean_loss}
        if self.head_epochs is not None:
            out["refit_finetune_epochs"] = float(self.refit_finetune_epochs)
        return out | {f"fold_acc.{i}": v for i, v in enumerate(self.fold_acc)}

    def describe(self) -> str:
        tuned = "" if self.head_epochs is None else f" ({self.refit_finetune_epochs} of them fine-tuning)"
        return f"cv_mean {describe_folds(self.summary, self.n)}, refit_epochs {self.refit_epochs}{tuned}"


FoldCallback = Callable[[int, CVResult], None]  # (epoch, the fold curves so far)


@dataclass(frozen=True)
class HeadInputs:
    """Every photo's head input and label; `test_views`: the inputs of other views of the photos (mirrored,
    cropped), to score validation with test-time augmentation (tta.py); `train_views`: (views, photos,
    features) augmented views to train on."""

    pooled: np.ndarray
    labels: np.ndarray
    test_views: tuple[np.ndarray, ...] = ()
    train_views: np.ndarray | None = None


def cross_validate(spec: HeadSpec, inputs: HeadInputs, folds: list[Fold], head_cfg, seed: int,
                   on_epoch: FoldCallback | None = None, standardize: bool = False) -> CVResult:
    """Train `spec` on every fold at once (training/fold_stack.py: the same numbers as one fold at a time, at
    a fraction of the cost); `on_epoch(epoch, partial)` may raise to stop the trial (pruning).
    `standardize`: each fold's inputs are scaled with the statistics of that fold's training photos only."""
    pooled, labels = inputs.pooled, inputs.labels
    start = time.perf_counter()
    ms.set_seed(seed)  # every fold starts from the initial weights one training from this seed would have
    np.random.seed(seed)
    sizes = [len(f.val) for f in folds]

    def as_result(curves: FoldCurves) -> CVResult:
        return CVResult(curves.acc, curves.top5, curves.loss, sizes, time.perf_counter() - start, curves.scores)

    def progress(epoch: int, curves: FoldCurves) -> None:
        if on_epoch is not None:
            on_epoch(epoch, as_result(curves))

    scalers = [Standardizer.fit(pooled[f.train]) for f in folds] if standardize else None
    curves = train_fold_stack(spec, FoldInputs(pooled, labels, [f.train for f in folds], [f.val for f in folds],
                                               scalers, inputs.test_views, inputs.train_views), head_cfg, seed,
                            progress)
    return as_result(curves)


def refit_head(spec: HeadSpec, inputs: HeadInputs, train: np.ndarray, head_cfg, seed: int, epochs: int
               ) -> Classifier:
    """Train on every photo at `train` (and its augmented views, if any) for `epochs` epochs of the
    `head_cfg.epochs` schedule; no validation."""
    ms.set_seed(seed)
    np.random.seed(seed)
    pooled, views = inputs.pooled, inputs.train_views
    empty = np.zeros((0, pooled.shape[1]), np.float32)
    data = TrainVal(pooled[train], inputs.labels[train], empty, np.zeros(0, np.int32),
                    None if views is None else views[:, train])
    classifier, _ = train_head(spec, data, head_cfg, StageRun(seed, stop_after=epochs))
    return classifier

