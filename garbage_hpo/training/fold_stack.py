"""k folds of one head configuration trained side by side in one compiled graph.

Cross-validation trains the same head k times on different photos. On a CPU MindSpore spends a fixed time
per training step in its runtime, mostly independent of the batch (BENCHMARKS.md), so k separate trainings
cost k times that overhead. Here every parameter has a leading fold
axis (weights (k, out, in)), inputs are (k, batch, features), and the loss is the SUM of the folds' mean
losses: each fold's gradient, and so (with element-wise optimizers: Momentum, Adam, weight decay) each
fold's trajectory, is exactly that of training it alone with the same batches, masks and initial weights.
All folds take the same number of steps per epoch (the smallest fold's), so they share one schedule.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import mindspore as ms
import mindspore.ops as ops
import numpy as np
from mindspore import Parameter, nn

from garbage_hpo.metrics import evaluate_scores
from garbage_hpo.models import Classifier, HeadSpec, average_views
from garbage_hpo.training.batches import effective_batch_size, one_view_each, shuffled_batches, with_views
from garbage_hpo.training.compiled_steps import COMPILED_STEPS, CompiledSteps, padded_schedule
from garbage_hpo.training.head_stage import StageConfig
from garbage_hpo.training.loop import NonFiniteLossError
from garbage_hpo.training.schedule import lr_schedule


class FoldStack(nn.Cell):
    """`Classifier` with a fold axis on every parameter: (k, N, in) -> (k, N, classes)."""

    def __init__(self, spec: HeadSpec, folds: int) -> None:
        super().__init__()
        template = Classifier(replace(spec, dropout=0.0))  # initial weights from the global seed, as one fold's
        self.depth2 = spec.depth == 2
        self.bias = spec.bias
        for name, param in template.parameters_and_names():
            value = np.broadcast_to(param.asnumpy(), (folds, *param.shape)).copy()
            if name.endswith("bias"):
                value = value[:, None, :]  # (k, 1, out): broadcasts over the batch
            setattr(self, name.replace(".", "_"), Parameter(ms.Tensor(value), name=name.replace(".", "_")))
        self.activation = {"none": None, "softmax": nn.Softmax(), "sigmoid": nn.Sigmoid()}[spec.activation]
        self.bmm = ops.BatchMatMul(transpose_b=True)

    def _dense_out(self, x, mask):
        if self.depth2:
            x = self.bmm(x, self.hidden_weight)
            if self.bias:
                x = x + self.hidden_bias
            x = ops.relu(x)
        x = self.bmm(x * mask, self.dense_weight)
        if self.bias:
            x = x + self.dense_bias
        if self.activation is not None:
            x = self.activation(x)
        return x

    def construct(self, x, mask):
        return self._dense_out(x, mask)


class FoldStackLoss(nn.Cell):
    """Sum over folds of the batch-mean softmax cross-entropy with probability targets (smoothing in them),
    as `nn.CrossEntropyLoss` computes it for one fold."""

    def __init__(self, stack: FoldStack) -> None:
        super().__init__()
        self.stack = stack

    def construct(self, x, mask, target):
        log_p = ops.log_softmax(self.stack(x, mask), axis=-1)
        return -(target * log_p).sum(axis=-1).mean(axis=-1).sum()


@dataclass
class FoldCurves:
    """Validation figures of every fold after every epoch so far: arrays of shape (folds, epochs)."""

    acc: np.ndarray
    top5: np.ndarray
    loss: np.ndarray
    train_loss: np.ndarray
    scores: list[np.ndarray]  # per epoch: (folds, largest fold, classes) validation scores (rows past a fold's end: 0)


FoldEpochCallback = Callable[[int, FoldCurves], None]


def _gathered(fold_x: list[np.ndarray], fold_t: list[np.ndarray], batch: int, steps: int, seed: int,
              epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps, folds, batch, features) inputs and targets: each fold's own views and shuffle, first `steps`
    batches."""
    xs, ts = [], []
    for views, t in zip(fold_x, fold_t, strict=True):
        x = one_view_each(views, seed, epoch)
        order = np.stack(list(shuffled_batches(len(x), batch, seed, epoch)))[:steps]
        xs.append(x[order])
        ts.append(t[order])
    return np.stack(xs, axis=1), np.stack(ts, axis=1)


def _padded(fold_val: list[np.ndarray]) -> np.ndarray:
    out = np.zeros((len(fold_val), max(len(v) for v in fold_val), fold_val[0].shape[1]), np.float32)
    for f, val in enumerate(fold_val):
        out[f, : len(val)] = val
    return out


