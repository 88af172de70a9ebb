"""What a cross-validated sweep learns from its trials' out-of-fold predictions when it ends: the winner's
bias-corrected figure (BBC-CV over every completed trial), its pictures and the labels it doubts.

All of it reads `oof.npz` artifacts the trials logged (selection/oof.py); nothing is trained again.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import optuna
from optuna.trial import TrialState

from garbage_hpo.data import DatasetIndex
from garbage_hpo.selection import OOF_FILE, BiasCorrected, OutOfFold, bbc_cv, by_photo, log_oof_pictures, log_suspects
from garbage_hpo.tracking import Tracker

log = logging.getLogger(__name__)


def trial_predictions(client, trials: list[optuna.trial.FrozenTrial], out: Path) -> dict[int, OutOfFold]:
    """The out-of-fold predictions of the completed trials that logged them, by trial number (a trial of an
    earlier invocation recorded in another store, or from before they were kept, is left out)."""
    found = {}
    for trial in trials:
        run_id = trial.user_attrs.get("mlflow_run_id")
        if trial.state != TrialState.COMPLETE or not run_id:
            continue
        try:
            local = Path(client.download_artifacts(run_id, OOF_FILE, str(out / f"trial_{trial.number}")))
        except Exception as err:  # MlflowException (not there), an unreachable store
            log.info("trial %d's out-of-fold predictions are not available: %s", trial.number, err)
            continue
        try:
            found[trial.number] = OutOfFold.load(local)
        except Exception as err:  # a damaged file: zip, npy or a missing array, whichever numpy meets first
            log.warning("trial %d's out-of-fold predictions (%s of MLflow run %s) are damaged (%s: %s): the trial "
                        "is left out of BBC-CV, ensemble selection and the winner's pictures", trial.number, OOF_FILE,
                        run_id, type(err).__name__, err)
    return found


def correctness_table(predictions: dict[int, OutOfFold], winner: int) -> np.ndarray:
    """(photos, trials) right/wrong, rows sorted by photo; trials scored on other photos (another data setting)
    cannot be compared photo by photo and are left out."""
    comparable = by_photo(predictions, predictions[winner])
    if len(comparable) < len(predictions):
        log.info("trials %s predicted other photos than the winner: left out of BBC-CV",
                 sorted(set(predictions) - set(comparable)))
    return np.column_stack([oof.predicted == oof.labels for oof in comparable.values()])


def bias_corrected(predictions: dict[int, OutOfFold], winner: int) -> BiasCorrected:
    """BBC-CV over the trials, seeded by the winner's number so the figure is the same on every reading."""
    return bbc_cv(correctness_table(predictions, winner), seed=winner)


def corrected_figure(predictions: dict[int, OutOfFold], winner: int) -> BiasCorrected | None:
    """The winner's BBC-CV figure, or None when its predictions are not at hand."""
    return bias_corrected(predictions, winner) if winner in predictions else None


def log_winner_views(parent: Tracker, predictions: dict[int, OutOfFold], winner: int, index: DatasetIndex,
                     out: Path) -> int | None:
    """The winner's pictures and suspect labels on the parent run; the number of suspects (None: no
    predictions to look at, or they could not be drawn)."""
    if winner not in predictions:
        return None
    try:
        log_oof_pictures(parent, predictions[winner], index, out / "winner", f"best trial #{winner}", "winner")
        return log_suspects(parent, predictions[winner], index, out / "suspects")
    except Exception as err:  # e.g. a photo deleted since the trial: the sweep's results stand without pictures
        log.warning("the winner's pictures and suspect labels were skipped: %s: %s", type(err).__name__, err)
        return None
