"""What a reproduction found, as the run, the registry and a person read it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from garbage_hpo.deploy import read_card
from garbage_hpo.reproduce.shipped import registry_tags, run_name, shipped_network

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from garbage_hpo.reproduce.retrain import Retrained
    from garbage_hpo.tracking import Tracker


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
    network: dict | None = None  # what shipped (shipped.py): a single trial or an ensemble, the figure to quote

    @property
    def passed(self) -> bool:
        return abs(self.difference_pp) <= self.tolerance_pp and self.export_top1_agreement == 1.0


def record(report: Reproduction, tracker: Tracker, client: MlflowClient, notes: list[str], model: Retrained) -> None:
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
    network = describe_shipped(report, tracker)
    card = read_card(Path(report.checkpoint).with_suffix(".json"))
    version = register_version(client, tracker.run_id, card, {
        "reproduction": verdict, "reproduction_of": report.original_run_id,
        "best_trial_reproduced": f"{report.reproduced_val_acc:.6f}", "cv_folds": str(report.cv_folds),
        "train_images": str(report.train_images), "refit_epochs": str(report.refit_epochs),
        "study": report.study_name} | registry_tags(network),
        description=f"{network['summary']} Reproduction {verdict}; run {tracker.run_id}.")
    report.registered_version = str(version.version)
    if report.passed:
        promote(client, version)
        report.champion = True


def describe_shipped(report: Reproduction, tracker: Tracker) -> dict:
    """Name what shipped first in the model card, and in the run's name and description."""
    from garbage_hpo.deploy import update_card

    network = report.network = shipped_network(report)
    card_path = Path(report.checkpoint).with_suffix(".json")
    update_card(card_path, lambda card: card.update(network=network))
    tracker.log_artifact(card_path, "model")  # the run's copy opens with it too (logged at export, before this)
    tracker.set_tags({"mlflow.runName": run_name(network), "hpo.shipped": network["kind"],
                      "mlflow.note.content": f"Shipped {network['summary']} Re-trained from sweep study "
                                             f"{report.study_name} (best trial {report.trial_number}, run "
                                             f"{report.original_run_id}), exported and registered."})
    return network


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
    if report.network:
        lines.append(f"shipped: {report.network['summary']}")
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
