"""Datasets in the course layout: class names, indexing, splitting, preprocessing and the demo set.

The names below are this package's public face, each loaded on first use (runtime/lazy.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from garbage_hpo.runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from garbage_hpo.data.augmentation import AUGMENTATION, augment, view_rng
    from garbage_hpo.data.classes import ClassInfo
    from garbage_hpo.data.dataset import (
        DatasetError,
        DatasetIndex,
        Sample,
        Split,
        index_dataset,
        positions,
        split_dataset,
    )
    from garbage_hpo.data.images import (
        IMAGE_SUFFIXES,
        PREPROCESS_VERSION,
        UnreadableImageError,
        preprocess,
        read_rgb,
        to_rgb,
    )
    from garbage_hpo.data.resolve import resolve_root

_WHERE = {
    "AUGMENTATION": "augmentation",
    "ClassInfo": "classes",
    "DatasetError": "dataset",
    "DatasetIndex": "dataset",
    "IMAGE_SUFFIXES": "images",
    "PREPROCESS_VERSION": "images",
    "Sample": "dataset",
    "Split": "dataset",
    "UnreadableImageError": "images",
    "augment": "augmentation",
    "index_dataset": "dataset",
    "positions": "dataset",
    "preprocess": "images",
    "read_rgb": "images",
    "resolve_root": "resolve",
    "split_dataset": "dataset",
    "to_rgb": "images",
    "view_rng": "augmentation",
}
__all__ = [
    "AUGMENTATION",
    "ClassInfo",
    "DatasetError",
    "DatasetIndex",
    "IMAGE_SUFFIXES",
    "PREPROCESS_VERSION",
    "Sample",
    "Split",
    "UnreadableImageError",
    "augment",
    "index_dataset",
    "positions",
    "preprocess",
    "read_rgb",
    "resolve_root",
    "split_dataset",
    "to_rgb",
    "view_rng",
]
__getattr__ = lazy_exports(__name__, _WHERE)
