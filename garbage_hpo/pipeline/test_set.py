"""Scoring the final model once on the test photos (the data's val/ folder), with count and interval."""

from __future__ import annotations

import mindspore as ms
import numpy as np
from mindspore import nn

from garbage_hpo.data import preprocess
from garbage_hpo.metrics import wilson
from garbage_hpo.models import predict_images
from garbage_hpo.pipeline.preparation import Prepared, load_images


def test_report(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy on the test set (val/) with its photo count and Wilson interval."""
    correct = int((scores.argmax(axis=1) == labels).sum())
    n = len(labels)
    ci = wilson(correct, n)
    return {"test_acc": correct / n if n else 0.0, "test_n": n, "test_correct": correct,
            "test_ci95_low": ci.low, "test_ci95_high": ci.high}


def test_scores(prepared: Prepared, test: np.ndarray, net: nn.Cell | None, classifier, pooled: np.ndarray,
                batch_size: int) -> dict[str, float]:
    """The final model's accuracy on the test photos (val/), with count and interval."""
    if net is None:  # the head alone won: its scores come from the cached features
        scores = classifier(ms.Tensor(pooled[test])).asnumpy()
    else:
        scaling = prepared.spec.profile.input_scaling
        images = np.stack([preprocess(img, prepared.image_size, scaling) for img in load_images(prepared, test)])
        scores = predict_images(net, images, batch_size)
    return test_report(scores, prepared.labels[test])

