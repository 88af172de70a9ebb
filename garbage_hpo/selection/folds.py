"""Which photos train and which validate: one split, or k folds of scikit-learn's StratifiedGroupKFold.

Folds are drawn over the `train/` photos only (a `val/` folder is the test set), stratified by class and
grouped by content hash, so copies of one photo never sit on both sides. On the validation side each
distinct photo counts once (as in the single split); on the training side every copy stays. The folds
depend on `data.split_seed`, not on `seed`: trials that vary the seed are compared on the same photos.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np

from garbage_hpo.data import DatasetIndex, Split, positions


@dataclass(frozen=True)
class Fold:
    train: np.ndarray  # positions into DatasetIndex.samples
    val: np.ndarray


def first_of_each_group(candidates: np.ndarray, index: DatasetIndex) -> np.ndarray:
    seen: set[str] = set()
    keep = []
    for i in candidates:
        digest = index.samples[i].digest
        if digest not in seen:
            seen.add(digest)
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def cv_folds(index: DatasetIndex, k: int, seed: int) -> list[Fold]:
    pool = positions(index, "train")
    labels = np.array([index.samples[i].label for i in pool])
    groups = np.array([index.samples[i].digest for i in pool])
    distinct = Counter(int(index.samples[i].label) for i in first_of_each_group(pool, index))
    fewest = min(distinct, key=lambda label: distinct[label])
    if distinct[fewest] < k:
        raise ValueError(f"sweep.cv_folds={k}: class {index.classes[fewest].folder} has only {distinct[fewest]} "
                         f"distinct photos, fewer than the folds; lower sweep.cv_folds")
    from sklearn.model_selection import StratifiedGroupKFold  # imported here: one-split runs never need sklearn

    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [Fold(pool[tr], first_of_each_group(pool[np.sort(va)], index))
            for tr, va in splitter.split(pool, labels, groups)]


def selection_folds(index: DatasetIndex, split: Split, k: int, seed: int) -> list[Fold]:
    """k == 1: the single split (train/val) the rest of the pipeline uses; else k cross-validation folds."""
    return [Fold(split.train, split.val)] if k == 1 else cv_folds(index, k, seed)


def folds_fingerprint(folds: list[Fold]) -> str:
    digest = hashlib.sha256()
    for fold in folds:
        digest.update(fold.train.tobytes() + b"|" + fold.val.tobytes() + b"/")
    return digest.hexdigest()[:16]
