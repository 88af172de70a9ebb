"""Stage 2: unfreeze the backbone (all of it, or its last N blocks) and train on augmented images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mindspore import nn, ops

from garbage_hpo.data import augment, preprocess
from garbage_hpo.metrics import Evaluation, evaluate_scores
from garbage_hpo.models import MobileNetV2, predict_images
from garbage_hpo.training.batches import effective_batch_size, shuffled_batches
from garbage_hpo.training.batchnorm_unfold import spread, unfold_batchnorm
from garbage_hpo.training.head_stage import StageConfig, build_train_step
from garbage_hpo.training.loop import EpochPlan, StageResult, StageRun, Trainee, TrainVal, run_epochs


@dataclass(frozen=True)
class FinetuneConfig(StageConfig):
    unfreeze: int | str = "all"  # "all" or the number of last backbone blocks to train
    batchnorm: str = "batch"  # "batch": trained BatchNorm layers normalise with batch statistics (folded ones
    #                           re-estimated first: batchnorm_unfold.py); "frozen": with their stored statistics
    #                           (small batches; exact data-parallel equivalence)
    augment: bool = True  # random resized crop + flip of the training photos
    cached_views: int = 8  # augmented views per photo in the cut-point cache (cut_cache.py); 0: no cache
    cache_dtype: str = "float16"  # how the cache stores activations: float16 or float32

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batchnorm not in ("batch", "frozen"):
            raise ValueError(f"finetune.batchnorm={self.batchnorm!r}: 'batch' or 'frozen'")
        if isinstance(self.cached_views, bool) or not isinstance(self.cached_views, int) or self.cached_views < 0:
            raise ValueError(f"finetune.cached_views={self.cached_views!r}: a whole number of views, 0 for no cache")
        if self.cache_dtype not in ("float16", "float32"):
            raise ValueError(f"finetune.cache_dtype={self.cache_dtype!r}: 'float16' or 'float32'")

    def blocks_to_train(self, total: int) -> int:
        if self.unfreeze == "all":
            return total
        if isinstance(self.unfreeze, int) and 1 <= self.unfreeze <= total:
            return self.unfreeze
        raise ValueError(f"finetune.unfreeze={self.unfreeze!r}: 'all' or a block count in 1..{total}")

    def cut_point(self, total_blocks: int) -> int:
        """Index of the first trained block."""
        return total_blocks - self.blocks_to_train(total_blocks)

    def cache_unused_because(self, workers: int, total_blocks: int) -> str | None:
        """Why fine-tuning runs on images, or None when it uses the cut-point cache (cut_cache.py)."""
        if self.cached_views == 0:
            return "finetune.cached_views=0"
        if workers > 1:
            return "data-parallel workers read images"
        if self.cut_point(total_blocks) == 0:
            return "finetune.unfreeze=all leaves no frozen prefix to cache"
        return None


def freeze_backbone_prefix(net: MobileNetV2, trainable_blocks: int) -> list:
    """Freeze all but the last `trainable_blocks` backbone blocks; returns the frozen cells."""
    blocks = list(net.backbone.features.cells())
    frozen = blocks[: len(blocks) - trainable_blocks]
    for cell in frozen:
        for param in cell.get_parameters():
            param.requires_grad = False
    return frozen


class GlobalMeanLoss(nn.Cell):
    """A data-parallel train step whose returned loss is the mean over all workers' shards, i.e. the loss of
    the whole global batch (the gradients are already averaged by TrainOneStepCell's reducer)."""

    def __init__(self, step: nn.Cell, workers: int) -> None:
        super().__init__()
        self.step = step
        self.sum = ops.AllReduce()
        self.workers = workers

    def construct(self, x, y):
        return self.sum(self.step(x, y)) / self.workers


@dataclass(frozen=True)
class ImageInput:
    """How photos become network input: the square size and the weights' input scaling."""

    size: int
    scaling: str


def finetune(net: MobileNetV2, images: TrainVal, cfg: FinetuneConfig, image: ImageInput, run: StageRun,
             shard: tuple[int, int] = (0, 1)) -> StageResult:
    """Train the unfrozen part of `net` on augmented photos (`images`: RGB training photos, preprocessed
    validation images). With `shard=(rank, workers)` this process is one data-parallel worker (launched by
    msrun): it takes its slice of every global batch of `cfg.batch_size`, gradients and the loss are averaged
    over workers, and only rank 0 evaluates."""
    train_rgb, y_train, val_images, y_val = images.x_train, images.y_train, images.x_val, images.y_val
    image_size, scaling, seed = image.size, image.scaling, run.seed
    rank, workers = shard
    frozen = freeze_backbone_prefix(net, cfg.blocks_to_train(len(net.backbone.features)))
    if cfg.batchnorm == "batch":  # folded (TFLite) BatchNorm re-estimated first; others unchanged
        blocks = list(net.backbone.features.cells())
        sample = np.stack([preprocess(train_rgb[i], image_size, scaling) for i in spread(len(train_rgb))])
        unfold_batchnorm(blocks, blocks[len(frozen):], sample)
    batch = effective_batch_size(cfg.batch_size, len(train_rgb))
    if batch % workers:
        raise ValueError(f"finetune.batch_size={batch} must be a multiple of finetune.workers={workers}")
    steps_per_epoch = len(train_rgb) // batch
    step, lrs = build_train_step(net, cfg, steps_per_epoch * cfg.epochs)
    if workers > 1:
        step = GlobalMeanLoss(step, workers)
    y_train = y_train.astype(np.int32)

    norms = [c for _, c in net.cells_and_names() if isinstance(c, nn.BatchNorm2d | nn.BatchNorm1d)]

    def train_mode() -> None:
        net.set_train(True)
        for cell in frozen:  # frozen BatchNorm keeps its moving statistics
            cell.set_train(False)
        if cfg.batchnorm == "frozen":
            for cell in norms:
                cell.set_train(False)

    def batches(epoch: int):
        share = batch // workers
        for idx in shuffled_batches(len(train_rgb), batch, seed + 1, epoch):
            mine = idx[rank * share : (rank + 1) * share]
            # one generator per (epoch, photo): the same crops whichever worker handles the photo
            x = np.stack([preprocess(augment(train_rgb[i], image_size, np.random.default_rng([seed, 7919, epoch, i]))
                                     if cfg.augment else train_rgb[i], image_size, scaling) for i in mine])
            yield x, y_train[mine]

    def evaluate() -> Evaluation:
        if rank != 0:  # only rank 0 reports; the others' parameters are identical
            return Evaluation(0.0, 0.0, 0.0, 0)
        return evaluate_scores(predict_images(net, val_images, batch), y_val)

    return run_epochs(stage="finetune", trainee=Trainee(net, step, train_mode), batches=batches, evaluate=evaluate,
                      plan=EpochPlan(lrs, steps_per_epoch, cfg.epochs), run=run)
