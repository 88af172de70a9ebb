"""Feature taps and input standardization: what the cached features hold, how they are trained on, and that the
saved and exported network computes the same thing from the image.

Real MindSpore, ONNX Runtime and scikit-learn on a tiny generated data set.
"""

from __future__ import annotations

import json

import mindspore as ms
import mindspore.ops as ops
import numpy as np
import pytest
from mindspore import nn

from garbage_hpo.data.dataset import index_dataset
from garbage_hpo.data.images import preprocess, read_rgb
from garbage_hpo.features.cache import compute_features
from garbage_hpo.models.factory import build_backbone, resolve_backbone_spec
from garbage_hpo.models.feature_sources import Standardizer, block_slices, parse_taps
from garbage_hpo.models.head import HeadSpec
from garbage_hpo.training.fold_stack import FoldInputs, train_fold_stack
from garbage_hpo.training.head_stage import StageConfig, train_head
from garbage_hpo.training.loop import StageRun, TrainVal
from tests.conftest import assert_refit_predicts_what_the_head_computed, cv_with_and_without, run_cli, settings_of

TINY = ("data.image_size=64", "train.epochs=4", "train.batch_size=16")


class UpTo(nn.Cell):
    """Mean-pooled output of block `k` of a backbone, computed by running the blocks one after another."""

    def __init__(self, backbone: nn.Cell, k: int) -> None:
        super().__init__()
        self.blocks = nn.CellList(list(backbone.features)[: k + 1])

    def construct(self, x):
        for block in self.blocks:
            x = block(x)
        return ops.mean(x, axis=(2, 3))


def test_taps_are_parsed_with_negative_indices_and_checked():
    assert parse_taps("-1", 19) == (18,)
    assert parse_taps("13, 16,-1", 19) == (13, 16, 18)
    assert parse_taps([16, 13, 13], 19) == (13, 16)
    assert parse_taps(-3, 19) == (16,)
    with pytest.raises(ValueError, match=r"features.taps.*19 is not a block"):
        parse_taps("4,19", 19)
    with pytest.raises(ValueError, match="features.taps"):
        parse_taps("last,x", 19)


@pytest.mark.parametrize("engine", ["mindspore", "onnxruntime"])
def test_block_features_equal_the_backbone_intermediate_outputs(tiny_demo, default_weights, tmp_path, engine):
    index = index_dataset(tiny_demo)
    index.samples = index.samples[:8]
    spec = resolve_backbone_spec(1.0, str(default_weights))
    blocks = compute_features(index, spec, 64, batch_size=8, engine=engine, onnx_path=tmp_path / "b.onnx",
                              all_blocks=True)
    last = compute_features(index, spec, 64, batch_size=8, engine=engine, onnx_path=tmp_path / "l.onnx")
    assert len(blocks.channels) == 19 and blocks.mean.shape == (8, sum(blocks.channels))
    parts = block_slices(blocks.channels)
    np.testing.assert_allclose(blocks.mean[:, parts[18]], last.mean, atol=1e-4)  # the classic features
    np.testing.assert_allclose(blocks.max[:, parts[18]], last.max, atol=1e-4)
    backbone = build_backbone(spec)
    backbone.set_train(False)
    images = ms.Tensor(np.stack([preprocess(read_rgb(s.path), 64, spec.profile.input_scaling)
                                 for s in index.samples]))
    for k in (0, 6, 13):
        expected = UpTo(backbone, k)(images).asnumpy()
        np.testing.assert_allclose(blocks.mean[:, parts[k]], expected, atol=1e-4, rtol=1e-4)


