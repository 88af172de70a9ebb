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
from collections.abc import Callable

import mindspore as ms
import numpy as np
from mindspore import nn
from omegaconf import DictConfig

from garbage_hpo.data.dataset import positions
from garbage_hpo.metrics import Evaluation, evaluate_scores
from garbage_hpo.paths import runs_dir
from garbage_hpo.preparation import Prepared
from garbage_hpo.training.cut_cache import CutActivations, CutCache, CutCacheSpec, SuffixNet
from garbage_hpo.training.finetune_stage import FinetuneConfig, freeze_backbone_prefix, predict_images
from garbage_hpo.training.head_stage import (
    RESETTABLE_OPTIMIZER_VALUES,
    CompiledSteps,
    effective_batch_size,
    shuffled_batches,
)
from garbage_hpo.training.loop import EpochCallback, EpochPlan, StageResult, StageRun, Trainee, TrainVal, run_epochs
from garbage_hpo.training.schedule import lr_schedule

log = logging.getLogger(__name__)
FINETUNE_STEPS = CompiledSteps(capacity=4)


def cut_point(total_blocks: int, cfg: FinetuneConfig) -> int:
    """Index of the first trained block."""
    return total_blocks - cfg.blocks_to_train(total_blocks)


def cache_unused_because(cfg: DictConfig, ft: FinetuneConfig, total_blocks: int) -> str | None:
    """Why fine-tuning runs on images this time, or None when it uses the cut-point cache."""
    if ft.cached_views == 0:
        return "finetune.cached_views=0"
    if int(cfg.finetune.get("workers", 1) or 1) > 1:
        return "data-parallel workers read images"
    if cut_point(total_blocks, ft) == 0:
        return "finetune.unfreeze=all leaves no frozen prefix to cache"
    return None


def cut_activations(cfg: DictConfig, prepared: Prepared, ft: FinetuneConfig, total_blocks: int
                    ) -> tuple[CutActivations, dict[int, int]]:
    """The cache over every photo of train/ (so any split or seed of the split reuses it), and each photo's
    row in it by sample position."""

    train_positions = positions(prepared.index, "train")
    spec = CutCacheSpec(cut=cut_point(total_blocks, ft), image_size=prepared.image_size,
                        views=ft.cached_views if ft.augment else 1, seed=int(cfg.seed), augment=ft.augment,
                        dtype=ft.cache_dtype, engine=str(cfg.data.feature_engine),
                        batch_size=int(cfg.data.batch_size))
    samples = [prepared.index.samples[i] for i in train_positions]
    acts = CutCache(runs_dir(cfg.runs_dir) / "cache" / "cut", prepared.spec, spec, samples).ensure()
    return acts, {int(p): row for row, p in enumerate(train_positions)}


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
    cut = cut_point(total, cfg)
    freeze_backbone_prefix(net, total - cut)
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


def finetune_from_cache(cfg: DictConfig, prepared: Prepared, net: nn.Cell, ft: FinetuneConfig, seed: int,
                        step_offset: int, on_epoch: EpochCallback | None
                        ) -> tuple[StageResult, Callable[[], np.ndarray]] | None:
    """Fine-tune on the cut-point cache when it applies (None: the caller fine-tunes on images)."""
    total = len(net.backbone.features)
    reason = cache_unused_because(cfg, ft, total)
    if reason is not None:
        log.info("fine-tuning on images (%s)", reason)
        return None
    acts, row_of = cut_activations(cfg, prepared, ft, total)
    split, labels = prepared.split, prepared.labels
    train_rows, val_rows = cache_rows(row_of, split.train), cache_rows(row_of, split.val)
    result, best_scores = finetune_cached(
        net, acts, TrainVal(train_rows, labels[split.train], val_rows, labels[split.val]), ft,
        StageRun(seed, step_offset, on_epoch), float(cfg.head.dropout))
    return result, lambda: best_scores
