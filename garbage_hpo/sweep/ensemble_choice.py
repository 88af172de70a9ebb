"""Which of a study's trials `reproduce ensemble=caruana` combines, with which weights, and how good that is
honestly (selection/ensemble_selection.py), from the trials' out-of-fold predictions: nothing is trained to
choose. Candidates are the completed, cross-validated, head-only trials (their heads share one backbone in the
shipped network) that predicted the same photos as the best trial.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import optuna

from garbage_hpo.config import RunSettings
from garbage_hpo.selection import ROUNDS, NestedSelection, OutOfFold, by_photo, greedy_weights, nested_selection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnsembleChoice:
    trials: list[int]  # members, by trial number
    settings: list[RunSettings]
    weights: list[int]  # how often ensemble selection added each member (they sum to ROUNDS)
    refit_epochs: list[int]
    candidates: int
    nested: NestedSelection

    @property
    def wins(self) -> bool:
        """The nested ensemble beats the nested single trial (both honest, on the same folds)."""
        return self.nested.ensemble.mean > self.nested.single.mean

    def record(self) -> dict:
        ens, single, gain = self.nested.ensemble, self.nested.single, self.nested.gain
        return {"method": "caruana", "members": self.trials, "weights": self.weights, "rounds": ROUNDS,
                "candidates": self.candidates, "cv_folds": ens.k, "n": self.nested.n,
                "nested_cv_mean": ens.mean, "nested_cv_std": ens.std, "nested_ci95": ens.ci95.as_list(),
                "nested_single_cv_mean": single.mean, "nested_single_ci95": single.ci95.as_list(),
                "gain_pp": 100 * gain.mean, "gain_ci95_pp": [100 * gain.ci95.low, 100 * gain.ci95.high],
                "shipped": self.wins}


def caruana_choice(trials: list[optuna.trial.FrozenTrial], predictions: dict[int, OutOfFold], best_number: int,
                   settings_of: Callable[[optuna.trial.FrozenTrial], RunSettings]) -> EnsembleChoice | None:
    """Ensemble selection over a study's head-only CV trials, from their out-of-fold predictions
    (winner_findings.trial_predictions; `settings_of` reads a trial's recorded configuration); None when fewer
    than two candidates have predictions."""
    if best_number not in predictions:
        return None
    comparable = by_photo(predictions, predictions[best_number])
    by_number = {t.number: t for t in trials}
    heads = {n: settings_of(by_number[n]) for n in comparable}
    numbers = sorted(n for n, s in heads.items() if not s.finetuning and s.cv_folds > 1)
    if len(numbers) < 2:
        log.warning("ensemble selection: fewer than two cross-validated head-only trials with predictions")
        return None
    stacked = np.stack([comparable[n].probs for n in numbers])
    labels, folds = comparable[best_number].labels, comparable[best_number].folds
    nested = nested_selection(stacked, labels, folds)
    counts = greedy_weights(stacked, labels)
    chosen = [i for i in range(len(numbers)) if counts[i]]
    return EnsembleChoice([numbers[i] for i in chosen], [heads[numbers[i]] for i in chosen],
                          [int(counts[i]) for i in chosen],
                          [int(by_number[numbers[i]].user_attrs["refit_epochs"]) for i in chosen], len(numbers),
                          nested)
