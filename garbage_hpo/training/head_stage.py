"""Stage 1: train the classifier on cached, pooled backbone features (no image or backbone work).

Compiled training graphs are kept per shape (`CompiledSteps`) and reused by later trials of a sweep:
dropout masks and label-smoothed targets are inputs drawn from NumPy with the trial's seed, the optimizer
state is reset, so a reused graph gives exactly the numbers a fresh process would.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import mindspore as ms
import numpy as np
from mindspore import nn

from garbage_hpo.metrics import Evaluation, evaluate_scores
from garbage_hpo.models.head import Classifier, HeadSpec
from garbage_hpo.training.loop import (
    EpochPlan,
    StageResult,
    StageRun,
    Trainee,
    TrainVal,
    restore,
    run_epochs,
    snapshot,
)
from garbage_hpo.training.optim import MOMENTUM_DEFAULT, build_optimizer
from garbage_hpo.training.schedule import lr_schedule

RESETTABLE_OPTIMIZER_VALUES = ("momentum",)  # Parameters of the optimizer set per trial, not baked in


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


class MaskedLoss(nn.Cell):
    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.classifier = classifier
        self.loss = nn.CrossEntropyLoss()  # targets are class probabilities: smoothing is in them

    def construct(self, x, mask, target):
        return self.loss(self.classifier.masked_scores(x, mask), target)


@dataclass
class _Compiled:
    classifier: nn.Cell
    step: nn.Cell
    optimizer: nn.Optimizer
    initial_state: dict[str, np.ndarray]  # optimizer state as created, restored before each reuse


class CompiledSteps:
    """Head training graphs by shape, compiled once per process and reused (LRU of `capacity`)."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, _Compiled] = OrderedDict()
        self.builds = 0
        self.reuses = 0

    def clear(self) -> None:
        self._entries.clear()

    @staticmethod
    def key(spec: HeadSpec, optimizer: dict, batch: int, total_steps: int) -> str:
        baked = {k: v for k, v in optimizer.items() if k not in RESETTABLE_OPTIMIZER_VALUES}
        return json.dumps([replace(spec, dropout=0.0).__dict__, baked, batch, total_steps], sort_keys=True)

    def acquire(self, spec: HeadSpec, cfg: StageConfig, batch: int, lrs: np.ndarray) -> tuple[Classifier, nn.Cell]:
        """A classifier with freshly initialised weights (from the global seed) and its training step."""
        fresh = Classifier(replace(spec, dropout=0.0))  # the trial's initial weights, under ms.set_seed
        return self.acquire_cell(self.key(spec, cfg.optimizer, batch, len(lrs)), fresh, MaskedLoss, cfg.optimizer,
                                 lrs)

    def acquire_cell(self, key: str, fresh: nn.Cell, loss: Callable[[nn.Cell], nn.Cell], optimizer: dict,
                     lrs: np.ndarray) -> tuple[nn.Cell, nn.Cell]:
        """`fresh`'s initial weights in the compiled step of `key` (built around `loss(fresh)` if new)."""
        entry = self._entries.get(key)
        if entry is None:
            opt = build_optimizer(params=fresh.trainable_params(), lrs=lrs, **optimizer)
            step = nn.TrainOneStepCell(loss(fresh), opt)
            own = {id(p) for p in fresh.get_parameters()}
            state = {p.name: p.asnumpy().copy() for p in opt.get_parameters() if id(p) not in own}
            self._entries[key] = _Compiled(fresh, step, opt, state)
            self.builds += 1
            if len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
            return fresh, step
        self._entries.move_to_end(key)
        self.reuses += 1
        restore(entry.classifier, snapshot(fresh))
        for param in entry.optimizer.get_parameters():
            if param.name == "learning_rate":
                param.set_data(ms.Tensor(lrs))
            elif param.name == "momentum":
                param.set_data(ms.Tensor(np.float32(optimizer.get("momentum", MOMENTUM_DEFAULT))))
            elif param.name in entry.initial_state:
                param.set_data(ms.Tensor(entry.initial_state[param.name]))
        return entry.classifier, entry.step


COMPILED_STEPS = CompiledSteps()


def train_head(spec: HeadSpec, data: TrainVal, cfg: StageConfig, run: StageRun,
               steps: CompiledSteps = COMPILED_STEPS) -> tuple[Classifier, StageResult]:
    """Train the head on features; with `run.stop_after=E` run the schedule of `cfg.epochs` but stop after epoch
    E and keep that epoch's weights (a refit: the epoch count was chosen by cross-validation, the validation
    side may be empty)."""
    x_train, y_train, x_val, y_val, seed = data.x_train, data.y_train, data.x_val, data.y_val, run.seed
    batch = effective_batch_size(cfg.batch_size, len(x_train))
    steps_per_epoch = len(x_train) // batch
    lrs = lr_schedule(total_steps=steps_per_epoch * cfg.epochs, **cfg.schedule)
    classifier, step = steps.acquire(spec, cfg, batch, lrs)
    k = spec.num_classes
    targets = (np.eye(k, dtype=np.float32)[y_train] * (1 - cfg.label_smoothing) + cfg.label_smoothing / k)
    targets = targets.astype(np.float32)
    keep = 1.0 - spec.dropout
    x_val_t = ms.Tensor(x_val) if len(x_val) else None

    def batches(epoch: int):
        # a whole epoch gathered and drawn at once (the same values, step by step, as drawing per step):
        # per-step indexing and mask drawing were a noticeable share of a trial (BENCHMARKS.md)
        rng = np.random.default_rng([seed, 104729, epoch])
        order = np.stack(list(shuffled_batches(len(x_train), batch, seed, epoch)))
        xs, ts = x_train[order], targets[order]
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
