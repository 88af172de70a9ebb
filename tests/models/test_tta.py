"""Test-time augmentation beyond the mirror (features.tta=crops): the crops' geometry, their cached features, the
network's own views, and CV and export end to end. Real MindSpore and ONNX Runtime on a tiny generated data set."""

from __future__ import annotations

import json

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from garbage_hpo.data.dataset import index_dataset
from garbage_hpo.data.images import preprocess, read_rgb
from garbage_hpo.features.cache import FeatureView, cache_key, cached_features
from garbage_hpo.models.factory import resolve_backbone_spec
from garbage_hpo.models.tta import CROPS, EXTRA_VIEWS, crop_box
from garbage_hpo.models.views import view_image
from garbage_hpo.runtime.cli import configure_runtime
from tests.conftest import assert_refit_predicts_what_the_head_computed, cv_with_and_without, run_cli

TINY = ("data.image_size=64", "train.epochs=4", "train.batch_size=16")


@pytest.mark.parametrize("size", [64, 160, 224, 225])
def test_crops_are_seven_eighths_of_the_photo_at_its_centre_and_corners(size):
    boxes = {crop: crop_box(size, crop) for crop in CROPS}
    side = round(size * 0.875)
    assert {b[2] for b in boxes.values()} == {side}
    margin = size - side
    assert boxes["top-left"][:2] == (0, 0) and boxes["bottom-right"][:2] == (margin, margin)
    assert boxes["top-right"][:2] == (0, margin) and boxes["bottom-left"][:2] == (margin, 0)
    assert boxes["centre"][:2] == (margin // 2, margin // 2)
    # every mode's other views: the mirror, then each crop and its mirror (12 views with the photo itself)
    assert EXTRA_VIEWS["none"] == () and EXTRA_VIEWS["flip"] == ((True, ""),)
    assert len(set(EXTRA_VIEWS["crops"])) == 11 and EXTRA_VIEWS["crops"][0] == (True, "")


class OneView(nn.Cell):
    def __init__(self, mirrored: bool, crop: str) -> None:
        super().__init__()
        self.mirrored, self.crop = mirrored, crop

    def construct(self, x):
        return view_image(x, self.mirrored, self.crop)


def test_the_network_cuts_each_view_exactly_as_the_cache_does():
    """The same pixels, not nearly the same: a crop is a slice of the resized photo, mirrored after the cut
    (compiled in graph mode, as the commands run and export the network)."""
    configure_runtime()
    images = np.random.default_rng(0).random((3, 3, 64, 64), dtype=np.float32)
    for mirrored, crop in EXTRA_VIEWS["crops"]:
        view = FeatureView(flip=mirrored, crop=crop)
        cached = np.stack([view.framed(image) for image in images])
        network = OneView(mirrored, crop)(ms.Tensor(images)).asnumpy()
        assert network.shape == cached.shape == (3, 3, view.side(64), view.side(64))
        assert np.array_equal(network, cached)


def test_crop_caches_hold_the_backbone_on_the_cropped_photo(tiny_demo, default_weights, tmp_path):
    from garbage_hpo.features.engines import make_extractor

    index = index_dataset(tiny_demo)
    spec = resolve_backbone_spec(1.0, str(default_weights), "auto")
    views = [FeatureView(), FeatureView(flip=True), FeatureView(crop="centre"), FeatureView(crop="top-left"),
             FeatureView(flip=True, crop="top-left")]
    assert len({cache_key(index, spec, 64, "onnxruntime", True, v) for v in views}) == len(views)
    view = FeatureView(flip=True, crop="bottom-right")
    cached = cached_features(index, spec, 64, tmp_path, 8, "onnxruntime", view=view)
    assert cached.mean.shape[0] == len(index.samples)
    photos = index.samples[:8]
    batch = np.stack([view.framed(preprocess(read_rgb(s.path), 64, spec.profile.input_scaling)) for s in photos])
    mean, _ = make_extractor("mindspore", spec, view.side(64), 8, tmp_path / "b.onnx", False)(batch)
    np.testing.assert_allclose(cached.mean[:8], mean, atol=1e-4)  # the other engine, from the photos themselves
    plain = cached_features(index, spec, 64, tmp_path, 8, "onnxruntime")
    assert np.abs(cached.mean - plain.mean).max(axis=1).min() > 1e-3  # every photo's crop differs from it


@pytest.mark.slow
def test_crops_tta_is_measured_in_cv_and_exported_with_the_model(runs, tiny_demo, tmp_path):
    """features.tta=crops: CV scores validation photos averaged over their 12 views (deterministic, different
    from without); the refit network cuts and averages the views itself, as the cached-feature head did, and its
    MINDIR export agrees."""
    from garbage_hpo.selection.run import refit

    cfg, prepared, first, plain = cv_with_and_without("features.tta=crops", f"data.root={tiny_demo}",
                                                      f"runs_dir={runs}", *TINY)
    assert first.losses.tolist() != plain.losses.tolist()
    fitted = refit(cfg, prepared, first.refit_epochs, {}, tmp_path / "model")
    card = json.loads(fitted.checkpoint.with_suffix(".json").read_text())
    assert card["features"]["tta"] == "crops"
    assert_refit_predicts_what_the_head_computed(cfg, prepared, fitted.checkpoint, tmp_path)


def test_crops_tta_without_cross_validation_is_refused_naming_the_key(runs, tiny_demo):
    proc = run_cli("garbage_hpo.train", f"data.root={tiny_demo}", "features.tta=crops", "sweep.cv_folds=1",
                   check=False)
    assert proc.returncode == 2 and "features.tta=crops is measured by cross-validation" in proc.stderr + proc.stdout
    assert not (runs / "cache").exists()
