"""The process setup every command shares (garbage_hpo/runtime/cli.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

# trains a small two-layer head on 3 folds with the fold stack and prints what the runtime was told and a digest
# of every number the training produced (curves and validation scores, epoch by epoch)
TRAIN_AND_DIGEST = """
import hashlib
import numpy as np
from garbage_hpo.runtime.cli import configure_runtime
configure_runtime()
from mindspore._c_expression import RuntimeConf
from garbage_hpo.models.head import HeadSpec
from garbage_hpo.training.fold_stack import FoldInputs, train_fold_stack
from garbage_hpo.training.head_stage import StageConfig

import mindspore as ms
ms.set_seed(3)  # the initial weights, as cross-validation seeds them
rng = np.random.default_rng(0)
pooled = rng.standard_normal((300, 512)).astype(np.float32)
labels = rng.integers(0, 6, 300)
parts = np.array_split(rng.permutation(300), 3)
trains = [np.concatenate([p for j, p in enumerate(parts) if j != i]) for i in range(3)]
cfg = StageConfig(epochs=3, batch_size=32, optimizer={"name": "momentum", "momentum": 0.9, "weight_decay": 0.01},
                  schedule={"name": "cosine", "lr_max": 0.05}, label_smoothing=0.1)
curves = train_fold_stack(HeadSpec(num_classes=6, in_features=512, depth=2, dropout=0.2),
                          FoldInputs(pooled, labels, trains, parts), cfg, seed=3)
digest = hashlib.sha256()
for array in (curves.acc, curves.loss, curves.train_loss, *curves.scores):
    digest.update(np.ascontiguousarray(array).tobytes())
print(RuntimeConf.get_instance().is_op_threads_num_configured(), digest.hexdigest())
"""


def train_with_threads(threads: str) -> tuple[str, str]:
    env = os.environ | {"GARBAGE_HPO_CPU_THREADS": threads}
    proc = subprocess.run([sys.executable, "-c", TRAIN_AND_DIGEST], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600, check=True)
    configured, digest = proc.stdout.split()[-2:]
    return configured, digest


def test_the_kernel_thread_count_is_set_and_changes_no_number():
    one, many = train_with_threads("1"), train_with_threads("4")
    assert one[0] == many[0] == "True"  # the runtime was told (MindSpore's own default is 25 threads)
    assert one[1] == many[1]  # the same training, bit for bit, with 1 or 4 kernel threads


@pytest.mark.parametrize(("module", "args", "message"), [
    ("garbage_hpo.data", ["suspects", "sweep.cv_folds=abc"], "sweep.cv_folds='abc': a whole number of folds"),
    ("garbage_hpo.reproduce", ["tolerance=abc"], "tolerance='abc': percentage points"),
    ("garbage_hpo.reproduce", ["experiment=head_depth", "trial=abc"], "trial='abc': a trial number of the study"),
])
def test_a_value_that_is_not_a_number_is_named_with_its_key(runs, module, args, message):
    from tests.conftest import run_cli

    proc = run_cli(module, *args, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "invalid literal" not in proc.stderr and "could not convert" not in proc.stderr


@pytest.mark.parametrize(("module", "args", "setting"), [
    ("garbage_hpo.evaluate", ["model=champion", "data.split=train"], "out"),
    ("garbage_hpo.data", ["suspects"], "--out"),
])
def test_an_unwritable_output_folder_is_refused_before_any_work(runs, tiny_demo, tmp_path, module, args, setting):
    from tests.conftest import run_cli

    blocker = tmp_path / "a-file"
    blocker.write_text("x")  # a folder under a regular file can never be created, even by root
    out = blocker / "reports"
    given = [f"out={out}"] if setting == "out" else ["--out", str(out)]
    proc = run_cli(module, *args, f"data.root={tiny_demo}", *given, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{setting}={out}: cannot write there" in proc.stderr and "Traceback" not in proc.stderr
    assert not (runs / "cache").exists()  # refused before any feature or model work
