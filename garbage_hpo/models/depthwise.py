"""A 3x3 depthwise convolution whose training graph is fast on the small feature maps of the last blocks.

MindSpore's CPU depthwise kernels are slow on tiny maps: on the last blocks' 5x5 maps three depthwise
convolutions (forward and both gradients) were about half of a fine-tuning step of the last 4 blocks at
160 px (BENCHMARKS.md, "Depthwise convolutions as matrices").
On a map of at most 5x5 every channel's convolution is a linear map of its 25 pixels, so it can be written as
one small matrix per channel (built from the channel's 9 weights and a constant placement of the 9 kernel
offsets) and run as one batched matrix product: several times faster for the same work, the same values to
float rounding (tested). Larger maps (already 7x7) gain nothing, so they keep the convolution.

Only training uses the matrix form: inference, ONNX and MINDIR exports keep the plain convolution, so the
exported graph is the standard MobileNet one. The weight is the convolution's own `weight` (C, 1, 3, 3):
parameter names and checkpoints do not change.
"""

from __future__ import annotations

import numpy as np
from mindspore import Tensor, nn, ops

MATMUL_MAX_SIDE = 5  # largest square map trained as matrices; at 7x7 the two forms cost the same (BENCHMARKS.md)


def placement(side: int) -> np.ndarray:
    """(9, side^2 * side^2): row k is the 0/1 matrix [out pixel, in pixel] of kernel offset k (zero padding)."""
    out = np.zeros((9, side * side, side * side), np.float32)
    for k in range(9):
        di, dj = k // 3 - 1, k % 3 - 1
        for i in range(side):
            for j in range(side):
                if 0 <= i + di < side and 0 <= j + dj < side:
                    out[k, i * side + j, (i + di) * side + j + dj] = 1.0
    return out.reshape(9, -1)


class DepthwiseConv2d(nn.Conv2d):
    """`nn.Conv2d(c, c, 3, stride, group=c, has_bias=False)`; in training, maps of at most 5x5 at stride 1
    go through per-channel matrices (see the module docstring)."""

    def __init__(self, channels: int, stride: int, pad_mode: str, padding: int = 0) -> None:
        super().__init__(channels, channels, 3, stride, pad_mode=pad_mode, padding=padding, group=channels,
                         has_bias=False)
        self.as_matrices = stride == 1  # stride 1 with 'same' or 1-pixel padding: zero padding of 1 either way
        self.placements = tuple(Tensor(placement(side)) for side in range(1, MATMUL_MAX_SIDE + 1))

    def construct(self, x):
        b, c, h, w = x.shape
        if self.as_matrices and self.training and h == w and h <= MATMUL_MAX_SIDE:
            matrices = ops.matmul(self.weight.reshape(c, 9), self.placements[h - 1]).reshape(c, h * w, h * w)
            y = ops.bmm(matrices, x.reshape(b, c, h * w).transpose(1, 2, 0))  # (c, out pixels, batch)
            return y.transpose(2, 0, 1).reshape(b, c, h, w)
        return self.conv2d(x, self.weight)  # nn.Conv2d.construct without a bias
