"""A run's photos at the cut point: the cut-point cache (training/cut_cache.py) built for a configuration, and the
fine-tuning stage that trains on it when it applies."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from mindspore import nn

from garbage_hpo.config import RunSettings
from garbage_hpo.data import positions
from garbage_hpo.pipeline.preparation import Prepared
from garbage_hpo.training import (
    CutActivations,
    CutCache,
    CutCacheSpec,
    EpochCallback,
    StageResult,
    StageRun,
    TrainVal,
    cache_rows,
    finetune_cached,
)

log = logging.getLogger(__name__)


def cut_activations(settings: RunSettings, prepared: Prepared) -> tuple[CutActivations, dict[int, int]]:
    """The cache over every photo of train/ (so any split or seed of the split reuses it), and each photo's
    row in it by sample position."""
    ft = settings.finetune
    train_positions = positions(prepared.index, "train")
    spec = CutCacheSpec(cut=ft.cut_point(settings.sources.blocks), image_size=prepared.image_size,
                        views=ft.cached_views if ft.augment else 1, seed=settings.seed, augment=ft.augment,
                        dtype=ft.cache_dtype, engine=settings.data.feature_engine,
                        batch_size=settings.data.batch_size)
    samples = [prepared.index.samples[i] for i in train_positions]
    acts = CutCache(settings.runs / "cache" / "cut", prepared.spec, spec, samples).ensure()
    return acts, {int(p): row for row, p in enumerate(train_positions)}


def finetune_from_cache(settings: RunSettings, prepared: Prepared, net: nn.Cell, step_offset: int,
                        on_epoch: EpochCallback | None) -> tuple[StageResult, Callable[[], np.ndarray]] | None:
    """Fine-tune on the cut-point cache when it applies (None: the caller fine-tunes on images)."""
    reason = settings.finetune.cache_unused_because(settings.finetune_workers, len(net.backbone.features))
    if reason is not None:
        log.info("fine-tuning on images (%s)", reason)
        return None
    acts, row_of = cut_activations(settings, prepared)
    split, labels = prepared.split, prepared.labels
    train_rows, val_rows = cache_rows(row_of, split.train), cache_rows(row_of, split.val)
    result, best_scores = finetune_cached(
        net, acts, TrainVal(train_rows, labels[split.train], val_rows, labels[split.val]), settings.finetune,
        StageRun(settings.seed, step_offset, on_epoch), settings.head.dropout)
    return result, lambda: best_scores