@dataclass(frozen=True)
class FoldInputs:
    """Every photo's head input and label, and each fold's training and validation positions into them.
    `scalers[f]` (e.g. fitted on fold f's training photos) transforms fold f's inputs, training and validation;
    `test_views`: inputs of other views of the photos (mirrored, cropped), whose validation scores are averaged
    with the plain ones (tta.py);
    `train_views`: (views, photos, features) inputs of augmented views, which a fold trains on (its training
    photos' only) as `train_head` does."""

    pooled: np.ndarray
    labels: np.ndarray
    trains: list[np.ndarray]
    vals: list[np.ndarray]
    scalers: list[Callable[[np.ndarray], np.ndarray]] | None = None
    test_views: tuple[np.ndarray, ...] = ()
    train_views: np.ndarray | None = None


def train_fold_stack(spec: HeadSpec, inputs: FoldInputs, cfg: StageConfig, seed: int,
                     on_epoch: FoldEpochCallback | None = None, steps_cache: CompiledSteps = COMPILED_STEPS
                     ) -> FoldCurves:
    """Train one head per fold (same seed, same initial weights) for `cfg.epochs`; evaluate every epoch."""
    pooled, labels, trains, vals = inputs.pooled, inputs.labels, inputs.trains, inputs.vals
    scalers = inputs.scalers
    k = len(trains)
    batch = effective_batch_size(cfg.batch_size, min(len(t) for t in trains))
    steps = min(len(t) for t in trains) // batch
    lrs = padded_schedule(lr_schedule(total_steps=steps * cfg.epochs, **cfg.schedule))
    key = "stack:" + json.dumps([CompiledSteps.key(spec, cfg.optimizer, batch, len(lrs)), k])
    stack, step = steps_cache.acquire_cell(key, FoldStack(spec, k), FoldStackLoss, cfg.optimizer, lrs)
    n_cls = spec.num_classes
    targets = (np.eye(n_cls, dtype=np.float32)[labels] * (1 - cfg.label_smoothing) + cfg.label_smoothing / n_cls)
    scale = scalers or [lambda x: x] * k
    views = inputs.train_views
    fold_x = [scale[f](with_views(pooled[t], None if views is None else views[:, t])) for f, t in enumerate(trains)]
    fold_t = [targets[t].astype(np.float32) for t in trains]
    x_val = ms.Tensor(_padded([scale[f](pooled[v]) for f, v in enumerate(vals)]))
    x_views = [ms.Tensor(_padded([scale[f](view[v]) for f, v in enumerate(vals)])) for view in inputs.test_views]
    eval_mask = ms.Tensor(np.ones((k, x_val.shape[1], spec.dropout_width), np.float32))
    keep = 1.0 - spec.dropout
    rows: dict[str, list] = {"acc": [], "top5": [], "loss": [], "train_loss": []}
    kept: list[np.ndarray] = []
    for epoch in range(1, cfg.epochs + 1):
        xs, ts = _gathered(fold_x, fold_t, batch, steps, seed, epoch)
        if spec.dropout > 0:  # the masks one fold trained alone would draw, shared by every fold
            rng = np.random.default_rng([seed, 104729, epoch])
            masks = (rng.random((steps, batch, spec.dropout_width)) < keep).astype(np.float32) / np.float32(keep)
        else:
            masks = np.ones((steps, batch, spec.dropout_width), np.float32)
        masks = np.ascontiguousarray(np.broadcast_to(masks[:, None], (steps, k, batch, spec.dropout_width)))
        stack.set_train(True)
        losses = [float(step(ms.from_numpy(xs[i]), ms.from_numpy(masks[i]), ms.from_numpy(ts[i])).asnumpy())
                  for i in range(steps)]
        if not all(math.isfinite(v) for v in losses):
            raise NonFiniteLossError(f"head stage (cross-validation): training loss became non-finite at epoch "
                                     f"{epoch}; lower the learning rate")
        stack.set_train(False)
        scores = stack(x_val, eval_mask).asnumpy()
        if x_views:
            scores = average_views(scores, *[stack(x, eval_mask).asnumpy() for x in x_views])
        evals = [evaluate_scores(scores[f, : len(v)], labels[v]) for f, v in enumerate(vals)]
        kept.append(scores)
        for name, values in (("acc", [e.accuracy for e in evals]), ("top5", [e.top5 for e in evals]),
                             ("loss", [e.loss for e in evals]), ("train_loss", [np.mean(losses) / k] * k)):
            rows[name].append(values)
        curves = FoldCurves(*(np.array(rows[n]).T for n in ("acc", "top5", "loss", "train_loss")), kept)
        if on_epoch is not None:
            on_epoch(epoch, curves)  # may raise (pruning)
    return curves
