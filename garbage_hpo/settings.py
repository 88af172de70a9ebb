"""The config read into the training stages' settings, and every check of a config value that can be made
before any data or model work, each naming its key."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from garbage_hpo.models.factory import ARCHITECTURES, num_blocks
from garbage_hpo.models.head import HeadSpec
from garbage_hpo.taps import feature_sources
from garbage_hpo.training.cached_finetune import cache_unused_because
from garbage_hpo.training.finetune_stage import FinetuneConfig
from garbage_hpo.training.head_stage import StageConfig
from garbage_hpo.training.optim import check_optimizer
from garbage_hpo.training.schedule import lr_schedule


def head_spec(cfg: DictConfig, num_classes: int, in_features: int) -> HeadSpec:
    h = cfg.head
    return HeadSpec(num_classes=num_classes, in_features=in_features, reduction=str(h.reduction),
                    depth=int(h.depth), dropout=float(h.dropout), activation=str(h.activation), bias=bool(h.bias))


def _stage_fields(node: DictConfig, optimizer: DictConfig, schedule: DictConfig) -> dict:
    return dict(epochs=int(node.epochs), batch_size=int(node.batch_size),
                optimizer=OmegaConf.to_container(optimizer, resolve=True),
                schedule=OmegaConf.to_container(schedule, resolve=True))


def stage_configs(cfg: DictConfig) -> tuple[StageConfig, FinetuneConfig]:
    smoothing = float(cfg.train.label_smoothing)
    head = StageConfig(**_stage_fields(cfg.train, cfg.optimizer, cfg.schedule), label_smoothing=smoothing)
    ft = FinetuneConfig(**_stage_fields(cfg.finetune, cfg.finetune.optimizer, cfg.finetune.schedule),
                        label_smoothing=smoothing, section="finetune", unfreeze=cfg.finetune.unfreeze,
                        batchnorm=str(cfg.finetune.get("batchnorm", "batch")),
                        augment=bool(cfg.finetune.get("augment", True)),
                        cached_views=cfg.finetune.get("cached_views", 8),
                        cache_dtype=str(cfg.finetune.get("cache_dtype", "float16")))
    return head, ft


def cv_folds_setting(cfg: DictConfig) -> int:
    """`sweep.cv_folds` (1: the single split of data.val_fraction), validated."""
    node = cfg.get("sweep") or {}
    k = node.get("cv_folds", 1)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"sweep.cv_folds={k!r}: a whole number, 1 (one split) or 2 and more (folds)")
    if k > 1 and int(cfg.finetune.epochs) > 0:
        check_cv_finetune(cfg, stage_configs(cfg)[1])
    return k


def check_cv_finetune(cfg: DictConfig, ft: FinetuneConfig) -> None:
    """Cross-validated fine-tuning runs on the cut-point cache only (k fine-tunes on images cost minutes each)."""
    reason = cache_unused_because(cfg, ft, num_blocks(str(cfg.model.name)))
    if reason is not None:
        raise ValueError(f"sweep.cv_folds>1 with finetune.epochs>0 fine-tunes on the cut-point cache, which {reason}"
                         " rules out: use finetune=last_blocks with finetune.cached_views>0 and finetune.workers=1")


def validate_config(cfg: DictConfig) -> None:
    """Reject unknown names and out-of-range values before any data or model work, naming the key."""
    head_spec(cfg, num_classes=2, in_features=8)
    head, ft = stage_configs(cfg)
    if head.epochs < 1:
        raise ValueError(f"train.epochs={head.epochs}: the head trains for at least 1 epoch")
    cv_folds_setting(cfg)
    if feature_sources(cfg).tta != "none" and cv_folds_setting(cfg) == 1:
        raise ValueError("features.tta=flip is measured by cross-validation: set sweep.cv_folds=5 (or another k > 1)")
    if feature_sources(cfg).tta != "none" and ft.epochs > 0:
        raise ValueError(f"features.tta={feature_sources(cfg).tta}: test-time augmentation is measured on cached "
                         "head features, which fine-tuning (finetune.epochs > 0) changes; use features.tta=none "
                         "with fine-tuning, or finetune=none with TTA")
    if not feature_sources(cfg).plain and ft.epochs > 0:
        raise ValueError("features.taps/features.normalize: fine-tuning (finetune.epochs > 0) trains the classic "
                         "head on the last block; use features.taps=-1 features.normalize=none, or finetune=none")
    stages: list[tuple[str, StageConfig]] = [("", head)]
    if ft.epochs > 0:
        ft.blocks_to_train(num_blocks(str(cfg.model.name)) if str(cfg.model.name) in ARCHITECTURES else 19)
        workers = cfg.finetune.get("workers", 1)
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"finetune.workers={workers!r}: a whole number of processes, 1 or more")
        if ft.batch_size % workers:
            raise ValueError(f"finetune.batch_size={ft.batch_size} must be a multiple of finetune.workers={workers}")
        stages.append(("finetune.", ft))
    for prefix, stage in stages:
        try:
            lr_schedule(total_steps=1, **stage.schedule)
            check_optimizer(**stage.optimizer)
        except ValueError as err:  # messages name `schedule.x` / `optimizer.x`; say which section's
            raise ValueError(f"{prefix}{err}") from err
        except TypeError as err:
            raise ValueError(f"{prefix}optimizer or {prefix}schedule has an unknown key: {err}") from err

