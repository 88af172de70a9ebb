"""Test-time augmentation: a photo's prediction averaged with those of other views of it: its mirror image
(`features.tta=flip`), or the mirror and five crops of 7/8 of the photo's side (centre and corners), each with
its own mirror (`features.tta=crops`, 12 views in all). A crop is cut from the resized photo the network
receives, with no resampling, so the cached features of a crop and the exported network's agree exactly;
the backbone pools globally, so it takes the smaller crop as it is.

Scores are combined as the log of the mean softmax probability over the views, so a consumer that applies
softmax (the predictor, the cross-entropy in metrics.py) sees the averaged probabilities and argmax gives the
averaged prediction. In cross-validation the mirrored validation photos' cached features are scored by the
same fold heads (training never sees the mirrored view), so TTA's effect is measured, not assumed.
"""

from __future__ import annotations

import numpy as np

CROP_FRACTION = 0.875  # a crop's side over the photo's: 140 of 160 px
CROPS = ("centre", "top-left", "top-right", "bottom-left", "bottom-right")
# each mode's views besides the photo itself: (mirrored, crop ("" for the whole photo))
EXTRA_VIEWS: dict[str, tuple[tuple[bool, str], ...]] = {
    "none": (),
    "flip": ((True, ""),),
    "crops": ((True, ""),) + tuple((mirrored, crop) for crop in CROPS for mirrored in (False, True)),
}
TTA_MODES = tuple(EXTRA_VIEWS)


def crop_box(size: int, crop: str) -> tuple[int, int, int]:
    """(top, left, side) of crop `crop` of a `size` x `size` photo. Plain arithmetic on constants: the exported
    network calls it while its graph compiles (models/views.py)."""
    side = int(size * CROP_FRACTION + 0.5)
    margin = size - side
    top = {"centre": margin // 2, "top-left": 0, "top-right": 0, "bottom-left": margin, "bottom-right": margin}
    left = {"centre": margin // 2, "top-left": 0, "top-right": margin, "bottom-left": 0, "bottom-right": margin}
    return top[crop], left[crop], side


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
