"""Cross-validated fine-tuning: the head, then the last backbone blocks on the cut-point cache, fold by fold.

Each fold trains the classic head on its training photos for all `train.epochs` (the last epoch kept, never
the fold's best: choosing per fold would select on the photos it then reports), then fine-tunes the last
`finetune.unfreeze` blocks from that head on the cut-point cache (training/cut_cache.py: built once for every
photo of train/, so all folds and trials share it). A fold's curve is its validation accuracy after every
head epoch and then every fine-tune epoch; the fold-mean curve picks ONE global epoch count, `refit_epochs`,
exactly as for the head alone. A `refit_epochs` within the head epochs means the head alone won on these
folds, and the refit trains the head alone.

Fine-tuning trials are not pruned by epoch: their head stage is the classic head's, which a pruner would
compare with other trials' (often tapped) heads at the same steps and cut before the fine-tuning that is
the point of the trial. The folds' learning-rate schedules are padded to one length so one compiled step
serves every fold (a fold's training set differs by a few photos).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import mindspore as ms
import numpy as np
from mindspore import nn

from garbage_hpo.config import RunSettings
from garbage_hpo.data import positions
from garbage_hpo.models import HeadSpec, build_backbone, build_network
from garbage_hpo.pipeline import Prepared, cut_activations, head_inputs
from garbage_hpo.selection.cv import CVResult
from garbage_hpo.selection.folds import Fold
from garbage_hpo.training import (
    CutActivations,
    EpochCallback,
    EpochResult,
    FinetuneConfig,
    StageRun,
    TrainVal,
    cache_rows,
    effective_batch_size,
    finetune_cached,
    restore,
    snapshot,
    train_head,
)

log = logging.getLogger("garbage_hpo.selection")


def fresh_network(prepared: Prepared, spec: HeadSpec, classifier_state: dict[str, np.ndarray],
                  settings: RunSettings) -> nn.Cell:
    """The pretrained backbone with a head holding `classifier_state` (a stage-1 result)."""
    net = build_network(build_backbone(prepared.spec), spec, settings.sources, None)
    restore(net.head, classifier_state)
    net.set_train(False)
    return net


def lr_steps_for(ft: FinetuneConfig, folds: list[Fold]) -> int:
    """The longest fold's fine-tuning schedule length: every fold's schedule is padded to it."""
    return max(len(f.train) // effective_batch_size(ft.batch_size, len(f.train)) for f in folds) * ft.epochs


def train_fold(settings: RunSettings, prepared: Prepared, fold: Fold, cut: tuple[CutActivations, dict[int, int]],
               lr_steps: int, on_epoch: EpochCallback | None = None) -> list[EpochResult]:
    """One fold: head for all train.epochs (last kept), then fine-tuning; the validation result of every epoch."""
    head_cfg, ft_cfg = settings.train, settings.finetune
    acts, rows = cut
    seed = settings.seed
    ms.set_seed(seed)  # every fold starts from the initial weights one training from this seed would have
    np.random.seed(seed)
    pooled, labels = head_inputs(settings, prepared), prepared.labels
    spec = settings.head.spec(prepared.index.num_classes, pooled.shape[1])
    classifier, head = train_head(spec, TrainVal(pooled[fold.train], labels[fold.train], pooled[fold.val],
                                                 labels[fold.val]), head_cfg,
                                  StageRun(seed, on_epoch=on_epoch, stop_after=head_cfg.epochs))
    net = fresh_network(prepared, spec, snapshot(classifier), settings)
    tuned, _ = finetune_cached(net, acts, TrainVal(cache_rows(rows, fold.train), labels[fold.train],
                                                   cache_rows(rows, fold.val), labels[fold.val]), ft_cfg,
                               StageRun(seed, head_cfg.epochs, on_epoch, stop_after=ft_cfg.epochs),
                               dropout=settings.head.dropout, lr_steps=lr_steps)
    return head.history + tuned.history


def cross_validate_finetune(settings: RunSettings, prepared: Prepared, folds: list[Fold],
                            between_epochs: Callable[[], None] | None = None) -> CVResult:
    """Every fold's curve over the head epochs and then the fine-tuning epochs (see the module docstring).
    `between_epochs()` runs after every epoch of every fold (a sweep's stop check: it may raise)."""
    start = time.perf_counter()
    cut = cut_activations(settings, prepared)  # read_settings has checked that the cache applies
    lr_steps = lr_steps_for(settings.finetune, folds)
    head_epochs = settings.train.epochs
    curves, top5, losses, scores = [], [], [], []
    for i, fold in enumerate(folds):
        history = train_fold(settings, prepared, fold, cut, lr_steps,
                             None if between_epochs is None else lambda _result: between_epochs())
        curves.append([r.val.accuracy for r in history])
        top5.append([r.val.top5 for r in history])
        losses.append([r.val.loss for r in history])
        scores.append([r.val.scores for r in history])
        log.info("fold %d/%d: val_acc %.4f after the head, %.4f after fine-tuning (%.0fs so far)", i + 1, len(folds),
                 curves[-1][head_epochs - 1], curves[-1][-1], time.perf_counter() - start)
    return CVResult(np.array(curves), np.array(top5), np.array(losses), [len(f.val) for f in folds],
                    time.perf_counter() - start, epoch_scores(scores), head_epochs=head_epochs)


def epoch_scores(fold_scores: list[list[np.ndarray | None]]) -> list[np.ndarray] | None:
    """Per epoch, every fold's validation scores as one (folds, largest fold, classes) array (rows past a
    fold's end: 0), the layout the head's fold stack keeps; None if an epoch kept none."""
    if any(s is None for history in fold_scores for s in history):
        return None
    largest = max(history[0].shape[0] for history in fold_scores)
    out = []
    for epoch in range(len(fold_scores[0])):
        at = np.zeros((len(fold_scores), largest, fold_scores[0][epoch].shape[1]), np.float32)
        for f, history in enumerate(fold_scores):
            at[f, : len(history[epoch])] = history[epoch]
        out.append(at)
    return out


def split_refit_epochs(settings: RunSettings, epochs: int) -> tuple[int, int]:
    """(head epochs, fine-tuning epochs) of a global epoch count chosen by cross-validation."""
    head_epochs = settings.train.epochs
    if not settings.finetuning or epochs <= head_epochs:
        return epochs, 0
    return head_epochs, epochs - head_epochs


def refit_finetune(settings: RunSettings, prepared: Prepared, net: nn.Cell, epochs: int) -> None:
    """Fine-tune `net` (its head refit on every training photo) on every training photo's cached views for
    `epochs` epochs of the finetune.epochs schedule; no photo is looked at to choose anything."""
    head_cfg, ft_cfg = settings.train, settings.finetune
    acts, rows = cut_activations(settings, prepared)
    everything = positions(prepared.index, "train")
    start = time.perf_counter()
    finetune_cached(net, acts, TrainVal(cache_rows(rows, everything), prepared.labels[everything],
                                        np.zeros(0, np.int64), np.zeros(0, np.int32)), ft_cfg,
                    StageRun(settings.seed, head_cfg.epochs, stop_after=epochs), dropout=settings.head.dropout)
    net.set_train(False)
    log.info("refit fine-tuning on all %d training photos for %d epochs (%.1fs)", len(everything), epochs,
             time.perf_counter() - start)
