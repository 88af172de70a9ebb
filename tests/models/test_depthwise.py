"""The depthwise convolution's matrix form (training on maps of at most 5x5) equals MindSpore's convolution."""

from __future__ import annotations

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn, ops

from garbage_hpo.models.depthwise import MATMUL_MAX_SIDE, DepthwiseConv2d
from garbage_hpo.models.mobilenetv2 import MobileNetV2Backbone
from garbage_hpo.models.profiles import KERAS, MODELZOO


class ProbeLoss(nn.Cell):
    def __init__(self, cell: nn.Cell) -> None:
        super().__init__()
        self.cell = cell

    def construct(self, x, probe):
        return (self.cell(x) * probe).sum()


class Gradients(nn.Cell):
    """Input gradients and weight gradient of `cell` for the loss sum(output * probe)."""

    def __init__(self, cell: nn.Cell) -> None:
        super().__init__()
        self.loss = ProbeLoss(cell)
        self.grad = ops.GradOperation(get_all=True, get_by_list=True)
        self.weights = ms.ParameterTuple(cell.trainable_params())

    def construct(self, x, probe):
        return self.grad(self.loss, self.weights)(x, probe)


def pair(channels: int, pad_mode: str) -> tuple[DepthwiseConv2d, DepthwiseConv2d]:
    """The same weights twice: one cell may use the matrix form, the other is forced to the convolution."""
    padding = 0 if pad_mode == "same" else 1
    fast, plain = DepthwiseConv2d(channels, 1, pad_mode, padding), DepthwiseConv2d(channels, 1, pad_mode, padding)
    plain.as_matrices = False
    weight = np.random.default_rng(1).normal(size=(channels, 1, 3, 3)).astype(np.float32)
    for cell in (fast, plain):
        cell.weight.set_data(ms.Tensor(weight))
        cell.set_train(True)
    return fast, plain


@pytest.mark.parametrize("side,pad_mode", [(5, "same"), (3, "pad"), (1, "same"), (7, "same")])
def test_training_output_and_gradients_equal_the_convolution(side, pad_mode):
    fast, plain = pair(24, pad_mode)
    rng = np.random.default_rng(side)
    x = ms.Tensor(rng.normal(size=(4, 24, side, side)).astype(np.float32))
    probe = ms.Tensor(rng.normal(size=(4, 24, side, side)).astype(np.float32))
    np.testing.assert_allclose(fast(x).asnumpy(), plain(x).asnumpy(), atol=1e-5)
    (dx_fast, _), (dw_fast,) = Gradients(fast)(x, probe)
    (dx_plain, _), (dw_plain,) = Gradients(plain)(x, probe)
    np.testing.assert_allclose(dx_fast.asnumpy(), dx_plain.asnumpy(), atol=1e-5)
    np.testing.assert_allclose(dw_fast.asnumpy(), dw_plain.asnumpy(), rtol=1e-5, atol=1e-4)


def test_inference_and_large_maps_keep_the_convolution():
    """Eval mode (what ONNX/MINDIR export) and maps over 5x5 never take the matrix form; names are unchanged."""
    fast, _ = pair(8, "same")
    fast.set_train(False)
    x = ms.Tensor(np.ones((2, 8, 5, 5), np.float32))
    expected = ops.conv2d(x, fast.weight, pad_mode="same", groups=8).asnumpy()
    np.testing.assert_allclose(fast(x).asnumpy(), expected, atol=1e-6)
    assert MATMUL_MAX_SIDE == 5
    backbone = MobileNetV2Backbone(1.0, KERAS)
    depthwise = [c for _, c in backbone.cells_and_names() if isinstance(c, DepthwiseConv2d)]
    assert len(depthwise) == 17  # every inverted residual block's 3x3 depthwise convolution
    assert [c.as_matrices for c in depthwise].count(False) == 4  # the four stride-2 blocks
    names = {p.name for p in MobileNetV2Backbone(1.0, MODELZOO).get_parameters()}
    assert "features.15.conv.1.features.0.weight" in names
