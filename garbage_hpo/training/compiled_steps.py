"""Compiled training steps kept per shape and reused by later trials of a sweep (an LRU per process).

A reused step gets the new trial's initial weights, its learning-rate array and momentum, and the optimizer
state as first created, so it computes exactly what a freshly compiled one would.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

import mindspore as ms
import numpy as np
from mindspore import nn

from garbage_hpo.models import Classifier, HeadSpec
from garbage_hpo.training.loop import restore, snapshot
from garbage_hpo.training.optim import MOMENTUM_DEFAULT, WEIGHT_DECAY_PARAM, build_optimizer

RESETTABLE_OPTIMIZER_VALUES = ("momentum", "weight_decay")  # Parameters of the optimizer set per trial, not baked in
SCHEDULE_BUCKET = 4096  # learning-rate arrays are padded to a multiple of this many steps


def release_runtime_memory() -> None:
    """Hand back the runtime memory MindSpore cached for the models this process ran. It keeps a memory pool per
    model; a sweep runs dozens in one process, and without this its resident memory grew by a few hundred MB
    with every new graph (BENCHMARKS.md). Compiled graphs stay compiled and reusable."""
    ms.ms_memory_recycle()


def padded_schedule(lrs: np.ndarray) -> np.ndarray:
    """`lrs` padded with its last value to a multiple of SCHEDULE_BUCKET steps. The array's length is part of the
    compiled graph; the optimizer reads entry i at step i, so entries past the last step are never read, and
    trials of 10, 20 or 30 epochs share one graph."""
    length = -(-len(lrs) // SCHEDULE_BUCKET) * SCHEDULE_BUCKET
    return np.concatenate([lrs, np.full(length - len(lrs), lrs[-1], lrs.dtype)]) if length > len(lrs) else lrs


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

    def acquire(self, spec: HeadSpec, optimizer: dict, batch: int, lrs: np.ndarray) -> tuple[Classifier, nn.Cell]:
        """A classifier with freshly initialised weights (from the global seed) and its training step."""
        fresh = Classifier(replace(spec, dropout=0.0))  # the trial's initial weights, under ms.set_seed
        return self.acquire_cell(self.key(spec, optimizer, batch, len(lrs)), fresh, MaskedLoss, optimizer, lrs)

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
            elif param.name.endswith(WEIGHT_DECAY_PARAM):
                param.set_data(ms.Tensor(np.float32(optimizer.get("weight_decay", 0.0))))
            elif param.name in entry.initial_state:
                param.set_data(ms.Tensor(entry.initial_state[param.name]))
        return entry.classifier, entry.step


COMPILED_STEPS = CompiledSteps()
