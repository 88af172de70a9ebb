"""Weight profiles: the numeric conventions a set of pretrained weights was trained with.

The same MobileNetV2 graph is used with weights from different frameworks. They disagree on padding of
stride-2 convolutions, BatchNorm epsilon and input scaling; getting any of them wrong silently costs
accuracy, so they travel with the weights instead of living in the model config.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

IMAGENET_MEAN_RGB = np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255.0
IMAGENET_STD_RGB = np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255.0


@dataclass(frozen=True)
class WeightProfile:
    name: str
    padding: str  # "symmetric": pad k//2 on every side (ModelZoo); "same": TensorFlow 'same' (Keras)
    bn_eps: float
    input_scaling: str  # "imagenet": (x - mean) / std; "minus_one_one": x / 127.5 - 1; "centered_128": x / 128 - 1
    native_size: int
    # "trained": BatchNorm layers hold the statistics they were trained with; "folded": the source folded
    # BatchNorm into its convolutions, so each BatchNorm is an identity plus a bias (TFLite files)
    batchnorm: str = "trained"

    def to_dict(self) -> dict:
        fields = asdict(self)
        if self.batchnorm == "trained":  # as profiles were recorded before folded weights: caches and cards keep
            del fields["batchnorm"]     # their keys and hashes
        return fields


MODELZOO = WeightProfile("modelzoo", padding="symmetric", bn_eps=1e-5, input_scaling="imagenet", native_size=224)
KERAS = WeightProfile("keras", padding="same", bn_eps=1e-3, input_scaling="minus_one_one", native_size=160)

PROFILES = {p.name: p for p in (MODELZOO, KERAS)}
PADDINGS = ("symmetric", "same")
SCALINGS = ("imagenet", "minus_one_one", "centered_128")
BATCHNORMS = ("trained", "folded")
TFLITE_BN_EPS = 1e-3  # TensorFlow's default; a folded BatchNorm's variance is 1 - eps, so any value is exact


def sidecar_path(checkpoint: Path) -> Path:
    return checkpoint.with_suffix(".json")


def profile_for_checkpoint(checkpoint: Path | None, requested: str = "auto") -> WeightProfile:
    """The profile named by `requested`, or for "auto" the one recorded beside the checkpoint.

    A checkpoint with no sidecar JSON is taken to be an official ModelZoo checkpoint.
    """
    if requested != "auto":
        if requested not in PROFILES:
            raise ValueError(f"model.profile={requested!r} is unknown; choose auto or one of {sorted(PROFILES)}")
        return PROFILES[requested]
    if checkpoint is None:
        return MODELZOO
    sidecar = sidecar_path(checkpoint)
    if not sidecar.is_file():
        return MODELZOO
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    fields = meta.get("profile")
    if not isinstance(fields, dict):
        raise ValueError(f"{sidecar}: no 'profile' object; expected the fields of {list(MODELZOO.to_dict())}")
    try:
        profile = WeightProfile(**fields)
    except TypeError as err:
        raise ValueError(f"{sidecar}: malformed 'profile': {err}") from err
    if profile.padding not in PADDINGS or profile.input_scaling not in SCALINGS or profile.batchnorm not in BATCHNORMS:
        raise ValueError(f"{sidecar}: profile padding must be one of {PADDINGS}, scaling one of {SCALINGS}, "
                         f"batchnorm one of {BATCHNORMS}")
    return profile
