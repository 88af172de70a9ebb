"""Find the dataset: an explicit data.root, else known places, else the generated demo set."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from garbage_hpo.data.dataset import DatasetError
from garbage_hpo.data.demo import generate

log = logging.getLogger(__name__)

CANDIDATES = (
    "datasets/garbage_26x100",
    "datasets/5fbdf571c06d3433df85ac65-momodel/garbage_26x100",
)
DEMO_BANNER = (
    "\n" + "!" * 78 + "\n"
    "!! No dataset found: using the GENERATED DEMO SET in {path}.\n"
    "!! Results say nothing about real garbage photos. Point data.root at the course data\n"
    "!! (or set $GARBAGE_HPO_DATA), e.g. python -m garbage_hpo.train data.root=/path/to/garbage_26x100\n"
    + "!" * 78
)


def resolve_root(configured: str | None, demo_dir: Path, demo_per_class: int = 40, demo_size: int = 128
                 ) -> tuple[Path, bool]:
    """(dataset root, is_demo). An explicit root that does not exist is an error, never a silent fallback."""
    if configured not in (None, "", "auto"):
        root = Path(str(configured)).expanduser()
        if not root.is_dir():
            raise DatasetError(f"data.root={configured}: no such directory")
        return root.absolute(), False
    env = os.environ.get("GARBAGE_HPO_DATA")
    if env:
        if not Path(env).is_dir():
            raise DatasetError(f"$GARBAGE_HPO_DATA={env}: no such directory")
        return Path(env).absolute(), False
    for candidate in CANDIDATES:
        if (Path(candidate) / "train").is_dir():
            return Path(candidate).absolute(), False

    root = generate(demo_dir, per_class=demo_per_class, size=demo_size)
    log.warning(DEMO_BANNER.format(path=root))
    return root.absolute(), True
