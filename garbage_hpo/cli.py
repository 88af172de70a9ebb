"""What every command-line entry point shares: MindSpore runtime setup and one-line error messages."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from garbage_hpo.data.dataset import DatasetError
from garbage_hpo.data.images import UnreadableImageError
from garbage_hpo.models.checkpoint import CheckpointMismatchError

USER_ERRORS = (DatasetError, UnreadableImageError, CheckpointMismatchError, FileNotFoundError, ValueError)


def configure_runtime() -> None:
    """Graph mode on the CPU, quiet C++ logs; called once per process before any network is built."""
    os.environ.setdefault("GLOG_v", "3")
    import mindspore as ms

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device("CPU")
    logging.getLogger("mindspore").setLevel(logging.ERROR)


@contextlib.contextmanager
def friendly_errors() -> Iterator[None]:
    """Bad input ends the command with `error: <message naming the file or key>` and exit code 2."""
    try:
        yield
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
