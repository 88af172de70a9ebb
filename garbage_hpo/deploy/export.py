"""Export a trained network to MINDIR (MindSpore's deployable format) and load it back for inference.

The graph is exported with a dynamic batch dimension, so one file serves single photos on a phone
(MindSpore Lite) and batches on a server. Loading uses MindSpore itself (`nn.GraphCell`): no Lite wheel
exists for every Python.
"""

from __future__ import annotations

from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import nn

from garbage_hpo.models import predict_images
from garbage_hpo.runtime import check_room, writing


def export_mindir(net: nn.Cell, image_size: int, path: Path) -> Path:
    """Write `net` (in inference mode) to `path` (must end in .mindir); returns the path written."""
    if path.suffix != ".mindir":
        raise ValueError(f"{path}: a MINDIR export must end in .mindir")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    net.set_train(False)
    signature = ms.Tensor(shape=[None, 3, image_size, image_size], dtype=ms.float32)
    check_room(path, sum(int(p.size) for p in net.get_parameters()) * 4 + (4 << 20))
    with writing(path):  # a stop or an error mid-export leaves no half of it
        ms.export(net, signature, file_name=str(path.with_suffix("")), file_format="MINDIR")
        if not path.is_file():
            raise RuntimeError(f"MindSpore reported no error but wrote no {path}")
    return path


def load_mindir(path: Path) -> nn.GraphCell:
    """A callable network: (N, 3, H, W) float32 tensor -> (N, classes) scores."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such MINDIR file")
    try:
        graph = ms.load(str(path))
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"{path}: not a readable MINDIR file") from err
    return nn.GraphCell(graph)


def top1_agreement(reference: nn.Cell, exported: nn.Cell, images: np.ndarray, batch_size: int = 16
                   ) -> tuple[float, float]:
    """(share of images with the same top-1 class, largest absolute score difference) of two networks."""

    if len(images) == 0:
        raise ValueError("top1_agreement: no images to compare on")
    ref = predict_images(reference, images, batch_size)
    got = predict_images(exported, images, batch_size)
    return float(np.mean(ref.argmax(1) == got.argmax(1))), float(np.abs(ref - got).max())
