"""The order of training examples: batches of one fixed size (the compiled shape), shuffled per epoch and seed."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def shuffled_batches(n: int, batch_size: int, seed: int, epoch: int) -> Iterator[np.ndarray]:
    """Index batches of exactly `batch_size` (the compiled shape); the remainder rotates with the shuffle."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    for start in range(0, n - batch_size + 1, batch_size):
        yield order[start : start + batch_size]


def effective_batch_size(requested: int, n: int) -> int:
    return max(1, min(requested, n))


def one_view_each(x: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """(1 + views, n, features) -> (n, features): the view each photo trains on in `epoch`, 0 (the plain photo)
    to `views` (an augmented one, features.train_views), drawn by seed and epoch; a 2-D `x` has no views."""
    if x.ndim == 2:
        return x
    pick = np.random.default_rng([seed, 7741, epoch]).integers(0, x.shape[0], x.shape[1])
    return x[pick, np.arange(x.shape[1])]


def with_views(x: np.ndarray, views: np.ndarray | None) -> np.ndarray:
    """The plain inputs (n, features) and their augmented views (views, n, features) as one array for
    `one_view_each`; `x` itself without views."""
    return x if views is None else np.concatenate([x[None], views])
