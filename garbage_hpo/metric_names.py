"""The names runs record, chosen for how the MLflow 3 UI shows them.

- The UI groups charts into sections by the text before the last "/", lists those sections alphabetically
  and puts the ungrouped "Model metrics" after them. Per-epoch curves live under `epoch/` so a run's charts
  open on its learning curves, and their last point cannot be mistaken for the run's score.
- A trial's score is one metric, `objective`: the value Optuna ranked it by.
- Per-class figures use readable class names (`per_class/Eggshell`), not folder codes.
"""

from __future__ import annotations

import re

from garbage_hpo.data.classes import ClassInfo

CURVE = "epoch/"  # per-epoch curves: epoch/train_loss, epoch/val_acc, epoch/cv_mean_acc, ...
CV_CURVE = f"{CURVE}cv_mean_acc"  # the fold-mean validation accuracy after each epoch
OBJECTIVE = "objective"  # the value Optuna got for the trial (one objective)
MODEL = "model."  # the kept model's validation figures: model.val_acc, model.val_ci95_low, ...
PER_CLASS = "per_class/"
PER_CATEGORY = "per_category/"

_NOT_ALLOWED = re.compile(r"[^\w.\- :/]")  # MLflow's metric-name alphabet (\w includes CJK letters)


def objective_keys(metrics: list[str]) -> list[str]:
    """`objective` for one objective; `objective.<metric>` for each of several."""
    return [OBJECTIVE] if len(metrics) == 1 else [f"{OBJECTIVE}.{m}" for m in metrics]


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
