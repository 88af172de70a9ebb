"""Fine-tuning on cut-point activations: the cache holds what the frozen prefix computes, and training on it
gives the numbers training on images gives."""

from __future__ import annotations

import mindspore as ms
import numpy as np
import pytest

from garbage_hpo.data.images import preprocess, read_rgb
from garbage_hpo.models.factory import build_backbone
from garbage_hpo.models.head import Head
from garbage_hpo.models.mobilenetv2 import MobileNetV2
from garbage_hpo.pipeline.cut_point import cut_activations
from garbage_hpo.pipeline.preparation import prepare
from garbage_hpo.training.cached_finetune import FINETUNE_STEPS, finetune_cached
from garbage_hpo.training.cut_cache import BlockRange, CutCache, CutCacheSpec
from garbage_hpo.training.finetune_stage import ImageInput, finetune
from garbage_hpo.training.loop import StageRun, TrainVal, restore, snapshot
from tests.conftest import settings_of

TINY = ["data.image_size=64", "train.epochs=1", "finetune.epochs=2", "finetune.batch_size=8",
        "finetune.unfreeze=3", "finetune.schedule.lr_max=0.01"]


def test_finetuning_on_the_cache_gives_the_losses_of_finetuning_on_images(runs, tiny_demo):
    """One view, no augmentation, float32 cache, same engine: the same inputs reach the trained blocks, so
    both paths give the same per-epoch losses and validation scores (float tolerance)."""
    cfg = settings_of(f"data.root={tiny_demo}", *TINY, "finetune.augment=false", "finetune.cached_views=1",
                  "finetune.cache_dtype=float32", "data.feature_engine=mindspore", f"runs_dir={runs}")
    prepared = prepare(cfg)
    ft = cfg.finetune
    ms.set_seed(0)
    spec = cfg.head.spec(prepared.index.num_classes, 1280)
    images_net = MobileNetV2(build_backbone(prepared.spec), Head(spec))
    cached_net = MobileNetV2(build_backbone(prepared.spec), Head(spec))
    restore(cached_net, snapshot(images_net))
    split, labels = prepared.split, prepared.labels
    rgb = [read_rgb(prepared.index.samples[i].path) for i in split.train]
    scaling = prepared.spec.profile.input_scaling
    val_images = np.stack([preprocess(read_rgb(prepared.index.samples[i].path), 64, scaling) for i in split.val])

    on_images = finetune(images_net, TrainVal(rgb, labels[split.train], val_images, labels[split.val]), ft,
                         ImageInput(64, scaling), StageRun(seed=5, step_offset=0))
    acts, row_of = cut_activations(cfg, prepared)
    on_cache, _ = finetune_cached(cached_net, acts, TrainVal(np.array([row_of[int(p)] for p in split.train]),
                                                             labels[split.train],
                                                             np.array([row_of[int(p)] for p in split.val]),
                                                             labels[split.val]), ft, StageRun(seed=5, step_offset=0))
    for a, b in zip(on_images.history, on_cache.history, strict=True):
        assert b.train_loss == pytest.approx(a.train_loss, rel=1e-4)
        assert b.val.loss == pytest.approx(a.val.loss, rel=1e-4)
        assert b.val.accuracy == a.val.accuracy
    trained = "backbone.features.18.features.0.weight"
    np.testing.assert_allclose(dict(cached_net.parameters_and_names())[trained].asnumpy(),
                               dict(images_net.parameters_and_names())[trained].asnumpy(), rtol=1e-3, atol=1e-6)


