"""Stage 2 as data-parallel training: `finetune.workers=N` starts N local worker processes with MindSpore's
own launcher (msrun, which supports CPU workers) and follows their progress.

Each worker rebuilds the network from the stage-1 checkpoint, takes its slice of every global batch, and
MindSpore averages the gradients (and the reported loss) over workers, so N workers follow the trajectory of
one process with the same global batch. One difference remains: BatchNorm layers that are being trained
compute batch statistics over their own slice, as in any data-parallel training without synchronised
BatchNorm. Rank 0 evaluates after every epoch and writes one JSON line per epoch; this process reads the
lines as they come and passes them to `on_epoch` (MLflow logging, pruning, Ctrl-C), stopping the workers if
that raises.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import mindspore as ms
import numpy as np

from garbage_hpo.metrics import Evaluation
from garbage_hpo.models import BackboneSpec, HeadSpec, MobileNetV2
from garbage_hpo.training.finetune_stage import FinetuneConfig
from garbage_hpo.training.loop import EpochCallback, EpochResult, StageResult, snapshot

WORKER_SCRIPT = Path(__file__).with_name("data_parallel_worker.py")
EPOCHS_FILE = "epochs.jsonl"
BEST_CHECKPOINT = "best.ckpt"


@dataclass(frozen=True)
class DataParallelJob:
    """Everything a worker needs to rebuild the stage-1 network and train its shard."""

    backbone: BackboneSpec
    head: HeadSpec
    train_paths: list[str]
    y_train: np.ndarray
    y_val: np.ndarray
    cfg: FinetuneConfig
    image_size: int
    scaling: str
    seed: int
    step_offset: int


def epoch_record(result: EpochResult, best_epoch: int | None = None) -> str:
    val = result.val
    return json.dumps({"stage": result.stage, "epoch": result.epoch, "step": result.step,
                       "train_loss": result.train_loss, "lr": result.lr, "seconds": result.seconds,
                       "val": [val.accuracy, val.top5, val.loss, val.n], "best_epoch": best_epoch})


def parse_record(line: str) -> EpochResult:
    r = json.loads(line)
    return EpochResult(r["stage"], r["epoch"], r["step"], r["train_loss"], r["lr"], Evaluation(*r["val"]),
                       r["seconds"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def msrun_command(workers: int, job_dir: Path) -> list[str]:
    msrun = shutil.which("msrun", path=str(Path(sys.executable).parent)) or shutil.which("msrun")
    if msrun is None:
        raise FileNotFoundError("finetune.workers>1 needs MindSpore's `msrun` launcher, not found beside "
                                f"{sys.executable} or on PATH")
    return [msrun, f"--worker_num={workers}", f"--local_worker_num={workers}", f"--master_port={_free_port()}",
            "--join=True", f"--log_dir={job_dir / 'logs'}", str(WORKER_SCRIPT), str(job_dir)]


def finetune_data_parallel(net: MobileNetV2, job: DataParallelJob, val_images: np.ndarray, workers: int,
                           job_dir: Path, on_epoch: EpochCallback | None = None) -> StageResult:
    if workers < 2:
        raise ValueError(f"finetune.workers={workers}: data-parallel training needs at least 2")
    job_dir.mkdir(parents=True, exist_ok=True)
    ms.save_checkpoint(net, str(job_dir / "start.ckpt"))
    np.save(job_dir / "val_images.npy", val_images)
    with open(job_dir / "job.pkl", "wb") as out:
        pickle.dump(job, out)
    # msrun starts workers with the `python` it finds on PATH: make that this interpreter
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    with open(job_dir / "msrun.log", "w", encoding="utf-8") as log:
        proc = subprocess.Popen(msrun_command(workers, job_dir), env=env, stdout=log, stderr=subprocess.STDOUT,
                                cwd=job_dir, start_new_session=True)
    result = StageResult()
    epochs = job_dir / EPOCHS_FILE
    try:
        while True:
            finished = proc.poll() is not None
            lines = epochs.read_text(encoding="utf-8").splitlines(keepends=True) if epochs.is_file() else []
            for line in lines[len(result.history):]:
                if not line.endswith("\n"):
                    break
                record = parse_record(line)
                result.history.append(record)
                result.best_epoch = json.loads(line)["best_epoch"] or result.best_epoch
                if on_epoch is not None:
                    on_epoch(record)
            if finished:
                break
            time.sleep(0.2)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)  # msrun, its scheduler and every worker
        proc.wait()
        raise
    if proc.returncode != 0 or not (job_dir / BEST_CHECKPOINT).is_file():
        raise RuntimeError(f"data-parallel fine-tuning failed (msrun exit {proc.returncode}); logs in "
                           f"{job_dir / 'logs'}:\n{_log_tail(job_dir)}")
    ms.load_param_into_net(net, ms.load_checkpoint(str(job_dir / BEST_CHECKPOINT)))
    net.set_train(False)
    result.best_state = snapshot(net)
    for name in ("start.ckpt", BEST_CHECKPOINT, "val_images.npy", "job.pkl"):  # keep only the logs
        (job_dir / name).unlink(missing_ok=True)
    return result


def _log_tail(job_dir: Path, lines: int = 25) -> str:
    logs = sorted((job_dir / "logs").glob("worker_*.log")) or [job_dir / "msrun.log"]
    for path in logs:
        text = [line for line in path.read_text(errors="replace").splitlines() if "Traceback" in line or
                not line.startswith("[")]
        if any("Error" in line for line in text):
            return "\n".join(text[-lines:])
    return "\n".join(logs[0].read_text(errors="replace").splitlines()[-lines:]) if logs[0].is_file() else ""
