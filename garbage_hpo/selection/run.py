"""Cross-validated training as a tracked run, the refit on every training photo, and the test-set report.

Used by `python -m garbage_hpo.train sweep.cv_folds=k` (CV, then refit, then the test set once), by sweep
trials (CV only) and by `make reproduce-best` (CV again, then refit, export and register).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import nn

from garbage_hpo.config import RunSettings
from garbage_hpo.data import positions
from garbage_hpo.models import (
    EXTRA_VIEWS,
    FeatureSources,
    HeadSpec,
    Standardizer,
    average_views,
    build_network,
    standardizer,
)
from garbage_hpo.pipeline import (
    Prepared,
    head_inputs,
    network_parts,
    run_tags,
    save_model,
    test_report,
    test_scores,
    train_view_inputs,
)
from garbage_hpo.selection.cv import CVResult, FoldCallback, HeadInputs, cross_validate, refit_head
from garbage_hpo.selection.cv_finetune import cross_validate_finetune, refit_finetune, split_refit_epochs
from garbage_hpo.selection.folds import Fold, selection_folds
from garbage_hpo.selection.label_issues import log_suspects
from garbage_hpo.selection.oof import OOF_FILE, PHOTOS_FILE, OutOfFold, write_photo_list
from garbage_hpo.selection.oof_pictures import log_oof_pictures
from garbage_hpo.tracking import CV_CURVE, Tracker, flatten
from garbage_hpo.training import restore

log = logging.getLogger("garbage_hpo.selection")


def folds_for(settings: RunSettings, prepared: Prepared) -> list[Fold]:
    return selection_folds(prepared.index, prepared.split, settings.cv_folds, settings.data.split_seed)


def run_cv(settings: RunSettings, prepared: Prepared, tracker: Tracker | None = None,
           on_epoch: FoldCallback | None = None, stop_check: Callable[[], None] | None = None) -> CVResult:
    """The configuration's CV value; logs params, tags, `cv_mean` with its interval, `cv_std`, `fold_acc.<k>`,
    `refit_epochs`, then the fold-mean curve (`epoch/cv_mean_acc`) on `tracker`. With finetune.epochs > 0 every
    fold also fine-tunes the last blocks on the cut-point cache (cv_finetune.py): not pruned by epoch, but
    `stop_check()` runs after every epoch of every fold (a sweep's Ctrl-C)."""
    folds = folds_for(settings, prepared)
    if tracker is not None:
        tracker.log_params(flatten(settings.config))
        tracker.set_tags(run_tags(prepared) | {"hpo.selection": f"{len(folds)}-fold CV"})
        out = default_out_dir(settings, tracker)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(settings.config_yaml, encoding="utf-8")
        tracker.log_artifact(out / "config.yaml")  # what `make reproduce-best` re-trains from

    curve: list[float] = []

    def progress(epoch: int, partial: CVResult) -> None:
        accs = partial.curves[:, -1]
        log.info("epoch %d: fold-mean val_acc %.4f (folds %s)", epoch, accs.mean(), " ".join(f"{a:.3f}" for a in accs))
        curve.append(float(accs.mean()))
        if on_epoch is not None:
            on_epoch(epoch, partial)

    try:
        if settings.finetuning:  # its folds run one after another: the fold-mean curve exists at the end
            result = cross_validate_finetune(settings, prepared, folds, stop_check)
            curve = [float(v) for v in result.mean_curve]
        else:
            result = cross_validate_head(settings, prepared, folds, progress)
    except BaseException:  # pruned, interrupted or failed: the run keeps the curve so far
        log_curve(tracker, curve)
        raise
    if tracker is not None:  # the score (with its interval) before the curve: MLflow lists a run's metrics so
        tracker.log_metrics(result.record() | {"train_seconds": result.seconds})
        log_out_of_fold(tracker, result, folds, prepared, default_out_dir(settings, tracker))
    log_curve(tracker, curve)
    return result


def log_out_of_fold(tracker: Tracker, result: CVResult, folds: list[Fold], prepared: Prepared, out: Path) -> None:
    """The run's out-of-fold predictions (oof.py) as `oof.npz` (head or fine-tuning CV; none when the folds'
    scores were not kept)."""
    if result.scores is not None:
        tracker.log_artifact(OutOfFold.from_cv(result, folds, prepared.labels).save(out / OOF_FILE))


def log_out_of_fold_views(tracker: Tracker, result: CVResult, settings: RunSettings, prepared: Prepared,
                          out: Path) -> int | None:
    """A cross-validated run's own pictures (confusion matrix, per-class figures, error gallery under
    `out_of_fold/`) and suspect labels (`suspects/`) from its out-of-fold predictions; the number of suspects
    (None: the folds' scores were not kept)."""
    if result.scores is None:
        return None
    oof = OutOfFold.from_cv(result, folds_for(settings, prepared), prepared.labels)
    log_oof_pictures(tracker, oof, prepared.index, out / "out_of_fold", f"{len(result.fold_sizes)}-fold CV",
                     "out_of_fold")
    return log_suspects(tracker, oof, prepared.index, out / "suspects")


def log_photo_list(tracker: Tracker, prepared: Prepared, out: Path) -> None:
    """`photos.csv`: the photos that out-of-fold positions name, once per sweep or cross-validated run."""
    out.mkdir(parents=True, exist_ok=True)
    tracker.log_artifact(write_photo_list(prepared.index, out / PHOTOS_FILE))


def log_curve(tracker: Tracker | None, curve: list[float]) -> None:
    """The fold-mean validation accuracy after each epoch (`epoch/cv_mean_acc`)."""
    if tracker is not None:
        for epoch, value in enumerate(curve, start=1):
            tracker.log_metrics({CV_CURVE: value}, step=epoch)
        tracker.flush()


def cross_validate_head(settings: RunSettings, prepared: Prepared, folds: list[Fold], progress: FoldCallback
                        ) -> CVResult:
    pooled = head_inputs(settings, prepared)
    spec = settings.head.spec(prepared.index.num_classes, pooled.shape[1])
    sources = settings.sources
    views = tuple(head_inputs(settings, prepared, flip=flip, crop=crop) for flip, crop in EXTRA_VIEWS[sources.tta])
    inputs = HeadInputs(pooled, prepared.labels, views, train_view_inputs(settings, prepared))
    return cross_validate(spec, inputs, folds, settings.train, settings.seed, progress,
                          standardize=sources.normalize == "standardize")


@dataclass
class Refit:
    net: nn.Cell
    checkpoint: Path
    train_images: int
    epochs: int
    test: dict[str, float]  # test_acc, test_n, ... when the data has a val/ folder, else empty


@dataclass
class FittedHead:
    classifier: nn.Cell
    scaler: Standardizer | None
    spec: HeadSpec
    sources: FeatureSources


def refit_member(settings: RunSettings, prepared: Prepared, epochs: int) -> FittedHead:
    """The configuration's head (and input statistics) trained on every usable `train/` photo for `epochs`."""
    sources = settings.sources
    everything = positions(prepared.index, "train")
    pooled = head_inputs(settings, prepared)
    views = train_view_inputs(settings, prepared)
    scaler = standardizer(sources, pooled[everything])
    if scaler is not None:
        pooled, views = scaler(pooled), None if views is None else scaler(views)
    spec = settings.head.spec(prepared.index.num_classes, pooled.shape[1])
    start = time.perf_counter()
    classifier = refit_head(spec, HeadInputs(pooled, prepared.labels, train_views=views), everything, settings.train,
                            settings.seed, epochs)
    log.info("refit on all %d training photos for %d epochs (%.1fs)", len(everything), epochs,
             time.perf_counter() - start)
    return FittedHead(classifier, scaler, spec, sources)


def refit(settings: RunSettings, prepared: Prepared, epochs: int, selection: dict, out_dir: Path) -> Refit:
    """Train the configuration on every usable `train/` photo for `epochs` (global) epochs, the head's first
    and then, for a fine-tuning configuration, the last blocks' (cv_finetune.py), and save the whole network
    with a model card recording `train_images` and `selection`; score the test set once."""

    head_epochs, tuned_epochs = split_refit_epochs(settings, epochs)
    fitted = refit_member(settings, prepared, head_epochs)
    net = build_network(*network_parts(prepared, fitted.spec, fitted.sources, fitted.scaler))
    restore(net.head, {name: p.asnumpy() for name, p in fitted.classifier.parameters_and_names()})
    net.set_train(False)
    if tuned_epochs:
        refit_finetune(settings, prepared, net, tuned_epochs)
    test, rows = {}, prepared.split.test
    if len(rows) and tuned_epochs:  # the fine-tuned network scores the test photos themselves
        test = test_scores(prepared, rows, net, None, np.zeros(0), settings.finetune.batch_size)
    elif len(rows):
        scores = head_scores(settings, prepared, fitted.classifier, fitted.scaler, rows)
        test = test_report(scores, prepared.labels[rows])
    out_dir.mkdir(parents=True, exist_ok=True)
    train_images = len(positions(prepared.index, "train"))
    tuned = {"refit_finetune_epochs": tuned_epochs} if settings.finetuning else {}
    card = {"train_images": train_images, "selection": selection | {"refit_epochs": epochs} | tuned}
    if test:
        card["test"] = test
    checkpoint = save_model(net, out_dir, settings, prepared, fitted.spec, card)
    return Refit(net, checkpoint, train_images, epochs, test)


def head_scores(settings: RunSettings, prepared: Prepared, classifier: nn.Cell, scaler, rows: np.ndarray) -> np.ndarray:
    """The head's scores for photos `rows` from cached features: standardized, and averaged over the other views
    of features.tta (tta.py), exactly as the exported network computes them from the image."""
    scores = []
    for flip, crop in ((False, ""), *EXTRA_VIEWS[settings.sources.tta]):
        x = head_inputs(settings, prepared, flip=flip, crop=crop)[rows]
        scores.append(classifier(ms.Tensor(scaler(x) if scaler is not None else x)).asnumpy())
    return average_views(*scores) if len(scores) > 1 else scores[0]


def selection_record(cv: CVResult, trial: int | None = None, study: str | None = None) -> dict:
    s = cv.summary
    return {"cv_folds": s.k, "cv_mean": s.mean, "cv_std": s.std, "ci95": s.ci95.as_list(),
            "refit_epochs": cv.refit_epochs, "n": cv.n, "trial": trial, "study": study}


def default_out_dir(settings: RunSettings, tracker: Tracker | None) -> Path:
    return settings.runs / "models" / (tracker.run_id if tracker else time.strftime("%Y%m%d-%H%M%S"))
