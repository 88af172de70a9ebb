"""An imported TFLite network against the TFLite interpreter running the same file on the same photos:

    python -m garbage_hpo.bench.tflite_reference FILE.tflite [--data DIR] [--limit N] [--json OUT]

Both see each photo resized to the file's native size (the interpreter its uint8 pixels, the converted float
network the same pixels scaled as the file's input quantization says). Reported: how often the converted
network's ImageNet top-1 equals the interpreter's, how often the interpreter's top-1 is in the converted top 5,
and per block the mean cosine similarity of the two networks' pooled block outputs. The interpreter computes
with 8-bit activations, so the agreement is high but never exact; a mapping error (a transposed kernel, the
wrong padding) drops it far (tests/models/test_tflite.py shows both). Needs the dev dependency ai-edge-litert.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import mindspore as ms
import numpy as np
from mindspore import nn

from garbage_hpo.data import IMAGE_SUFFIXES, preprocess, read_rgb
from garbage_hpo.models import (
    ARCH_LAYERS,
    CLASSIFIER_PREFIX,
    LOGITS_SCOPE,
    TfliteGraph,
    build_backbone,
    read_tflite,
    recognise,
    resolve_backbone_spec,
)


@dataclass(frozen=True)
class Agreement:
    photos: int
    top1_equal: int  # converted top-1 == interpreter top-1 (0 where the file has no classifier)
    top1_in_top5: int  # interpreter top-1 within the converted top 5
    block_cosine: tuple[float, ...]  # mean over photos of cos(pooled converted, pooled interpreter), per block

    def to_dict(self) -> dict:
        return asdict(self) | {"block_cosine": [round(c, 5) for c in self.block_cosine]}


def block_output_tensors(graph: TfliteGraph, arch: str) -> list[int]:
    """The file's tensor index of each block's output, in the project's block order (features.0, ...)."""
    body = [c for c in graph.convs if not c.scope.endswith(LOGITS_SCOPE)]
    blocks = [int(layer.weight.split(".")[1]) for layer in ARCH_LAYERS[arch]()]
    outputs = []
    for index, block in enumerate(blocks):
        last_of_block = index + 1 == len(blocks) or blocks[index + 1] != block
        if last_of_block:  # the next block reads this block's output (after its residual add, if any)
            outputs.append(body[index + 1].input_tensor if index + 1 < len(body) else body[index].output_tensor)
    return outputs


class Reference:
    """The interpreter over one file, every intermediate tensor kept so block outputs can be read."""

    def __init__(self, source: Path, graph: TfliteGraph, arch: str) -> None:
        from ai_edge_litert.interpreter import Interpreter

        with warnings.catch_warnings():  # "for debugging purposes only": reading block outputs is what it is for
            warnings.simplefilter("ignore", UserWarning)
            self.interpreter = Interpreter(model_path=str(source), experimental_preserve_all_tensors=True)
        self.interpreter.allocate_tensors()
        self.blocks = block_output_tensors(graph, arch)
        logits = [c for c in graph.convs if c.scope.endswith(LOGITS_SCOPE)]
        self.logits = logits[0].output_tensor if logits else None
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.quantization = {d["index"]: d["quantization"] for d in self.interpreter.get_tensor_details()}

    def _read(self, index: int) -> np.ndarray:
        values = self.interpreter.get_tensor(index).astype(np.float32)
        scale, zero = self.quantization[index]
        return (values - zero) * scale if scale else values

    def run(self, rgb: np.ndarray) -> tuple[np.ndarray | None, list[np.ndarray]]:
        """(ImageNet logits or None, pooled output of every block) for one uint8 photo at the native size."""
        self.interpreter.set_tensor(self.input, rgb[None])
        self.interpreter.invoke()
        pooled = [self._read(i)[0].mean(axis=(0, 1)) for i in self.blocks]
        return (None if self.logits is None else self._read(self.logits).reshape(-1)), pooled


def converted_run(backbone: nn.Cell, classifier: tuple[np.ndarray, np.ndarray] | None, x: np.ndarray
                  ) -> tuple[np.ndarray | None, list[np.ndarray]]:
    """The same for a batch of preprocessed photos through the converted MindSpore backbone, block by block."""
    pooled, h = [], ms.Tensor(x)
    for cell in backbone.features.cells():
        h = cell(h)
        pooled.append(h.asnumpy().mean(axis=(2, 3)))
    logits = None if classifier is None else pooled[-1] @ classifier[0].T + classifier[1]
    return logits, pooled


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def compare(source: Path, photos: list[Path], backbone: nn.Cell | None = None, batch: int = 16) -> Agreement:
    """Agreement of the converted network (or `backbone`, e.g. a deliberately broken one) with the interpreter."""
    graph = read_tflite(source)
    arch, width = recognise(graph, source)
    spec = resolve_backbone_spec(width, str(source), "auto", arch)
    backbone = backbone or build_backbone(spec)
    backbone.set_train(False)
    saved = ms.load_checkpoint(str(spec.weights))
    classifier = None
    if f"{CLASSIFIER_PREFIX}.weight" in saved:
        classifier = tuple(saved[f"{CLASSIFIER_PREFIX}.{k}"].asnumpy() for k in ("weight", "bias"))
    reference, size = Reference(source, graph, arch), spec.profile.native_size
    equal = in_top5 = 0
    cosines: list[list[float]] = []
    for start in range(0, len(photos), batch):
        rgbs = [cv2.resize(read_rgb(p), (size, size), interpolation=cv2.INTER_LINEAR)
                for p in photos[start:start + batch]]
        x = np.stack([preprocess(rgb, size, spec.profile.input_scaling) for rgb in rgbs])
        logits, pooled = converted_run(backbone, classifier, x)
        for row, rgb in enumerate(rgbs):
            ref_logits, ref_pooled = reference.run(rgb)
            cosines.append([_cosine(p[row], r) for p, r in zip(pooled, ref_pooled, strict=True)])
            if logits is not None and ref_logits is not None:
                top = int(np.argmax(ref_logits))
                equal += int(np.argmax(logits[row]) == top)
                in_top5 += int(top in np.argsort(-logits[row])[:5])
    return Agreement(len(photos), equal, in_top5, tuple(np.mean(cosines, axis=0).tolist()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m garbage_hpo.bench.tflite_reference",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, metavar="FILE.tflite")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/garbage_26x100/train"),
                        help="a folder of photos (searched recursively)")
    parser.add_argument("--limit", type=int, default=0, help="at most this many photos, evenly spread (0: all)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    photos = sorted(p for p in args.data.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not photos:
        print(f"error: --data {args.data}: no photos", file=sys.stderr)
        return 2
    if args.limit:
        photos = photos[:: max(1, len(photos) // args.limit)][: args.limit]
    result = compare(args.source.absolute(), photos)
    figures = {"file": args.source.name} | result.to_dict()
    n = result.photos
    print(f"{args.source.name}: {n} photos; top-1 equal {result.top1_equal}/{n}, interpreter's top-1 in the "
          f"converted top 5 {result.top1_in_top5}/{n}; pooled block cosine min "
          f"{min(result.block_cosine):.4f} mean {np.mean(result.block_cosine):.4f} last {result.block_cosine[-1]:.4f}")
    print(json.dumps(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
