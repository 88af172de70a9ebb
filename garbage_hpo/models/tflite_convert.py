"""Turn a TF-slim MobileNet in a TFLite file (8-bit or float) into this project's MindSpore parameters.

The hosted TFLite MobileNets were trained with BatchNorm and then folded: each convolution's kernel carries the
BatchNorm scale and a bias its shift. The project's networks keep a BatchNorm after every convolution (that is
what ModelZoo and Keras weights need), so a folded layer becomes the dequantized kernel followed by a BatchNorm
that is an identity plus the bias: gamma 1, beta the bias, moving mean 0, moving variance 1 - eps (so
sqrt(var + eps) is 1). Layouts: TFLite's convolution kernels are OHWI and depthwise kernels 1HWC; MindSpore's
OIHW and (C, 1, H, W).

Which network the file holds is read from its TF-slim scopes, in graph order, and checked layer by layer
(kind, stride, activation, SAME padding) against the project's MobileNetV2 or MobileNetV1: anything else is
refused naming the first layer that differs. The width follows from the channel counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from garbage_hpo.models import mobilenetv1, mobilenetv2
from garbage_hpo.models.profiles import TFLITE_BN_EPS, WeightProfile
from garbage_hpo.models.tflite_reader import TfliteConv, TfliteFormatError, TfliteGraph, read_tflite

CLASSIFIER_PREFIX = "imagenet_classifier"  # the file's own ImageNet classifier, kept for checks, never loaded


class UnrecognisedNetworkError(TfliteFormatError):
    """A well-formed TFLite file that is not one of the MobileNets this project builds."""


@dataclass(frozen=True)
class SlimLayer:
    """One convolution as TF-slim names it and as the project's network holds it."""

    scope: str
    kind: str  # conv | depthwise
    stride: int
    activation: str  # relu6 | none
    weight: str  # MindSpore parameter name of the kernel
    batchnorm: str  # MindSpore prefix of the BatchNorm after it


def _v2_layers() -> list[SlimLayer]:
    layers = [SlimLayer("MobilenetV2/Conv", "conv", 2, "relu6", "features.0.features.0.weight",
                        "features.0.features.1")]
    block = 1
    for expansion, _channels, repeats, first_stride in mobilenetv2.INVERTED_RESIDUAL_SETTINGS:
        for i in range(repeats):
            scope = "MobilenetV2/expanded_conv" + (f"_{block - 1}" if block > 1 else "")
            base, slot = f"features.{block}.conv", 0
            if expansion != 1:
                layers.append(SlimLayer(f"{scope}/expand", "conv", 1, "relu6", f"{base}.0.features.0.weight",
                                        f"{base}.0.features.1"))
                slot = 1
            layers += [SlimLayer(f"{scope}/depthwise", "depthwise", first_stride if i == 0 else 1, "relu6",
                                 f"{base}.{slot}.features.0.weight", f"{base}.{slot}.features.1"),
                       SlimLayer(f"{scope}/project", "conv", 1, "none", f"{base}.{slot + 1}.weight",
                                 f"{base}.{slot + 2}")]
            block += 1
    layers.append(SlimLayer("MobilenetV2/Conv_1", "conv", 1, "relu6", f"features.{block}.features.0.weight",
                            f"features.{block}.features.1"))
    return layers


def _v1_layers() -> list[SlimLayer]:
    layers = [SlimLayer("MobilenetV1/Conv2d_0", "conv", 2, "relu6", "features.0.features.0.weight",
                        "features.0.features.1")]
    for block, (_channels, stride) in enumerate(mobilenetv1.DEPTHWISE_SEPARABLE_SETTINGS, start=1):
        for part, kind, s in (("depthwise", "depthwise", stride), ("pointwise", "conv", 1)):
            layers.append(SlimLayer(f"MobilenetV1/Conv2d_{block}_{part}", kind, s, "relu6",
                                    f"features.{block}.{part}.features.0.weight",
                                    f"features.{block}.{part}.features.1"))
    return layers


ARCH_LAYERS = {"mobilenetv2": _v2_layers, "mobilenetv1": _v1_layers}
SCOPE_ROOTS = {"MobilenetV2": "mobilenetv2", "MobilenetV1": "mobilenetv1"}
LOGITS_SCOPE = "/Logits/Conv2d_1c_1x1"


def recognise(graph: TfliteGraph, source: Path) -> tuple[str, float]:
    """(architecture, width) of the network in `graph`, or UnrecognisedNetworkError naming what was found."""
    roots = {conv.scope.split("/")[0] for conv in graph.convs if conv.scope}
    if len(roots) != 1 or (root := roots.pop()) not in SCOPE_ROOTS:
        found = ", ".join(sorted({c.scope or "(unnamed)" for c in graph.convs})[:4]) or "no convolution"
        raise UnrecognisedNetworkError(f"{source}: not a TF-slim MobileNetV1/V2 (found {len(graph.convs)} "
                                       f"convolutions, scopes {found} ...)")
    arch = SCOPE_ROOTS[root]
    expected = ARCH_LAYERS[arch]()
    body = [c for c in graph.convs if not c.scope.endswith(LOGITS_SCOPE)]
    for index, layer in enumerate(expected):
        conv = body[index] if index < len(body) else None
        _check_layer(layer, conv, source)
    if len(body) > len(expected):
        raise UnrecognisedNetworkError(f"{source}: {len(body) - len(expected)} convolutions after {expected[-1].scope} "
                                       f"(first {body[len(expected)].scope or '(unnamed)'}): not a {arch}")
    if len(graph.input_shape) != 4 or graph.input_shape[1] != graph.input_shape[2] or graph.input_shape[3] != 3:
        raise UnrecognisedNetworkError(f"{source}: input shape {graph.input_shape}: a square RGB image expected")
    return arch, _width(arch, body, source)


