"""finetune.workers=2: data-parallel fine-tuning with MindSpore's msrun launcher on CPU workers, for real."""

from __future__ import annotations

import pytest

from garbage_hpo.config.settings import read_settings
from garbage_hpo.pipeline.one_split import train
from garbage_hpo.pipeline.preparation import prepare
from tests.conftest import compose, settings_of

pytestmark = pytest.mark.slow  # `make test-fast` leaves these out; `make test` runs them

STAGES = ("data.image_size=64", "train.epochs=2", "train.batch_size=16", "finetune.epochs=3", "finetune.batch_size=8",
          "finetune.unfreeze=3", "finetune.schedule.lr_max=0.001", "finetune.batchnorm=frozen",
          "finetune.cached_views=0")  # the single process on images too (workers never use the cut cache)


def test_two_workers_follow_the_single_process_loss_trajectory(runs, tiny_demo):
    histories = {}
    for workers in (1, 2):
        cfg = settings_of(f"data.root={tiny_demo}", *STAGES, f"finetune.workers={workers}", f"runs_dir={runs}")
        seen = []
        result = train(cfg, prepare(cfg), on_epoch=seen.append, save_checkpoint=False)
        assert [r.stage for r in seen] == ["head"] * 2 + ["finetune"] * 3  # reported live, epoch by epoch
        histories[workers] = result
    one, two = histories[1].history, histories[2].history
    # same global batches, gradients averaged over the workers' halves: the same trajectory up to float32
    # summation order (measured: 1e-5 after 3 epochs)
    assert [r.train_loss for r in two] == pytest.approx([r.train_loss for r in one], rel=1e-4)
    assert [r.val.loss for r in two] == pytest.approx([r.val.loss for r in one], rel=1e-4)
    assert [r.val.accuracy for r in two] == [r.val.accuracy for r in one]
    assert histories[2].val_acc == histories[1].val_acc
    logs = sorted((runs / "data_parallel").glob("*/logs/worker_*.log"))
    assert [p.name for p in logs] == ["worker_0.log", "worker_1.log"]  # kept; the checkpoints are not
    assert not list((runs / "data_parallel").glob("*/*.ckpt"))


@pytest.mark.parametrize(("override", "message"), [
    ("finetune.workers=3", "finetune.batch_size=8 must be a multiple of finetune.workers=3"),
    ("finetune.workers=0", "finetune.workers=0"),
    ("finetune.batchnorm=sync", "finetune.batchnorm='sync'"),
])
def test_bad_data_parallel_settings_name_the_key(tiny_demo, override, message):
    cfg = compose(f"data.root={tiny_demo}", *STAGES, override)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("'", "'")):
        read_settings(cfg)
