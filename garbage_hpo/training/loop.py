"""The epoch loop shared by both stages: compiled train step, per-epoch evaluation, best-state tracking."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import mindspore as ms
import numpy as np
from mindspore import nn

from garbage_hpo.metrics import Evaluation
from garbage_hpo.tracking import CURVE


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the run stops at once."""


@dataclass(frozen=True)
class EpochResult:
    stage: str  # "head" or "finetune"
    epoch: int  # 1-based within the stage
    step: int  # global epoch counter across stages: the MLflow step and the pruning step
    train_loss: float
    lr: float
    val: Evaluation
    seconds: float

    def metrics(self) -> dict[str, float]:
        """Per-epoch curves, named `epoch/...` (see garbage_hpo.tracking.names)."""

        return {f"{CURVE}train_loss": self.train_loss, f"{CURVE}lr": self.lr, **self.val.as_metrics(f"{CURVE}val_")}


EpochCallback = Callable[[EpochResult], None]


@dataclass
class StageResult:
    history: list[EpochResult] = field(default_factory=list)
    best_epoch: int = 0
    best_state: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def best(self) -> EpochResult | None:
        return next((r for r in self.history if r.epoch == self.best_epoch), None)


def snapshot(net: nn.Cell) -> dict[str, np.ndarray]:
    return {name: param.asnumpy().copy() for name, param in net.parameters_and_names()}


@dataclass(frozen=True)
class TrainVal:
    """A stage's training inputs and labels and its validation inputs and labels: features, cache rows or
    images, whatever the stage consumes (the validation side may be empty: a refit)."""

    x_train: Any
    y_train: np.ndarray
    x_val: Any
    y_val: np.ndarray
    train_views: np.ndarray | None = None  # (views, len(x_train), features): augmented views of x_train's photos


@dataclass(frozen=True)
class StageRun:
    """How a stage runs besides its data and settings: its seed, its first global step (steps count on across
    stages), who hears each epoch (MLflow, a pruner), and `stop_after=E`: run the schedule of all epochs but
    stop after epoch E and keep that epoch's weights (a refit, or a fold whose epoch count is fixed)."""

    seed: int
    step_offset: int = 0
    on_epoch: EpochCallback | None = None
    stop_after: int | None = None

    def epochs(self, scheduled: int) -> int:
        return scheduled if self.stop_after is None else min(self.stop_after, scheduled)


@dataclass(frozen=True)
class EpochPlan:
    """Each step's learning rate, the steps of an epoch and the epochs to run."""

    lrs: np.ndarray
    steps_per_epoch: int
    epochs: int


@dataclass(frozen=True)
class Trainee:
    """What trains: the network (evaluated, snapshotted, restored), its compiled train step, and how to put it
    in training mode (default: `net.set_train(True)`; frozen BatchNorm keeps some cells in inference mode)."""

    net: nn.Cell
    train_step: nn.Cell
    train_mode: Callable[[], None] | None = None


def restore(net: nn.Cell, state: dict[str, np.ndarray]) -> None:
    for name, param in net.parameters_and_names():
        param.set_data(ms.Tensor(state[name]))


def run_epochs(*, stage: str, trainee: Trainee, batches: Callable[[int], Iterator[tuple[np.ndarray, ...]]],
               evaluate: Callable[[], Evaluation], plan: EpochPlan, run: StageRun, keep_best: bool = True
               ) -> StageResult:
    """Train `plan.epochs` epochs; `batches(epoch)` yields the step's inputs; ends with the best val_acc epoch's
    parameters loaded back into the network and the network in inference mode (`keep_best=False`: the last
    epoch's, for a refit that has no validation photos to choose by)."""
    net, train_step = trainee.net, trainee.train_step
    result = StageResult()
    best_acc = -1.0
    for epoch in range(1, plan.epochs + 1):
        start = time.perf_counter()
        (trainee.train_mode or (lambda: net.set_train(True)))()
        losses = []
        for inputs in batches(epoch):
            loss = float(train_step(*(ms.from_numpy(np.ascontiguousarray(a)) for a in inputs)).asnumpy())
            if not math.isfinite(loss):
                raise NonFiniteLossError(
                    f"{stage} stage: training loss became {loss} at epoch {epoch}, step {len(losses) + 1}; "
                    "lower the learning rate"
                )
            losses.append(loss)
        net.set_train(False)
        val = evaluate()
        lr = float(plan.lrs[min(epoch * plan.steps_per_epoch, len(plan.lrs)) - 1])
        record = EpochResult(stage, epoch, run.step_offset + epoch, float(np.mean(losses)), lr, val,
                             time.perf_counter() - start)
        result.history.append(record)
        if val.accuracy > best_acc or not keep_best:
            best_acc = val.accuracy
            result.best_epoch = epoch
            result.best_state = snapshot(net)
        if run.on_epoch is not None:
            run.on_epoch(record)  # may raise (pruning): the caller decides what a stop means
    if result.best_state:
        restore(net, result.best_state)
    net.set_train(False)
    return result
