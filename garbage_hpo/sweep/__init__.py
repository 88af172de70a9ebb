"""Sweeps: Optuna studies whose trials compose a Hydra config, train it, and land in MLflow.

The names below are this package's public face, each loaded on first use (runtime/lazy.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from garbage_hpo.runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from garbage_hpo.sweep.best import BestTrial, find_best_trial, find_trial, open_storage, top_trials
    from garbage_hpo.sweep.ensemble_choice import EnsembleChoice, caruana_choice
    from garbage_hpo.sweep.latency import measure
    from garbage_hpo.sweep.winner_findings import bias_corrected, trial_predictions

_WHERE = {
    "BestTrial": "best",
    "EnsembleChoice": "ensemble_choice",
    "bias_corrected": "winner_findings",
    "caruana_choice": "ensemble_choice",
    "find_best_trial": "best",
    "find_trial": "best",
    "measure": "latency",
    "open_storage": "best",
    "top_trials": "best",
    "trial_predictions": "winner_findings",
}
__all__ = [
    "BestTrial",
    "EnsembleChoice",
    "bias_corrected",
    "caruana_choice",
    "find_best_trial",
    "find_trial",
    "measure",
    "open_storage",
    "top_trials",
    "trial_predictions",
]
__getattr__ = lazy_exports(__name__, _WHERE)
