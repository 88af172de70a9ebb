"""Augmented feature views for the head (features.train_views): the cached views, what a fold trains on, and the
exported network. Real MindSpore and ONNX Runtime on a tiny generated data set."""

from __future__ import annotations

import json

import mindspore as ms
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from garbage_hpo.data.dataset import index_dataset
from garbage_hpo.data.images import read_rgb
from garbage_hpo.features.cache import FeatureView, cache_key, cached_features
from garbage_hpo.models.factory import resolve_backbone_spec
from garbage_hpo.models.head import HeadSpec
from garbage_hpo.training.fold_stack import FoldInputs, train_fold_stack
from garbage_hpo.training.head_stage import StageConfig, train_head
from garbage_hpo.training.loop import NonFiniteLossError, StageRun, TrainVal
from tests.conftest import assert_refit_predicts_what_the_head_computed, cv_with_and_without, run_cli

TINY = ("data.image_size=64", "train.epochs=4", "train.batch_size=16")


def test_view_caches_are_deterministic_and_keyed_on_what_changes_a_view(tiny_demo, default_weights, tmp_path):
    index = index_dataset(tiny_demo)
    spec = resolve_backbone_spec(1.0, str(default_weights), "auto")
    views = [FeatureView(), FeatureView(flip=True), FeatureView(number=1), FeatureView(number=2),
             FeatureView(number=1, seed=5)]
    keys = {cache_key(index, spec, 64, "onnxruntime", True, v) for v in views}
    assert len(keys) == len(views)  # plain, mirror, two views, another seed: five caches
    assert cache_key(index, spec, 64, "onnxruntime", True, FeatureView(number=1)) in keys  # same view, same key
    first = cached_features(index, spec, 64, tmp_path / "a", 8, "onnxruntime", view=FeatureView(number=1))
    again = cached_features(index, spec, 64, tmp_path / "b", 8, "onnxruntime", view=FeatureView(number=1))
    assert not again.from_cache and np.array_equal(first.mean, again.mean)  # computed twice: bit for bit
    plain = cached_features(index, spec, 64, tmp_path / "a", 8, "onnxruntime")
    other = cached_features(index, spec, 64, tmp_path / "a", 8, "onnxruntime", view=FeatureView(number=2))
    differs = np.abs(first.mean - plain.mean).max(axis=1) > 1e-3
    assert differs.mean() > 0.9 and not np.array_equal(first.mean, other.mean)
    loaded = cached_features(index, spec, 64, tmp_path / "a", 8, "onnxruntime", view=FeatureView(number=1))
    assert loaded.from_cache and np.array_equal(loaded.mean, first.mean)


def test_a_view_depends_on_the_photo_not_on_the_order_or_subset_that_builds_it(tiny_demo):
    index = index_dataset(tiny_demo)
    samples = index.samples[:6]
    view = FeatureView(number=3, seed=1)
    crops = [view.image(read_rgb(s.path), 48, s.digest) for s in samples]
    backwards = [view.image(read_rgb(s.path), 48, s.digest) for s in reversed(samples)]
    assert all(np.array_equal(a, b) for a, b in zip(crops, reversed(backwards), strict=True))
    assert crops[0].shape == (48, 48, 3)
    assert FeatureView().image(read_rgb(samples[0].path), 48, samples[0].digest).shape[:2] == (64, 64)  # as read


def _blobs(n: int = 300, width: int = 32, classes: int = 5):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, width)).astype(np.float32)
    y = rng.integers(0, classes, n).astype(np.int32)
    x[np.arange(n), y] += 2
    views = (x[None] + rng.normal(scale=0.5, size=(2, n, width))).astype(np.float32)
    return x, y, views


CFG = StageConfig(epochs=4, batch_size=16, optimizer={"name": "momentum", "weight_decay": 1e-4},
                  schedule={"name": "cosine", "lr_max": 0.05, "warmup_steps": 3}, label_smoothing=0.1)
TRAINS = [np.arange(0, 200), np.arange(100, 300), np.r_[0:100, 200:300]]
VALS = [np.arange(200, 300), np.arange(0, 100), np.arange(100, 200)]


