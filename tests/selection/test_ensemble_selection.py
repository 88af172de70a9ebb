"""Ensemble selection over trials' out-of-fold predictions, scored nested (selection/ensemble_selection.py)."""

from __future__ import annotations

import numpy as np

from garbage_hpo.selection.ensemble_selection import ROUNDS, greedy_weights, nested_selection


def confident(labels: np.ndarray, right: np.ndarray, classes: int, p: float = 0.8) -> np.ndarray:
    """Probability p on the given class where `right`, else on the next class."""
    out = np.full((len(labels), classes), (1 - p) / (classes - 1))
    guess = np.where(right, labels, (labels + 1) % classes)
    out[np.arange(len(labels)), guess] = p
    return out


def test_complementary_trials_are_mixed_and_a_useless_one_is_left_out():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 600)
    first_half = np.arange(600) < 300
    a = confident(labels, first_half | (rng.random(600) < 0.5), 4, 0.9)  # sure and right on the first half
    b = confident(labels, ~first_half | (rng.random(600) < 0.5), 4, 0.9)  # ... on the second half
    c = confident(labels, rng.random(600) < 0.3, 4, 0.9)  # mostly wrong
    counts = greedy_weights(np.stack([a, b, c]), labels)
    assert counts.sum() == ROUNDS and counts[2] == 0 and counts[0] > 0 and counts[1] > 0


def test_the_nested_figure_never_sees_the_fold_it_scores():
    """Trial 0 is right everywhere but on fold 2, trial 1 only on fold 2: chosen on the other folds, fold 2's
    ensemble is trial 0 and scores 0 there; a selection that peeked would score 1."""
    labels = np.tile(np.arange(3), 100)
    folds = np.repeat(np.arange(3), 100)
    on_fold_2 = folds == 2
    probs = np.stack([confident(labels, ~on_fold_2, 3), confident(labels, on_fold_2, 3)])
    nested = nested_selection(probs, labels, folds)
    assert nested.ensemble_acc == [1.0, 1.0, 0.0] and nested.single_acc == [1.0, 1.0, 0.0]
    assert nested.n == 300 and nested.gain.mean == 0.0
