"""A full disk, made real with a small tmpfs: one line naming the device and the file, nothing half-written left,
no run left open. (Mounting needs root, as CI and the developers' machines run.)"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import run_cli, settings_of


@pytest.fixture
def disk_of(tmp_path):
    """disk_of(MiB): a folder on its own file system of that size."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = []

    def make(mib: int) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mib}m", "tmpfs", str(folder)], check=True)
        mounted.append(folder)
        return folder

    yield make
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def small_disk(disk_of):
    """A folder on its own 6 MiB file system."""
    return disk_of(6)


def fill(folder: Path, leave_kib: int) -> None:
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    with open(folder / "filler", "wb") as handle:
        handle.write(b"\0" * max(0, free - leave_kib * 1024))


def test_train_with_runs_on_a_full_disk_says_so_in_one_line_and_leaves_no_partial_file(runs, tiny_demo, small_disk,
                                                                                       monkeypatch):
    monkeypatch.setenv("GARBAGE_HPO_RUNS", str(small_disk))
    proc = run_cli("garbage_hpo.train", f"data.root={tiny_demo}", "data.image_size=64", "train.epochs=1",
                   f"tracking.uri=sqlite:///{runs / 'mlflow.db'}", check=False)
    assert proc.returncode == 2, proc.stderr
    assert f"no space left on {small_disk} while writing {small_disk}/cache/onnx/" in proc.stderr
    assert "Traceback" not in proc.stderr and "No such file or directory" not in proc.stderr
    assert not [p for p in small_disk.rglob("*") if p.is_file() and "tmp" in p.name]
    with sqlite3.connect(runs / "mlflow.db") as db:
        assert db.execute("select count(*) from runs where status = 'RUNNING'").fetchone()[0] == 0


def test_an_mlflow_store_on_a_full_disk_is_refused_before_any_work(runs, tiny_demo, small_disk):
    store = small_disk / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{store}").search_experiments()
    fill(small_disk, leave_kib=64)
    proc = run_cli("garbage_hpo.train", f"data.root={tiny_demo}", "data.image_size=64", "train.epochs=1",
                   f"tracking.uri=sqlite:///{store}", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"tracking.uri=sqlite:///{store}: no space left on {small_disk} while writing {store}" in proc.stderr
    assert not (runs / "cache").exists()  # refused before any data work


def test_a_checkpoint_that_does_not_fit_is_refused_and_nothing_half_written_is_left(runs, tiny_demo, small_disk):
    from garbage_hpo.models.factory import build_backbone
    from garbage_hpo.models.head import Head
    from garbage_hpo.models.mobilenetv2 import MobileNetV2
    from garbage_hpo.pipeline.preparation import prepare
    from garbage_hpo.pipeline.saved_model import save_model
    from garbage_hpo.runtime.files import NoSpaceError

    cfg = settings_of(f"data.root={tiny_demo}", "data.image_size=64", f"runs_dir={runs}")
    prepared = prepare(cfg)
    spec = cfg.head.spec(prepared.index.num_classes, 1280)
    net = MobileNetV2(build_backbone(prepared.spec), Head(spec))
    with pytest.raises(NoSpaceError, match=f"no space left on {small_disk} while writing {small_disk}/model.ckpt"):
        save_model(net, small_disk, cfg, prepared, spec)
    assert not list(small_disk.iterdir())
    saved = save_model(net, runs / "model", cfg, prepared, spec)  # where there is room: ckpt and bound card
    assert saved.is_file() and saved.with_suffix(".json").is_file()


def test_a_checkpoint_is_refused_where_it_fits_but_its_mlflow_copy_would_not(runs, tiny_demo, disk_of):
    """runs/ on one disk: the checkpoint and its copy into runs/mlartifacts are counted, and the message says so
    (it said `10 MiB needed, 12 MiB free`, its margin and the copy unsaid)."""
    from garbage_hpo.models.factory import build_backbone
    from garbage_hpo.models.head import Head
    from garbage_hpo.models.mobilenetv2 import MobileNetV2
    from garbage_hpo.pipeline.preparation import prepare
    from garbage_hpo.pipeline.saved_model import save_model
    from garbage_hpo.runtime.files import NoSpaceError

    cfg = settings_of(f"data.root={tiny_demo}", "data.image_size=64", f"runs_dir={runs}")
    prepared = prepare(cfg)
    spec = cfg.head.spec(prepared.index.num_classes, 1280)
    net = MobileNetV2(build_backbone(prepared.spec), Head(spec))
    weights = sum(int(p.size) for p in net.get_parameters()) * 4
    disk = disk_of(int(3 * weights / 2**20) + 16)
    on_disk = settings_of(f"data.root={tiny_demo}", "data.image_size=64", f"runs_dir={disk}")
    fill(disk, leave_kib=int((1.5 * weights + (6 << 20)) / 1024))  # one checkpoint fits, two do not
    with pytest.raises(NoSpaceError, match=r"MiB needed \(the checkpoint [\d.]+ MiB and its copy into the MLflow "
                       rf"artifact store {disk}/mlartifacts\) plus a 4.0 MiB margin, [\d.]+ MiB free on {disk}"):
        save_model(net, disk / "models" / "run", on_disk, prepared, spec)
    assert not list((disk / "models" / "run").iterdir())


def test_a_library_error_behind_a_full_disk_is_said_as_such(small_disk, monkeypatch, capsys):
    from garbage_hpo.runtime.cli import friendly_errors

    monkeypatch.setenv("GARBAGE_HPO_RUNS", str(small_disk))
    fill(small_disk, leave_kib=16)
    with pytest.raises(SystemExit) as done, friendly_errors():
        raise sqlite3.OperationalError("disk I/O error")  # what SQLite says when its WAL cannot grow
    assert done.value.code == 2  # as when the disk is found full before writing
    err = capsys.readouterr().err
    assert f"error: no space left on {small_disk} (OperationalError: disk I/O error)" in err
