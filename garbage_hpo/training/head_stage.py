"""Stage 1: train the classifier on cached, pooled backbone features (no image or backbone work).

Its training graph comes from the compiled-step cache (compiled_steps.py): dropout masks and label-smoothed
targets are inputs drawn from NumPy with the trial's seed, so a reused graph gives exactly the numbers a fresh
process would.
"""

from __future__ import annotations

from dataclasses import dataclass

import mindspore as ms
import numpy as np
from mindspore import nn

from garbage_hpo.metrics import Evaluation, evaluate_scores
from garbage_hpo.models import Classifier, HeadSpec
from garbage_hpo.training.batches import effective_batch_size, one_view_each, shuffled_batches, with_views
from garbage_hpo.training.compiled_steps import COMPILED_STEPS, CompiledSteps
from garbage_hpo.training.loop import (
    EpochPlan,
    StageResult,
    StageRun,
    Trainee,
    TrainVal,
    run_epochs,
)
from garbage_hpo.training.optim import build_optimizer
from garbage_hpo.training.schedule import lr_schedule


@dataclass(frozen=True)
class StageConfig:
    epochs: int
    batch_size: int
    optimizer: dict  # name, momentum, weight_decay, beta1, beta2, eps
    schedule: dict  # name, lr_init, lr_max, lr_end, warmup_steps
    label_smoothing: float = 0.0
    section: str = "train"  # config section, for error messages

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"{self.section}.epochs={self.epochs}: cannot be negative")
        if self.batch_size < 1:
            raise ValueError(f"{self.section}.batch_size={self.batch_size}: must be at least 1")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"train.label_smoothing={self.label_smoothing}: must be in [0, 1)")


def build_train_step(net: nn.Cell, cfg: StageConfig, total_steps: int) -> tuple[nn.Cell, np.ndarray]:
    lrs = lr_schedule(total_steps=total_steps, **cfg.schedule)
    params = [p for p in net.trainable_params() if p.requires_grad]
    optimizer = build_optimizer(params=params, lrs=lrs, **cfg.optimizer)
    loss = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    step = nn.TrainOneStepCell(nn.WithLossCell(net, loss), optimizer)
    return step, lrs


def train_head(spec: HeadSpec, data: TrainVal, cfg: StageConfig, run: StageRun,
               steps: CompiledSteps = COMPILED_STEPS) -> tuple[Classifier, StageResult]:
    """Train the head on features; with `run.stop_after=E` run the schedule of `cfg.epochs` but stop after epoch
    E and keep that epoch's weights (a refit: the epoch count was chosen by cross-validation, the validation
    side may be empty)."""
    x_train, y_train, x_val, y_val, seed = data.x_train, data.y_train, data.x_val, data.y_val, run.seed
    batch = effective_batch_size(cfg.batch_size, len(x_train))
    steps_per_epoch = len(x_train) // batch
    lrs = lr_schedule(total_steps=steps_per_epoch * cfg.epochs, **cfg.schedule)
    classifier, step = steps.acquire(spec, cfg.optimizer, batch, lrs)
    k = spec.num_classes
    targets = (np.eye(k, dtype=np.float32)[y_train] * (1 - cfg.label_smoothing) + cfg.label_smoothing / k)
    targets = targets.astype(np.float32)
    keep = 1.0 - spec.dropout
    x_val_t = ms.Tensor(x_val) if len(x_val) else None
    x_views = with_views(x_train, data.train_views)

    def batches(epoch: int):
        # a whole epoch gathered and drawn at once (the same values, step by step, as drawing per step):
        # per-step indexing and mask drawing were a noticeable share of a trial (BENCHMARKS.md)
        rng = np.random.default_rng([seed, 104729, epoch])
        order = np.stack(list(shuffled_batches(len(x_train), batch, seed, epoch)))
        xs, ts = one_view_each(x_views, seed, epoch)[order], targets[order]
        if spec.dropout > 0:
            masks = (rng.random((len(order), batch, spec.dropout_width)) < keep).astype(np.float32)
            masks /= np.float32(keep)
        else:
            masks = np.broadcast_to(np.ones((1, batch, spec.dropout_width), np.float32), (len(order), batch,
                                                                                          spec.dropout_width))
        for i in range(len(order)):
            yield xs[i], masks[i], ts[i]

    def evaluate() -> Evaluation:
        if not len(y_val):
            return Evaluation(0.0, 0.0, 0.0, 0)
        return evaluate_scores(classifier(x_val_t).asnumpy(), y_val)

    result = run_epochs(stage="head", trainee=Trainee(classifier, step), batches=batches, evaluate=evaluate,
                        plan=EpochPlan(lrs, steps_per_epoch, run.epochs(cfg.epochs)), run=run,
                        keep_best=run.stop_after is None)
    return classifier, result
