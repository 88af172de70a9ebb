"""Load pretrained weights into a backbone, strictly; write converted weights as a checkpoint."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import nn

from garbage_hpo.runtime import writing

# `imagenet_classifier.`: the 1001-way classifier an imported TFLite file keeps for checks (tflite_convert.py)
IGNORED_PREFIXES = ("moments.", "accum.", "head.", "beta1_power", "beta2_power", "imagenet_classifier.")
IGNORED_NAMES = {"global_step", "learning_rate", "momentum", "current_iterator_step", "last_overflow_iterator_step"}


class CheckpointMismatchError(ValueError):
    pass


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def save_params(params: dict[str, np.ndarray], out: Path) -> None:
    """Write `params` as a MindSpore checkpoint, whole or not at all (another process may read `out`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.ckpt")
    with writing(tmp):
        ms.save_checkpoint([{"name": name, "data": ms.Tensor(value)} for name, value in params.items()], str(tmp))
        tmp.replace(out)


def _is_ignored(name: str) -> bool:
    return name in IGNORED_NAMES or name.startswith(IGNORED_PREFIXES) or name.startswith("adam_")


def backbone_state(path: Path) -> dict[str, ms.Parameter]:
    """Backbone parameters of a checkpoint, keyed without the `backbone.` prefix.

    Accepts full-network checkpoints (`backbone.*` + `head.*`, optimizer state) and bare backbone ones.
    """
    if not path.is_file():
        raise FileNotFoundError(f"model.pretrained: checkpoint {path} does not exist")
    try:
        raw = ms.load_checkpoint(str(path))
    except Exception as err:  # MindSpore raises ValueError/RuntimeError with long C++ traces
        raise CheckpointMismatchError(f"model.pretrained: {path} is not a readable MindSpore checkpoint") from err
    state = {}
    for name, param in raw.items():
        if _is_ignored(name):
            continue
        state[name.removeprefix("backbone.")] = param
    return state


def load_backbone(backbone: nn.Cell, path: Path) -> None:
    """Load `path` into `backbone`; any missing, unexpected or misshapen key is an error listing them."""
    state = backbone_state(path)
    own = {name: param for name, param in backbone.parameters_and_names()}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    misshapen = sorted(
        f"{n} {tuple(state[n].shape)} != {tuple(own[n].shape)}"
        for n in set(own) & set(state)
        if tuple(state[n].shape) != tuple(own[n].shape)
    )
    if missing or unexpected or misshapen:
        lines = [f"model.pretrained: {path} does not fit this backbone (model.width may differ):"]
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", misshapen)):
            if keys:
                lines.append(f"  {label} ({len(keys)}): {', '.join(keys[:12])}{' ...' if len(keys) > 12 else ''}")
        raise CheckpointMismatchError("\n".join(lines))
    for name, param in own.items():
        param.set_data(state[name].value() if hasattr(state[name], "value") else state[name])
