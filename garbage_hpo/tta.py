"""Test-time augmentation: a photo's prediction averaged with that of its mirror image (`features.tta=flip`).

Scores are combined as the log of the mean softmax probability over the views, so a consumer that applies
softmax (the predictor, the cross-entropy in metrics.py) sees the averaged probabilities and argmax gives the
averaged prediction. In cross-validation the mirrored validation photos' cached features are scored by the
same fold heads (training never sees the mirrored view), so TTA's effect is measured, not assumed.
"""

from __future__ import annotations

import numpy as np


def softmax(scores: np.ndarray) -> np.ndarray:
    """Class probabilities from a head's scores (what training's cross-entropy and the predictor apply)."""
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def average_views(*scores: np.ndarray) -> np.ndarray:
    """(N, K) scores of each view -> (N, K) log mean probability."""
    return np.log(np.mean([softmax(s) for s in scores], axis=0) + 1e-30).astype(np.float32)


def weighted_views(scores: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """(N, K) scores of each member -> (N, K) log of their weighted mean probability (weights need not sum
    to 1)."""
    share = np.asarray(weights, np.float64) / float(np.sum(weights))
    mixed = sum(w * softmax(s) for w, s in zip(share, scores, strict=True))
    return np.log(mixed + 1e-30).astype(np.float32)
