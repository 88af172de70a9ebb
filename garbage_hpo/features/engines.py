"""Engines that run the frozen backbone for feature extraction: MindSpore graph mode, or the same network
exported by MindSpore to ONNX and run by ONNX Runtime (several times faster on CPUs; `make bench` measures
both and checks that their features agree within 1e-4).

Both take a float32 batch (N, 3, H, W) of exactly the batch size they were built for and return the
(mean-pooled, max-pooled) features as NumPy arrays.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable
from pathlib import Path

import mindspore as ms
import mindspore.ops as ops
import numpy as np
from mindspore import nn

from garbage_hpo.models import BackboneSpec, build_backbone
from garbage_hpo.runtime import check_room, writing

log = logging.getLogger(__name__)
ENGINES = ("auto", "mindspore", "onnxruntime")
Extractor = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


class PooledFeatures(nn.Cell):
    """Backbone followed by both global poolings, so one pass serves head.reduction=mean and =max."""

    def __init__(self, backbone: nn.Cell) -> None:
        super().__init__()
        self.backbone = backbone

    def construct(self, x):
        fmap = self.backbone(x)
        return ops.mean(fmap, axis=(2, 3)), ops.amax(fmap, axis=(2, 3))


class AllBlocksPooled(nn.Cell):
    """Both global poolings of EVERY block of `backbone.features`, concatenated in block order: one pass
    serves any choice of `features.taps` (taps.py)."""

    def __init__(self, backbone: nn.Cell) -> None:
        super().__init__()
        self.backbone = backbone

    def construct(self, x):
        means = ()
        maxes = ()
        for block in self.backbone.features:
            x = block(x)
            means = means + (ops.mean(x, axis=(2, 3)),)
            maxes = maxes + (ops.amax(x, axis=(2, 3)),)
        return ops.concat(means, axis=1), ops.concat(maxes, axis=1)


def block_channels(backbone: nn.Cell) -> list[int]:
    """Output channels of each block: the size of its last BatchNorm (every block ends in one)."""
    return [[p for p in block.get_parameters() if p.name.endswith("gamma")][-1].shape[0]
            for block in backbone.features]


def pooling_cell(spec: BackboneSpec, all_blocks: bool) -> nn.Cell:
    backbone = build_backbone(spec)
    net = AllBlocksPooled(backbone) if all_blocks else PooledFeatures(backbone)
    net.set_train(False)
    return net


def resolve_engine(name: str) -> str:
    if name not in ENGINES:
        raise ValueError(f"data.feature_engine={name!r}: choose one of {ENGINES}")
    if name == "auto":
        return "onnxruntime" if importlib.util.find_spec("onnxruntime") else "mindspore"
    if name == "onnxruntime" and not importlib.util.find_spec("onnxruntime"):
        raise ValueError("data.feature_engine=onnxruntime: the onnxruntime package is not installed")
    return name


def mindspore_extractor(spec: BackboneSpec, all_blocks: bool = False) -> Extractor:
    net = pooling_cell(spec, all_blocks)

    def run(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, mx = net(ms.Tensor(batch))
        return mean.asnumpy(), mx.asnumpy()

    return run


def export_onnx(spec: BackboneSpec, image_size: int, batch_size: int, path: Path, all_blocks: bool = False
                ) -> Path:
    """The MindSpore network, with its loaded weights, written as ONNX (fixed batch: MindSpore's ONNX export
    has no dynamic shapes). Written once per key and reused."""
    if path.is_file():
        return path
    net = pooling_cell(spec, all_blocks)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.onnx")
    write_onnx(net, ms.Tensor(np.zeros((batch_size, 3, image_size, image_size), np.float32)), tmp)
    tmp.replace(path)  # atomic: concurrent workers never read half a file
    return path


def write_onnx(net: nn.Cell, example: ms.Tensor, path: Path) -> None:
    """Export `net` to `path` (ending in .onnx). MindSpore's exporter logs a full disk and returns, leaving no
    file: the room is checked first (the weights as float32 and a margin), and the file's presence after."""
    import mindspore.onnx  # the ONNX exporter (ms.export(file_format="ONNX") is deprecated)

    check_room(path, sum(int(p.size) for p in net.get_parameters()) * 4 + (4 << 20))
    with writing(path):
        mindspore.onnx.export(net, example, file_name=str(path))
        if not path.is_file():
            raise RuntimeError(f"MindSpore's ONNX export wrote no {path} (its ERROR line above says why)")


def onnxruntime_session(path: Path, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # folds BatchNorm into conv
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnxruntime_extractor(spec: BackboneSpec, image_size: int, batch_size: int, onnx_path: Path,
                          all_blocks: bool = False) -> Extractor:
    session = onnxruntime_session(export_onnx(spec, image_size, batch_size, onnx_path, all_blocks))
    name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, mx = session.run(None, {name: np.ascontiguousarray(batch, np.float32)})
        return mean, mx

    return run


def make_extractor(engine: str, spec: BackboneSpec, image_size: int, batch_size: int, onnx_path: Path,
                   all_blocks: bool = False) -> Extractor:
    if resolve_engine(engine) == "onnxruntime":
        return onnxruntime_extractor(spec, image_size, batch_size, onnx_path, all_blocks)
    return mindspore_extractor(spec, all_blocks)
