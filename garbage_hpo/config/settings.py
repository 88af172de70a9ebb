"""The composed config, read once into frozen, typed settings, with every check of a config value.

Each entry point (train, a sweep trial, reproduce, evaluate, baseline, bench) calls `read_settings(cfg)` (the
sweep also `read_sweep_settings(cfg)`) and hands the objects down: nothing below the entry points reads a
DictConfig. Defaults live in the YAML under conf/ only; a value read here that the YAML lacks is an error naming
its key. Every check raises a ValueError naming the key, before any data or model work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from garbage_hpo.models import (
    ARCHITECTURES,
    NORMALIZATIONS,
    TTA_MODES,
    CompanionChoice,
    FeatureSources,
    HeadSpec,
    choose_companion,
    num_blocks,
    parse_taps,
)
from garbage_hpo.runtime import runs_dir
from garbage_hpo.tracking import hide_passwords
from garbage_hpo.training import FinetuneConfig, StageConfig, check_optimizer, lr_schedule

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
METRICS = {"val_acc": "maximize", "val_top5": "maximize", "val_loss": "minimize", "latency_ms": "minimize",
           "params_m": "minimize"}


@dataclass(frozen=True)
class DataSettings:
    root: str | None  # None: a dataset found in the usual places, else the generated demo set
    image_size: int | None  # None: the weights profile's native size
    batch_size: int  # of the feature extraction
    feature_engine: str
    val_fraction: float
    split_seed: int
    demo_per_class: int
    demo_size: int


@dataclass(frozen=True)
class ModelSettings:
    name: str
    width: float
    pretrained: str | None
    profile: str
    companion: CompanionChoice | None = None  # a second backbone the head reads beside this one (companion.py)


@dataclass(frozen=True)
class HeadSettings:
    reduction: str
    depth: int
    dropout: float
    activation: str
    bias: bool

    def spec(self, num_classes: int, in_features: int) -> HeadSpec:
        return HeadSpec(num_classes=num_classes, in_features=in_features, reduction=self.reduction,
                        depth=self.depth, dropout=self.dropout, activation=self.activation, bias=self.bias)


@dataclass(frozen=True)
class RunSettings:
    """One training configuration, as every layer below the entry points sees it."""

    seed: int
    runs: Path
    data: DataSettings
    model: ModelSettings
    head: HeadSettings
    train: StageConfig
    finetune: FinetuneConfig
    finetune_workers: int
    sources: FeatureSources
    cv_folds: int  # 1: the single split of data.val_fraction; k > 1: k-fold cross-validation
    config: dict = field(repr=False, compare=False)  # the resolved config as recorded: params, model card
    config_yaml: str = field(repr=False, compare=False)  # the same as config.yaml, what reproduce re-reads

    @property
    def finetuning(self) -> bool:
        return self.finetune.epochs > 0

    def with_seed(self, seed: int) -> RunSettings:
        return replace(self, seed=seed)


def read_settings(cfg: DictConfig) -> RunSettings:
    """The config's training settings, every value checked (see the module docstring)."""
    if str(cfg.model.name) not in ARCHITECTURES:
        raise ValueError(f"model.name={cfg.model.name!r}: choose one of {sorted(ARCHITECTURES)}")
    model = ModelSettings(str(cfg.model.name), float(cfg.model.width), cfg.model.pretrained, str(cfg.model.profile),
                          _companion(cfg.model))
    train, finetune = _stage_configs(cfg)
    # what runs record (params, config.yaml, model cards): never a database or server password
    recorded = hide_passwords(OmegaConf.to_container(cfg, resolve=True))
    settings = RunSettings(
        seed=int(cfg.seed), runs=runs_dir(cfg.runs_dir), data=_data_settings(cfg.data), model=model,
        head=_head_settings(cfg.head), train=train, finetune=finetune,
        finetune_workers=_workers(cfg.finetune.workers), sources=_feature_sources(cfg.features, model),
        cv_folds=_cv_folds(cfg.sweep.cv_folds), config=recorded,
        config_yaml=OmegaConf.to_yaml(OmegaConf.create(recorded)))
    _check_run(settings)
    return settings


def _data_settings(node: DictConfig) -> DataSettings:
    size = node.image_size
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 32):
        raise ValueError(f"data.image_size={size!r}: the network needs at least 32 px (null: the weights' own size)")
    return DataSettings(None if node.root is None else str(node.root), size, int(node.batch_size),
                        str(node.feature_engine), float(node.val_fraction), int(node.split_seed),
                        int(node.demo.per_class), int(node.demo.size))


def _head_settings(node: DictConfig) -> HeadSettings:
    head = HeadSettings(str(node.reduction), int(node.depth), float(node.dropout), str(node.activation),
                        bool(node.bias))
    head.spec(num_classes=2, in_features=8)  # HeadSpec checks each value, naming its key
    return head


def _stage_fields(node: DictConfig, optimizer: DictConfig, schedule: DictConfig) -> dict:
    return dict(epochs=int(node.epochs), batch_size=int(node.batch_size),
                optimizer=OmegaConf.to_container(optimizer, resolve=True),
                schedule=OmegaConf.to_container(schedule, resolve=True))


