"""Work done once and counted, in one registry: what `make bench` reports and a sweep logs as `work.*` metrics
(features extracted or read from their cache, cut-point views built or reused)."""

from __future__ import annotations

WORK: dict[str, float] = {
    "feature_extractions": 0, "feature_images_extracted": 0, "feature_cache_hits": 0,
    "cut_views_built": 0, "cut_views_reused": 0, "cut_cache_build_seconds": 0.0,
}
