"""Test-time augmentation: a photo's prediction averaged with that of its mirror image (`features.tta=flip`).

Scores are combined as the log of the mean softmax probability over the views, so a consumer that applies
softmax (the predictor, the cross-entropy in metrics.py) sees the averaged probabilities and argmax gives the
averaged prediction. In cross-validation the mirrored validation photos' cached features are scored by the
same fold heads (training never sees the mirrored view), so TTA's effect is measured, not assumed.
"""

from __future__ import annotations

import numpy as np


def average_views(*scores: np.ndarray) -> np.ndarray:
    """(N, K) scores of each view -> (N, K) log mean probability."""
    probs = []
    for s in scores:
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        probs.append(e / e.sum(axis=-1, keepdims=True))
    return np.log(np.mean(probs, axis=0) + 1e-30).astype(np.float32)
