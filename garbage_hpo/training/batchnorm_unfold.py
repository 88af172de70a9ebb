"""Folded BatchNorm made trainable with batch statistics, without changing what the network computes.

An imported TFLite MobileNet's BatchNorm layers are identities plus a bias (gamma 1, moving mean 0, moving
variance 1 - eps; tflite_convert.py): their stored statistics are not those of their inputs. Fine-tuning them
with batch statistics (`finetune.batchnorm=batch`) as they are would normalise every channel of every trained
convolution to unit variance at the first step: another network. So before such training each folded
BatchNorm of the trained blocks is re-estimated: its input's per-channel mean m and variance v are measured on
training inputs, and the layer becomes moving mean m, moving variance v, gamma sqrt(v + eps), beta bias + m.
At those statistics it computes exactly what it did (its input plus the bias); batch statistics near them
change that only as much as a batch differs from the estimate, and the moving statistics then track the data.
Layers that were not folded (ModelZoo, Keras weights) are left as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import mindspore as ms
import numpy as np
from mindspore import nn

from garbage_hpo.models import InvertedResidual

CHUNK = 16  # photos per forward pass while measuring: the first blocks' maps at 224 px are large
SAMPLE = 128  # training inputs the statistics are measured on, spread over the training set


def spread(count: int, sample: int = SAMPLE) -> np.ndarray:
    """`sample` positions spread evenly over `count` training rows (rows are often in class order)."""
    return np.unique(np.linspace(0, count - 1, min(sample, count)).round().astype(np.int64)) if count else \
        np.zeros(0, np.int64)


def is_folded(bn: nn.BatchNorm2d) -> bool:
    """Whether `bn` is a folded identity (exact values: a trained BatchNorm never has them in every channel)."""
    eps = float(bn.eps)
    return (np.all(bn.gamma.asnumpy() == 1.0) and np.all(bn.moving_mean.asnumpy() == 0.0)
            and np.allclose(bn.moving_variance.asnumpy(), 1.0 - eps, rtol=0, atol=1e-7))


class _Moments:
    """Per-channel sums of one BatchNorm's inputs over every measured photo and pixel."""

    def __init__(self) -> None:
        self.count, self.total, self.squares = 0, 0.0, 0.0

    def add(self, z: np.ndarray) -> None:
        z = z.astype(np.float64)
        self.count += z.shape[0] * z.shape[2] * z.shape[3]
        self.total = self.total + z.sum(axis=(0, 2, 3))
        self.squares = self.squares + (z * z).sum(axis=(0, 2, 3))

    def mean_var(self) -> tuple[np.ndarray, np.ndarray]:
        mean = self.total / self.count
        return mean, np.maximum(self.squares / self.count - mean * mean, 0.0)


def _walk(cell: nn.Cell, x: ms.Tensor, moments: dict[int, _Moments], targets: dict[int, nn.BatchNorm2d]
          ) -> ms.Tensor:
    """`cell(x)`, evaluated leaf by leaf so the input of every BatchNorm in `targets` can be measured."""
    if isinstance(cell, nn.BatchNorm2d):
        if id(cell) in targets:
            moments.setdefault(id(cell), _Moments()).add(x.asnumpy())
        return cell(x)
    if isinstance(cell, InvertedResidual):
        y = _walk(cell.conv, x, moments, targets)
        return x + y if cell.use_residual else y
    children = list(cell.cells())
    if not children:
        return cell(x)
    for child in children:  # SequentialCell, ConvBNReLU, DepthwiseSeparable: their children in order
        x = _walk(child, x, moments, targets)
    return x


def unfold_batchnorm(blocks: Sequence[nn.Cell], trained: Sequence[nn.Cell], inputs: np.ndarray) -> int:
    """Re-estimate the folded BatchNorm layers of the `trained` cells (see the module docstring), measured by
    running `inputs` (the input of blocks[0]) through `blocks` in order. Returns how many layers changed."""
    targets = {id(c): c for block in trained for _, c in block.cells_and_names()
               if isinstance(c, nn.BatchNorm2d) and is_folded(c)}
    if not targets or len(inputs) == 0:
        return 0
    for block in blocks:
        block.set_train(False)
    moments: dict[int, _Moments] = {}
    for start in range(0, len(inputs), CHUNK):
        x = ms.Tensor(np.ascontiguousarray(inputs[start:start + CHUNK], np.float32))
        for block in blocks:
            x = _walk(block, x, moments, targets)
    for key, bn in targets.items():
        mean, var = moments[key].mean_var()
        eps = float(bn.eps)
        bn.moving_mean.set_data(ms.Tensor(mean.astype(np.float32)))
        bn.moving_variance.set_data(ms.Tensor(var.astype(np.float32)))
        bn.gamma.set_data(ms.Tensor(np.sqrt(var + eps).astype(np.float32)))
        bn.beta.set_data(ms.Tensor((bn.beta.asnumpy() + mean).astype(np.float32)))
    return len(targets)
