"""Uncertainty of accuracies: every figure the tool prints carries its photo count and a 95% interval.

- One split: Wilson score interval of `correct` out of `n` photos (well behaved near 0 and 1, unlike the
  normal approximation).
- k folds: Student-t interval of the fold mean, `mean +- t(k-1) * sd / sqrt(k)` with the sample standard
  deviation (ddof=1). `std` itself is reported as scikit-learn's `cv_results_` does (ddof=0), so our
  `cv_std` and a GridSearchCV table agree.
- Two models on the same folds: the paired difference per fold, with the same t interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def as_list(self) -> list[float]:
        return [self.low, self.high]

    def __str__(self) -> str:
        return f"[{self.low:.4f}, {self.high:.4f}]"


def wilson(correct: int, n: int, z: float = Z95) -> Interval:
    """95% Wilson score interval of a proportion; [0, 1] when there is no photo."""
    if n <= 0:
        return Interval(0.0, 1.0)
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if correct == 0 else max(0.0, centre - half)  # exact ends: rounding must not shift them
    high = 1.0 if correct == n else min(1.0, centre + half)
    return Interval(low, high)


def t_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Interval of the mean of `values` (fold accuracies or paired differences); a point for one value."""
    x = np.asarray(values, np.float64)
    mean = float(x.mean())
    if len(x) < 2:
        return Interval(mean, mean)
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return Interval(mean - half, mean + half)


@dataclass(frozen=True)
class FoldSummary:
    mean: float
    std: float  # ddof=0, as scikit-learn's cv_results_
    ci95: Interval
    k: int


def summarize_folds(values: Sequence[float]) -> FoldSummary:
    x = np.asarray(values, np.float64)
    return FoldSummary(float(x.mean()), float(x.std()), t_interval(x), len(x))


def paired_difference(a: Sequence[float], b: Sequence[float]) -> FoldSummary:
    """a - b fold by fold (same folds, same photos): how much model a beats b, with its interval."""
    if len(a) != len(b):
        raise ValueError(f"paired difference needs the same folds: {len(a)} vs {len(b)} values")
    return summarize_folds(np.asarray(a, np.float64) - np.asarray(b, np.float64))


def describe_split(accuracy: float, n: int) -> str:
    """'0.9511 (n=225, 95% CI [0.9145, 0.9725])' for one split."""
    correct = round(accuracy * n)
    return f"{accuracy:.4f} (n={n}, 95% CI {wilson(correct, n)})"


def describe_folds(summary: FoldSummary, n: int) -> str:
    """'0.9480 +- 0.0060 (5 folds, n=2123, 95% CI [0.9405, 0.9555])' for a cross-validated value."""
    return f"{summary.mean:.4f} +- {summary.std:.4f} ({summary.k} folds, n={n}, 95% CI {summary.ci95})"


def newcombe_difference(acc_a: float, n_a: int, acc_b: float, n_b: int, z: float = Z95) -> Interval:
    """95% interval of acc_a - acc_b from two Wilson intervals (Newcombe's hybrid score method): for two
    accuracies measured once each, where no per-fold pairing exists. Conservative when both are measured on
    the same photos."""
    a, b = wilson(round(acc_a * n_a), n_a, z), wilson(round(acc_b * n_b), n_b, z)
    d = acc_a - acc_b
    return Interval(d - math.hypot(acc_a - a.low, b.high - acc_b), d + math.hypot(a.high - acc_a, acc_b - b.low))


def format_params(params: dict) -> str:
    """Sampled values for the terminal: floats with 4 significant digits (`head.dropout=0.6344`)."""
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
