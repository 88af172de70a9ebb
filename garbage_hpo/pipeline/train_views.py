"""Augmented feature views for the head (`features.train_views=K`).

Every head otherwise trains on one view of each photo, the plain resize, once per epoch. Here K random
resized crops with a random mirror (data/augmentation.py) of every photo go once through the frozen backbone, each
view cached on disk like the plain features (features.FeatureView: keyed by view number, `features.view_seed`
and augmentation settings; a view's crop depends on the seed, the view number and the photo's content only).
Each epoch the head trains on ONE view of each training photo, the plain photo or one of its K views, drawn by
the run's seed and the epoch (training/batches.py `one_view_each`). A fold trains on its own training photos'
views only; validation folds, the refit's test set and the exported network see the plain photo (with its
other views under `features.tta`). Standardization keeps the statistics of the plain training photos, which is
what the exported network sees.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from garbage_hpo.config import RunSettings
from garbage_hpo.features import FeatureView, block_channels, cache_key, resolve_engine
from garbage_hpo.models import WeightProfile, new_backbone
from garbage_hpo.pipeline.preparation import Prepared
from garbage_hpo.pipeline.taps import head_inputs
from garbage_hpo.runtime import check_room


def train_view_inputs(settings: RunSettings, prepared: Prepared) -> np.ndarray | None:
    """(features.train_views, photos, inputs): every photo's head input in each augmented view; None when the
    head trains on the plain photos only."""
    count = settings.sources.train_views
    if not count:
        return None
    check_view_room(settings, prepared)
    return np.stack([head_inputs(settings, prepared, augmented=v) for v in range(1, count + 1)])


def check_view_room(settings: RunSettings, prepared: Prepared) -> None:
    """Refuse, before the first view is computed, views the disk cannot hold (each a cache file of every photo's
    mean- and max-pooled outputs, float32), naming features.train_views with the size."""
    sources, spec = settings.sources, prepared.spec
    if not sources.train_views:
        return
    all_blocks = not sources.last_only
    engine = resolve_engine(settings.data.feature_engine)
    folder = settings.runs / "cache" / "features"
    files = prepared.index.fingerprint()
    keys = (cache_key(prepared.index, spec, prepared.image_size, engine, all_blocks,
                      FeatureView(False, v, sources.view_seed), files) for v in range(1, sources.train_views + 1))
    missing = [key for key in keys if not (folder / f"{key}.npz").is_file()]
    channels = _pooled_width(spec.arch, spec.width, spec.profile, all_blocks)
    check_room(folder, len(missing) * len(prepared.index.samples) * channels * 2 * 4, "features.train_views")


@lru_cache(maxsize=8)
def _pooled_width(arch: str, width: float, profile: WeightProfile, all_blocks: bool) -> int:
    """Columns of one pooled feature row (every block's, or the last's): built once per network, not per trial."""
    backbone = new_backbone(arch, width, profile)
    return sum(block_channels(backbone)) if all_blocks else backbone.out_channels
