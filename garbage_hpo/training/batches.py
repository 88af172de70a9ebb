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
