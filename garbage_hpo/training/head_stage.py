"""Stage 1: train the classifier on cached, pooled backbone features (no image or backbone work)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import mindspore as ms
import numpy as np
from mindspore import nn

from garbage_hpo.metrics import Evaluation, evaluate_scores
from garbage_hpo.models.head import Classifier
from garbage_hpo.training.loop import EpochCallback, StageResult, restore, run_epochs
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


def shuffled_batches(n: int, batch_size: int, seed: int, epoch: int) -> Iterator[np.ndarray]:
    """Index batches of exactly `batch_size` (the compiled shape); the remainder rotates with the shuffle."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    for start in range(0, n - batch_size + 1, batch_size):
        yield order[start : start + batch_size]


def effective_batch_size(requested: int, n: int) -> int:
    return max(1, min(requested, n))


def train_head(
    classifier: Classifier, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
    cfg: StageConfig, seed: int, on_epoch: EpochCallback | None = None,
) -> StageResult:
    batch = effective_batch_size(cfg.batch_size, len(x_train))
    steps_per_epoch = len(x_train) // batch
    step, lrs = build_train_step(classifier, cfg, steps_per_epoch * cfg.epochs)
    y_train = y_train.astype(np.int32)
    x_val_t = ms.Tensor(x_val)

    def batches(epoch: int):
        for idx in shuffled_batches(len(x_train), batch, seed, epoch):
            yield x_train[idx], y_train[idx]

    def evaluate() -> Evaluation:
        return evaluate_scores(classifier(x_val_t).asnumpy(), y_val)

    result = run_epochs(stage="head", net=classifier, train_step=step, batches=batches, evaluate=evaluate,
                        lrs=lrs, steps_per_epoch=steps_per_epoch, epochs=cfg.epochs, on_epoch=on_epoch)
    if result.best_state:
        restore(classifier, result.best_state)
    classifier.set_train(False)
    return result
