"""Scores of predictions: classification metrics (accuracy, confusion, per class and category), the
per-class table (class_table) and their intervals (Wilson, paired differences over folds).

The names below are this package's public face, each loaded on first use (runtime/lazy.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from garbage_hpo.runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from garbage_hpo.metrics.class_table import class_table, write_class_table
    from garbage_hpo.metrics.classification import (
        Evaluation,
        Measured,
        confusion_matrix,
        evaluate_scores,
        per_category_accuracy,
        per_class_accuracy,
    )
    from garbage_hpo.metrics.intervals import (
        FoldSummary,
        Interval,
        describe_folds,
        describe_split,
        format_params,
        newcombe_difference,
        paired_difference,
        summarize_folds,
        wilson,
    )

_WHERE = {
    "Evaluation": "classification",
    "FoldSummary": "intervals",
    "Interval": "intervals",
    "Measured": "classification",
    "class_table": "class_table",
    "confusion_matrix": "classification",
    "describe_folds": "intervals",
    "describe_split": "intervals",
    "evaluate_scores": "classification",
    "format_params": "intervals",
    "newcombe_difference": "intervals",
    "paired_difference": "intervals",
    "per_category_accuracy": "classification",
    "per_class_accuracy": "classification",
    "summarize_folds": "intervals",
    "wilson": "intervals",
    "write_class_table": "class_table",
}
__all__ = [
    "Evaluation",
    "FoldSummary",
    "Interval",
    "Measured",
    "class_table",
    "confusion_matrix",
    "describe_folds",
    "describe_split",
    "evaluate_scores",
    "format_params",
    "newcombe_difference",
    "paired_difference",
    "per_category_accuracy",
    "per_class_accuracy",
    "summarize_folds",
    "wilson",
    "write_class_table",
]
__getattr__ = lazy_exports(__name__, _WHERE)