def _check_layer(layer: SlimLayer, conv: TfliteConv | None, source: Path) -> None:
    if conv is None:
        raise UnrecognisedNetworkError(f"{source}: ends before {layer.scope}: not a complete network")
    found = (conv.scope, conv.kind, conv.stride, conv.activation, conv.padding, conv.multiplier)
    wanted = (layer.scope, layer.kind, layer.stride, layer.activation, "same", 1)
    if found != wanted:
        labels = ("scope", "kind", "stride", "activation", "padding", "depth multiplier")
        diffs = [f"{name} {f!r} (expected {w!r})" for name, f, w in zip(labels, found, wanted, strict=True) if f != w]
        raise UnrecognisedNetworkError(f"{source}: layer {layer.scope}: {', '.join(diffs)}")


def _width(arch: str, body: list[TfliteConv], source: Path) -> float:
    first, last = body[0].weight.shape[0], body[-2].weight.shape[0]
    if arch == "mobilenetv1":
        widths = mobilenetv1.WIDTHS
        candidates = [w for w in widths if int(32 * w) == first]
    else:  # 0.35 and 0.5 share their first layer: the last block's projection tells them apart
        widths = mobilenetv2.WIDTHS
        candidates = [w for w in widths if mobilenetv2.make_divisible(320 * w) == last]
    if len(candidates) != 1:
        raise UnrecognisedNetworkError(f"{source}: a {arch} of a width this project does not build (first layer "
                                       f"{first} channels, last block {last}; widths {widths})")
    return candidates[0]


def input_scaling(graph: TfliteGraph, source: Path) -> str:
    """The profile's input scaling: what the float network sees of a uint8 photo."""
    if graph.input_scale is None:  # a float input: the hosted float MobileNets take x / 127.5 - 1
        return "minus_one_one"
    scale, zero = graph.input_scale, graph.input_zero_point
    if abs(scale - 1 / 128) < 1e-7 and zero == 128:
        return "centered_128"
    if abs(scale - 1 / 127.5) < 1e-6 and abs(zero - 127.5) <= 0.5:
        return "minus_one_one"
    raise UnrecognisedNetworkError(f"{source}: input quantization scale {scale}, zero point {zero}: neither "
                                   "x/128 - 1 nor x/127.5 - 1, which are the scalings this project knows")


def mindspore_params(graph: TfliteGraph, arch: str) -> dict[str, np.ndarray]:
    """Backbone parameters (without the `backbone.` prefix) plus the ImageNet classifier where the file has one."""
    params: dict[str, np.ndarray] = {}
    body = [c for c in graph.convs if not c.scope.endswith(LOGITS_SCOPE)]
    for layer, conv in zip(ARCH_LAYERS[arch](), body, strict=True):
        order = (3, 0, 1, 2) if conv.kind == "depthwise" else (0, 3, 1, 2)  # 1HWC -> C1HW; OHWI -> OIHW
        params[layer.weight] = np.ascontiguousarray(conv.weight.transpose(order))
        channels = conv.bias.shape[0]
        params |= {f"{layer.batchnorm}.gamma": np.ones(channels, np.float32),
                   f"{layer.batchnorm}.beta": conv.bias.astype(np.float32),
                   f"{layer.batchnorm}.moving_mean": np.zeros(channels, np.float32),
                   f"{layer.batchnorm}.moving_variance": np.full(channels, 1.0 - TFLITE_BN_EPS, np.float32)}
    logits = [c for c in graph.convs if c.scope.endswith(LOGITS_SCOPE)]
    if logits:
        kernel = logits[0].weight  # (1001, 1, 1, C): a 1x1 convolution over the pooled features
        params[f"{CLASSIFIER_PREFIX}.weight"] = np.ascontiguousarray(kernel.reshape(kernel.shape[0], -1))
        params[f"{CLASSIFIER_PREFIX}.bias"] = logits[0].bias.astype(np.float32)
    return params


@dataclass(frozen=True)
class ConvertedTflite:
    arch: str
    width: float
    profile: WeightProfile
    params: dict[str, np.ndarray]
    quantization: str
    classes: int  # outputs of the file's classifier, 0 where it has none


def convert_tflite(source: Path) -> ConvertedTflite:
    """Read, recognise and convert `source` (see the module docstring)."""
    graph = read_tflite(source)
    arch, width = recognise(graph, source)
    profile = WeightProfile("tflite", padding="same", bn_eps=TFLITE_BN_EPS,
                            input_scaling=input_scaling(graph, source), native_size=graph.input_shape[1],
                            batchnorm="folded")
    params = mindspore_params(graph, arch)
    classifier = params.get(f"{CLASSIFIER_PREFIX}.bias")
    return ConvertedTflite(arch, width, profile, params, graph.quantization,
                           0 if classifier is None else int(classifier.shape[0]))
