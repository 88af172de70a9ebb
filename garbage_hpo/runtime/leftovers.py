"""What killed processes leave behind in runs/: temporary files named with their writer's process id (a cut-point
cache's `<key>.<pid>.tmp.npy`, a feature cache's `.npz` being written, the ONNX export of an extraction) and damaged
cache files moved aside. The next run removes the temporaries of processes that are gone and says so; moved-aside
files are kept for a look, the newest few per folder only."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from pathlib import Path

log = logging.getLogger(__name__)
KEPT_ASIDE = 3  # damaged files kept per folder (each may be a whole cache, tens of MB)
# A process id in the name: "<name>.<pid>.tmp[.ext]" (atomic writes, caches, checkpoints, their .sha256 records),
# "<key>-b<batch>-<pid>.onnx" (a feature extraction's export), "<stem>.<pid>.onnx" (a cut-point cache's export)
TEMPORARY_NAMES = (re.compile(r"\.(\d+)\.tmp(\.[A-Za-z0-9]+)*$"), re.compile(r"-b\d+-(\d+)\.onnx$"),
                   re.compile(r"^[0-9a-f]{16,}\.(\d+)\.onnx$"))
SETTLED_SECONDS = 60.0  # younger files are left alone: their process id may just not be visible yet


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def writer_pid(name: str) -> int | None:
    """The process id a temporary file's name carries, or None for a file that is not a temporary."""
    for pattern in TEMPORARY_NAMES:
        found = pattern.search(name)
        if found:
            return int(found.group(1))
    return None


def remove_stale_temporaries(*folders: Path) -> list[Path]:
    """Delete the temporary files in `folders` whose writer is no longer running (on this machine: a runs/
    shared by several machines should not be cleaned from both), logging what went and how much room it freed."""
    removed: list[Path] = []
    freed = 0
    now = time.time()
    for folder in folders:
        for path in sorted(folder.iterdir()) if folder.is_dir() else ():
            pid = writer_pid(path.name)
            if pid is None or pid == os.getpid() or process_alive(pid) or not path.is_file():
                continue
            with contextlib.suppress(FileNotFoundError):  # another run may be cleaning up at the same time
                size, age = path.stat().st_size, now - path.stat().st_mtime
                if age >= SETTLED_SECONDS:
                    path.unlink()
                    removed.append(path)
                    freed += size
    if removed:
        log.warning("removed %d temporary file(s) left by processes that are gone (%.1f MB): %s", len(removed),
                    freed / 1e6, ", ".join(repr(str(p)) for p in removed))
    return removed


def bound_moved_aside(folder: Path, keep: int = KEPT_ASIDE) -> list[Path]:
    """Delete all but the newest `keep` damaged files moved aside in `folder`, saying which."""
    aside = sorted(folder.glob("*.damaged-*"), key=lambda p: p.name.rsplit(".damaged-", 1)[1], reverse=True)
    dropped = []
    for path in aside[keep:]:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            dropped.append(path)
    if dropped:
        log.warning("deleted %d older damaged file(s) moved aside in %s (the newest %d are kept): %s", len(dropped),
                    folder, keep, ", ".join(p.name for p in dropped))
    return dropped
