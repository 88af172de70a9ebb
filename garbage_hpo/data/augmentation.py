"""Training-time augmentation: random resized crop and horizontal flip (fine-tuning, the cut-point cache and
the head's augmented feature views)."""

from __future__ import annotations

import math

import cv2
import numpy as np

CROP_SCALE = (0.35, 1.0)  # share of the photo's area a crop keeps
CROP_RATIO = (3 / 4, 4 / 3)
FLIP_PROBABILITY = 0.5
AUGMENTATION = {"crop_scale": CROP_SCALE, "crop_ratio": CROP_RATIO, "flip": FLIP_PROBABILITY}  # cut-cache key


def random_resized_crop(rgb: np.ndarray, size: int, rng: np.random.Generator,
                        scale: tuple[float, float] = CROP_SCALE, ratio: tuple[float, float] = CROP_RATIO
                        ) -> np.ndarray:
    h, w = rgb.shape[:2]
    area = h * w
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            return cv2.resize(rgb[y0 : y0 + ch, x0 : x0 + cw], (size, size), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_LINEAR)


def augment(rgb: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    out = random_resized_crop(rgb, size, rng)
    if rng.random() < FLIP_PROBABILITY:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def view_rng(seed: int, view: int, photo_digest: str) -> np.random.Generator:
    """The crop and flip of one view of one photo: the same whichever order or subset builds it."""
    return np.random.default_rng([seed, 6007, view, int(photo_digest[:15], 16)])
