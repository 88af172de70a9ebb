"""The two ways a reproduction may ship several trials as one network: the study's top K (`ensemble=K`), or
ensemble selection over every head-only CV trial's out-of-fold predictions (`ensemble=caruana`), each shipped
only if it beats the best trial alone; and the best trial's bias-corrected figure, read from the same
predictions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from garbage_hpo.config import recorded_config
from garbage_hpo.deploy import read_card, update_card

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from garbage_hpo.config import RunSettings
    from garbage_hpo.pipeline import Prepared
    from garbage_hpo.reproduce.retrain import Retrained
    from garbage_hpo.sweep import BestTrial, EnsembleChoice
    from garbage_hpo.tracking import Tracker


def study_predictions(storage: str, best: BestTrial, client: MlflowClient, out: Path) -> tuple[list, dict]:
    """(the best trial's study's trials, their out-of-fold predictions by trial number), read once for BBC-CV and
    ensemble selection alike."""
    import optuna

    from garbage_hpo.sweep import open_storage, trial_predictions

    trials = optuna.load_study(study_name=best.study_name, storage=open_storage(storage)).trials
    return trials, trial_predictions(client, trials, out)


def bias_corrected_selection(predictions: dict, best: BestTrial, model: Retrained) -> dict | None:
    """The best trial's BBC-CV figure over its study's completed trials, from their out-of-fold predictions
    (what the sweep's parent logs as best_cv_bbc), written into the model card; None without predictions."""
    from garbage_hpo.sweep import bias_corrected

    if best.number not in predictions:
        return None
    figure = bias_corrected(predictions, best.number)
    corrected = {"cv_bbc": figure.estimate, "cv_bbc_ci95": [figure.ci95_low, figure.ci95_high],
                 "cv_bbc_trials": figure.configurations,
                 "quote": "cv_bbc: cv_mean is the best of cv_bbc_trials trials on the same folds, optimistic"}
    update_card(model.checkpoint.with_suffix(".json"), lambda card: card["selection"].update(corrected))
    return corrected


def ensemble_members(k: int, storage: str, best: BestTrial, client: MlflowClient, overrides: dict[str, str]
                     ) -> tuple[list, list] | None:
    """The top-k cross-validated head-only trials of the best trial's study and their configs (None: k < 2, or
    fewer than two qualify)."""
    from garbage_hpo.config import read_settings
    from garbage_hpo.selection import choose_members
    from garbage_hpo.sweep import top_trials

    if k < 2:
        return None
    ranked = top_trials(storage, best.study_name, None)
    candidates = ((t, read_settings(recorded_config(client, t.run_id, dict(overrides)))) for t in ranked)
    return choose_members(ranked, candidates, k)


def caruana_members(found: tuple[list, dict], best: BestTrial, client: MlflowClient, overrides: dict[str, str],
                    base: RunSettings) -> EnsembleChoice | None:
    """Ensemble selection over the study's head-only CV trials read on the same data and backbone as the best
    trial (`found`: study_predictions; sweep/ensemble_choice.py); None when fewer than two qualify."""
    from garbage_hpo.config import read_settings
    from garbage_hpo.sweep import caruana_choice

    def settings_of(trial):
        settings = read_settings(recorded_config(client, trial.user_attrs["mlflow_run_id"], dict(overrides)))
        same_inputs = settings.data == base.data and settings.model == base.model
        return replace(settings, cv_folds=settings.cv_folds if same_inputs else 1)  # 1: not a candidate

    return caruana_choice(*found, best.number, settings_of)


def with_selected_ensemble(model: Retrained, choice: EnsembleChoice | None, prepared: Prepared, tracker: Tracker,
                           settings: RunSettings) -> tuple[Retrained, dict | None]:
    """Ensemble selection's members replace the best trial's model only if the nested ensemble beats the single
    trial chosen the same nested way (both honest); either way the model card records both figures."""
    from garbage_hpo.metrics import describe_folds
    from garbage_hpo.selection import default_out_dir, refit_ensemble

    if choice is None:
        return model, None
    record, nested = choice.record(), choice.nested
    low, high = record["gain_ci95_pp"]
    members = dict(zip(choice.trials, choice.weights, strict=True))
    shipping = "the ensemble" if choice.wins else "the best trial alone"
    print(f"ensemble selection over {record['candidates']} trials: members {members} (trial: weight of "
          f"{sum(choice.weights)}); nested CV {describe_folds(nested.ensemble, nested.n)} vs the single trial chosen "
          f"the same way {describe_folds(nested.single, nested.n)}: {record['gain_pp']:+.2f} pp (95% CI "
          f"[{low:+.2f}, {high:+.2f}] pp): shipping {shipping}", flush=True)
    tracker.log_metrics({"ensemble_nested_cv_mean": nested.ensemble.mean,
                         "ensemble_nested_single_cv_mean": nested.single.mean, "ensemble_gain_pp": record["gain_pp"],
                         "ensemble_size": len(choice.trials)})
    card_path = model.checkpoint.with_suffix(".json")
    if not choice.wins:
        update_card(card_path, lambda card: card["selection"].update(ensemble=record))
        return model, record
    selection = read_card(card_path)["selection"] | {"ensemble": record}
    net, checkpoint, images, test = refit_ensemble(choice.settings, prepared, choice.refit_epochs, selection,
                                                   default_out_dir(settings, tracker) / "ensemble", choice.weights)
    return replace(model, net=net, checkpoint=checkpoint, train_images=images, test=test), record


def with_ensemble(model: Retrained, chosen: tuple[list, list] | None, prepared: Prepared, tracker: Tracker,
                  settings: RunSettings) -> tuple[Retrained, dict | None]:
    """The chosen trials' ensemble measured on the same folds; it replaces the best trial's model only if its CV
    mean is higher. Either way the model card records both figures."""
    from garbage_hpo.metrics import describe_folds
    from garbage_hpo.selection import OOF_FILE, default_out_dir, ensemble_cv, refit_ensemble

    if chosen is None:
        return model, None
    trials, configs = chosen
    cv = ensemble_cv(configs, prepared)
    s = cv.summary
    record = cv.record([t.number for t in trials]) | {"shipped": bool(s.mean > model.value)}
    print(f"ensemble of trials {record['members']}: CV mean {describe_folds(s, cv.n)} vs the best trial alone "
          f"{model.value:.4f}: shipping {'the ensemble' if record['shipped'] else 'the best trial alone'}", flush=True)
    tracker.log_metrics({"ensemble_cv_mean": s.mean, "ensemble_cv_std": s.std, "ensemble_cv_ci95_low": s.ci95.low,
                         "ensemble_cv_ci95_high": s.ci95.high, "ensemble_size": len(trials)})
    out = default_out_dir(settings, tracker) / "ensemble"
    out.mkdir(parents=True, exist_ok=True)
    tracker.log_artifact(cv.out_of_fold.save(out / OOF_FILE), "ensemble")  # ensemble/oof.npz
    card_path = model.checkpoint.with_suffix(".json")
    if not record["shipped"]:
        update_card(card_path, lambda card: card["selection"].update(ensemble=record))
        return model, record
    selection = read_card(card_path)["selection"] | {"ensemble": record}
    net, checkpoint, images, test = refit_ensemble(configs, prepared, [m.refit_epochs for m in cv.members],
                                                   selection, out)
    return replace(model, net=net, checkpoint=checkpoint, train_images=images, test=test), record
