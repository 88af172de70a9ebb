"""Shared fixtures: real engines on small data.

- MindSpore runs in graph mode on the CPU, as in production.
- MLflow: one SQLite store is created per session (schema migrations take seconds) and copied per test.
- Data: a tiny generated demo set (26 classes, few images, 64 px) made once per session; tests that need
  the real photos use `real_data_root` and are skipped only where ../shared/data is absent.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE_TSV = SHARED / "reference" / "mobilenetv2_official_params.tsv"

os.environ.setdefault("GLOG_v", "3")


def pytest_configure(config):
    from garbage_hpo.runtime.cli import configure_runtime

    configure_runtime()


SKIPPED: list[str] = []  # with GARBAGE_HPO_NO_SKIPS=1 (.ci/run): every test must run, a skip fails the session


def pytest_runtest_logreport(report):
    if report.skipped and os.environ.get("GARBAGE_HPO_NO_SKIPS") == "1":
        SKIPPED.append(f"{report.nodeid}: {report.longrepr[-1] if isinstance(report.longrepr, tuple) else ''}")


def pytest_sessionfinish(session, exitstatus):
    if SKIPPED and exitstatus == 0:
        print(f"\nGARBAGE_HPO_NO_SKIPS=1: {len(SKIPPED)} tests were skipped, and CI expects each to run:\n  "
              + "\n  ".join(SKIPPED[:20]), file=sys.stderr)
        session.exitstatus = 1


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory) -> Path:
    """The converted default weights: the project's runs/weights when `make install` built them, else built now."""
    from garbage_hpo.runtime.paths import DEFAULT_WEIGHTS_NAME

    installed = REPO / "runs" / "weights"
    if (installed / DEFAULT_WEIGHTS_NAME).is_file():
        return installed
    out = tmp_path_factory.mktemp("weights")
    subprocess.run([sys.executable, "-m", "garbage_hpo.weights", "--out", str(out / DEFAULT_WEIGHTS_NAME)],
                   check=True)
    return out


@pytest.fixture(scope="session")
def default_weights(weights_dir) -> Path:
    from garbage_hpo.runtime.paths import DEFAULT_WEIGHTS_NAME

    return weights_dir / DEFAULT_WEIGHTS_NAME


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> Path:
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow_template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def runs(tmp_path, mlflow_template, weights_dir, monkeypatch) -> Path:
    """A fresh runs/ folder with a migrated MLflow store, wired through the environment like a user would."""
    folder = tmp_path / "runs"
    folder.mkdir()
    shutil.copy(mlflow_template, folder / "mlflow.db")
    monkeypatch.setenv("GARBAGE_HPO_RUNS", str(folder))
    monkeypatch.setenv("GARBAGE_HPO_WEIGHTS", str(weights_dir))
    monkeypatch.delenv("GARBAGE_HPO_DATA", raising=False)
    monkeypatch.delenv("GARBAGE_HPO_PRETRAINED", raising=False)
    monkeypatch.chdir(tmp_path)  # no datasets/ here: auto-discovery must not find the developer's data
    return folder


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory) -> Path:
    from garbage_hpo.data.demo import generate

    return generate(tmp_path_factory.mktemp("tiny_demo"), per_class=6, size=64, seed=3)


@pytest.fixture(scope="session")
def shared_weights() -> Path:
    """../shared/weights: the ImageNet TFLite MobileNets (skipped where absent, as on a user's machine)."""
    folder = SHARED / "weights"
    if not (folder / "mobilenet_v2_1.0_224_quant.tflite").is_file():
        pytest.skip(f"ImageNet TFLite weights not found in {folder}")
    return folder


@pytest.fixture(scope="session")
def imported_weights(tmp_path_factory, shared_weights) -> Path:
    """A weights folder holding every file of ../shared/weights imported once for the session."""
    folder = tmp_path_factory.mktemp("imported_weights")
    subprocess.run([sys.executable, "-m", "garbage_hpo.weights", "import",
                    *sorted(str(p) for p in shared_weights.glob("*.tflite"))],
                   check=True, env=os.environ | {"GARBAGE_HPO_WEIGHTS": str(folder)}, capture_output=True)
    return folder


