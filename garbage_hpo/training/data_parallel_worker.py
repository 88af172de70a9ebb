"""One data-parallel fine-tuning worker, started by msrun: `msrun ... data_parallel_worker.py JOB_DIR`."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore.communication import get_group_size, get_rank, init

from garbage_hpo.data import read_rgb
from garbage_hpo.models import Head, MobileNetV2, build_backbone
from garbage_hpo.runtime import configure_runtime
from garbage_hpo.training.data_parallel import BEST_CHECKPOINT, EPOCHS_FILE, DataParallelJob, epoch_record
from garbage_hpo.training.finetune_stage import ImageInput, finetune
from garbage_hpo.training.loop import EpochResult, StageRun, TrainVal


def main(job_dir: Path) -> None:
    configure_runtime()
    init()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True)
    rank, workers = get_rank(), get_group_size()
    with open(job_dir / "job.pkl", "rb") as src:
        job: DataParallelJob = pickle.load(src)
    ms.set_seed(job.seed)
    np.random.seed(job.seed)
    net = MobileNetV2(build_backbone(job.backbone), Head(job.head))
    ms.load_param_into_net(net, ms.load_checkpoint(str(job_dir / "start.ckpt")))
    net.set_train(False)
    train_rgb = [read_rgb(Path(p)) for p in job.train_paths]
    val_images = np.load(job_dir / "val_images.npy", mmap_mode="r")
    epochs = open(job_dir / EPOCHS_FILE, "a", encoding="utf-8") if rank == 0 else None  # noqa: SIM115
    best = {"acc": -1.0, "epoch": 0}

    def report(result: EpochResult) -> None:
        if epochs is None:
            return
        if result.val.accuracy > best["acc"]:
            best.update(acc=result.val.accuracy, epoch=result.epoch)
        epochs.write(epoch_record(result, best["epoch"]) + "\n")
        epochs.flush()

    finetune(net, TrainVal(train_rgb, job.y_train, np.asarray(val_images), job.y_val), job.cfg,
             ImageInput(job.image_size, job.scaling), StageRun(job.seed, job.step_offset, report),
             shard=(rank, workers))
    if epochs is not None:
        epochs.close()
        tmp = job_dir / "best.partial.ckpt"
        ms.save_checkpoint(net, str(tmp))  # finetune() leaves the best epoch's parameters in the network
        tmp.replace(job_dir / BEST_CHECKPOINT)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
