"""Files written whole or not at all: partial files are registered while being written (a stop removes them),
replaced atomically when done, and a full disk is reported as such, naming the device and the file."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from garbage_hpo.runtime.leftovers import bound_moved_aside

log = logging.getLogger(__name__)
PARTIAL_FILES: set[Path] = set()  # files being written now; remove_partial_files() deletes them on a stop
_LOCK = threading.Lock()
NEARLY_FULL_BYTES = 1 << 20  # less free space than this after a failed write: the disk filled up
ROOM_MARGIN_BYTES = 4 << 20  # left free by every check_room: the store, logs and small files still fit


class NoSpaceError(OSError):
    """A write failed because its file system is full; the message names the device and the file."""

    def __str__(self) -> str:
        return str(self.strerror)


def device_of(path: Path) -> str:
    """The mount point holding `path` (what a user frees space on)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return str(path)


def is_disk_full(err: BaseException, path: Path) -> bool:
    """ENOSPC itself, or a library that wrapped it in its own error (MindSpore, SQLite) while the device has
    (almost) no free space left."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if "No space left on device" in str(err) or "database or disk is full" in str(err):
        return True
    try:
        return shutil.disk_usage(device_of(path)).free < NEARLY_FULL_BYTES
    except OSError:
        return False


def no_space(path: Path) -> NoSpaceError:
    return NoSpaceError(errno.ENOSPC, f"no space left on {device_of(path)} while writing {path}; free some space "
                        "there (or point runs/ elsewhere with GARBAGE_HPO_RUNS) and run the command again")


@contextlib.contextmanager
def writing(*paths: Path) -> Iterator[None]:
    """Mark `paths` as being written: on an error, or a stop in the meantime, they are removed instead of left
    half-written; a full disk is raised as NoSpaceError naming the device and the first file."""
    with _LOCK:
        PARTIAL_FILES.update(paths)
    try:
        yield
    except BaseException as err:
        for path in paths:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        if isinstance(err, Exception) and not isinstance(err, NoSpaceError) and paths and is_disk_full(err, paths[0]):
            raise no_space(paths[0]) from err
        raise
    finally:
        with _LOCK:
            PARTIAL_FILES.difference_update(paths)


def remove_partial_files() -> None:
    """On a stop (from the stop watcher thread): delete the files being written."""
    with _LOCK:
        partial = list(PARTIAL_FILES)
    for path in partial:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write `path` through a temporary file beside it and a rename: readers never see half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with writing(tmp):
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)


def move_aside(path: Path, reason: str) -> Path:
    """A damaged cache file: renamed beside itself (kept for a look, never read again) so it is rebuilt."""
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    with contextlib.suppress(FileNotFoundError):  # another worker may have moved it first
        path.replace(aside)
    log.warning("damaged cache file %s (%s): moved aside to %s; rebuilding it", path, reason, aside.name)
    bound_moved_aside(path.parent)
    return aside


def checksum_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.sha256")


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksum(path: Path) -> None:
    """Record `path`'s size and sha256 beside it (written after the file is complete)."""
    record = {"size": path.stat().st_size, "sha256": file_digest(path)}
    write_text_atomic(checksum_path(path), json.dumps(record))


def checksum_problem(path: Path) -> str | None:
    """Why `path` does not match its recorded checksum (None if it does): truncated, overwritten, unrecorded."""
    try:
        record = json.loads(checksum_path(path).read_text(encoding="utf-8"))
        size, digest = int(record["size"]), str(record["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"no readable checksum {checksum_path(path).name}"
    if path.stat().st_size != size:
        return f"{path.stat().st_size} bytes, {size} recorded: truncated or overwritten"
    if file_digest(path) != digest:
        return "content differs from its recorded sha256"
    return None


def check_room(path: Path, needed_bytes: int, setting: str | None = None, parts: str = "") -> None:
    """Refuse, before writing, a file the disk cannot hold (with a margin): naming the setting that sizes it, or
    the file, and what `needed_bytes` counts (`parts`). Some writers (MindSpore's ONNX export) only log a full
    disk and carry on."""
    folder = path if path.is_dir() else path.parent
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    margin = ROOM_MARGIN_BYTES
    if needed_bytes <= free - margin:
        return
    sizes = (f"{_mib(needed_bytes)} MiB needed{f' ({parts})' if parts else ''} plus a {_mib(margin)} MiB margin, "
             f"{_mib(free)} MiB free on {device_of(folder)}")
    if setting:
        raise NoSpaceError(errno.ENOSPC, f"{setting}: the cache it asks for needs more room than the disk has "
                           f"({sizes}); lower {setting} or free space")
    raise NoSpaceError(errno.ENOSPC, f"no space left on {device_of(folder)} while writing {path} ({sizes}); free "
                       "some space there (or point runs/ elsewhere with GARBAGE_HPO_RUNS) and run the command again")


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f}" if size < 100 << 20 else f"{size / 2**20:,.0f}"


def check_writable_folder(folder: Path, setting: str) -> None:
    """Refuse, before any work, an output folder that cannot be created or written, naming the setting."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-check.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"{setting}={folder}: cannot write there ({err.strerror or err}); choose another "
                         "folder") from None
