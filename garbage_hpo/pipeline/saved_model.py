"""A trained network saved for use: `model.ckpt` and its card `model.json` (classes, preprocessing, input size,
architecture, how it was selected), bound to each other (model_card.py)."""

from __future__ import annotations

from pathlib import Path

import mindspore as ms
from mindspore import nn

from garbage_hpo.config import RunSettings
from garbage_hpo.deploy import write_card
from garbage_hpo.models import HeadSpec
from garbage_hpo.pipeline.preparation import Prepared
from garbage_hpo.runtime import check_room, device_of, writing


def model_card(settings: RunSettings, prepared: Prepared, spec: HeadSpec) -> dict:
    """What a predictor needs besides the weights: classes, preprocessing, input size, architecture."""
    companion = prepared.companion
    beside = {} if companion is None or not settings.sources.companion_taps else {"companion": {
        "architecture": companion.arch, "width": companion.width, "profile": companion.profile.to_dict(),
        "weights_source": companion.weights_source}}
    return beside | {
        "architecture": prepared.spec.arch,
        "width": prepared.spec.width,
        "image_size": prepared.image_size,
        "profile": prepared.spec.profile.to_dict(),
        "head": {k: getattr(spec, k) for k in ("num_classes", "in_features", "reduction", "depth", "dropout",
                                                "activation", "bias")},
        "classes": [
            {"index": c.index, "folder": c.folder, "english": c.english, "chinese": c.chinese, "category": c.category}
            for c in prepared.index.classes
        ],
        "features": settings.sources.card(),
        "weights_source": prepared.spec.weights_source,
        "seed": settings.seed,
    }


def check_checkpoint_room(path: Path, weights_bytes: int, artifacts: Path) -> None:
    """Room for the checkpoint and its card, and for their copy into the MLflow artifact store when that is on
    the same disk (a local store under runs/): the copy is what filled the disk after a checkpoint fitted."""
    checkpoint = weights_bytes + (1 << 20)  # the card and MindSpore's header
    if device_of(artifacts) != device_of(path.parent):
        check_room(path, checkpoint, parts=f"the checkpoint {checkpoint / 2**20:,.1f} MiB")
        return
    check_room(path, 2 * checkpoint, parts=f"the checkpoint {checkpoint / 2**20:,.1f} MiB and its copy into the "
               f"MLflow artifact store {artifacts}")


def save_model(net: nn.Cell, out_dir: Path, settings: RunSettings, prepared: Prepared, spec: HeadSpec,
               extra: dict | None = None) -> Path:
    """The whole network and its model card; `extra` adds e.g. `train_images` and `selection`."""
    path, card_path = out_dir / "model.ckpt", out_dir / "model.json"
    card_path.unlink(missing_ok=True)  # a card never describes weights other than the ones beside it
    path.unlink(missing_ok=True)
    check_checkpoint_room(path, sum(int(p.size) for p in net.get_parameters()) * 4, settings.runs / "mlartifacts")
    with writing(out_dir / "model.tmp", path):  # MindSpore writes model.tmp, then renames it
        ms.save_checkpoint(net, str(path))
        write_card(card_path, model_card(settings, prepared, spec) | (extra or {}), [path])
    return path

