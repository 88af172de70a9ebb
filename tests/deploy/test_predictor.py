"""One preprocessing path: a photo gives the same prediction as a path, an RGB array and a cv2 (BGR) array."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from garbage_hpo.data.images import read_rgb
from garbage_hpo.deploy.predictor import Predictor
from garbage_hpo.pipeline.one_split import train
from garbage_hpo.pipeline.preparation import prepare
from tests.conftest import settings_of


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory, tiny_demo, weights_dir):
    import os

    runs = tmp_path_factory.mktemp("predictor_runs")
    os.environ["GARBAGE_HPO_WEIGHTS"] = str(weights_dir)
    cfg = settings_of(f"data.root={tiny_demo}", "data.image_size=96", "train.epochs=4", "train.batch_size=16",
                  f"runs_dir={runs}")
    prepared = prepare(cfg)
    result = train(cfg, prepared)
    return result, Predictor.load(result.checkpoint), prepared


def _same_prediction_every_way(predictor: Predictor, path) -> None:
    by_path = predictor.scores(path)
    rgb = predictor.scores(read_rgb(path))
    bgr = predictor.scores(cv2.imread(str(path)), color_order="bgr")
    np.testing.assert_array_equal(by_path, rgb)
    np.testing.assert_array_equal(by_path, bgr)
    # the course's bug, for contrast: a BGR array passed as RGB gives different scores
    assert not np.allclose(by_path, predictor.scores(cv2.imread(str(path)), color_order="rgb"))


def test_predictions_agree_across_input_forms_on_demo_photos(trained_model, tiny_demo):
    _, predictor, _ = trained_model
    for folder in ("00_00", "02_03"):
        _same_prediction_every_way(predictor, next((tiny_demo / "train" / folder).iterdir()))


def test_predictions_agree_across_input_forms_on_real_photos(trained_model, real_data_root):
    _, predictor, _ = trained_model
    for folder in ("00_00", "03_02"):
        _same_prediction_every_way(predictor, sorted((real_data_root / "train" / folder).iterdir())[0])


def test_loaded_model_reproduces_training_time_validation_accuracy(trained_model):
    result, predictor, prepared = trained_model
    samples = [prepared.index.samples[i] for i in prepared.split.val]
    correct = [predictor.predict(s.path)[0].index == s.label for s in samples]
    assert np.mean(correct) == pytest.approx(result.val_acc, abs=1e-9)
    top = predictor.predict(samples[0].path, top_k=3)
    assert len(top) == 3 and top[0].confidence >= top[1].confidence >= top[2].confidence
    assert {p.category for p in top} <= {"recyclable", "dry", "hazardous", "wet"}
