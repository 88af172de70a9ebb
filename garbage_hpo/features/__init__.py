"""Frozen-backbone features: the content-keyed cache of pooled block outputs (cache) and the engines
that compute them (engines: ONNX Runtime, MindSpore).

The names below are this package's public face, each loaded on first use (runtime/lazy.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from garbage_hpo.runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from garbage_hpo.features.cache import PLAIN, FeatureSet, FeatureView, cache_key, cached_features
    from garbage_hpo.features.engines import (
        PooledFeatures,
        block_channels,
        export_onnx,
        onnxruntime_session,
        resolve_engine,
        write_onnx,
    )

_WHERE = {
    "FeatureSet": "cache",
    "FeatureView": "cache",
    "PLAIN": "cache",
    "PooledFeatures": "engines",
    "block_channels": "engines",
    "cache_key": "cache",
    "cached_features": "cache",
    "export_onnx": "engines",
    "onnxruntime_session": "engines",
    "resolve_engine": "engines",
    "write_onnx": "engines",
}
__all__ = [
    "FeatureSet",
    "FeatureView",
    "PLAIN",
    "PooledFeatures",
    "block_channels",
    "cache_key",
    "cached_features",
    "export_onnx",
    "onnxruntime_session",
    "resolve_engine",
    "write_onnx",
]
__getattr__ = lazy_exports(__name__, _WHERE)
