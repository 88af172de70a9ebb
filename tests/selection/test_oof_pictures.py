"""The winner in pictures from out-of-fold predictions (garbage_hpo/selection/oof_pictures.py), on generated photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from garbage_hpo.data.dataset import index_dataset
from garbage_hpo.figures.gallery import PAGE as GALLERY_PAGE
from garbage_hpo.selection.oof import OutOfFold
from garbage_hpo.selection.oof_pictures import class_report, confident_mistakes, gallery_pages


def planted(index, wrong: int, seed: int = 0) -> OutOfFold:
    """Every photo predicted right with probability 0.6, but the first `wrong` ones, given to the next class with
    probabilities rising from 0.3 to 0.9 (the last planted mistake is the most confident)."""
    rng = np.random.default_rng(seed)
    labels = np.array([s.label for s in index.samples])
    k = index.num_classes
    probs = np.full((len(labels), k), 0.4 / (k - 1), np.float32)
    probs[np.arange(len(labels)), labels] = 0.6
    confidence = np.linspace(0.3, 0.9, wrong)
    for i, p in enumerate(confidence):
        probs[i] = (1 - p) / (k - 1)
        probs[i, (labels[i] + 1) % k] = p
    return OutOfFold(np.arange(len(labels)), rng.integers(0, 3, len(labels)), labels, probs)


def test_mistakes_come_most_confident_first_in_pages_of_thumbnails(tiny_demo, tmp_path):
    index = index_dataset(Path(tiny_demo))
    wrong = GALLERY_PAGE + 5
    oof = planted(index, wrong)
    assert list(confident_mistakes(oof)) == list(range(wrong))[::-1]
    names = [c.folder for c in index.classes]
    pages = gallery_pages(oof, index, names, tmp_path)
    assert [p.name for p in pages] == ["errors_01.png", "errors_02.png"]  # 41 mistakes: 36, then 5
    assert all(Image.open(p).size[0] > 500 for p in pages)


def test_the_class_report_counts_photos_and_gives_each_class_its_interval(tiny_demo):
    index = index_dataset(Path(tiny_demo))
    oof = planted(index, 10)
    report = class_report(oof, index)
    assert report["n"] == len(index.samples) and report["correct"] == len(index.samples) - 10
    first = index.samples[0].label  # the planted mistakes are the first photos: of the first class(es)
    entry = report["per_class"][index.classes[first].folder]
    per_class_n = sum(s.label == first for s in index.samples)
    assert entry["n"] == per_class_n and entry["correct"] == per_class_n - sum(
        index.samples[i].label == first for i in range(10))
    assert entry["ci95"][0] <= entry["accuracy"] <= entry["ci95"][1]
    assert sum(c["n"] for c in report["per_category"].values()) == report["n"]