def test_the_cache_holds_the_prefix_output_and_its_views_are_deterministic(runs, tiny_demo, tmp_path):
    cfg = settings_of(f"data.root={tiny_demo}", *TINY, f"runs_dir={runs}")
    prepared = prepare(cfg)
    samples = prepared.index.samples[:5]
    spec = CutCacheSpec(cut=16, image_size=64, views=3, seed=1, augment=True, dtype="float32",
                        engine="onnxruntime", batch_size=4)
    acts = CutCache(tmp_path / "a", prepared.spec, spec, samples).ensure()
    assert acts.views.shape == (3, 5, 160, 2, 2) and acts.center.shape == (5, 160, 2, 2) and not acts.from_cache
    prefix = BlockRange(build_backbone(prepared.spec).features, 0, 16)
    prefix.set_train(False)
    images = np.stack([preprocess(read_rgb(s.path), 64, prepared.spec.profile.input_scaling) for s in samples])
    np.testing.assert_allclose(acts.center, prefix(ms.Tensor(images)).asnumpy(), rtol=1e-3, atol=1e-4)
    assert not np.allclose(acts.views[0], acts.views[1])  # different crops
    again = CutCache(tmp_path / "b", prepared.spec, spec, samples).ensure()  # another folder: rebuilt
    np.testing.assert_array_equal(again.views, acts.views)
    assert CutCache(tmp_path / "a", prepared.spec, spec, samples).ensure().from_cache
    fewer = CutCache(tmp_path / "a", prepared.spec, CutCacheSpec(16, 64, 2, 1, True, "float32", "onnxruntime", 4),
                     samples).ensure()
    assert fewer.from_cache and fewer.views.shape[0] == 2  # served by the 3-view cache: its first 2 views
    np.testing.assert_array_equal(fewer.views, acts.views[:2])
    keys = {CutCache(tmp_path, prepared.spec, s, samples).key for s in
            (spec, CutCacheSpec(15, 64, 3, 1, True, "float32", "onnxruntime", 4),
             CutCacheSpec(16, 64, 3, 2, True, "float32", "onnxruntime", 4),
             CutCacheSpec(16, 64, 3, 1, True, "float16", "onnxruntime", 4))}
    assert len(keys) == 4  # cut point, seed and dtype each change the key


def test_train_fine_tunes_on_the_cache_and_reuses_the_compiled_step(runs, tiny_demo):
    cfg = settings_of(f"data.root={tiny_demo}", *TINY, f"runs_dir={runs}")
    from garbage_hpo.pipeline.one_split import train

    prepared = prepare(cfg)
    builds, reuses = FINETUNE_STEPS.builds, FINETUNE_STEPS.reuses
    first = train(cfg, prepared, save_checkpoint=False)
    assert [p.name for p in (runs / "cache" / "cut").glob("*.npy")]  # built on first use
    second = train(cfg, prepared, save_checkpoint=False)
    assert FINETUNE_STEPS.builds <= builds + 1 and FINETUNE_STEPS.reuses >= reuses + 1  # compiled at most once
    assert [r.train_loss for r in second.history] == pytest.approx([r.train_loss for r in first.history], rel=1e-5)


@pytest.mark.slow
def test_two_stage_sweep_fine_tunes_on_the_cache_and_compares_with_the_head_alone(runs, tiny_demo):
    from mlflow.tracking import MlflowClient

    from tests.conftest import run_cli

    proc = run_cli("garbage_hpo.sweep", "+experiment=two_stage", f"data.root={tiny_demo}", "data.image_size=64",
                   "train.epochs=2", "sweep.n_trials=3", "sweep.pruner=none", "finetune.batch_size=8")
    assert "[3/3]" in proc.stdout and "overhead" in proc.stdout
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("two_stage")
    trials = {r.data.tags["optuna.trial_number"]: r for r in client.search_runs([experiment.experiment_id])
              if r.data.tags.get("hpo.role") == "trial"}
    assert trials["0"].data.params["finetune.epochs"] == "0"  # the head alone first, as enqueued
    tuned = trials["1"]
    assert tuned.data.params["finetune.unfreeze"] == "2" and tuned.data.params["finetune.cached_views"] == "8"
    curve = client.get_metric_history(tuned.info.run_id, "epoch/val_acc")
    assert sorted(m.step for m in curve) == [1, 2, 3, 4, 5]  # 2 head epochs, then 3 fine-tune epochs
    built = list((runs / "cache" / "cut").glob("*.npy"))
    assert len([p for p in built if ".center." not in p.name]) >= 1  # one cache per (cut point, views)
