"""What every command runs on: runtime setup and one-line errors (cli), files written atomically and
checked (files), the runs/ folder (paths), a graceful stop (stop), SQLite in WAL mode (sqlite_wal), what
killed processes leave behind (leftovers).

The names below are this package's public face, each loaded on first use (runtime/lazy.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from garbage_hpo.runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from garbage_hpo.runtime.cli import (
        command_args,
        configure_runtime,
        friendly_errors,
        key_values,
        number_value,
        run_hydra_app,
        split_args,
    )
    from garbage_hpo.runtime.counters import WORK
    from garbage_hpo.runtime.files import (
        NoSpaceError,
        check_room,
        check_writable_folder,
        checksum_path,
        checksum_problem,
        device_of,
        file_digest,
        move_aside,
        remove_partial_files,
        write_checksum,
        write_text_atomic,
        writing,
    )
    from garbage_hpo.runtime.leftovers import process_alive, remove_stale_temporaries
    from garbage_hpo.runtime.paths import default_weights_path, runs_dir, shown
    from garbage_hpo.runtime.sqlite_wal import schema_lock, use_wal
    from garbage_hpo.runtime.stop import GracefulStop

_WHERE = {
    "WORK": "counters",
    "GracefulStop": "stop",
    "NoSpaceError": "files",
    "check_room": "files",
    "check_writable_folder": "files",
    "checksum_path": "files",
    "checksum_problem": "files",
    "command_args": "cli",
    "configure_runtime": "cli",
    "default_weights_path": "paths",
    "device_of": "files",
    "file_digest": "files",
    "friendly_errors": "cli",
    "key_values": "cli",
    "move_aside": "files",
    "number_value": "cli",
    "process_alive": "leftovers",
    "remove_partial_files": "files",
    "remove_stale_temporaries": "leftovers",
    "run_hydra_app": "cli",
    "runs_dir": "paths",
    "schema_lock": "sqlite_wal",
    "shown": "paths",
    "split_args": "cli",
    "use_wal": "sqlite_wal",
    "write_checksum": "files",
    "write_text_atomic": "files",
    "writing": "files",
}
__all__ = [
    "WORK",
    "GracefulStop",
    "NoSpaceError",
    "check_room",
    "check_writable_folder",
    "checksum_path",
    "checksum_problem",
    "command_args",
    "configure_runtime",
    "default_weights_path",
    "device_of",
    "file_digest",
    "friendly_errors",
    "key_values",
    "move_aside",
    "number_value",
    "process_alive",
    "remove_partial_files",
    "remove_stale_temporaries",
    "run_hydra_app",
    "runs_dir",
    "schema_lock",
    "shown",
    "split_args",
    "use_wal",
    "write_checksum",
    "write_text_atomic",
    "writing",
]
__getattr__ = lazy_exports(__name__, _WHERE)
