"""One training run, end to end: data -> cached features -> head -> optional fine-tune -> metrics -> record.

`prepare(cfg)` does the work that does not depend on training hyperparameters (dataset indexing, split,
backbone features); `train(cfg, prepared, tracker)` trains and evaluates one configuration. A sweep calls
`prepare` once and `train` per trial.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mindspore as ms
import numpy as np
from mindspore import nn
from omegaconf import DictConfig, OmegaConf

from garbage_hpo.data.dataset import DatasetError, DatasetIndex, Split, index_dataset, split_dataset
from garbage_hpo.data.images import preprocess, read_rgb
from garbage_hpo.data.resolve import resolve_root
from garbage_hpo.features import FeatureSet, cached_features
from garbage_hpo.files import check_room, writing
from garbage_hpo.metric_names import MODEL, class_labels, per_category_metrics, per_class_metrics
from garbage_hpo.metrics import (
    confusion_matrix,
    evaluate_scores,
    per_category_accuracy,
    per_class_accuracy,
)
from garbage_hpo.model_card import write_card
from garbage_hpo.models.factory import (
    ARCHITECTURES,
    BackboneSpec,
    build_backbone,
    num_blocks,
    resolve_backbone_spec,
)
from garbage_hpo.models.head import HeadSpec
from garbage_hpo.models.tapped import build_network
from garbage_hpo.selection.folds import cv_folds_setting
from garbage_hpo.stats import wilson
from garbage_hpo.taps import feature_sources, head_inputs, standardizer
from garbage_hpo.tracking import Tracker, flatten, git_commit
from garbage_hpo.training.cached_finetune import finetune_from_cache
from garbage_hpo.training.data_parallel import DataParallelJob, finetune_data_parallel
from garbage_hpo.training.finetune_stage import FinetuneConfig, finetune, predict_images
from garbage_hpo.training.head_stage import StageConfig, train_head
from garbage_hpo.training.loop import EpochCallback, EpochResult, StageResult, restore, snapshot
from garbage_hpo.training.optim import check_optimizer
from garbage_hpo.training.schedule import lr_schedule

log = logging.getLogger(__name__)
CONFUSION_JSON = "confusion_matrix.json"  # rows: true class, columns: predicted


@dataclass
class Prepared:
    index: DatasetIndex
    split: Split
    spec: BackboneSpec
    image_size: int
    features: FeatureSet
    seconds: float
    # other feature sets of the same photos, loaded when a config needs them (taps.py): "blocks" (every
    # block's pooled outputs), "flip" and "blocks-flip" (of the mirrored photos)
    more_features: dict[str, FeatureSet] = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        return np.array([s.label for s in self.index.samples], np.int32)


@dataclass
class TrainResult:
    val_acc: float
    val_top5: float
    val_loss: float
    best_stage: str
    best_epoch: int
    history: list[EpochResult]
    per_class: dict[str, float]
    per_category: dict[str, float]
    checkpoint: Path | None
    seconds: float
    run_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def runs_dir(cfg: DictConfig) -> Path:
    return Path(str(cfg.runs_dir)).absolute()


def prepare(cfg: DictConfig) -> Prepared:
    start = time.perf_counter()
    validate_config(cfg)
    runs = runs_dir(cfg)
    index, spec = dataset_and_spec(cfg)
    root = index.root
    image_size = int(cfg.data.image_size or spec.profile.native_size)
    if image_size < 32:
        raise ValueError(f"data.image_size={image_size}: the network needs at least 32 px")
    features = cached_features(index, spec, image_size, runs / "cache" / "features", int(cfg.data.batch_size),
                               str(cfg.data.feature_engine))
    if features.failed:
        keep = np.array([i not in features.failed for i in range(len(index.samples))])
        index = index.without(features.failed)
        features = FeatureSet(features.mean[keep], features.max[keep], features.failed, features.from_cache,
                              features.extract_seconds)
    for path, reason in index.skipped:
        log.warning("skipped %s: %s", path, reason)
    present = {s.label for s in index.samples if s.subset == "train"}
    empty = [c.folder for c in index.classes if c.index not in present]
    if empty:
        raise DatasetError(f"data.root={root}: classes {empty} have no usable training images left")
    warn_single_photo_classes(index)
    leaks = index.train_val_duplicates()
    if leaks:
        log.warning("data: %d photos of %s/val are exact copies of train photos; the test accuracy is inflated "
                    "(python -m garbage_hpo.data check data.root=%s lists them)", leaks, root, root)
    split = split_dataset(index, float(cfg.data.val_fraction), int(cfg.data.split_seed))
    log.info("data: %s%s, %d classes, %d train / %d val images%s, %d skipped", root,
             " (DEMO)" if index.is_demo else "", index.num_classes, len(split.train), len(split.val),
             f" (+ {len(split.test)} test photos in val/, scored once at the end)" if len(split.test) else "",
             len(index.skipped))
    return Prepared(index, split, spec, image_size, features, time.perf_counter() - start)


def warn_single_photo_classes(index: DatasetIndex) -> None:
    distinct: dict[int, set[str]] = {}
    for s in index.samples:
        if s.subset == "train":
            distinct.setdefault(s.label, set()).add(s.digest)
    single = [c.folder for c in index.classes if len(distinct.get(c.index, ())) == 1]
    if single:
        log.warning("data: classes %s have a single distinct photo in train/: it is always trained on, never "
                    "validated (per-class accuracy: none), and k-fold CV refuses them", single)


def dataset_and_spec(cfg: DictConfig) -> tuple[DatasetIndex, BackboneSpec]:
    """The indexed photos (real, or the generated demo set) and the backbone the config asks for."""
    runs = runs_dir(cfg)
    root, is_demo = resolve_root(cfg.data.root, runs / "demo_data", cfg.data.demo.per_class, cfg.data.demo.size)
    index = index_dataset(root, is_demo=is_demo)
    spec = resolve_backbone_spec(float(cfg.model.width), cfg.model.pretrained, str(cfg.model.profile),
                                 str(cfg.model.name))
    return index, spec


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


def run_tags(cfg: DictConfig, prepared: Prepared) -> dict[str, str]:
    return {
        "hpo.git_commit": git_commit(),
        "hpo.data_root": str(prepared.index.root),
        "hpo.data_sha256": prepared.index.fingerprint(),
        "hpo.data": "demo" if prepared.index.is_demo else "real",
        "hpo.weights_source": prepared.spec.weights_source,
        "hpo.weights_sha256": prepared.spec.weights_sha256 or "none",
        "hpo.weights_profile": prepared.spec.profile.name,
        "hpo.image_size": str(prepared.image_size),
        "hpo.skipped_files": str(len(prepared.index.skipped)),
        "hpo.train_val_duplicates": str(prepared.index.train_val_duplicates()),
        "hpo.features_cached": str(prepared.features.from_cache).lower(),
    }


def load_images(prepared: Prepared, positions: np.ndarray) -> list[np.ndarray]:
    return [read_rgb(prepared.index.samples[i].path) for i in positions]


def train(cfg: DictConfig, prepared: Prepared, tracker: Tracker | None = None,
          on_epoch: EpochCallback | None = None, save_checkpoint: bool = True, plots: bool = True,
          evaluate_test: bool = True) -> TrainResult:
    """Train and evaluate one configuration; `plots=False` records the confusion matrix as numbers only (a sweep
    renders the best trial's, saving about 0.6 s of matplotlib per trial). `evaluate_test` scores the final
    model once on the test set (the data's val/ folder, if any); sweep trials never look at it."""
    start = time.perf_counter()
    seed = int(cfg.seed)
    ms.set_seed(seed)
    np.random.seed(seed)
    head_cfg, ft_cfg = stage_configs(cfg)
    labels = prepared.labels
    split = prepared.split
    sources = feature_sources(cfg)
    pooled = head_inputs(cfg, prepared)
    scaler = standardizer(sources, pooled[split.train])
    if scaler is not None:
        pooled = scaler(pooled)
    spec = head_spec(cfg, prepared.index.num_classes, pooled.shape[1])

    if tracker is not None:
        tracker.log_params(flatten(OmegaConf.to_container(cfg, resolve=True)))
        tracker.set_tags(run_tags(cfg, prepared))

    def record(result: EpochResult) -> None:
        log.info("%s epoch %d: train_loss %.4f val_acc %.4f val_loss %.4f lr %.2e (%.2fs)", result.stage,
                 result.epoch, result.train_loss, result.val.accuracy, result.val.loss, result.lr, result.seconds)
        if tracker is not None:
            tracker.log_metrics(result.metrics(), step=result.step)
        if on_epoch is not None:
            on_epoch(result)

    classifier, head_result = train_head(spec, pooled[split.train], labels[split.train], pooled[split.val],
                                         labels[split.val], head_cfg, seed, record)
    history = list(head_result.history)
    best_stage, best = "head", head_result.best
    y_val = labels[split.val]
    val_scores = classifier(ms.Tensor(pooled[split.val])).asnumpy()
    net: nn.Cell | None = None

    if ft_cfg.epochs > 0 or save_checkpoint:
        net = build_network(build_backbone(prepared.spec), spec, sources, scaler)
        restore(net.head, head_result.best_state)
        net.set_train(False)
    if ft_cfg.epochs > 0:
        assert net is not None
        stage1_state = snapshot(net)
        ft = finetune_from_cache(cfg, prepared, net, ft_cfg, seed, head_cfg.epochs, record) or \
            finetune_on_images(cfg, prepared, net, spec, ft_cfg, seed, head_cfg.epochs, record)
        ft_result, ft_scores = ft
        history += ft_result.history
        if ft_result.best and best and ft_result.best.val.accuracy >= best.val.accuracy:
            best_stage, best = "finetune", ft_result.best
            val_scores = ft_scores()
        else:
            log.info("fine-tuning did not beat the head alone; keeping the stage-1 model")
            restore(net, stage1_state)

    final = evaluate_scores(val_scores, y_val)
    pred = val_scores.argmax(axis=1)
    test = {}
    if evaluate_test and len(split.test):
        test = test_scores(prepared, split.test, net if best_stage == "finetune" else None,
                           classifier, pooled, ft_cfg.batch_size)
    per_class = per_class_accuracy(pred, y_val, prepared.index.classes)
    per_category = per_category_accuracy(pred, y_val, prepared.index.classes)
    result = TrainResult(final.accuracy, final.top5, final.loss, best_stage, best.epoch if best else 0, history,
                         per_class, per_category, None, 0.0, tracker.run_id if tracker else None, test)

    out_dir = runs_dir(cfg) / "models" / (tracker.run_id if tracker else time.strftime("%Y%m%d-%H%M%S"))
    if save_checkpoint and net is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        result.checkpoint = save_model(net, out_dir, cfg, prepared, spec, split_card(result, split, test))
    result.seconds = time.perf_counter() - start
    if tracker is not None:
        log_final(tracker, cfg, prepared, result, pred, y_val, out_dir, plots)
    return result


def finetune_on_images(cfg: DictConfig, prepared: Prepared, net: nn.Cell, spec: HeadSpec, ft_cfg: FinetuneConfig,
                       seed: int, step_offset: int, record: EpochCallback
                       ) -> tuple[StageResult, Callable[[], np.ndarray]]:
    """Fine-tune on augmented photos (no cut-point cache, or data-parallel workers); also returns a function
    giving the final network's validation scores."""
    split, labels = prepared.split, prepared.labels
    scaling = prepared.spec.profile.input_scaling
    val_images = np.stack([preprocess(img, prepared.image_size, scaling) for img in load_images(prepared, split.val)])
    y_val = labels[split.val]
    workers = int(cfg.finetune.get("workers", 1) or 1)
    if workers > 1:
        job = DataParallelJob(prepared.spec, spec, [str(prepared.index.samples[i].path) for i in split.train],
                              labels[split.train], y_val, ft_cfg, prepared.image_size, scaling, seed, step_offset)
        job_dir = runs_dir(cfg) / "data_parallel" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        result = finetune_data_parallel(net, job, val_images, workers, job_dir, record)
    else:
        result = finetune(net, load_images(prepared, split.train), labels[split.train], val_images, y_val, ft_cfg,
                          prepared.image_size, scaling, seed, step_offset, record)
    return result, lambda: predict_images(net, val_images, ft_cfg.batch_size)


def test_scores(prepared: Prepared, test: np.ndarray, net: nn.Cell | None, classifier, pooled: np.ndarray,
                batch_size: int) -> dict[str, float]:
    """The final model's accuracy on the test photos (val/), with count and interval."""
    from garbage_hpo.selection.run import test_report

    if net is None:  # the head alone won: its scores come from the cached features
        scores = classifier(ms.Tensor(pooled[test])).asnumpy()
    else:
        scaling = prepared.spec.profile.input_scaling
        images = np.stack([preprocess(img, prepared.image_size, scaling) for img in load_images(prepared, test)])
        scores = predict_images(net, images, batch_size)
    return test_report(scores, prepared.labels[test])


def split_card(result: TrainResult, split: Split, test: dict) -> dict:
    """Model-card fields of a single-split run: what it was trained on and how it was selected."""
    n = len(split.val)
    ci = wilson(round(result.val_acc * n), n)
    card: dict[str, Any] = {"train_images": len(split.train), "selection": {
        "cv_folds": 1, "val_acc": result.val_acc, "n": n, "ci95": ci.as_list(), "best_epoch": result.best_epoch,
        "best_stage": result.best_stage}}
    return card | ({"test": test} if test else {})


def model_card(cfg: DictConfig, prepared: Prepared, spec: HeadSpec) -> dict:
    """What a predictor needs besides the weights: classes, preprocessing, input size, architecture."""
    return {
        "architecture": prepared.spec.arch,
        "width": prepared.spec.width,
        "image_size": prepared.image_size,
        "profile": prepared.spec.profile.to_dict(),
        "head": {k: getattr(spec, k) for k in ("num_classes", "in_features", "reduction", "depth", "dropout",
                                                "activation", "bias")},
        "classes": [
            {"index": c.index, "folder": c.folder, "english": c.english, "chinese": c.chinese, "category": c.category}
            for c in prepared.index.classes
        ],
        "features": feature_sources(cfg).card(),
        "weights_source": prepared.spec.weights_source,
        "seed": int(cfg.seed),
    }


def save_model(net: nn.Cell, out_dir: Path, cfg: DictConfig, prepared: Prepared, spec: HeadSpec,
               extra: dict | None = None) -> Path:
    """The whole network and its model card; `extra` adds e.g. `train_images` and `selection`."""
    path, card_path = out_dir / "model.ckpt", out_dir / "model.json"
    card_path.unlink(missing_ok=True)  # a card never describes weights other than the ones beside it
    path.unlink(missing_ok=True)
    check_room(path, sum(int(p.size) for p in net.get_parameters()) * 4 + (1 << 20))
    with writing(out_dir / "model.tmp", path):  # MindSpore writes model.tmp, then renames it
        ms.save_checkpoint(net, str(path))
        write_card(card_path, model_card(cfg, prepared, spec) | (extra or {}), [path])
    return path


def log_final(tracker: Tracker, cfg: DictConfig, prepared: Prepared, result: TrainResult, pred: np.ndarray,
              y_val: np.ndarray, out_dir: Path, plots: bool = True) -> None:
    classes = prepared.index.classes
    ci = wilson(round(result.val_acc * len(y_val)), len(y_val))
    final = {f"{MODEL}val_acc": result.val_acc, f"{MODEL}val_top5": result.val_top5,
             f"{MODEL}val_loss": result.val_loss, f"{MODEL}val_ci95_low": ci.low, f"{MODEL}val_ci95_high": ci.high,
             "best_epoch": result.best_epoch, "train_seconds": result.seconds,
             "n_train": len(prepared.split.train), "n_val": len(prepared.split.val)} | result.extra
    final |= per_category_metrics(result.per_category) | per_class_metrics(result.per_class, classes)
    tracker.log_metrics(final, step=result.history[-1].step if result.history else 0, flush=True)
    tracker.set_tags({"hpo.best_stage": result.best_stage})
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True), encoding="utf-8")
    labels = class_labels(classes)
    (out_dir / "per_class.json").write_text(json.dumps(
        {"per_class": {labels[k]: v for k, v in result.per_class.items()}, "per_category": result.per_category,
         "folders": {labels[k]: k for k in result.per_class}}, indent=2, ensure_ascii=False), encoding="utf-8")
    names = [labels[c.folder] for c in classes]
    matrix = confusion_matrix(pred, y_val, len(names))
    (out_dir / CONFUSION_JSON).write_text(json.dumps(
        {"classes": names, "folders": [c.folder for c in classes], "matrix": matrix.tolist(),
         "val_acc": result.val_acc}, ensure_ascii=False), encoding="utf-8")
    written = ["config.yaml", "per_class.json", CONFUSION_JSON]
    if plots:
        from garbage_hpo.plots import confusion_png  # matplotlib only for the runs that draw

        confusion_png(matrix, names, out_dir / "confusion_matrix.png",
                      f"validation, acc {result.val_acc:.3f} (n={len(y_val)})")
        written.append("confusion_matrix.png")
    for name in written:
        tracker.log_artifact(out_dir / name)
    if result.checkpoint is not None:
        tracker.log_artifact(result.checkpoint, "model")
        tracker.log_artifact(result.checkpoint.with_suffix(".json"), "model")