def test_fold_stack_standardizes_each_fold_with_its_own_training_photos():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(240, 32)) * rng.uniform(0.1, 20, 32) + rng.uniform(-5, 5, 32)).astype(np.float32)
    y = rng.integers(0, 4, 240).astype(np.int32)
    x[np.arange(240), y] += 10
    trains = [np.arange(0, 160), np.arange(80, 240), np.r_[0:80, 160:240]]
    vals = [np.arange(160, 240), np.arange(0, 80), np.arange(80, 160)]
    spec = HeadSpec(num_classes=4, in_features=32)
    cfg = StageConfig(epochs=3, batch_size=16, optimizer={"name": "momentum", "weight_decay": 1e-2},
                      schedule={"name": "cosine", "lr_max": 0.02})
    scalers = [Standardizer.fit(x[t]) for t in trains]
    ms.set_seed(3)
    stacked = train_fold_stack(spec, FoldInputs(x, y, trains, vals, scalers), cfg, 3)
    for f, (train, val) in enumerate(zip(trains, vals, strict=True)):
        assert np.abs(scalers[f](x[train]).mean(axis=0)).max() < 1e-4  # fitted on the fold's training photos
        ms.set_seed(3)
        _, alone = train_head(spec, TrainVal(scalers[f](x[train]), y[train], scalers[f](x[val]), y[val]), cfg,
                              StageRun(3))
        assert stacked.loss[f] == pytest.approx([r.val.loss for r in alone.history], abs=1e-5)


def test_tapped_standardized_model_predicts_from_images_what_the_head_computed(runs, tiny_demo, tmp_path):
    """The saved network (taps + standardization folded in) and its MINDIR export agree with the in-memory head
    that training scored on cached features, on every validation photo."""
    from garbage_hpo.deploy.export import export_mindir, load_mindir, top1_agreement
    from garbage_hpo.deploy.predictor import Predictor
    from garbage_hpo.pipeline.one_split import train
    from garbage_hpo.pipeline.preparation import prepare
    from garbage_hpo.pipeline.taps import head_inputs

    cfg = settings_of(f"data.root={tiny_demo}", "features.taps=[3,13,-1]", "features.normalize=standardize",
                  f"runs_dir={runs}", *TINY)
    prepared = prepare(cfg)
    result = train(cfg, prepared, tracker=None, plots=False)
    card = json.loads(result.checkpoint.with_suffix(".json").read_text())
    assert card["features"] == {"taps": [3, 13, 18], "normalize": "standardize", "blocks": 19, "tta": "none"}
    predictor = Predictor.load(result.checkpoint)
    val = prepared.split.val
    images = [read_rgb(prepared.index.samples[i].path) for i in val]
    from_images = predictor.scores_batch(images)
    x = head_inputs(cfg, prepared)
    scaler = Standardizer.fit(x[prepared.split.train])
    from_features = predictor.net.head(ms.Tensor(scaler(x[val]))).asnumpy()
    np.testing.assert_allclose(from_images, from_features, atol=2e-3, rtol=1e-3)
    y = prepared.labels[val]
    assert float((from_images.argmax(1) == y).mean()) == pytest.approx(result.val_acc)
    batch = np.stack([preprocess(img, predictor.image_size, predictor.profile.input_scaling) for img in images])
    mindir = export_mindir(predictor.net, predictor.image_size, tmp_path / "m.mindir")
    agreement, diff = top1_agreement(predictor.net, load_mindir(mindir), batch)
    assert agreement == 1.0 and diff < 1e-3


def test_taps_with_fine_tuning_are_refused_before_any_work(runs, tiny_demo):
    proc = run_cli("garbage_hpo.train", f"data.root={tiny_demo}", "features.normalize=standardize",
                   "finetune=last_blocks", "data.image_size=64", check=False)
    assert proc.returncode == 2 and "features.taps/features.normalize" in proc.stderr + proc.stdout
    assert not (runs / "cache").exists()


@pytest.mark.slow
def test_tta_is_measured_in_cv_deterministic_and_exported_with_the_model(runs, tiny_demo, tmp_path):
    """features.tta=flip: CV scores validation photos with their mirror images (a different value than without,
    the same on every run); the refit network averages both views itself, as the cached-feature head did."""
    from garbage_hpo.selection.run import refit

    cfg, prepared, first, plain = cv_with_and_without("features.tta=flip", f"data.root={tiny_demo}", f"runs_dir={runs}",
                                                      *TINY)
    assert first.losses.tolist() != plain.losses.tolist()  # the mirrored view changes the scores
    fitted = refit(cfg, prepared, first.refit_epochs, {}, tmp_path / "model")
    card = json.loads(fitted.checkpoint.with_suffix(".json").read_text())
    assert card["features"]["tta"] == "flip" and card["train_images"] == len(prepared.index.samples)
    assert_refit_predicts_what_the_head_computed(cfg, prepared, fitted.checkpoint, tmp_path)
