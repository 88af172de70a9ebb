"""Folded BatchNorm re-estimated before training with batch statistics: same function, real statistics."""

from __future__ import annotations

import mindspore as ms
import numpy as np

from garbage_hpo.models.factory import new_backbone
from garbage_hpo.models.tflite_convert import mindspore_params
from garbage_hpo.training.batchnorm_unfold import is_folded, spread, unfold_batchnorm
from tests.models.test_tflite import PROFILE, synthetic_graph


def folded_backbone(seed: int = 0):
    backbone = new_backbone("mobilenetv1", 0.25, PROFILE)
    params = mindspore_params(synthetic_graph("mobilenetv1", 0.25, seed), "mobilenetv1")
    for name, param in backbone.parameters_and_names():
        param.set_data(ms.Tensor(params[name]))
    return backbone


PHOTOS = np.random.default_rng(0).normal(0, 1, (16, 3, 64, 64)).astype(np.float32)


def in_batch_mode(backbone, blocks, trained: int) -> np.ndarray:
    """The backbone's output with its last `trained` blocks in training mode (batch statistics)."""
    backbone.set_train(True)
    for block in blocks[:-trained]:
        block.set_train(False)
    return backbone(ms.Tensor(PHOTOS)).asnumpy()


def test_unfolding_keeps_the_function_and_measures_the_statistics():
    backbone = folded_backbone()
    blocks, x = list(backbone.features.cells()), PHOTOS
    backbone.set_train(False)
    before = backbone(ms.Tensor(x)).asnumpy()
    changed = unfold_batchnorm(blocks, blocks[-2:], x)  # the last 2 blocks are trained: 2 BatchNorms each
    assert changed == 4
    after = backbone(ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-4 * np.abs(before).max())
    # the trained blocks' stored statistics are now their inputs' (batch statistics of these photos agree)
    bn = blocks[-1].pointwise.features[1]
    assert not is_folded(bn) and float(bn.moving_variance.asnumpy().mean()) != 1.0 - 1e-3
    assert is_folded(blocks[0].features[1])  # frozen blocks untouched
    np.testing.assert_allclose(in_batch_mode(backbone, blocks, 2), before, rtol=1e-3, atol=1e-3 * np.abs(before).max())


def test_without_unfolding_batch_statistics_would_change_the_network():
    backbone = folded_backbone()
    blocks = list(backbone.features.cells())
    backbone.set_train(False)
    before = backbone(ms.Tensor(PHOTOS)).asnumpy()
    naive = in_batch_mode(backbone, blocks, 2)
    assert np.abs(naive - before).max() > 0.1 * np.abs(before).max()


def test_trained_batchnorm_is_left_alone_and_the_sample_spreads_over_the_rows():
    backbone = new_backbone("mobilenetv1", 0.25, PROFILE)  # fresh BatchNorm: gamma 1, mean 0, variance 1
    blocks = list(backbone.features.cells())
    assert unfold_batchnorm(blocks, blocks, np.zeros((4, 3, 32, 32), np.float32)) == 0
    rows = spread(1000)
    assert len(rows) == 128 and rows[0] == 0 and rows[-1] == 999
    assert list(spread(5)) == [0, 1, 2, 3, 4] and len(spread(0)) == 0