def test_folds_with_views_train_as_each_fold_trained_alone_on_its_own_photos_views():
    x, y, views = _blobs()
    spec = HeadSpec(num_classes=5, in_features=32, depth=2, dropout=0.2)
    ms.set_seed(7)
    stacked = train_fold_stack(spec, FoldInputs(x, y, TRAINS, VALS, train_views=views), CFG, 7)
    ms.set_seed(7)
    without = train_fold_stack(spec, FoldInputs(x, y, TRAINS, VALS), CFG, 7)
    assert stacked.loss.tolist() != without.loss.tolist()  # the views are trained on
    for f, (train, val) in enumerate(zip(TRAINS, VALS, strict=True)):
        ms.set_seed(7)
        data = TrainVal(x[train], y[train], x[val], y[val], views[:, train])
        _, alone = train_head(spec, data, CFG, StageRun(7))
        assert stacked.loss[f] == pytest.approx([r.val.loss for r in alone.history], abs=1e-5)


def test_a_fold_never_trains_on_a_view_of_its_validation_photos():
    """Views of one fold's validation photos are poisoned (NaN): that fold trains to a finite loss all the same,
    while training on every photo's views does not."""
    x, y, views = _blobs()
    poisoned = views.copy()
    poisoned[:, VALS[0]] = np.nan
    spec = HeadSpec(num_classes=5, in_features=32)
    curves = train_fold_stack(spec, FoldInputs(x, y, [TRAINS[0]], [VALS[0]], train_views=poisoned), CFG, 3)
    assert np.isfinite(curves.loss).all() and curves.acc[0, -1] > 0.5
    with pytest.raises(NonFiniteLossError):
        train_fold_stack(spec, FoldInputs(x, y, [np.arange(300)], [VALS[0]], train_views=poisoned), CFG, 3)


def test_train_views_are_measured_in_cv_and_the_refit_network_predicts_what_the_head_computed(runs, tiny_demo,
                                                                                              tmp_path):
    from garbage_hpo.selection.run import refit

    cfg, prepared, first, plain = cv_with_and_without("features.train_views=2", f"data.root={tiny_demo}",
                                                      f"runs_dir={runs}", *TINY)
    assert first.losses.tolist() != plain.losses.tolist()
    assert sorted(prepared.more_features) == ["blocks", "blocks-view1", "blocks-view2"]
    fitted = refit(cfg, prepared, first.refit_epochs, {}, tmp_path / "model")
    card = json.loads(fitted.checkpoint.with_suffix(".json").read_text())
    assert card["features"]["train_views"] == 2 and card["features"]["view_seed"] == 0
    assert_refit_predicts_what_the_head_computed(cfg, prepared, fitted.checkpoint, tmp_path, every=5)


@pytest.mark.parametrize(("args", "message"), [
    (("features.train_views=2",), "features.train_views=2: augmented feature views"),
    (("features.train_views=-1", "sweep.cv_folds=3"), "features.train_views=-1"),
    (("features.train_views=2", "sweep.cv_folds=3", "finetune=last_blocks", "features.taps=-1"),
     "features.train_views=2"),
])
def test_train_views_settings_are_checked_before_any_work(runs, tiny_demo, args, message):
    proc = run_cli("garbage_hpo.train", f"data.root={tiny_demo}", "data.image_size=64", *args, check=False)
    assert proc.returncode == 2 and message in proc.stderr + proc.stdout
    assert not (runs / "cache").exists()


def test_views_the_disk_cannot_hold_are_refused_before_the_run_opens(runs, tiny_demo):
    proc = run_cli("garbage_hpo.train", f"data.root={tiny_demo}", "data.image_size=64", "sweep.cv_folds=2",
                   "features.train_views=100000", check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "features.train_views: the cache it asks for needs more room than the disk has" in proc.stderr
    assert "MiB needed" in proc.stderr and "Traceback" not in proc.stderr
    assert not list((runs / "cache" / "features").glob("*.npz"))[1:]  # the plain features only, no view
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    assert client.get_experiment_by_name("garbage-hpo-train") is None or not client.search_runs(
        [client.get_experiment_by_name("garbage-hpo-train").experiment_id])
