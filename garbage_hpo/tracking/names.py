"""The names runs record, chosen for how the MLflow 3 UI shows them.

- The UI groups charts into sections by the text before the last "/", lists those sections alphabetically
  and puts the ungrouped "Model metrics" after them. Per-epoch curves live under `epoch/` so a run's charts
  open on its learning curves, and their last point cannot be mistaken for the run's score.
- A trial's score has one name, the one its run records it under (`score_name`): `cv_mean` for a
  cross-validated `val_acc`, `model.val_acc` on one split; the sweep's parent run records the winner's as
  `best_cv_mean` (`best_val_acc`). Its interval is beside it (`cv_ci95_low`, `cv_ci95_high`).
- Per-class figures use readable class names (`per_class/Eggshell`), not folder codes.
"""

from __future__ import annotations

import re

from garbage_hpo.data import ClassInfo

CURVE = "epoch/"  # per-epoch curves: epoch/train_loss, epoch/val_acc, epoch/cv_mean_acc, ...
CV_CURVE = f"{CURVE}cv_mean_acc"  # the fold-mean validation accuracy after each epoch
MODEL = "model."  # the kept model's validation figures: model.val_acc, model.val_ci95_low, ...
CV_SCORES = {"val_acc": "cv_mean", "val_top5": "cv_top5", "val_loss": "cv_loss"}  # the fold means at refit_epochs
BEST = "best_"
PER_CLASS = "per_class/"
PER_CATEGORY = "per_category/"

_NOT_ALLOWED = re.compile(r"[^\w.\- :/]")  # MLflow's metric-name alphabet (\w includes CJK letters)


def score_name(metric: str, cross_validated: bool) -> str:
    """The name a trial run records the value of objective `metric` (`sweep.metric`) under: the figure Optuna
    ranked the trial by, under the name it already has (no second copy)."""
    if metric in CV_SCORES:
        return CV_SCORES[metric] if cross_validated else f"{MODEL}{metric}"
    return metric


def best_name(score: str) -> str:
    """The sweep parent's name for its winner's score: best_cv_mean, best_val_acc, ..."""
    return BEST + score.removeprefix(MODEL)


def interval_names(score: str) -> tuple[str, str] | None:
    """The names of a score's 95% interval bounds as runs record them, where the score has one."""
    if score == "cv_mean":
        return "cv_ci95_low", "cv_ci95_high"
    if score == f"{MODEL}val_acc":
        return f"{MODEL}val_ci95_low", f"{MODEL}val_ci95_high"
    return None


def class_label(info: ClassInfo) -> str:
    """The readable, key-safe name of a class (its English name; the folder code when that is all there is)."""
    return _NOT_ALLOWED.sub("_", info.english or info.folder).strip() or info.folder


def class_labels(classes: list[ClassInfo]) -> dict[str, str]:
    """folder -> unique readable label; a label two classes share gets its folder code appended."""
    labels = {c.folder: class_label(c) for c in classes}
    seen: dict[str, int] = {}
    for label in labels.values():
        seen[label] = seen.get(label, 0) + 1
    return {folder: (label if seen[label] == 1 else f"{label} {folder}") for folder, label in labels.items()}


def per_class_metrics(per_class: dict[str, float | None], classes: list[ClassInfo]) -> dict[str, float]:
    labels = class_labels(classes)
    return {f"{PER_CLASS}{labels.get(folder, folder)}": v for folder, v in per_class.items() if v is not None}


def per_category_metrics(per_category: dict[str, float]) -> dict[str, float]:
    return {f"{PER_CATEGORY}{name}": v for name, v in per_category.items()}
