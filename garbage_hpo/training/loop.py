"""The epoch loop shared by both stages: compiled train step, per-epoch evaluation, best-state tracking."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import mindspore as ms
import numpy as np
from mindspore import nn

from garbage_hpo.metric_names import CURVE
from garbage_hpo.metrics import Evaluation


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
        """Per-epoch curves, named `epoch/...` (see garbage_hpo.metric_names)."""

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


def restore(net: nn.Cell, state: dict[str, np.ndarray]) -> None:
    for name, param in net.parameters_and_names():
        param.set_data(ms.Tensor(state[name]))


def run_epochs(
    *,
    stage: str,
    net: nn.Cell,
    train_step: nn.Cell,
    batches: Callable[[int], Iterator[tuple[np.ndarray, ...]]],
    evaluate: Callable[[], Evaluation],
    lrs: np.ndarray,
    steps_per_epoch: int,
    epochs: int,
    step_offset: int = 0,
    on_epoch: EpochCallback | None = None,
    train_mode: Callable[[], None] | None = None,
    keep_best: bool = True,
) -> StageResult:
    """Train `epochs` epochs; `batches(epoch)` yields the step's inputs; ends with the best val_acc epoch's
    parameters loaded back into `net` and `net` in inference mode (`keep_best=False`: the last epoch's, for a
    refit that has no validation photos to choose by)."""
    result = StageResult()
    best_acc = -1.0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        (train_mode or (lambda: net.set_train(True)))()
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
        lr = float(lrs[min(epoch * steps_per_epoch, len(lrs)) - 1])
        record = EpochResult(stage, epoch, step_offset + epoch, float(np.mean(losses)), lr, val,
                             time.perf_counter() - start)
        result.history.append(record)
        if val.accuracy > best_acc or not keep_best:
            best_acc = val.accuracy
            result.best_epoch = epoch
            result.best_state = snapshot(net)
        if on_epoch is not None:
            on_epoch(record)  # may raise (pruning): the caller decides what a stop means
    if result.best_state:
        restore(net, result.best_state)
    net.set_train(False)
    return result
