"""The end of a CV sweep (garbage_hpo/sweep/winner_findings.py): BBC-CV over trials' predictions of the same
photos, and pictures that never cost the sweep its results."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
from mlflow.tracking import MlflowClient

from garbage_hpo.data.dataset import index_dataset
from garbage_hpo.selection.oof import OutOfFold
from garbage_hpo.sweep.winner_findings import correctness_table, log_winner_views
from garbage_hpo.tracking.runs import Tracker


def predictions(positions: np.ndarray, labels: np.ndarray, right: np.ndarray, classes: int = 3) -> OutOfFold:
    """Probability 0.9 on the given class where `right`, else on the next class."""
    probs = np.full((len(labels), classes), 0.05, np.float32)
    guess = np.where(right, labels, (labels + 1) % classes)
    probs[np.arange(len(labels)), guess] = 0.9
    return OutOfFold(positions, np.arange(len(labels)) % 2, labels, probs)


def test_trials_are_compared_photo_by_photo_whatever_their_order():
    labels = np.array([0, 1, 2, 0, 1, 2])
    winner = predictions(np.arange(6), labels, np.array([1, 1, 1, 1, 1, 0], bool))
    order = np.array([5, 3, 1, 0, 2, 4])  # the same photos, listed in another order
    shuffled = predictions(order, labels[order], np.array([1, 0, 1, 1, 1, 1], bool))  # wrong on photo 3
    other_photos = predictions(np.arange(1, 7), labels, np.ones(6, bool))  # another data setting
    table = correctness_table({4: winner, 7: shuffled, 9: other_photos}, winner=4)
    assert table.shape == (6, 2)  # the trial on other photos is left out
    assert table[:, 0].tolist() == [True] * 5 + [False]
    assert table[:, 1].tolist() == [True, True, True, False, True, True]


def test_pictures_that_cannot_be_drawn_do_not_fail_the_sweep(tiny_demo, tmp_path, caplog):
    root = Path(shutil.copytree(tiny_demo, tmp_path / "photos"))  # the shared demo set stays whole
    index = index_dataset(root)
    labels = np.array([s.label for s in index.samples])
    oof = predictions(np.arange(len(labels)), labels, np.arange(len(labels)) % 4 != 0, index.num_classes)
    index.samples[0].path.unlink()  # a mistaken photo deleted since its trial ran
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "findings", tmp_path / "artifacts")
    with caplog.at_level(logging.WARNING):
        assert log_winner_views(tracker, {2: oof}, 2, index, tmp_path / "out") is None
    tracker.end()
    assert "pictures and suspect labels were skipped" in caplog.text
    run = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(tracker.run_id)
    assert run.info.status == "FINISHED"
