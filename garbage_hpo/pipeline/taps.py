"""Feature sources for the head: pooled outputs of chosen backbone blocks ("taps"), optionally standardized.

The last block's pooled output (the classic head input) misses what earlier blocks see: a linear probe on the
pooled outputs of a few earlier blocks, concatenated, beats the same probe on the last block alone. Every
block's mean- and max-pooled output is extracted in ONE backbone pass and cached (features.py, key marked
`blocks: all`), so a sweep may search `features.taps` without ever running the backbone again.
`features.normalize=standardize` scales each input column with the training photos' mean and standard
deviation (each fold's own in cross-validation); the statistics are folded into the saved network.
"""

from __future__ import annotations

import numpy as np

from garbage_hpo.config import RunSettings
from garbage_hpo.features import PLAIN, FeatureSet, FeatureView, cached_features
from garbage_hpo.models import block_slices
from garbage_hpo.pipeline.preparation import Prepared


def more_features(settings: RunSettings, prepared: Prepared, all_blocks: bool, view: FeatureView,
                  companion: bool = False) -> FeatureSet:
    """Every block's pooled outputs and/or those of another view of the photos, of the first backbone or of
    model.companion's (computed once, then cached on disk)."""
    name = "-".join(n for n in ("companion" if companion else "", "blocks" if all_blocks else "", view.name) if n)
    if name not in prepared.more_features:
        spec = prepared.companion if companion else prepared.spec
        prepared.more_features[name] = cached_features(
            prepared.index, spec, prepared.image_size, settings.runs / "cache" / "features",
            settings.data.batch_size, settings.data.feature_engine, all_blocks=all_blocks, view=view)
        if companion and prepared.more_features[name].failed:  # the photos the first backbone read all decoded
            raise ValueError(f"model.companion could not read photos the first backbone read: "
                             f"{sorted(prepared.more_features[name].failed.items())[:3]}")
    return prepared.more_features[name]


def head_inputs(settings: RunSettings, prepared: Prepared, reduction: str | None = None, flip: bool = False,
                augmented: int = 0, crop: str = "") -> np.ndarray:
    """The unscaled head input of every prepared photo: the configured taps, pooled by `head.reduction`;
    `flip`: of the mirrored photos; `crop`: of that crop (tta.CROPS); `augmented` >= 1: of that augmented
    training view (features.train_views)."""
    sources = settings.sources
    reduction = reduction or settings.head.reduction
    view = FeatureView(flip, augmented, sources.view_seed if augmented else 0, crop)
    if sources.last_only and not sources.companion_taps:
        if view == PLAIN:
            return prepared.features.pooled(reduction)
        return more_features(settings, prepared, all_blocks=False, view=view).pooled(reduction)
    parts = tapped(more_features(settings, prepared, all_blocks=True, view=view), sources.taps, reduction)
    if sources.companion_taps:
        companion = more_features(settings, prepared, all_blocks=True, view=view, companion=True)
        parts += tapped(companion, sources.companion_taps, reduction)
    return np.ascontiguousarray(np.concatenate(parts, axis=1))


def tapped(blocks: FeatureSet, taps: tuple[int, ...], reduction: str) -> list[np.ndarray]:
    """The pooled outputs of the `taps` blocks, in block order."""
    pooled = blocks.pooled(reduction)
    parts = block_slices(blocks.channels)
    return [pooled[:, parts[t]] for t in taps]

