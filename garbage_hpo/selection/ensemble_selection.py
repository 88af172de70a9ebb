"""Ensemble selection over a sweep's trials (Caruana, Niculescu-Mizil, Crew and Ksikes, ICML 2004; what
AutoGluon's weighted ensemble does): start from nothing, repeatedly add, with replacement, the trial whose
out-of-fold probabilities most raise the ensemble's accuracy (ties: the lower log loss, then the earlier trial),
for a fixed number of rounds. How often a trial was added is its weight.

Choosing members on the very predictions that then score them would be optimistic, so the figure is nested: on
each outer fold the members are chosen on the other folds' out-of-fold predictions and scored on that fold's
photos, which took no part in the choice. The single best trial is chosen and scored the same nested way, so
the two honest figures compare like with like (paired over the same folds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from garbage_hpo.metrics import FoldSummary, paired_difference, summarize_folds

ROUNDS = 25


def greedy_weights(probs: np.ndarray, labels: np.ndarray, rounds: int = ROUNDS) -> np.ndarray:
    """`probs`: (trials, photos, classes) probabilities. Returns how often each trial was added (sums to
    `rounds`)."""
    counts = np.zeros(len(probs), np.int64)
    total = np.zeros(probs.shape[1:], np.float64)
    rows = np.arange(len(labels))
    for added in range(1, rounds + 1):
        candidates = (total[None] + probs) / added  # every trial added once more
        accuracy = (candidates.argmax(axis=2) == labels[None]).mean(axis=1)
        loss = -np.log(candidates[:, rows, labels] + 1e-12).mean(axis=1)
        best = int(np.lexsort((np.arange(len(probs)), loss, -accuracy))[0])
        counts[best] += 1
        total += probs[best]
    return counts


def weighted_probabilities(probs: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return np.tensordot(counts / counts.sum(), probs, axes=1)


@dataclass(frozen=True)
class NestedSelection:
    ensemble_acc: list[float]  # per outer fold: the ensemble chosen on the other folds, scored on this one
    single_acc: list[float]  # the same for the one trial with the best accuracy on the other folds
    n: int

    @property
    def ensemble(self) -> FoldSummary:
        return summarize_folds(self.ensemble_acc)

    @property
    def single(self) -> FoldSummary:
        return summarize_folds(self.single_acc)

    @property
    def gain(self) -> FoldSummary:
        """Ensemble minus single trial, paired over the outer folds."""
        return paired_difference(self.ensemble_acc, self.single_acc)


def nested_selection(probs: np.ndarray, labels: np.ndarray, folds: np.ndarray, rounds: int = ROUNDS
                     ) -> NestedSelection:
    """`folds`: each photo's outer fold (the CV fold it was validated in)."""
    ensemble, single = [], []
    for fold in np.unique(folds):
        choose, score = folds != fold, folds == fold
        counts = greedy_weights(probs[:, choose], labels[choose], rounds)
        mixed = weighted_probabilities(probs[:, score], counts)
        ensemble.append(float((mixed.argmax(axis=1) == labels[score]).mean()))
        best = int(np.argmax((probs[:, choose].argmax(axis=2) == labels[choose]).mean(axis=1)))
        single.append(float((probs[best, score].argmax(axis=1) == labels[score]).mean()))
    return NestedSelection(ensemble, single, len(labels))
