"""The trial found and measured again, then the model to ship re-trained, exported and checked."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from garbage_hpo.deploy import update_card
from garbage_hpo.metrics import format_params
from garbage_hpo.runtime import number_value
from garbage_hpo.tracking import check_tracking_store, tracking_uri

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from garbage_hpo.config import RunSettings
    from garbage_hpo.pipeline import Prepared
    from garbage_hpo.sweep import BestTrial
    from garbage_hpo.tracking import Tracker

log = logging.getLogger("garbage_hpo.reproduce")


def warn_if_inputs_changed(original_tags: dict[str, str], new_tags: dict[str, str]) -> list[str]:
    """Different photos or weights make a different result expected: say so before the verdict."""
    notes = []
    for tag, what in (("hpo.data_sha256", "dataset"), ("hpo.weights_sha256", "weights")):
        before, now = original_tags.get(tag), new_tags.get(tag)
        if before and now and before != now:
            notes.append(f"the {what} differ from the original run's ({tag} {before[:12]} -> {now[:12]})")
    for note in notes:
        log.warning("reproduction: %s", note)
    return notes


def locate(overrides: dict[str, str]) -> tuple[BestTrial, Run, MlflowClient, str, str]:
    """(best or named trial, its MLflow run, tracking URI) from the request's keys."""
    from garbage_hpo.runtime import runs_dir
    from garbage_hpo.sweep import find_best_trial, find_trial
    from garbage_hpo.tracking import client_for

    storage = overrides.pop("sweep.storage", None) or f"sqlite:///{runs_dir() / 'optuna.db'}"
    uri = tracking_uri(overrides)
    overrides.pop("tracking.uri", None)
    check_tracking_store(uri)  # the default store too: reproduce writes to it
    study_name = overrides.pop("experiment", None) or None
    number = overrides.pop("trial", None)
    if number is not None and study_name is None:
        raise ValueError(f"trial={number}: name its study too, experiment=NAME")
    if number is not None:
        best = find_trial(storage, study_name, int(number_value("trial", number, int, "a trial number of the study")))
    else:
        best = find_best_trial(storage, study_name)
    client = client_for(uri)
    try:
        original = client.get_run(best.run_id)
    except Exception as err:
        raise FileNotFoundError(f"trial {best.number} of study {best.study_name} points at MLflow run "
                                f"{best.run_id}, which {uri} does not hold (pass the sweep's tracking.uri=)") from err
    which = "trial" if number is not None else "best trial"
    print(f"{which}: study {best.study_name} #{best.number} val_acc={best.value:.4f} (MLflow run {best.run_id}) "
          f"params {format_params(best.params)}", flush=True)
    return best, original, client, uri, storage


@dataclass
class Retrained:
    value: float
    std: float
    ci95: list[float]
    n: int
    folds: int
    refit_epochs: int | None
    net: object  # the model to export: refit on every training photo when the config trains the head only
    checkpoint: Path
    train_images: int
    test: dict


def retrain(settings: RunSettings, prepared: Prepared, tracker: Tracker, best: BestTrial) -> Retrained:
    """The trial's value measured again (CV or one split), then the model to ship: refit on every training
    photo for refit_epochs (head-only configs), else the one-split model (fine-tuning is not refit)."""
    from garbage_hpo.deploy import Predictor
    from garbage_hpo.metrics import wilson
    from garbage_hpo.pipeline import train
    from garbage_hpo.selection import default_out_dir, refit, run_cv, selection_record

    where = {"trial": best.number, "study": best.study_name}
    if settings.cv_folds > 1:
        cv = run_cv(settings, prepared, tracker)
        s = cv.summary
        fitted = refit(settings, prepared, cv.refit_epochs, selection_record(cv, best.number, best.study_name),
                       default_out_dir(settings, tracker))
        return Retrained(s.mean, s.std, s.ci95.as_list(), cv.n, s.k, cv.refit_epochs, fitted.net, fitted.checkpoint,
                         fitted.train_images, fitted.test)
    result = train(settings, prepared, tracker, save_checkpoint=settings.finetuning)
    n = len(prepared.split.val)
    ci = wilson(round(result.val_acc * n), n).as_list()
    if not settings.finetuning:
        selection = {"cv_folds": 1, "val_acc": result.val_acc, "n": n, "ci95": ci} | where
        fitted = refit(settings, prepared, result.best_epoch, selection, default_out_dir(settings, tracker))
        return Retrained(result.val_acc, 0.0, ci, n, 1, result.best_epoch, fitted.net, fitted.checkpoint,
                         fitted.train_images, fitted.test)
    assert result.checkpoint is not None
    update_card(result.checkpoint.with_suffix(".json"), lambda card: card["selection"].update(where))
    return Retrained(result.val_acc, 0.0, ci, n, 1, None, Predictor.load(result.checkpoint).net, result.checkpoint,
                     len(prepared.split.train), result.extra)


def check_photos(prepared: Prepared, limit: int = 256) -> np.ndarray:
    """Photos to compare the export with: the test set if any, else up to `limit` training photos spread over
    the classes (the check is about the export's fidelity, not accuracy)."""
    from garbage_hpo.data import positions, preprocess
    from garbage_hpo.pipeline import load_images

    chosen = prepared.split.test if len(prepared.split.test) else positions(prepared.index, "train")
    chosen = chosen[np.linspace(0, len(chosen) - 1, min(limit, len(chosen))).astype(int)]
    scaling = prepared.spec.profile.input_scaling
    return np.stack([preprocess(img, prepared.image_size, scaling) for img in load_images(prepared, chosen)])


def export_and_check(model: Retrained, prepared: Prepared, tracker: Tracker) -> tuple[Path, float, float, int]:
    from garbage_hpo.deploy import export_mindir, load_mindir, top1_agreement

    mindir = export_mindir(model.net, prepared.image_size, model.checkpoint.with_suffix(".mindir"))
    update_card(model.checkpoint.with_suffix(".json"), lambda card: None, add_weights=(mindir,))
    for path in (model.checkpoint, model.checkpoint.with_suffix(".json"), mindir):
        tracker.log_artifact(path, "model")
    photos = check_photos(prepared)
    agreement, max_diff = top1_agreement(model.net, load_mindir(mindir), photos)
    return mindir, agreement, max_diff, len(photos)