def _stage_configs(cfg: DictConfig) -> tuple[StageConfig, FinetuneConfig]:
    smoothing = float(cfg.train.label_smoothing)
    head = StageConfig(**_stage_fields(cfg.train, cfg.optimizer, cfg.schedule), label_smoothing=smoothing)
    node = cfg.finetune
    ft = FinetuneConfig(**_stage_fields(node, node.optimizer, node.schedule), label_smoothing=smoothing,
                        section="finetune", unfreeze=node.unfreeze, batchnorm=str(node.batchnorm),
                        augment=bool(node.augment), cached_views=node.cached_views, cache_dtype=str(node.cache_dtype))
    return head, ft


def _workers(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"finetune.workers={value!r}: a whole number of processes, 1 or more")
    return value


def _cv_folds(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"sweep.cv_folds={value!r}: a whole number, 1 (one split) or 2 and more (folds)")
    return value


def _companion(node: DictConfig) -> CompanionChoice | None:
    # a config recorded before companions existed read one backbone
    companion = node.get("companion") or {"name": "none"}
    try:
        width = float(companion.get("width", 1.0))
    except (TypeError, ValueError):
        raise ValueError(f"model.companion.width={companion.get('width')!r}: a width such as 1.0") from None
    return choose_companion(companion.get("name"), width, companion.get("pretrained", "auto"), node.pretrained)


def _feature_sources(node: DictConfig, model: ModelSettings) -> FeatureSources:
    normalize, tta = str(node.normalize), str(node.tta)
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"features.normalize={normalize!r}: choose one of {NORMALIZATIONS}")
    if tta not in TTA_MODES:
        raise ValueError(f"features.tta={tta!r}: choose one of {TTA_MODES}")
    blocks = num_blocks(model.name)
    # a config recorded before augmented views existed trained without them
    views, seed = node.get("train_views", 0), node.get("view_seed", 0)
    if isinstance(views, bool) or not isinstance(views, int) or views < 0:
        raise ValueError(f"features.train_views={views!r}: how many augmented views of each training photo the "
                         "head trains on, a whole number (0: the plain photos only)")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"features.view_seed={seed!r}: a whole number, 0 or more (the seed the views' crops are "
                         "drawn from)")
    companion_taps, companion_blocks = (), 0
    if model.companion is not None:
        companion_blocks = num_blocks(model.companion.arch)
        try:
            companion_taps = parse_taps(node.get("companion_taps", "-1"), companion_blocks)
        except ValueError as err:
            raise ValueError(str(err).replace("features.taps", "features.companion_taps")) from None
    return FeatureSources(parse_taps(node.taps, blocks), normalize, blocks, tta, views, seed, companion_taps,
                          companion_blocks)


def _check_run(s: RunSettings) -> None:
    """The checks that span sections: stages, fine-tuning with CV, TTA and taps."""
    if s.train.epochs < 1:
        raise ValueError(f"train.epochs={s.train.epochs}: the head trains for at least 1 epoch")
    if s.sources.tta != "none" and s.cv_folds == 1:
        raise ValueError(f"features.tta={s.sources.tta} is measured by cross-validation: set sweep.cv_folds=5 (or "
                         "another k > 1)")
    if s.sources.tta != "none" and s.finetuning:
        raise ValueError(f"features.tta={s.sources.tta}: test-time augmentation is measured on cached "
                         "head features, which fine-tuning (finetune.epochs > 0) changes; use features.tta=none "
                         "with fine-tuning, or finetune=none with TTA")
    if s.sources.train_views and (s.cv_folds == 1 or s.finetuning):
        raise ValueError(f"features.train_views={s.sources.train_views}: augmented feature views train a head on "
                         "cached features and are measured by cross-validation: set sweep.cv_folds=5 (or another "
                         "k > 1) and finetune=none, or features.train_views=0")
    if s.model.companion is not None and s.finetuning:
        raise ValueError(f"model.companion={s.model.companion.arch}: the head reads two frozen backbones, and "
                         "fine-tuning (finetune.epochs > 0) trains one; use model.companion.name=none with "
                         "fine-tuning, or finetune=none")
    if not s.sources.plain and s.finetuning:
        raise ValueError("features.taps/features.normalize: fine-tuning (finetune.epochs > 0) trains the classic "
                         "head on the last block; use features.taps=-1 features.normalize=none, or finetune=none")
    stages: list[tuple[str, StageConfig]] = [("", s.train)]
    if s.finetuning:
        s.finetune.blocks_to_train(s.sources.blocks)
        if s.finetune.batch_size % s.finetune_workers:
            raise ValueError(f"finetune.batch_size={s.finetune.batch_size} must be a multiple of "
                             f"finetune.workers={s.finetune_workers}")
        stages.append(("finetune.", s.finetune))
        if s.cv_folds > 1:
            _check_cv_finetune(s)
    for prefix, stage in stages:
        try:
            lr_schedule(total_steps=1, **stage.schedule)
            check_optimizer(**stage.optimizer)
        except ValueError as err:  # messages name `schedule.x` / `optimizer.x`; say which section's
            raise ValueError(f"{prefix}{err}") from err
        except TypeError as err:
            raise ValueError(f"{prefix}optimizer or {prefix}schedule has an unknown key: {err}") from err


