"""Frozen-backbone features, computed once and cached on disk.

The cache key covers everything that changes a feature vector: weights file hash, width, weight profile,
image size, preprocessing version, extraction engine (see feature_engines.py) and the exact file list
(relative paths + content hashes). A second run with the same key loads the file and does no backbone work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from garbage_hpo.data import (
    AUGMENTATION,
    PREPROCESS_VERSION,
    DatasetIndex,
    Sample,
    UnreadableImageError,
    augment,
    preprocess,
    read_rgb,
    view_rng,
)
from garbage_hpo.features.engines import block_channels, make_extractor, resolve_engine
from garbage_hpo.models import CROP_FRACTION, BackboneSpec, crop_box, new_backbone
from garbage_hpo.runtime import WORK, move_aside, writing

log = logging.getLogger(__name__)
CACHE_FORMAT = 3


@dataclass
class FeatureSet:
    mean: np.ndarray  # (N, C) float32, row i = index.samples[i]
    max: np.ndarray
    failed: dict[int, str] = field(default_factory=dict)  # sample position -> why it could not be decoded
    from_cache: bool = False
    extract_seconds: float = 0.0
    channels: tuple[int, ...] = ()  # all-block sets (taps.py): each block's width, in column order

    def pooled(self, reduction: str) -> np.ndarray:
        return self.mean if reduction == "mean" else self.max


@dataclass(frozen=True)
class FeatureView:
    """Which view of each photo the backbone sees: the photo itself, its mirror image (`flip`), a crop of it
    (`crop`, one of tta.CROPS: cut from the resized photo, then mirrored when `flip`; test-time augmentation,
    tta.py), or augmented view `number` >= 1 (random resized crop + mirror, data/augmentation.py), drawn from
    `seed`, the view's number and the photo's content: the same whichever run or subset builds it."""

    flip: bool = False
    number: int = 0
    seed: int = 0
    crop: str = ""

    def key(self) -> dict:
        """What the cache key adds for this view (nothing for the plain photo: existing caches stay valid)."""
        out: dict = {"view": "hflip"} if self.flip else {}
        if self.number:
            out |= {"augmented_view": self.number, "view_seed": self.seed, "augmentation": AUGMENTATION}
        if self.crop:
            out |= {"crop": self.crop, "crop_fraction": CROP_FRACTION}
        return out

    @property
    def name(self) -> str:
        """A short name, unique per view (the plain photo's is "")."""
        parts = (("flip", self.flip), (f"view{self.number}", self.number > 0), (self.crop, bool(self.crop)))
        return "-".join(n for n, on in parts if on)

    def side(self, size: int) -> int:
        """The side of what the backbone sees when the photo is resized to `size`."""
        return crop_box(size, self.crop)[2] if self.crop else size

    def image(self, rgb: np.ndarray, size: int, photo_digest: str) -> np.ndarray:
        """The RGB photo as this view shows it, at `size` x `size` (before the crop and the mirror)."""
        if not self.number:
            return rgb
        return augment(rgb, size, view_rng(self.seed, self.number, photo_digest))

    def framed(self, image: np.ndarray) -> np.ndarray:
        """The preprocessed (C, H, W) photo cropped and mirrored as this view asks (as models/views.py does)."""
        if self.crop:
            top, left, side = crop_box(image.shape[1], self.crop)
            image = image[:, top : top + side, left : left + side]
        return image[:, :, ::-1] if self.flip else image  # mirrored left to right


PLAIN = FeatureView()


def cache_key(index: DatasetIndex, spec: BackboneSpec, image_size: int, engine: str, all_blocks: bool = False,
              view: FeatureView = PLAIN, files: str | None = None) -> str:
    """`files`: index.fingerprint(), when the caller already has it (it hashes every photo's name and digest:
    keys of many views computed with it once, not once per view)."""
    payload: dict = {"blocks": "all"} if all_blocks else {}  # absent by default: existing caches stay valid
    payload |= view.key()
    payload |= {
        "format": CACHE_FORMAT,
        "engine": engine,  # engines agree within 1e-4, not bit for bit: a result must not depend on the cache
        "arch": spec.arch,
        "weights_sha256": spec.weights_sha256,
        "width": spec.width,
        "profile": spec.profile.to_dict(),
        "image_size": image_size,
        "preprocess": PREPROCESS_VERSION,
        "files": files or index.fingerprint(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def _load_batch(samples: list[Sample], size: int, scaling: str, view: FeatureView = PLAIN
                ) -> tuple[np.ndarray, list[str | None]]:
    side = view.side(size)
    batch = np.zeros((len(samples), 3, side, side), np.float32)
    errors: list[str | None] = []
    for i, sample in enumerate(samples):
        try:
            batch[i] = view.framed(preprocess(view.image(read_rgb(sample.path), size, sample.digest), size, scaling))
            errors.append(None)
        except UnreadableImageError as err:
            errors.append(str(err).split(": ", 1)[-1])
    return batch, errors


def compute_features(index: DatasetIndex, spec: BackboneSpec, image_size: int, batch_size: int = 32,
                     engine: str = "mindspore", onnx_path: Path | None = None, all_blocks: bool = False,
                     view: FeatureView = PLAIN) -> FeatureSet:
    """Run the frozen backbone over every sample; decoding of the next batch overlaps the current forward.
    `all_blocks`: the pooled outputs of every block, concatenated (`channels` gives each block's width);
    `view`: of the mirrored or cropped photos (test-time augmentation, tta.py) or of an augmented view
    (FeatureView)."""
    start = time.perf_counter()
    onnx_path = onnx_path or Path("backbone.onnx")
    extract = make_extractor(engine, spec, view.side(image_size), batch_size, onnx_path, all_blocks)
    samples = index.samples
    chunks = [samples[i : i + batch_size] for i in range(0, len(samples), batch_size)]
    means, maxes, failed = [], [], {}
    scaling = spec.profile.input_scaling
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_load_batch, chunks[0], image_size, scaling, view) if chunks else None
        for n, chunk in enumerate(chunks):
            batch, errors = pending.result()
            if n + 1 < len(chunks):
                pending = pool.submit(_load_batch, chunks[n + 1], image_size, scaling, view)
            if len(chunk) < batch_size:  # pad to the compiled shape: one graph for every batch
                batch = np.concatenate([batch, np.zeros((batch_size - len(chunk),) + batch.shape[1:], np.float32)])
            mean, mx = extract(batch)
            means.append(mean[: len(chunk)])
            maxes.append(mx[: len(chunk)])
            for i, err in enumerate(errors):
                if err:
                    failed[n * batch_size + i] = err
    channels = means[0].shape[1] if means else 0
    WORK["feature_extractions"] += 1
    WORK["feature_images_extracted"] += len(samples)
    return FeatureSet(
        np.concatenate(means) if means else np.zeros((0, channels), np.float32),
        np.concatenate(maxes) if maxes else np.zeros((0, channels), np.float32),
        failed,
        from_cache=False,
        extract_seconds=time.perf_counter() - start,
        channels=tuple(block_channels(new_backbone(spec.arch, spec.width, spec.profile))) if all_blocks else (),
    )


def _content_digest(mean: np.ndarray, mx: np.ndarray, failed: str, channels: np.ndarray) -> str:
    """The content record written into each cache file: what a well-formed file with other numbers fails."""
    digest = hashlib.sha256()
    for part in (mean, mx, channels):
        digest.update(repr((part.dtype.str, part.shape)).encode())
        digest.update(np.ascontiguousarray(part).tobytes())
    digest.update(failed.encode())
    return digest.hexdigest()


def _read_cache(path: Path, n_samples: int) -> FeatureSet | None:
    """The cached features, or None after moving a damaged file aside: a zip checks each member's CRC, the
    content record catches a file re-saved whole with other numbers (or written before caches had one)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            failed_text, channels = str(data["failed"]), data["channels"]
            features = FeatureSet(data["mean"], data["max"], {int(k): v for k, v in json.loads(failed_text)}, True,
                                  channels=tuple(int(c) for c in channels))
            recorded = str(data["content_sha256"]) if "content_sha256" in data else None
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as err:  # truncated, zeroed
        move_aside(path, f"{type(err).__name__}: {err}")
        return None
    if recorded != _content_digest(features.mean, features.max, failed_text, channels):
        move_aside(path, "no content record (written before caches had one)" if recorded is None else
                   "its numbers differ from the content record written with them")
        return None
    if features.mean.shape[0] != n_samples or features.max.shape != features.mean.shape:
        move_aside(path, f"{features.mean.shape[0]} rows for {n_samples} photos")
        return None
    return features


def cached_features(index: DatasetIndex, spec: BackboneSpec, image_size: int, cache_dir: Path,
                    batch_size: int = 32, engine: str = "auto", all_blocks: bool = False,
                    view: FeatureView = PLAIN) -> FeatureSet:
    engine = resolve_engine(engine)
    key = cache_key(index, spec, image_size, engine, all_blocks, view)
    path = cache_dir / f"{key}.npz"
    if path.is_file():
        cached = _read_cache(path, len(index.samples))
        if cached is not None:
            WORK["feature_cache_hits"] += 1
            log.info("features: cache hit %s (%d images, no backbone work)", path.name, len(cached.mean))
            return cached
    onnx_path = cache_dir.parent / "onnx" / f"{key}-b{batch_size}-{os.getpid()}.onnx"
    features = compute_features(index, spec, image_size, batch_size, engine, onnx_path, all_blocks, view)
    onnx_path.unlink(missing_ok=True)  # only needed while extracting; the features are what is kept
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")  # per process: workers may share a cache
    with writing(tmp):
        failed, channels = json.dumps(sorted(features.failed.items())), np.array(features.channels, np.int64)
        np.savez(tmp, mean=features.mean, max=features.max, failed=failed, channels=channels,
                 content_sha256=_content_digest(features.mean, features.max, failed, channels))
        tmp.replace(path)  # atomic: a killed run never leaves a half-written cache entry
    log.info("features: computed %d images in %.1fs with %s, cached as %s", len(features.mean),
             features.extract_seconds, engine, path.name)
    return features
