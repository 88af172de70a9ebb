"""`reproduce(overrides)`, read top-down: find the trial, measure it again, maybe an ensemble, export, record."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from omegaconf import OmegaConf, open_dict

from garbage_hpo.config import recorded_config
from garbage_hpo.reproduce.ensembles import (
    bias_corrected_selection,
    caruana_members,
    ensemble_members,
    study_predictions,
    with_ensemble,
    with_selected_ensemble,
)
from garbage_hpo.reproduce.report import Reproduction, record
from garbage_hpo.reproduce.retrain import export_and_check, locate, retrain, warn_if_inputs_changed
from garbage_hpo.runtime import configure_runtime, number_value

if TYPE_CHECKING:
    from garbage_hpo.sweep import BestTrial

log = logging.getLogger("garbage_hpo.reproduce")


def reproduce(overrides: dict[str, str]) -> Reproduction:
    from garbage_hpo.config import ensemble_setting, read_settings
    from garbage_hpo.pipeline import prepare, run_tags
    from garbage_hpo.tracking import Tracker, ui_hint, ui_link

    tolerance = number_value("tolerance", overrides.pop("tolerance", 0.5), float, "percentage points, e.g. 0.5")
    if tolerance < 0:
        raise ValueError(f"tolerance={tolerance}: percentage points, at least 0")
    requested_ensemble = overrides.pop("ensemble", None)
    chosen_by_the_sweep = "trial" not in overrides  # a trial named by hand was not selected: nothing to correct
    best, original, client, uri, storage = locate(overrides)
    cfg = recorded_config(client, best.run_id, overrides)
    with open_dict(cfg):
        cfg.tracking.uri = uri
    settings = read_settings(cfg)
    # a config recorded before sweep.ensemble existed asks for no ensemble
    k = ensemble_setting(requested_ensemble, "ensemble") if requested_ensemble is not None else \
        ensemble_setting(OmegaConf.select(cfg, "sweep.ensemble", default=1))
    check_ensemble_request(requested_ensemble, k, settings.cv_folds, best)
    configure_runtime()
    prepared = prepare(settings)
    experiment = client.get_experiment(original.info.experiment_id).name
    tracker = Tracker(uri, experiment, settings.runs / "mlartifacts",
                      run_name=f"reproduce-{best.study_name}-trial-{best.number}",
                      tags={"hpo.role": "reproduction", "hpo.reproduction_of": best.run_id,
                            "optuna.study_name": best.study_name, "optuna.trial_number": str(best.number),
                            "mlflow.note.content": f"Reproduction of trial {best.number} of sweep study "
                                                   f"{best.study_name} (run {best.run_id}): re-trained, exported "
                                                   "and registered"},
                      # nested under the sweep run that ran the trial: the registered champion sits in its tree
                      parent_run_id=original.data.tags.get("mlflow.parentRunId"))
    with tracker.outcome():
        notes = warn_if_inputs_changed(original.data.tags, run_tags(prepared))
        model = retrain(settings, prepared, tracker, best)
        found = ([], {})  # the study's trials and their out-of-fold predictions: read once, when wanted
        if model.folds > 1 and (chosen_by_the_sweep or k == "caruana"):
            found = study_predictions(storage, best, client, settings.runs / "reproduce" / tracker.run_id)
        if found[0] and best.number not in found[1]:
            log.warning("trial %d's out-of-fold predictions are not at hand (see above): no bias-corrected figure "
                        "and no ensemble selection for it", best.number)
        corrected = bias_corrected_selection(found[1], best, model) if chosen_by_the_sweep else None
        ensemble = None
        if k == "caruana" and model.folds > 1:
            choice = caruana_members(found, best, client, overrides, settings)
            model, ensemble = with_selected_ensemble(model, choice, prepared, tracker, settings)
        elif isinstance(k, int) and k > 1:
            chosen = ensemble_members(k, storage, best, client, overrides)
            model, ensemble = with_ensemble(model, chosen, prepared, tracker, settings)
        mindir, agreement, max_diff, checked = export_and_check(model, prepared, tracker)
        report = Reproduction(
            best.study_name, best.number, best.run_id, tracker.run_id, best.value, model.value,
            (model.value - best.value) * 100, tolerance, model.folds, model.std, model.ci95, model.n,
            model.refit_epochs is not None, model.refit_epochs, model.train_images, model.test, agreement, max_diff,
            checked, str(model.checkpoint), str(mindir), "", False, ensemble,
            ui_link(uri, tracker.experiment_id, tracker.run_id) + ui_hint(uri), corrected)
        record(report, tracker, client, notes, model)
        return report


def check_ensemble_request(requested: str | None, k: int | str, cv_folds: int, best: BestTrial) -> None:
    """An ensemble asked for on the command line needs a cross-validated study: the members are chosen and
    compared on the same folds. Refused before any run opens rather than shipping one model without a word."""
    if requested is not None and (k == "caruana" or (isinstance(k, int) and k > 1)) and cv_folds <= 1:
        raise ValueError(f"ensemble={requested}: ensembles are chosen and measured by cross-validation, and trial "
                         f"{best.number} of study {best.study_name} was measured on one split (sweep.cv_folds=1); "
                         "run the sweep with sweep.cv_folds=5, or reproduce it with ensemble=1")
