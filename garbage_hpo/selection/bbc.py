"""An honest figure for a winner chosen on the same folds that score it: bootstrap bias-corrected CV (BBC-CV;
Tsamardinos, Greasidou and Borboudakis, Machine Learning 107, 2018).

The best of N configurations' CV means is optimistic: selection favours the configurations that were lucky on
these photos. BBC-CV replays the selection without new training: it resamples the photos with replacement,
picks the best configuration on each resample (the in-bag photos) as the sweep picked its winner, and scores
that pick on the photos the resample left out (out of bag). The mean of those out-of-bag scores estimates how
well "the best configuration these folds choose" classifies photos it was not chosen on; their 2.5 and 97.5
percentiles are its interval. Input: one column of out-of-fold correctness per configuration, on the same photos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOOTSTRAPS = 1000


@dataclass(frozen=True)
class BiasCorrected:
    estimate: float  # mean out-of-bag accuracy of the configuration each bootstrap selects
    ci95_low: float
    ci95_high: float
    n: int  # photos
    configurations: int
    bootstraps: int

    def describe(self) -> str:
        return (f"{self.estimate:.4f} (BBC-CV over {self.configurations} configurations, n={self.n}, 95% CI "
                f"[{self.ci95_low:.4f}, {self.ci95_high:.4f}], {self.bootstraps} bootstraps)")

    def metrics(self, prefix: str) -> dict[str, float]:
        """`<prefix>`, `<prefix>_ci95_low`, `<prefix>_ci95_high`: the names the parent run logs."""
        return {prefix: self.estimate, f"{prefix}_ci95_low": self.ci95_low, f"{prefix}_ci95_high": self.ci95_high}


def bbc_cv(correct: np.ndarray, seed: int = 0, bootstraps: int = BOOTSTRAPS) -> BiasCorrected:
    """`correct`: (photos, configurations), True where a configuration's out-of-fold prediction of the photo is
    right. Ties on a resample go to the first configuration, as a sweep's best trial is the first best."""
    correct = np.asarray(correct, dtype=bool)
    if correct.ndim != 2 or correct.shape[0] < 2 or correct.shape[1] < 1:
        raise ValueError(f"BBC-CV needs (photos >= 2, configurations >= 1) predictions, got shape {correct.shape}")
    n, configurations = correct.shape
    rng = np.random.default_rng(seed)
    scores = []
    as_float = correct.astype(np.float64)
    for _ in range(bootstraps):
        counts = np.bincount(rng.integers(0, n, n), minlength=n)
        out_of_bag = counts == 0
        if not out_of_bag.any():  # every photo drawn: nothing to score the pick on (p ~ n!/n^n)
            continue
        chosen = int(np.argmax(counts @ as_float))
        scores.append(correct[out_of_bag, chosen].mean())
    values = np.asarray(scores)
    low, high = np.percentile(values, [2.5, 97.5])
    return BiasCorrected(float(values.mean()), float(low), float(high), n, configurations, len(values))
