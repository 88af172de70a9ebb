"""Data preparation: what does not depend on training hyperparameters (the dataset index, the split, the
backbone features), done once per data/model setting; a sweep shares it between trials."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from garbage_hpo.config import RunSettings
from garbage_hpo.data import DatasetError, DatasetIndex, Split, index_dataset, read_rgb, resolve_root, split_dataset
from garbage_hpo.features import FeatureSet, cached_features
from garbage_hpo.models import BackboneSpec, build_backbone, companion_spec, resolve_backbone_spec
from garbage_hpo.runtime import remove_stale_temporaries
from garbage_hpo.tracking import git_commit

if TYPE_CHECKING:
    from mindspore import nn

    from garbage_hpo.models import FeatureSources, HeadSpec, Standardizer

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    index: DatasetIndex
    split: Split
    spec: BackboneSpec
    image_size: int
    features: FeatureSet
    seconds: float
    # other feature sets of the same photos, loaded when a config needs them (taps.py): "blocks" (every
    # block's pooled outputs), "flip" and "blocks-flip" (of the mirrored photos), "companion-..." (of
    # model.companion's blocks)
    more_features: dict[str, FeatureSet] = field(default_factory=dict)
    companion: BackboneSpec | None = None  # model.companion's backbone, read beside `spec` (companion.py)

    def backbones(self) -> tuple[nn.Cell, nn.Cell | None]:
        """The first backbone and the companion (None without one), with their pretrained weights."""
        return build_backbone(self.spec), None if self.companion is None else build_backbone(self.companion)

    @property
    def labels(self) -> np.ndarray:
        return np.array([s.label for s in self.index.samples], np.int32)


def prepare(settings: RunSettings) -> Prepared:
    start = time.perf_counter()
    data = settings.data
    cache = settings.runs / "cache"
    remove_stale_temporaries(*(cache / kind for kind in ("features", "onnx", "cut", "probe")),
                             settings.runs / "weights")
    index, spec = dataset_and_spec(settings)
    root = index.root
    image_size = data.image_size or spec.profile.native_size
    features = cached_features(index, spec, image_size, settings.runs / "cache" / "features", data.batch_size,
                               data.feature_engine)
    if features.failed:
        keep = np.array([i not in features.failed for i in range(len(index.samples))])
        index = index.without(features.failed)
        features = FeatureSet(features.mean[keep], features.max[keep], features.failed, features.from_cache,
                              features.extract_seconds)
    for path, reason in index.skipped:
        log.warning("skipped %s: %s", path, reason)
    present = {s.label for s in index.samples if s.subset == "train"}
    empty = [c.folder for c in index.classes if c.index not in present]
    if empty:
        raise DatasetError(f"data.root={root}: classes {empty} have no usable training images left")
    warn_single_photo_classes(index)
    leaks = index.train_val_duplicates()
    if leaks:
        log.warning("data: %d photos of %s/val are exact copies of train photos; the test accuracy is inflated "
                    "(python -m garbage_hpo.data check data.root=%s lists them)", leaks, root, root)
    split = split_dataset(index, data.val_fraction, data.split_seed)
    log.info("data: %s%s, %d classes, %d train / %d val images%s, %d skipped", root,
             " (DEMO)" if index.is_demo else "", index.num_classes, len(split.train), len(split.val),
             f" (+ {len(split.test)} test photos in val/, scored once at the end)" if len(split.test) else "",
             len(index.skipped))
    companion = companion_spec(settings.model.companion, spec)
    if companion is not None:
        log.info("model.companion: %s %s from %s, read beside %s at %d px", companion.arch, companion.width,
                 companion.weights_source, spec.arch, image_size)
    return Prepared(index, split, spec, image_size, features, time.perf_counter() - start, companion=companion)


def network_parts(prepared: Prepared, spec: HeadSpec, sources: FeatureSources, scaler: Standardizer | None
                  ) -> tuple[nn.Cell, HeadSpec, FeatureSources, Standardizer | None, nn.Cell | None]:
    """build_network's arguments for this head: the backbone with its weights, the head, and the companion
    backbone when the head reads it."""
    backbone, companion = prepared.backbones()
    return backbone, spec, sources, scaler, companion


def warn_single_photo_classes(index: DatasetIndex) -> None:
    distinct: dict[int, set[str]] = {}
    for s in index.samples:
        if s.subset == "train":
            distinct.setdefault(s.label, set()).add(s.digest)
    single = [c.folder for c in index.classes if len(distinct.get(c.index, ())) == 1]
    if single:
        log.warning("data: classes %s have a single distinct photo in train/: it is always trained on, never "
                    "validated (per-class accuracy: none), and k-fold CV refuses them", single)


def dataset_and_spec(settings: RunSettings) -> tuple[DatasetIndex, BackboneSpec]:
    """The indexed photos (real, or the generated demo set) and the backbone the settings ask for."""
    data, model = settings.data, settings.model
    root, is_demo = resolve_root(data.root, settings.runs / "demo_data", data.demo_per_class, data.demo_size)
    index = index_dataset(root, is_demo=is_demo)
    spec = resolve_backbone_spec(model.width, model.pretrained, model.profile, model.name)
    return index, spec


def load_images(prepared: Prepared, positions: np.ndarray) -> list[np.ndarray]:
    return [read_rgb(prepared.index.samples[i].path) for i in positions]


def run_tags(prepared: Prepared) -> dict[str, str]:
    return {
        "hpo.git_commit": git_commit(),
        "hpo.data_root": str(prepared.index.root),
        "hpo.data_sha256": prepared.index.fingerprint(),
        "hpo.data": "demo" if prepared.index.is_demo else "real",
        "hpo.weights_source": prepared.spec.weights_source,
        "hpo.weights_sha256": prepared.spec.weights_sha256 or "none",
        "hpo.weights_profile": prepared.spec.profile.name,
        "hpo.companion": "none" if prepared.companion is None else
        f"{prepared.companion.arch} {prepared.companion.width} {prepared.companion.weights_source}",
        "hpo.image_size": str(prepared.image_size),
        "hpo.skipped_files": str(len(prepared.index.skipped)),
        "hpo.train_val_duplicates": str(prepared.index.train_val_duplicates()),
        "hpo.features_cached": str(prepared.features.from_cache).lower(),
    }

