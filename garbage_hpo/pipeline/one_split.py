"""One training run, end to end: data -> cached features -> head -> optional fine-tune -> metrics -> record.

`prepare(settings)` does the work that does not depend on training hyperparameters (dataset indexing, split,
backbone features); `train(settings, prepared, tracker)` trains and evaluates one configuration. A sweep calls
`prepare` once per data setting and `train` per trial.
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

from garbage_hpo.config import RunSettings
from garbage_hpo.data import Split, preprocess
from garbage_hpo.metrics import (
    class_table,
    confusion_matrix,
    evaluate_scores,
    per_category_accuracy,
    per_class_accuracy,
    wilson,
    write_class_table,
)
from garbage_hpo.models import (
    HeadSpec,
    build_network,
    predict_images,
    standardizer,
)
from garbage_hpo.pipeline.cut_point import finetune_from_cache
from garbage_hpo.pipeline.preparation import Prepared, load_images, network_parts, run_tags
from garbage_hpo.pipeline.saved_model import save_model
from garbage_hpo.pipeline.taps import head_inputs
from garbage_hpo.pipeline.test_set import test_scores
from garbage_hpo.tracking import MODEL, Tracker, class_labels, flatten, per_category_metrics, per_class_metrics
from garbage_hpo.training import (
    DataParallelJob,
    EpochCallback,
    EpochResult,
    ImageInput,
    StageConfig,
    StageResult,
    StageRun,
    TrainVal,
    finetune,
    finetune_data_parallel,
    restore,
    snapshot,
    train_head,
)

log = logging.getLogger(__name__)
CONFUSION_JSON = "confusion_matrix.json"  # rows: true class, columns: predicted


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
    val_n: int = 0  # validation photos

    def objective_values(self) -> dict[str, float]:
        return {"val_acc": self.val_acc, "val_top5": self.val_top5, "val_loss": self.val_loss}

    def trial_attrs(self) -> dict[str, float | int | str]:
        ci = wilson(round(self.val_acc * self.val_n), self.val_n)
        return {"cv_folds": 1, "val_n": self.val_n, "val_ci95_low": ci.low, "val_ci95_high": ci.high,
                "refit_epochs": self.best_epoch, "best_stage": self.best_stage}


@dataclass
class Stages:
    """What the training stages left: the model that won, and its validation scores."""

    classifier: nn.Cell
    head_state: dict[str, np.ndarray]
    best_stage: str
    best: EpochResult | None
    history: list[EpochResult]
    val_scores: np.ndarray
    net: nn.Cell | None = None  # the whole network: built for fine-tuning or for the checkpoint


def train(settings: RunSettings, prepared: Prepared, tracker: Tracker | None = None,
          on_epoch: EpochCallback | None = None, save_checkpoint: bool = True, plots: bool = True,
          evaluate_test: bool = True) -> TrainResult:
    """Train and evaluate one configuration; `plots=False` records the confusion matrix as numbers only (a sweep
    renders the best trial's, saving matplotlib's time per trial). `evaluate_test` scores the final
    model once on the test set (the data's val/ folder, if any); sweep trials never look at it."""
    start = time.perf_counter()
    seed = settings.seed
    ms.set_seed(seed)
    np.random.seed(seed)
    head_cfg, ft_cfg = settings.train, settings.finetune
    sources = settings.sources
    pooled = head_inputs(settings, prepared)
    scaler = standardizer(sources, pooled[prepared.split.train])
    if scaler is not None:
        pooled = scaler(pooled)
    spec = settings.head.spec(prepared.index.num_classes, pooled.shape[1])
    if tracker is not None:
        tracker.log_params(flatten(settings.config))
        tracker.set_tags(run_tags(prepared))
    record = epoch_recorder(tracker, on_epoch)
    stages = head_stage(prepared, pooled, spec, head_cfg, seed, record)
    if ft_cfg.epochs > 0 or save_checkpoint:
        stages.net = build_network(*network_parts(prepared, spec, sources, scaler))
        restore(stages.net.head, stages.head_state)
        stages.net.set_train(False)
    if ft_cfg.epochs > 0:
        finetune_stage(settings, prepared, stages, spec, head_cfg.epochs, record)
    test = {}
    if evaluate_test and len(prepared.split.test):
        test = test_scores(prepared, prepared.split.test, stages.net if stages.best_stage == "finetune" else None,
                           stages.classifier, pooled, ft_cfg.batch_size)
    result = train_result(prepared, stages, tracker, test)
    out_dir = settings.runs / "models" / (tracker.run_id if tracker else time.strftime("%Y%m%d-%H%M%S"))
    if save_checkpoint and stages.net is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        result.checkpoint = save_model(stages.net, out_dir, settings, prepared, spec, split_card(result, prepared.split,
                                                                                            test))
    result.seconds = time.perf_counter() - start
    if tracker is not None:
        log_final(tracker, settings, prepared, result, stages.val_scores.argmax(axis=1),
                  prepared.labels[prepared.split.val], out_dir, plots)
    return result


def epoch_recorder(tracker: Tracker | None, on_epoch: EpochCallback | None) -> EpochCallback:
    """Each epoch's result: logged, sent to the run, and handed on (a sweep's pruner)."""

    def record(result: EpochResult) -> None:
        log.info("%s epoch %d: train_loss %.4f val_acc %.4f val_loss %.4f lr %.2e (%.2fs)", result.stage,
                 result.epoch, result.train_loss, result.val.accuracy, result.val.loss, result.lr, result.seconds)
        if tracker is not None:
            tracker.log_metrics(result.metrics(), step=result.step)
        if on_epoch is not None:
            on_epoch(result)

    return record


def head_stage(prepared: Prepared, pooled: np.ndarray, spec: HeadSpec, head_cfg: StageConfig, seed: int,
               record: EpochCallback) -> Stages:
    """Stage 1: the head on the cached features of the split's training photos."""
    split, labels = prepared.split, prepared.labels
    classifier, result = train_head(spec, TrainVal(pooled[split.train], labels[split.train], pooled[split.val],
                                                   labels[split.val]), head_cfg, StageRun(seed, on_epoch=record))
    return Stages(classifier, result.best_state, "head", result.best, list(result.history),
                  classifier(ms.Tensor(pooled[split.val])).asnumpy())


def finetune_stage(settings: RunSettings, prepared: Prepared, stages: Stages, spec: HeadSpec, step_offset: int,
                   record: EpochCallback) -> None:
    """Stage 2: fine-tune the network (on the cut-point cache, else on images); it is kept only if it beats the
    head alone on the validation photos."""
    net = stages.net
    assert net is not None
    stage1_state = snapshot(net)
    ft_result, ft_scores = finetune_from_cache(settings, prepared, net, step_offset, record) or \
        finetune_on_images(settings, prepared, net, spec, step_offset, record)
    stages.history += ft_result.history
    if ft_result.best and stages.best and ft_result.best.val.accuracy >= stages.best.val.accuracy:
        stages.best_stage, stages.best = "finetune", ft_result.best
        stages.val_scores = ft_scores()
    else:
        log.info("fine-tuning did not beat the head alone; keeping the stage-1 model")
        restore(net, stage1_state)


def train_result(prepared: Prepared, stages: Stages, tracker: Tracker | None, test: dict) -> TrainResult:
    """The winning model's validation figures (accuracy, top-5, loss, per class and category)."""
    y_val = prepared.labels[prepared.split.val]
    final = evaluate_scores(stages.val_scores, y_val)
    pred = stages.val_scores.argmax(axis=1)
    classes = prepared.index.classes
    return TrainResult(final.accuracy, final.top5, final.loss, stages.best_stage,
                       stages.best.epoch if stages.best else 0, stages.history,
                       per_class_accuracy(pred, y_val, classes), per_category_accuracy(pred, y_val, classes), None,
                       0.0, tracker.run_id if tracker else None, test, len(y_val))


def finetune_on_images(settings: RunSettings, prepared: Prepared, net: nn.Cell, spec: HeadSpec, step_offset: int,
                       record: EpochCallback) -> tuple[StageResult, Callable[[], np.ndarray]]:
    """Fine-tune on augmented photos (no cut-point cache, or data-parallel workers); also returns a function
    giving the final network's validation scores."""
    split, labels = prepared.split, prepared.labels
    ft_cfg, seed, workers = settings.finetune, settings.seed, settings.finetune_workers
    scaling = prepared.spec.profile.input_scaling
    val_images = np.stack([preprocess(img, prepared.image_size, scaling) for img in load_images(prepared, split.val)])
    y_val = labels[split.val]
    if workers > 1:
        job = DataParallelJob(prepared.spec, spec, [str(prepared.index.samples[i].path) for i in split.train],
                              labels[split.train], y_val, ft_cfg, prepared.image_size, scaling, seed, step_offset)
        job_dir = settings.runs / "data_parallel" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        result = finetune_data_parallel(net, job, val_images, workers, job_dir, record)
    else:
        result = finetune(net, TrainVal(load_images(prepared, split.train), labels[split.train], val_images, y_val),
                          ft_cfg, ImageInput(prepared.image_size, scaling), StageRun(seed, step_offset, record))
    return result, lambda: predict_images(net, val_images, ft_cfg.batch_size)


def split_card(result: TrainResult, split: Split, test: dict) -> dict:
    """Model-card fields of a single-split run: what it was trained on and how it was selected."""
    n = len(split.val)
    ci = wilson(round(result.val_acc * n), n)
    card: dict[str, Any] = {"train_images": len(split.train), "selection": {
        "cv_folds": 1, "val_acc": result.val_acc, "n": n, "ci95": ci.as_list(), "best_epoch": result.best_epoch,
        "best_stage": result.best_stage}}
    return card | ({"test": test} if test else {})


def log_final(tracker: Tracker, settings: RunSettings, prepared: Prepared, result: TrainResult, pred: np.ndarray,
              y_val: np.ndarray, out_dir: Path, plots: bool = True) -> None:
    classes = prepared.index.classes
    ci = wilson(round(result.val_acc * len(y_val)), len(y_val))
    final = {f"{MODEL}val_acc": result.val_acc, f"{MODEL}val_ci95_low": ci.low, f"{MODEL}val_ci95_high": ci.high,
             f"{MODEL}val_top5": result.val_top5, f"{MODEL}val_loss": result.val_loss,
             "best_epoch": result.best_epoch, "train_seconds": result.seconds,
             "n_train": len(prepared.split.train), "n_val": len(prepared.split.val)} | result.extra
    final |= per_category_metrics(result.per_category) | per_class_metrics(result.per_class, classes)
    tracker.log_metrics(final, step=result.history[-1].step if result.history else 0, flush=True)
    tracker.set_tags({"hpo.best_stage": result.best_stage})
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.yaml").write_text(settings.config_yaml, encoding="utf-8")
    labels = class_labels(classes)
    (out_dir / "per_class.json").write_text(json.dumps(
        {"per_class": {labels[k]: v for k, v in result.per_class.items()}, "per_category": result.per_category,
         "folders": {labels[k]: k for k in result.per_class}}, indent=2, ensure_ascii=False), encoding="utf-8")
    names = [labels[c.folder] for c in classes]
    matrix = confusion_matrix(pred, y_val, len(names))
    (out_dir / CONFUSION_JSON).write_text(json.dumps(
        {"classes": names, "folders": [c.folder for c in classes], "matrix": matrix.tolist(),
         "val_acc": result.val_acc}, ensure_ascii=False), encoding="utf-8")
    rows = class_table(pred, y_val, classes)
    write_class_table(rows, out_dir / "per_class.csv")
    written = ["config.yaml", "per_class.csv", "per_class.json", CONFUSION_JSON]
    if plots:
        from garbage_hpo.figures import class_accuracy_png, confusion_png  # matplotlib only for the runs that draw

        confusion_png(matrix, names, out_dir / "confusion_matrix.png",
                      f"validation, acc {result.val_acc:.3f} (n={len(y_val)})")
        class_accuracy_png(rows, names, out_dir / "per_class.png", f"validation per class (n={len(y_val)})")
        written += ["confusion_matrix.png", "per_class.png"]
    for name in written:
        tracker.log_artifact(out_dir / name)
    if result.checkpoint is not None:
        tracker.log_artifact(result.checkpoint, "model")
        tracker.log_artifact(result.checkpoint.with_suffix(".json"), "model")
