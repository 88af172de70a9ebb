"""Suspect labels by confident learning (selection/label_issues.py), with real cleanlab and scikit-learn."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from garbage_hpo.data.dataset import index_dataset
from garbage_hpo.selection.label_issues import CSV_COLUMNS, SUSPECTS_CSV, find_suspects, write_suspects
from garbage_hpo.selection.oof import OutOfFold


def planted_errors(n: int = 1000, classes: int = 10, moved: float = 0.05, seed: int = 0):
    """Well separated classes; `moved` of the photos given the next class instead of their own; out-of-fold
    probabilities of a cross-validated LogisticRegression trained on the wrong labels."""
    x, truth = make_blobs(n, n_features=16, centers=classes, cluster_std=2.5, random_state=seed)
    rng = np.random.default_rng(seed)
    wrong = rng.choice(n, int(moved * n), replace=False)
    given = truth.copy()
    given[wrong] = (truth[wrong] + 1) % classes
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    probs = cross_val_predict(LogisticRegression(max_iter=1000), x, given, cv=folds, method="predict_proba")
    fold_of = np.zeros(n, int)
    for k, (_, val) in enumerate(folds.split(x, given)):
        fold_of[val] = k
    return OutOfFold(np.arange(n), fold_of, given, probs.astype(np.float32)), set(wrong.tolist())


def test_planted_label_errors_are_found_with_few_false_alarms():
    oof, planted = planted_errors()
    suspects = find_suspects(oof)
    found = set(suspects.rows.tolist())
    recall, precision = len(found & planted) / len(planted), len(found & planted) / len(found)
    print(f"planted 5% label errors: recall {recall:.2f}, precision {precision:.2f} ({len(found)} suspects)")
    assert recall >= 0.9 and precision >= 0.8
    assert np.all(np.diff(suspects.quality) >= 0)  # the most doubtful first
    assert np.allclose(suspects.quality, oof.probs[suspects.rows, oof.labels[suspects.rows]], atol=1e-4)


def test_the_list_names_each_photo_and_nothing_is_moved(tiny_demo, tmp_path):
    index = index_dataset(Path(tiny_demo))
    before = sorted(p.relative_to(tiny_demo) for p in Path(tiny_demo).rglob("*"))
    labels = np.array([s.label for s in index.samples])
    k = index.num_classes
    probs = np.full((len(labels), k), 0.1 / (k - 1), np.float32)
    probs[np.arange(len(labels)), labels] = 0.9
    for i in (0, 7):  # two photos every fold head calls the next class with confidence
        probs[i] = 0.02 / (k - 1)
        probs[i, (labels[i] + 1) % k] = 0.98
    oof = OutOfFold(np.arange(len(labels)), np.arange(len(labels)) % 3, labels, probs)
    suspects = find_suspects(oof)
    files = write_suspects(suspects, oof, index, tmp_path)
    assert set(suspects.rows.tolist()) == {0, 7}
    with (tmp_path / SUSPECTS_CSV).open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    for row, i in zip(rows, suspects.rows, strict=True):
        assert row["path"] == index.samples[i].path.relative_to(index.root).as_posix()
        assert row["given_class"] == index.classes[labels[i]].folder
        assert row["likely_class"] == index.classes[(labels[i] + 1) % k].folder
    assert [f.name for f in files] == [SUSPECTS_CSV, "suspects_01.png"]
    assert sorted(p.relative_to(tiny_demo) for p in Path(tiny_demo).rglob("*")) == before