def _check_cv_finetune(s: RunSettings) -> None:
    """Cross-validated fine-tuning runs on the cut-point cache only (k fine-tunes on images cost minutes each)."""
    reason = s.finetune.cache_unused_because(s.finetune_workers, s.sources.blocks)
    if reason is not None:
        raise ValueError(f"sweep.cv_folds>1 with finetune.epochs>0 fine-tunes on the cut-point cache, which {reason}"
                         " rules out: use finetune=last_blocks with finetune.cached_views>0 and finetune.workers=1")


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: str


@dataclass(frozen=True)
class SweepSettings:
    """How a sweep runs and records (`sweep.*`, `tracking.*`); its trials' training is a RunSettings each."""

    name: str
    study_name: str
    storage: str  # an Optuna storage URL
    n_trials: int
    timeout: float | None
    max_failures: int
    sampler: str
    pruner: str
    pruner_startup_trials: int
    pruner_warmup_epochs: int | None
    heartbeat_interval: int | None
    heartbeat_grace: float | None  # seconds a RUNNING trial may stay silent (None: twice the interval)
    allow_space_change: bool
    objectives: tuple[Objective, ...]
    enqueue: tuple[dict, ...]
    ensemble: int | str  # top-k trials, or "caruana"
    probe: bool
    verbose: bool
    trial_plots: bool
    save_checkpoints: bool
    tracking_uri: str
    experiment: str

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1

    @property
    def grace_seconds(self) -> float:
        return float(self.heartbeat_grace or 2 * (self.heartbeat_interval or 30))


def read_sweep_settings(cfg: DictConfig, tracking_uri: str) -> SweepSettings:
    """`sweep.*` checked: budgets, ensemble size, objectives, and a study name that stays inside runs/."""
    s = cfg.sweep
    for key in ("n_trials", "max_failures"):
        _whole(f"sweep.{key}", s[key])
    timeout = s.timeout
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
        raise ValueError(f"sweep.timeout={timeout!r}: seconds, more than 0 (or null for no limit)")
    name = str(s.study_name or s.name)
    if not SAFE_NAME.match(name) or ".." in name:
        raise ValueError(f"sweep.study_name={name!r}: letters, digits, '_', '-' and '.' only (it names a folder "
                         "under runs/sweeps/, which it must not leave)")
    return SweepSettings(
        name=str(s.name), study_name=name,
        storage=str(s.storage or f"sqlite:///{runs_dir(cfg.runs_dir) / 'optuna.db'}"), n_trials=int(s.n_trials),
        timeout=timeout, max_failures=int(s.max_failures), sampler=str(s.sampler), pruner=str(s.pruner),
        pruner_startup_trials=int(s.pruner_startup_trials), pruner_warmup_epochs=s.pruner_warmup_epochs,
        heartbeat_interval=s.heartbeat_interval, heartbeat_grace=s.heartbeat_grace,
        allow_space_change=bool(s.allow_space_change), objectives=_objectives(s.objectives),
        enqueue=tuple(OmegaConf.to_container(e, resolve=True) for e in s.enqueue or []),
        ensemble=ensemble_setting(s.ensemble), probe=bool(s.probe), verbose=bool(s.verbose),
        trial_plots=bool(s.trial_plots), save_checkpoints=bool(s.save_checkpoints), tracking_uri=tracking_uri,
        experiment=str(cfg.tracking.experiment))


def _whole(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key}={value!r}: a whole number, 0 or more")
    return value


def _objectives(entries: Any) -> tuple[Objective, ...]:
    out = []
    for i, entry in enumerate(entries):
        metric, direction = str(entry.metric), str(entry.direction)
        if metric not in METRICS:
            raise ValueError(f"sweep.objectives[{i}].metric={metric!r}: choose one of {sorted(METRICS)}")
        if direction not in ("maximize", "minimize"):
            raise ValueError(f"sweep.objectives[{i}].direction={direction!r}: maximize or minimize")
        out.append(Objective(metric, direction))
    if not out:
        raise ValueError("sweep.objectives: at least one objective is needed")
    return tuple(out)


def ensemble_setting(value: Any, key: str = "sweep.ensemble") -> int | str:
    """What `make reproduce-best` combines: the number of top trials (1: the best trial alone), or `caruana`
    (ensemble selection over every head-only CV trial, selection/ensemble_selection.py); `value` may be the
    text of a command-line argument."""
    if value == "caruana":
        return value
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise ValueError(f"{key}={value!r}: the number of top trials to combine (1: none), or caruana") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key}={value!r}: the number of top trials `make reproduce-best` combines, 1 or more "
                         "(1: the best trial alone), or caruana")
    return value
