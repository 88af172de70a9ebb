"""An independent NumPy forward pass of a Keras functional model stored in .h5 (test oracle only).

It interprets the model config layer by layer (Conv2D, DepthwiseConv2D, BatchNormalization, ReLU,
ZeroPadding2D, Add) with TensorFlow's padding rules and reads weights straight from the file, so it
shares nothing with garbage_hpo's MobileNetV2 or its converter.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    total = max(kernel - stride, 0) if size % stride == 0 else max(kernel - size % stride, 0)
    return total // 2, total - total // 2


def _pad(x: np.ndarray, kernel: int, stride: int, padding: str) -> np.ndarray:
    if padding == "valid":
        return x
    (t, b), (left, r) = _same_pads(x.shape[1], kernel, stride), _same_pads(x.shape[2], kernel, stride)
    return np.pad(x, ((0, 0), (t, b), (left, r), (0, 0)))


def _patches(x: np.ndarray, kernel: int, stride: int) -> list[tuple[int, int, np.ndarray]]:
    n, h, w, c = x.shape
    oh, ow = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    return [(i, j, x[:, i : i + stride * oh : stride, j : j + stride * ow : stride, :])
            for i in range(kernel) for j in range(kernel)]


def conv2d(x, kernel, stride, padding):  # kernel (kh, kw, in, out)
    k = kernel.shape[0]
    x = _pad(x, k, stride, padding)
    return sum(np.einsum("nhwc,co->nhwo", patch, kernel[i, j]) for i, j, patch in _patches(x, k, stride))


def depthwise(x, kernel, stride, padding):  # kernel (kh, kw, in, 1)
    k = kernel.shape[0]
    x = _pad(x, k, stride, padding)
    return sum(patch * kernel[i, j, :, 0] for i, j, patch in _patches(x, k, stride))


class KerasReference:
    def __init__(self, h5_path: Path, submodel_prefix: str = "mobilenetv2") -> None:
        self.file = h5py.File(h5_path, "r")
        top = json.loads(self.file.attrs["model_config"])["config"]["layers"]
        self.model = next(layer for layer in top if layer["config"]["name"].startswith(submodel_prefix))
        self.name = self.model["config"]["name"]

    def weights(self, layer: str) -> dict[str, np.ndarray]:
        group = self.file["model_weights"][self.name][layer]
        out = {}
        group.visititems(lambda k, v: out.__setitem__(k.split("/")[-1].split(":")[0], np.asarray(v, np.float64))
                         if isinstance(v, h5py.Dataset) else None)
        return out

    def forward(self, x_nhwc: np.ndarray) -> np.ndarray:
        """Input already scaled to [-1, 1]; returns the final feature map (N, H, W, C) after out_relu."""
        values = {}
        for layer in self.model["config"]["layers"]:
            kind, cfg, name = layer["class_name"], layer["config"], layer["config"]["name"]
            if kind == "InputLayer":
                values[name] = x_nhwc.astype(np.float64)
                continue
            args = layer["inbound_nodes"][0]["args"]
            sources = args[0] if isinstance(args[0], list) else args
            inputs = [values[s["config"]["keras_history"][0]] for s in sources]
            x = inputs[0]
            if kind == "Conv2D":
                y = conv2d(x, self.weights(name)["kernel"], cfg["strides"][0], cfg["padding"])
            elif kind == "DepthwiseConv2D":
                w = self.weights(name)
                y = depthwise(x, w.get("depthwise_kernel", w.get("kernel")), cfg["strides"][0], cfg["padding"])
            elif kind == "BatchNormalization":
                w = self.weights(name)
                y = (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + cfg["epsilon"]) * w["gamma"] + w["beta"]
            elif kind == "ReLU":
                y = np.clip(x, 0, cfg["max_value"])
            elif kind == "ZeroPadding2D":
                (t, b), (left, r) = cfg["padding"]
                y = np.pad(x, ((0, 0), (t, b), (left, r), (0, 0)))
            elif kind == "Add":
                y = inputs[0] + inputs[1]
            else:
                raise NotImplementedError(kind)
            values[name] = y
        output = self.model["config"]["output_layers"]
        return values[output[0] if isinstance(output[0], str) else output[0][0]]  # Keras 3 flat, Keras 2 nested
