"""Re-train the best sweep trial and prove it reproduces:

    python -m garbage_hpo.reproduce [experiment=NAME [trial=N]] [tolerance=0.5] [ensemble=K|caruana]
                                    [sweep.storage=URL] [tracking.uri=URI] [key=value ...] [--json]

Finds the best completed (not pruned) trial by val_acc, in study NAME or over every study of the Optuna
storage (default runs/optuna.db), or takes trial N of study NAME; measures its exact recorded config and
seed again in a new MLflow run tagged hpo.reproduction_of=<run id> (its CV mean over the same
folds when the sweep cross-validated, else its one-split val_acc) and prints both values, with photo count
and 95% interval, and their difference. Then the model to ship: a head-only config is REFIT on every
training photo for the selected epoch count (refit_epochs), without looking at any validation photo; a
fine-tuned config keeps its one-split model. A val/ folder is a test set, scored once here. The model is
saved (model/model.ckpt, model/model.json with train_images and selection), exported to MINDIR
(model/model.mindir, checked to give the same top-1 on the test photos, else on up to 256 training photos)
and registered as a new version of the MLflow registered model `garbage-hpo`; the alias `champion` moves to
it only when the difference is within `tolerance` percentage points and the export agrees. Other key=value
pairs override the recorded config (e.g. data.root=DIR when the photos moved). ensemble=K (default: the
recorded sweep.ensemble, 3 for the champion experiment, else 1) also cross-validates the mean probability of
the study's top K cross-validated head-only trials on the same folds; if that beats the best trial alone, all
K heads are refit on every training photo and shipped as ONE network sharing the backbone; the model card
records both CV figures either way. ensemble=caruana instead chooses members and weights by ensemble selection
over every head-only CV trial's out-of-fold predictions, scored nested (chosen on the other folds, scored on
each fold) against the single trial chosen the same way; it ships only if it wins that honest comparison.
Exit code 0: reproduced; 1: not reproduced; 2: bad input.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf, open_dict

from garbage_hpo.config import recorded_config
from garbage_hpo.deploy import read_card, update_card
from garbage_hpo.metrics import format_params
from garbage_hpo.runtime import (
    command_args,
    configure_runtime,
    friendly_errors,
    key_values,
    number_value,
)
from garbage_hpo.tracking import check_tracking_store, stop_at_once, tracking_uri

log = logging.getLogger("garbage_hpo.reproduce")


@dataclass
class Reproduction:
    study_name: str
    trial_number: int
    original_run_id: str
    run_id: str
    recorded_val_acc: float  # the trial's value: CV mean (cv_folds > 1) or one-split val_acc
    reproduced_val_acc: float
    difference_pp: float
    tolerance_pp: float
    cv_folds: int
    reproduced_std: float  # across folds (0 for one split)
    reproduced_ci95: list[float]
    reproduced_n: int  # validation photos behind the value
    refit: bool  # the exported model was trained on every training photo
    refit_epochs: int | None
    train_images: int  # photos the exported model was trained on
    test: dict  # test_acc, test_n, test_ci95_* when the data has a val/ folder
    export_top1_agreement: float
    export_max_abs_diff: float
    export_check_photos: int
    checkpoint: str
    mindir: str
    registered_version: str
    champion: bool
    ensemble: dict | None = None  # `ensemble=k`: the top-k trials' CV on the same folds, and whether it shipped
    link: str = ""  # the reproduction run in the MLflow UI
    bias_corrected: dict | None = None  # the best trial's BBC-CV figure over its study (the one to quote)

    @property
    def passed(self) -> bool:
        return abs(self.difference_pp) <= self.tolerance_pp and self.export_top1_agreement == 1.0


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


def locate(overrides: dict[str, str]):
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


def retrain(settings, prepared, tracker, best) -> Retrained:
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


def study_predictions(storage: str, best, client, out: Path) -> tuple[list, dict]:
    """(the best trial's study's trials, their out-of-fold predictions by trial number), read once for BBC-CV and
    ensemble selection alike."""
    import optuna

    from garbage_hpo.sweep import open_storage, trial_predictions

    trials = optuna.load_study(study_name=best.study_name, storage=open_storage(storage)).trials
    return trials, trial_predictions(client, trials, out)


def bias_corrected_selection(predictions: dict, best, model: Retrained) -> dict | None:
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


def ensemble_members(k: int, storage: str, best, client, overrides: dict[str, str]) -> tuple[list, list] | None:
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


def caruana_members(found: tuple[list, dict], best, client, overrides: dict[str, str], base):
    """Ensemble selection over the study's head-only CV trials read on the same data and backbone as the best
    trial (`found`: study_predictions; sweep/ensemble_choice.py); None when fewer than two qualify."""
    from garbage_hpo.config import read_settings
    from garbage_hpo.sweep import caruana_choice

    def settings_of(trial):
        settings = read_settings(recorded_config(client, trial.user_attrs["mlflow_run_id"], dict(overrides)))
        same_inputs = settings.data == base.data and settings.model == base.model
        return replace(settings, cv_folds=settings.cv_folds if same_inputs else 1)  # 1: not a candidate

    return caruana_choice(*found, best.number, settings_of)


def with_selected_ensemble(model: Retrained, choice, prepared, tracker, settings) -> tuple[Retrained, dict | None]:
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


def with_ensemble(model: Retrained, chosen: tuple[list, list] | None, prepared, tracker, settings
                  ) -> tuple[Retrained, dict | None]:
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


def check_photos(prepared, limit: int = 256) -> np.ndarray:
    """Photos to compare the export with: the test set if any, else up to `limit` training photos spread over
    the classes (the check is about the export's fidelity, not accuracy)."""
    from garbage_hpo.data import positions, preprocess
    from garbage_hpo.pipeline import load_images

    chosen = prepared.split.test if len(prepared.split.test) else positions(prepared.index, "train")
    chosen = chosen[np.linspace(0, len(chosen) - 1, min(limit, len(chosen))).astype(int)]
    scaling = prepared.spec.profile.input_scaling
    return np.stack([preprocess(img, prepared.image_size, scaling) for img in load_images(prepared, chosen)])


def export_and_check(model: Retrained, prepared, tracker) -> tuple[Path, float, float, int]:
    from garbage_hpo.deploy import export_mindir, load_mindir, top1_agreement

    mindir = export_mindir(model.net, prepared.image_size, model.checkpoint.with_suffix(".mindir"))
    update_card(model.checkpoint.with_suffix(".json"), lambda card: None, add_weights=(mindir,))
    for path in (model.checkpoint, model.checkpoint.with_suffix(".json"), mindir):
        tracker.log_artifact(path, "model")
    photos = check_photos(prepared)
    agreement, max_diff = top1_agreement(model.net, load_mindir(mindir), photos)
    return mindir, agreement, max_diff, len(photos)


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
    status = "FAILED"
    try:
        notes = warn_if_inputs_changed(original.data.tags, run_tags(prepared))
        model = retrain(settings, prepared, tracker, best)
        found = ([], {})  # the study's trials and their out-of-fold predictions: read once, when wanted
        if model.folds > 1 and (chosen_by_the_sweep or k == "caruana"):
            found = study_predictions(storage, best, client, settings.runs / "reproduce" / tracker.run_id)
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
        status = "FINISHED"
        return report
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        tracker.end(status)


def record(report: Reproduction, tracker, client, notes: list[str], model: Retrained) -> None:
    """Metrics and verdict on the reproduction run; a new registry version, `champion` only if it passed."""
    from garbage_hpo.deploy import promote, register_version

    verdict = "passed" if report.passed else "failed"
    tracker.log_metrics({"recorded_objective": report.recorded_val_acc,
                         "reproduced_objective": report.reproduced_val_acc,
                         "reproduction_diff_pp": report.difference_pp, "train_images": report.train_images,
                         "export_top1_agreement": report.export_top1_agreement,
                         "export_max_abs_diff": report.export_max_abs_diff} | model.test
                        | ({"selection_cv_bbc": report.bias_corrected["cv_bbc"]} if report.bias_corrected else {}),
                        flush=True)
    tracker.set_tags({"hpo.reproduction": verdict, "hpo.refit": str(report.refit).lower()} |
                     ({"hpo.reproduction_notes": "; ".join(notes)} if notes else {}))
    card = read_card(Path(report.checkpoint).with_suffix(".json"))
    version = register_version(client, tracker.run_id, card, {
        "reproduction": verdict, "reproduction_of": report.original_run_id,
        "val_acc": f"{report.reproduced_val_acc:.6f}", "cv_folds": str(report.cv_folds),
        "train_images": str(report.train_images), "refit_epochs": str(report.refit_epochs),
        "study": report.study_name, "trial": str(report.trial_number)})
    report.registered_version = str(version.version)
    if report.passed:
        promote(client, version)
        report.champion = True


def human_report(report: Reproduction) -> str:
    from garbage_hpo.metrics import Interval, describe_split

    how = f"{report.cv_folds}-fold CV mean" if report.cv_folds > 1 else "one-split val_acc"
    reproduced = (f"{report.reproduced_val_acc:.4f} +- {report.reproduced_std:.4f} (n={report.reproduced_n}, "
                  f"95% CI {Interval(*report.reproduced_ci95)})" if report.cv_folds > 1 else
                  describe_split(report.reproduced_val_acc, report.reproduced_n))
    trained = (f"refit on all {report.train_images} training photos for {report.refit_epochs} epochs"
               if report.refit else f"trained on the {report.train_images} photos of the split (fine-tuned: no refit)")
    lines = [f"recorded   {how} {report.recorded_val_acc:.4f}  (run {report.original_run_id})",
             f"reproduced {how} {reproduced}  (run {report.run_id})",
             f"difference {report.difference_pp:+.2f} percentage points (tolerance {report.tolerance_pp})",
             f"model: {trained}"]
    if report.bias_corrected:
        b = report.bias_corrected
        lines.insert(1, f"bias-corrected (BBC-CV over the study's {b['cv_bbc_trials']} trials) {b['cv_bbc']:.4f} "
                        f"(95% CI {Interval(*b['cv_bbc_ci95'])}): quote this one; the recorded value is the best "
                        "of those trials on the same folds (optimistic)")
    if report.ensemble and report.ensemble.get("method") == "caruana":
        e = report.ensemble
        lines.append(f"ensemble selection, trials {e['members']} weighted {e['weights']}: nested {e['cv_folds']}-fold "
                     f"CV {e['nested_cv_mean']:.4f} (95% CI {Interval(*e['nested_ci95'])}) vs a single trial chosen "
                     f"the same way {e['nested_single_cv_mean']:.4f}: "
                     + ("SHIPPED, one network, heads side by side" if e["shipped"] else "not better, not shipped"))
    elif report.ensemble:
        e = report.ensemble
        lines.append(f"ensemble of trials {e['members']}: {e['cv_folds']}-fold CV mean {e['cv_mean']:.4f} +- "
                     f"{e['cv_std']:.4f} (95% CI {Interval(*e['ci95'])}): "
                     + ("SHIPPED, one network, heads side by side" if e["shipped"] else "not better, not shipped"))
    if report.test:
        lines.append("test (val/, scored once, never selected on): accuracy "
                     f"{describe_split(report.test['test_acc'], int(report.test['test_n']))}")
    alias = "alias champion moved to it" if report.champion else "champion alias NOT moved"
    lines += [f"MINDIR export: top-1 agrees on {report.export_top1_agreement:.1%} of {report.export_check_photos} "
              f"photos, max score difference {report.export_max_abs_diff:.2e}: {report.mindir}",
              f"registered garbage-hpo version {report.registered_version}: {alias}",
              f"MLflow: {report.link}",
              "REPRODUCED" if report.passed else "NOT REPRODUCED"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = command_args(argv, __doc__, "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s", logging.INFO)
    if argv is None:
        return 0
    with friendly_errors():
        overrides, flags = key_values(argv, {"json": False})
        stop_at_once("reproduce")
        report = reproduce(overrides)
        if flags.get("json"):
            print(json.dumps(asdict(report) | {"passed": report.passed}))
        else:
            print(human_report(report))
        return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
