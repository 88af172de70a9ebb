"""What the head reads: pooled outputs of chosen backbone blocks ("taps"), optionally standardized, optionally
averaged over the mirrored photo (TTA). These settings travel with a model (its card) and shape the deployable
network (models/tapped.py); `pipeline.taps` reads them from the config and computes the head inputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import ListConfig

NORMALIZATIONS = ("none", "standardize")


def parse_taps(value: Any, blocks: int) -> tuple[int, ...]:
    """`features.taps` as sorted block indices: "13,16,-1", [13, 16, -1], -1 or "last"."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace("+", ",").split(",") if p.strip()]
        raw: list[Any] = [blocks - 1 if p == "last" else p for p in parts]
    elif isinstance(value, Sequence | ListConfig):
        raw = list(value)
    else:
        raw = [value]
    taps: set[int] = set()
    for v in raw:
        try:
            i = int(v)
        except (TypeError, ValueError):
            raise ValueError(f"features.taps={value!r}: block indices such as \"13,16,-1\" (0..{blocks - 1}, "
                             "negative from the end)") from None
        if not -blocks <= i < blocks:
            raise ValueError(f"features.taps={value!r}: {i} is not a block of this {blocks}-block backbone")
        taps.add(i % blocks)
    if not taps:
        raise ValueError(f"features.taps={value!r}: name at least one block")
    return tuple(sorted(taps))


@dataclass(frozen=True)
class FeatureSources:
    taps: tuple[int, ...]
    normalize: str
    blocks: int  # blocks in backbone.features
    tta: str = "none"  # flip / crops: scores averaged with those of other views of the photo (tta.py)
    # training only (the network is the same): augmented views of each training photo the head also trains
    # on, one view per photo and epoch, and the seed their crops are drawn from (taps.train_view_inputs)
    train_views: int = 0
    view_seed: int = 0
    # blocks of the companion backbone (model.companion) read after the taps above, and how many it has
    companion_taps: tuple[int, ...] = ()
    companion_blocks: int = 0

    @property
    def last_only(self) -> bool:
        return self.taps == (self.blocks - 1,)

    @property
    def plain(self) -> bool:
        """What the classic network computes: the last block's pooled output, unscaled."""
        return self.last_only and self.normalize == "none" and self.tta == "none" and not self.companion_taps

    def card(self) -> dict:
        card = {"taps": list(self.taps), "normalize": self.normalize, "blocks": self.blocks, "tta": self.tta}
        if self.train_views:  # absent otherwise: cards written before views existed read the same
            card |= {"train_views": self.train_views, "view_seed": self.view_seed}
        if self.companion_taps:
            card |= {"companion_taps": list(self.companion_taps), "companion_blocks": self.companion_blocks}
        return card

    @classmethod
    def from_card(cls, entry: dict) -> FeatureSources:
        """The sources a model card's `features` records (lists back to tuples)."""
        return cls(**(entry | {"taps": tuple(entry["taps"]), "companion_taps": tuple(entry.get("companion_taps", ()))}))


@dataclass(frozen=True)
class Standardizer:
    """Column-wise (x - mean) / scale with statistics of the photos it was fitted on (ddof=0, as scikit-learn's
    StandardScaler; a constant column keeps scale 1)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        std = x.std(axis=0, dtype=np.float64)
        return cls(x.mean(axis=0, dtype=np.float64).astype(np.float32),
                   np.where(std > 1e-12, std, 1.0).astype(np.float32))

    @classmethod
    def identity(cls, width: int) -> Standardizer:
        return cls(np.zeros(width, np.float32), np.ones(width, np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale).astype(np.float32)


def standardizer(sources: FeatureSources, x: np.ndarray) -> Standardizer | None:
    return Standardizer.fit(x) if sources.normalize == "standardize" else None


def block_slices(channels: Sequence[int]) -> list[slice]:
    ends = np.cumsum(channels)
    return [slice(int(e - c), int(e)) for c, e in zip(channels, ends, strict=True)]
