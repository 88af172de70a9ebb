"""What every command-line entry point shares: MindSpore runtime setup and one-line error messages."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from garbage_hpo.runtime.files import NoSpaceError, device_of, is_disk_full
from garbage_hpo.runtime.paths import runs_dir

# The project's own refusals are ValueErrors (DatasetError, UnreadableImageError, CheckpointMismatchError,
# ModelCardError, config checks); NoSpaceError, a full disk named with the device and the file, is the user's
# to fix too
USER_ERRORS = (FileNotFoundError, ValueError, NoSpaceError)


def cap_onednn_isa() -> None:
    """MindSpore's CPU kernels (oneDNN) run several times slower with AVX-512 than with AVX2 on the
    AVX-512 EPYC machines we measured (BENCHMARKS.md). Cap them at AVX2 unless the user chose an ISA; read by
    oneDNN when it first creates a kernel."""
    if "DNNL_MAX_CPU_ISA" in os.environ or "ONEDNN_MAX_CPU_ISA" in os.environ:
        return
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    if " avx512f" in flags and " avx2" in flags:
        os.environ["DNNL_MAX_CPU_ISA"] = "AVX2"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def limit_kernel_threads(ms) -> None:
    """MindSpore's CPU kernels use 25 threads whatever the machine has. On a 2-core machine with anything else
    running, the surplus threads fight for the cores (BENCHMARKS.md: a head's training 3-4x slower under load);
    as many threads as usable cores gives the same numbers (bit for bit, tested) at the same speed when quiet.
    `GARBAGE_HPO_CPU_THREADS` overrides."""
    wanted = int(os.environ.get("GARBAGE_HPO_CPU_THREADS") or usable_cores())
    with contextlib.suppress(RuntimeError):  # "can not be set repeatedly": a second call in one process
        ms.device_context.cpu.op_tuning.threads_num(max(1, wanted))


def configure_runtime() -> None:
    """Graph mode on the CPU, quiet C++ logs; called once per process before any network is built."""
    os.environ.setdefault("GLOG_v", "3")
    cap_onednn_isa()
    import mindspore as ms

    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device("CPU")
    limit_kernel_threads(ms)
    logging.getLogger("mindspore").setLevel(logging.ERROR)
    for name in ("mlflow.store.db.utils", "alembic"):  # "Creating initial MLflow database tables..." per store
        logging.getLogger(name).setLevel(logging.WARNING)


_TASK_STARTED = False



def run_hydra_app(main: Callable[[], None]) -> None:
    """Run a `@hydra.main` command so that Hydra's own refusals (an unknown key, a malformed override, a
    missing config group) end with exit code 2 like every other bad input, not Hydra's 1. Hydra prints its
    message and exits 1 before the task starts; a task that started keeps its own exit codes."""
    try:
        main()
    except SystemExit as done:
        if done.code == 1 and not _TASK_STARTED:
            sys.exit(2)
        raise


@contextlib.contextmanager
def friendly_errors() -> Iterator[None]:
    """Bad input, and a full disk whether found before or while writing, end the command with `error: <message
    naming the file, key or device>` and exit code 2."""
    global _TASK_STARTED
    _TASK_STARTED = True
    try:
        yield
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:
        if not disk_filled(err):
            raise
        print(f"error: no space left on {device_of(runs_dir())} ({type(err).__name__}: "
              f"{str(err).strip().splitlines()[0] if str(err).strip() else ''}); free some space and run the command "
              "again (a run it could not close is closed by the next command)", file=sys.stderr)
        sys.exit(2)  # as a full disk found before writing: the user's to fix, whenever it was found


def disk_filled(err: BaseException) -> bool:
    """A library's error (SQLite's "disk I/O error", MindSpore's RuntimeError) behind which the disk of runs/
    filled up: said in those words rather than as a traceback that hides the cause."""
    chain = [err, err.__cause__, err.__context__]
    return any(e is not None and is_disk_full(e, runs_dir()) for e in chain)


def shows_help(argv: list[str], doc: str | None) -> bool:
    """`-h`/`--help` first: print the command's docstring and say so (the command then exits 0)."""
    if argv and argv[0] in ("-h", "--help"):
        print((doc or "").strip())
        return True
    return False


def command_args(argv: list[str] | None, doc: str | None, log_format: str = "[%(name)s][%(levelname)s] - %(message)s",
                 level: int = logging.WARNING) -> list[str] | None:
    """The start of a plain `python -m` command: its arguments (sys.argv's by default) with logging set up, or
    None after printing `doc` for `-h`/`--help` (the command then exits 0)."""
    argv = sys.argv[1:] if argv is None else argv
    if shows_help(argv, doc):
        return None
    logging.basicConfig(level=level, format=log_format)
    return argv


def number_value(key: str, text: object, kind: type[int] | type[float], meaning: str) -> int | float:
    """`text` as an int or float, or a ValueError naming `key` and what it takes (not Python's own words)."""
    try:
        if isinstance(text, bool) or (kind is int and isinstance(text, float)):
            raise ValueError
        return kind(text)
    except (TypeError, ValueError):
        raise ValueError(f"{key}={text!r}: {meaning}") from None


def key_values(argv: list[str], flags: dict[str, bool]) -> tuple[dict[str, str], dict[str, str | bool]]:
    """(key=value overrides, --flags) of a command that takes nothing else; anything else raises ValueError."""
    overrides, given, extra = split_args(argv, flags)
    if extra:
        raise ValueError(f"unexpected arguments {extra}: give key=value pairs (see --help)")
    return overrides, given


def split_args(argv: list[str], flags: dict[str, bool]) -> tuple[dict[str, str], dict[str, str | bool], list[str]]:
    """(key=value overrides, --flags, positionals). `flags` maps each flag to whether it takes a value."""
    overrides: dict[str, str] = {}
    seen: dict[str, str | bool] = {}
    positional: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg.startswith("--"):
            name, _, value = arg[2:].partition("=")
            if name not in flags:
                raise ValueError(f"unknown option --{name} (options: {', '.join('--' + f for f in flags)})")
            if flags[name]:
                value = value or next(args, "")
                if not value:
                    raise ValueError(f"--{name} needs a value")
                seen[name] = value
            else:
                seen[name] = True
        elif "=" in arg and not arg.startswith(("/", ".")) and arg.split("=", 1)[0].replace(".", "").isidentifier():
            key, _, value = arg.partition("=")
            overrides[key] = value
        else:
            positional.append(arg)
    return overrides, seen, positional