@pytest.fixture(scope="session")
def real_data_root() -> Path:
    env = os.environ.get("GARBAGE_HPO_DATA")
    root = Path(env) if env else SHARED / "data" / "garbage_26x100"
    if not (root / "train").is_dir():
        pytest.skip(f"real photos not found at {root}")
    return root


def run_cli(module: str, *overrides: str, cwd: Path | None = None, check: bool = True
            ) -> subprocess.CompletedProcess:
    """Run `python -m <module> <overrides>` as a user would, with the test's environment."""
    proc = subprocess.run([sys.executable, "-m", module, *overrides], capture_output=True, text=True, cwd=cwd,
                          env=os.environ.copy(), timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{module} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}"
        )
    return proc


def compose(*overrides: str):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "conf")):
        return hydra_compose(config_name="train", overrides=list(overrides))


def settings_of(*overrides: str):
    """The training settings of `python -m garbage_hpo.train` with these overrides, read as an entry point does."""
    from garbage_hpo.config.settings import read_settings

    return read_settings(compose(*overrides))


def spawn(args: list[str], log: Path) -> subprocess.Popen:
    """Start a process with stdout and stderr going to `log` (the child keeps its own copy of the file)."""
    with open(log, "w", encoding="utf-8") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())


@contextlib.contextmanager
def make_ui_server(store: Path) -> Iterator[str]:
    """MLflow's server as `make ui` starts it (this project's app, tracking/ui_app.py) on a free port, serving
    `store`; its base URL once it answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "garbage_hpo.ui", f"store=sqlite:///{store}", f"port={port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(base, timeout=2)
                break
            except OSError:
                assert server.poll() is None, "the MLflow server exited"
                time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def assert_refit_predicts_what_the_head_computed(settings, prepared, checkpoint: Path, out: Path, every: int = 7
                                                ) -> None:
    """A refit network loaded from `checkpoint` scores every `every`-th photo, from the photo, as its head did
    on cached features (standardized with every photo's statistics when configured, TTA averaged), and its
    MINDIR export agrees on each photo's class."""
    import numpy as np

    from garbage_hpo.data.images import preprocess, read_rgb
    from garbage_hpo.deploy.export import export_mindir, load_mindir, top1_agreement
    from garbage_hpo.deploy.predictor import Predictor
    from garbage_hpo.models.feature_sources import Standardizer
    from garbage_hpo.pipeline.taps import head_inputs
    from garbage_hpo.selection.run import head_scores

    predictor = Predictor.load(checkpoint)
    rows = np.arange(0, len(prepared.index.samples), every)
    images = [read_rgb(prepared.index.samples[i].path) for i in rows]
    scaler = Standardizer.fit(head_inputs(settings, prepared)) if settings.sources.normalize == "standardize" else None
    expected = head_scores(settings, prepared, predictor.net.head, scaler, rows)
    np.testing.assert_allclose(predictor.scores_batch(images), expected, atol=2e-3, rtol=1e-3)
    batch = np.stack([preprocess(img, predictor.image_size, predictor.profile.input_scaling) for img in images])
    exported = load_mindir(export_mindir(predictor.net, predictor.image_size, out / "model.mindir"))
    agreement, _ = top1_agreement(predictor.net, exported, batch)
    assert agreement == 1.0


def cv_with_and_without(option: str, *overrides: str):
    """A 3-fold CV configuration (taps 13 and last, standardized) with `option` and without it, on the same
    prepared photos: (settings with, prepared, CV with it, run twice and checked equal, CV without it)."""
    from garbage_hpo.pipeline.preparation import prepare
    from garbage_hpo.selection.run import run_cv

    common = ("sweep.cv_folds=3", "features.taps=[13,-1]", "features.normalize=standardize", *overrides)
    settings = settings_of(*common, option)
    prepared = prepare(settings)
    first, second = run_cv(settings, prepared), run_cv(settings, prepared)
    assert first.curves.tolist() == second.curves.tolist()  # deterministic
    return settings, prepared, first, run_cv(settings_of(*common), prepared)
