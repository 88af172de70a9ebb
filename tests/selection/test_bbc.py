"""BBC-CV, the bias-corrected figure for a configuration chosen on the folds that score it (selection/bbc.py)."""

from __future__ import annotations

import numpy as np
import pytest

from garbage_hpo.selection.bbc import bbc_cv

PHOTOS, TRIALS = 2000, 40


def test_pure_noise_trials_are_corrected_below_the_naive_best_of_n():
    """40 configurations that are all 90% right, differing only by luck: the best of them looks better than 90%;
    BBC-CV does not believe it."""
    right = np.random.default_rng(0).random((PHOTOS, TRIALS)) < 0.9
    naive = right.mean(axis=0).max()
    corrected = bbc_cv(right)
    assert naive > 0.905  # selection is optimistic by about a standard error or two
    assert corrected.estimate < naive - 0.005
    assert corrected.estimate == pytest.approx(0.9, abs=0.006)
    assert corrected.ci95_low < 0.9 < corrected.ci95_high


def test_one_truly_better_trial_keeps_its_figure():
    rng = np.random.default_rng(1)
    right = rng.random((PHOTOS, TRIALS)) < 0.9
    right[:, 7] = rng.random(PHOTOS) < 0.96
    corrected = bbc_cv(right)
    assert corrected.estimate == pytest.approx(right[:, 7].mean(), abs=0.004)
    assert corrected.ci95_low < corrected.estimate < corrected.ci95_high
    assert (corrected.n, corrected.configurations) == (PHOTOS, TRIALS)


def test_the_same_predictions_and_seed_give_the_same_figure():
    right = np.random.default_rng(2).random((300, 5)) < 0.7
    assert bbc_cv(right, seed=3) == bbc_cv(right, seed=3)
    assert bbc_cv(right, seed=3).metrics("best_cv_bbc").keys() == {"best_cv_bbc", "best_cv_bbc_ci95_low",
                                                                    "best_cv_bbc_ci95_high"}


def test_nothing_to_resample_is_refused():
    with pytest.raises(ValueError, match="photos >= 2"):
        bbc_cv(np.ones((1, 3), bool))
