"""Scores of a network for many preprocessed photos: what export checks, the Predictor, the test set and
fine-tuning's validation share."""

from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import nn


def predict_images(net: nn.Cell, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Scores for preprocessed images (N, 3, H, W), in fixed-size batches so one graph serves all."""
    out = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        n = len(chunk)
        if n < batch_size:
            chunk = np.concatenate([chunk, np.zeros((batch_size - n,) + chunk.shape[1:], np.float32)])
        out.append(net(ms.Tensor(chunk)).asnumpy()[:n])
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
