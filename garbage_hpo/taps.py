"""Feature sources for the head: pooled outputs of chosen backbone blocks ("taps"), optionally standardized.

The last block's pooled output (the classic head input) misses what earlier blocks see: a linear probe on the
pooled outputs of a few earlier blocks, concatenated, beats the same probe on the last block alone. Every
block's mean- and max-pooled output is extracted in ONE backbone pass and cached (features.py, key marked
`blocks: all`), so a sweep may search `features.taps` without ever running the backbone again.
`features.normalize=standardize` scales each input column with the training photos' mean and standard
deviation (each fold's own in cross-validation); the statistics are folded into the saved network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from omegaconf import DictConfig, ListConfig

from garbage_hpo.features import FeatureSet, cached_features
from garbage_hpo.models.factory import num_blocks

if TYPE_CHECKING:
    from garbage_hpo.pipeline import Prepared

NORMALIZATIONS = ("none", "standardize")
TTA_MODES = ("none", "flip")


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
    tta: str = "none"  # flip: scores averaged with those of the mirrored photo (tta.py)

    @property
    def last_only(self) -> bool:
        return self.taps == (self.blocks - 1,)

    @property
    def plain(self) -> bool:
        """What the classic network computes: the last block's pooled output, unscaled."""
        return self.last_only and self.normalize == "none" and self.tta == "none"

    def card(self) -> dict:
        return {"taps": list(self.taps), "normalize": self.normalize, "blocks": self.blocks, "tta": self.tta}


def feature_sources(cfg: DictConfig) -> FeatureSources:
    node = cfg.get("features") or {}
    blocks = num_blocks(str(cfg.model.name))
    normalize = str(node.get("normalize", "none"))
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"features.normalize={normalize!r}: choose one of {NORMALIZATIONS}")
    tta = str(node.get("tta", "none"))
    if tta not in TTA_MODES:
        raise ValueError(f"features.tta={tta!r}: choose one of {TTA_MODES}")
    return FeatureSources(parse_taps(node.get("taps", "-1"), blocks), normalize, blocks, tta)


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


def more_features(cfg: DictConfig, prepared: Prepared, all_blocks: bool, flip: bool) -> FeatureSet:
    """Every block's pooled outputs and/or those of the mirrored photos (computed once, then cached on disk)."""
    name = "-".join(n for n, on in (("blocks", all_blocks), ("flip", flip)) if on)
    if name not in prepared.more_features:
        from garbage_hpo.pipeline import runs_dir

        prepared.more_features[name] = cached_features(
            prepared.index, prepared.spec, prepared.image_size, runs_dir(cfg) / "cache" / "features",
            int(cfg.data.batch_size), str(cfg.data.feature_engine), all_blocks=all_blocks, flip=flip)
    return prepared.more_features[name]


def head_inputs(cfg: DictConfig, prepared: Prepared, reduction: str | None = None, flip: bool = False
                ) -> np.ndarray:
    """The unscaled head input of every prepared photo: the configured taps, pooled by `head.reduction`;
    `flip`: of the mirrored photos."""
    sources = feature_sources(cfg)
    reduction = reduction or str(cfg.head.reduction)
    if sources.last_only:
        if not flip:
            return prepared.features.pooled(reduction)
        return more_features(cfg, prepared, all_blocks=False, flip=True).pooled(reduction)
    blocks = more_features(cfg, prepared, all_blocks=True, flip=flip)
    pooled = blocks.pooled(reduction)
    parts = block_slices(blocks.channels)
    return np.ascontiguousarray(np.concatenate([pooled[:, parts[t]] for t in sources.taps], axis=1))
