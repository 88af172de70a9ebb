"""Fine-tuning the last backbone blocks on cut-point activations (cut_cache.py) instead of on images.

Only the trained blocks and the head run per step. Their training graph is compiled once per shape and kept
(`FINETUNE_STEPS`, the same reuse scheme as the head's `CompiledSteps`): a later trial loads its own starting
weights into it and resets the optimizer state, so a sweep compiles it once. The trained weights are then
copied back into the trial's whole network (checkpoint, export and test scoring use that).
"""

from __future__ import annotations

import hashlib
import json
import logging

import mindspore as ms
import numpy as np
from mindspore import nn

from garbage_hpo.metrics import Evaluation, evaluate_scores
from garbage_hpo.models import predict_images
from garbage_hpo.training.batches import effective_batch_size, shuffled_batches
from garbage_hpo.training.batchnorm_unfold import spread, unfold_batchnorm
from garbage_hpo.training.compiled_steps import RESETTABLE_OPTIMIZER_VALUES, CompiledSteps
from garbage_hpo.training.cut_cache import CutActivations, SuffixNet
from garbage_hpo.training.finetune_stage import FinetuneConfig, freeze_backbone_prefix
from garbage_hpo.training.loop import EpochPlan, StageResult, StageRun, Trainee, TrainVal, run_epochs
from garbage_hpo.training.schedule import lr_schedule

log = logging.getLogger(__name__)
FINETUNE_STEPS = CompiledSteps(capacity=4)


def cache_rows(row_of: dict[int, int], sample_positions: np.ndarray) -> np.ndarray:
    """The cache rows of the photos at `sample_positions` (positions into the dataset index)."""
    return np.array([row_of[int(p)] for p in sample_positions], np.int64)


def compiled_key(fresh: nn.Cell, cut: int, acts: CutActivations, cfg: FinetuneConfig, batch: int,
                 total_steps: int, dropout: float) -> str:
    """What a compiled suffix step bakes in: cut point, parameter shapes, input shape, optimizer, steps, loss."""
    shapes = hashlib.sha256(json.dumps([(n, p.shape) for n, p in fresh.parameters_and_names()]).encode())
    baked = {k: v for k, v in cfg.optimizer.items() if k not in RESETTABLE_OPTIMIZER_VALUES}
    return json.dumps(["suffix", cut, shapes.hexdigest(), list(acts.center.shape[1:]), baked, batch, total_steps,
                       cfg.label_smoothing, dropout], sort_keys=True)


def finetune_cached(net: nn.Cell, acts: CutActivations, rows: TrainVal, cfg: FinetuneConfig, run: StageRun,
                    dropout: float = 0.0, steps: CompiledSteps = FINETUNE_STEPS, lr_steps: int | None = None
                    ) -> tuple[StageResult, np.ndarray]:
    """Train the last `cfg.unfreeze` blocks + head of `net` on cached activations; `rows` index `acts`.
    Returns the stage result and the best epoch's validation scores; `net` ends with the best weights.
    `run.stop_after=E` (a refit or a cross-validation fold): the schedule of `cfg.epochs`, stopped after epoch E,
    keeping that epoch's weights whatever the validation rows (which may be empty) say. `lr_steps`: the
    learning-rate array is padded to this length (its last value), so folds of slightly different sizes share
    one compiled step (the array's length is part of the graph)."""
    train_rows, y_train, val_rows, y_val, seed = rows.x_train, rows.y_train, rows.x_val, rows.y_val, run.seed
    total = len(net.backbone.features)
    cut = cfg.cut_point(total)
    freeze_backbone_prefix(net, total - cut)
    if cfg.batchnorm == "batch":  # folded (TFLite) BatchNorm re-estimated on this run's training rows first
        trained = list(net.backbone.features.cells())[cut:]
        unfold_batchnorm(trained, trained, acts.center_batch(train_rows[spread(len(train_rows))]))
    fresh = SuffixNet(net.backbone.features, cut, net.head)
    batch = effective_batch_size(cfg.batch_size, len(train_rows))
    steps_per_epoch = len(train_rows) // batch
    lrs = lr_schedule(total_steps=steps_per_epoch * cfg.epochs, **cfg.schedule)
    if lr_steps is not None and lr_steps > len(lrs):  # entries past this fold's steps are never reached
        lrs = np.concatenate([lrs, np.full(lr_steps - len(lrs), lrs[-1], lrs.dtype)])
    key = compiled_key(fresh, cut, acts, cfg, batch, len(lrs), dropout)
    suffix, step = steps.acquire_cell(
        key, fresh, lambda cell: nn.WithLossCell(cell, nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)),
        cfg.optimizer, lrs)
    norms = [c for _, c in suffix.cells_and_names() if isinstance(c, nn.BatchNorm2d | nn.BatchNorm1d)]
    y_train = y_train.astype(np.int32)
    views = acts.views.shape[0]

    def train_mode() -> None:
        suffix.set_train(True)
        if cfg.batchnorm == "frozen":
            for cell in norms:
                cell.set_train(False)

    def batches(epoch: int):
        view_of = np.random.default_rng([seed, 7919, epoch]).integers(views, size=len(train_rows))
        for idx in shuffled_batches(len(train_rows), batch, seed + 1, epoch):  # the uncached path's order
            yield acts.train_batch(train_rows[idx], view_of[idx]), y_train[idx]

    def scores() -> np.ndarray:
        return predict_images(suffix, acts.center_batch(val_rows), batch)

    def evaluate() -> Evaluation:
        return evaluate_scores(scores(), y_val) if len(val_rows) else Evaluation(0.0, 0.0, 0.0, 0)

    result = run_epochs(stage="finetune", trainee=Trainee(suffix, step, train_mode), batches=batches,
                        evaluate=evaluate, plan=EpochPlan(lrs, steps_per_epoch, run.epochs(cfg.epochs)), run=run,
                        keep_best=run.stop_after is None)
    best_scores = scores() if len(val_rows) else np.zeros((0, 0), np.float32)
    copy_parameters(suffix, net)
    return result, best_scores


def copy_parameters(source: nn.Cell, target: nn.Cell) -> None:
    """Values of `source`'s parameters into `target`'s parameters of the same name (the compiled suffix may
    hold an earlier trial's Parameter objects; names are the network's own)."""
    values = {p.name: p for p in source.get_parameters()}
    for param in target.get_parameters():
        if param.name in values and values[param.name] is not param:
            param.set_data(ms.Tensor(values[param.name].asnumpy()))
