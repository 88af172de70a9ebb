"""Training stages: the head on cached features (stage 1) and backbone fine-tuning (stage 2).

The names below are this package's public face, each loaded on first use (runtime/lazy.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from garbage_hpo.runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from garbage_hpo.training.batches import effective_batch_size
    from garbage_hpo.training.cached_finetune import FINETUNE_STEPS, cache_rows, finetune_cached
    from garbage_hpo.training.compiled_steps import COMPILED_STEPS, release_runtime_memory
    from garbage_hpo.training.cut_cache import CutActivations, CutCache, CutCacheSpec
    from garbage_hpo.training.data_parallel import DataParallelJob, finetune_data_parallel
    from garbage_hpo.training.finetune_stage import FinetuneConfig, ImageInput, finetune
    from garbage_hpo.training.fold_stack import FoldCurves, FoldInputs, train_fold_stack
    from garbage_hpo.training.head_stage import StageConfig, train_head
    from garbage_hpo.training.loop import EpochCallback, EpochResult, StageResult, StageRun, TrainVal, restore, snapshot
    from garbage_hpo.training.optim import check_optimizer
    from garbage_hpo.training.schedule import lr_schedule

_WHERE = {
    "COMPILED_STEPS": "compiled_steps",
    "CutActivations": "cut_cache",
    "CutCache": "cut_cache",
    "CutCacheSpec": "cut_cache",
    "DataParallelJob": "data_parallel",
    "EpochCallback": "loop",
    "EpochResult": "loop",
    "FINETUNE_STEPS": "cached_finetune",
    "FinetuneConfig": "finetune_stage",
    "FoldCurves": "fold_stack",
    "FoldInputs": "fold_stack",
    "ImageInput": "finetune_stage",
    "StageConfig": "head_stage",
    "StageResult": "loop",
    "StageRun": "loop",
    "TrainVal": "loop",
    "cache_rows": "cached_finetune",
    "check_optimizer": "optim",
    "effective_batch_size": "batches",
    "finetune": "finetune_stage",
    "finetune_cached": "cached_finetune",
    "finetune_data_parallel": "data_parallel",
    "lr_schedule": "schedule",
    "release_runtime_memory": "compiled_steps",
    "restore": "loop",
    "snapshot": "loop",
    "train_fold_stack": "fold_stack",
    "train_head": "head_stage",
}
__all__ = [
    "COMPILED_STEPS",
    "CutActivations",
    "CutCache",
    "CutCacheSpec",
    "DataParallelJob",
    "EpochCallback",
    "EpochResult",
    "FINETUNE_STEPS",
    "FinetuneConfig",
    "FoldCurves",
    "FoldInputs",
    "ImageInput",
    "StageConfig",
    "StageResult",
    "StageRun",
    "TrainVal",
    "cache_rows",
    "check_optimizer",
    "effective_batch_size",
    "finetune",
    "finetune_cached",
    "finetune_data_parallel",
    "lr_schedule",
    "release_runtime_memory",
    "restore",
    "snapshot",
    "train_fold_stack",
    "train_head",
]
__getattr__ = lazy_exports(__name__, _WHERE)
