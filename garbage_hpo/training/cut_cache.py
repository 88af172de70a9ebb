"""Activations at the fine-tuning cut point, computed once per augmented view and kept on disk.

Fine-tuning the last N blocks (`finetune=last_blocks finetune.unfreeze=N`) leaves the first blocks frozen,
so their output for a given crop never changes: recomputing it every epoch is most of an uncached epoch.
The cache holds, for every photo, `K = finetune.cached_views` random-resized-crop + flip views (deterministic
by seed, view index and photo) pushed through the frozen prefix, plus the plain resized photo (the "center"
view, used for validation). Each epoch draws one cached view per photo; only the last N blocks and the head
run in training. Frozen BatchNorm in the prefix is in inference mode either way, so the cached activations
are exactly what the uncached path computes, up to float16 storage (`finetune.cache_dtype`).

The key covers everything that changes an activation: weights hash, architecture, width, profile, cut point,
image size, views, seed, augmentation settings, dtype, engine and the photos (paths + content hashes).
Files live in `runs/cache/cut/<key>.npy` (views, shape (K, N, C, H, W)) and `<key>.center.npy` ((N, C, H, W));
the number of views is not in the key: view v does not depend on K, so a cache of 8 views serves 4.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import nn

from garbage_hpo.data import AUGMENTATION, PREPROCESS_VERSION, Sample, augment, preprocess, read_rgb, view_rng
from garbage_hpo.features import onnxruntime_session, resolve_engine, write_onnx
from garbage_hpo.models import BackboneSpec, build_backbone
from garbage_hpo.runtime import WORK, check_room, checksum_path, checksum_problem, move_aside, write_checksum, writing

log = logging.getLogger(__name__)
CACHE_FORMAT = 2  # 2: every file has a .sha256 record, checked on open
DTYPES = ("float16", "float32")
_ANNOUNCED: set[Path] = set()
_VERIFIED: set[Path] = set()  # cache files whose checksum this process has checked


class BlockRange(nn.Cell):
    """Blocks [start, stop) of a backbone's `features`, run in order. The blocks are shared, not copied, and
    keep their parameter names (`auto_prefix=False`; wrapping them in a SequentialCell would rename them)."""

    def __init__(self, features: nn.SequentialCell, start: int, stop: int) -> None:
        super().__init__(auto_prefix=False)
        self.features = features
        self.start = start
        self.stop = stop

    def construct(self, x):
        for i, block in enumerate(self.features):  # unrolled at compile time: a constant condition per block
            if self.start <= i < self.stop:
                x = block(x)
        return x


class SuffixNet(nn.Cell):
    """The blocks from the cut point on, then the head: what fine-tuning trains on cached activations."""

    def __init__(self, features: nn.SequentialCell, cut: int, head: nn.Cell) -> None:
        super().__init__(auto_prefix=False)
        self.blocks = BlockRange(features, cut, len(features))
        self.head = head

    def construct(self, x):
        return self.head(self.blocks(x))


@dataclass(frozen=True)
class CutCacheSpec:
    cut: int  # index of the first trained block: the cache holds the input of backbone.features[cut]
    image_size: int
    views: int  # augmented views per photo (1 without augmentation: every view would be the same)
    seed: int
    augment: bool
    dtype: str = "float16"
    engine: str = "auto"
    batch_size: int = 32  # of the prefix pass

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"finetune.cache_dtype={self.dtype!r}: one of {DTYPES}")
        if self.views < 1:
            raise ValueError(f"finetune.cached_views={self.views}: at least 1 to use the cache")

    def key(self, backbone: BackboneSpec, samples: list[Sample]) -> str:
        listing = "".join(f"{s.path.parent.name}/{s.path.name}\0{s.digest}\n" for s in samples)
        files = hashlib.sha256(listing.encode()).hexdigest()
        # not the number of views: view v is the same whatever the count, so a cache of 8 serves a request for 4
        payload = {"format": CACHE_FORMAT, "cut": self.cut, "image_size": self.image_size,
                   "seed": self.seed, "augment": AUGMENTATION if self.augment else None, "dtype": self.dtype,
                   "engine": resolve_engine(self.engine), "arch": backbone.arch, "width": backbone.width,
                   "weights_sha256": backbone.weights_sha256, "profile": backbone.profile.to_dict(),
                   "preprocess": PREPROCESS_VERSION, "files": files}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


@dataclass
class CutActivations:
    views: np.ndarray  # (K, N, C, H, W), memory-mapped, row n = the n-th photo given to CutCache
    center: np.ndarray  # (N, C, H, W)
    from_cache: bool
    seconds: float

    def train_batch(self, rows: np.ndarray, view_of: np.ndarray) -> np.ndarray:
        return np.asarray(self.views[view_of, rows], np.float32)

    def center_batch(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.center[rows], np.float32)


class CutCache:
    """Builds (once) or opens the cut-point activations of `samples` for `spec`."""

    def __init__(self, cache_dir: Path, backbone: BackboneSpec, spec: CutCacheSpec, samples: list[Sample]) -> None:
        self.backbone = backbone
        self.spec = spec
        self.samples = samples
        self.key = spec.key(backbone, samples)
        self.path = cache_dir / f"{self.key}.npy"
        self.center_path = cache_dir / f"{self.key}.center.npy"

    def ensure(self) -> CutActivations:
        """Open the cache, or build it when missing or holding fewer views than asked for (a cache with more
        views serves its first `views`: view v is the same whatever the count)."""
        views = self._open_verified()
        if views is not None and len(views) >= self.spec.views:
            WORK["cut_views_reused"] += self.spec.views * len(self.samples)
            level = logging.DEBUG if self.path in _ANNOUNCED else logging.INFO  # once per process, not per trial
            _ANNOUNCED.add(self.path)
            log.log(level, "cut cache: hit %s (%d photos x %d of %d views)", self.path.name, len(self.samples),
                     self.spec.views, len(views))
            return CutActivations(views[: self.spec.views], np.load(self.center_path, mmap_mode="r"), True, 0.0)
        start = time.perf_counter()
        self._build()
        seconds = time.perf_counter() - start
        WORK["cut_views_built"] += self.spec.views * len(self.samples)
        WORK["cut_cache_build_seconds"] += seconds
        size_mb = (self.path.stat().st_size + self.center_path.stat().st_size) / 2**20
        log.info("cut cache: %d photos x %d views at block %d in %.1fs, %.0f MB as %s", len(self.samples),
                 self.spec.views, self.spec.cut, seconds, size_mb, self.path.name)
        return CutActivations(np.load(self.path, mmap_mode="r"), np.load(self.center_path, mmap_mode="r"),
                              False, seconds)

    def _open_verified(self) -> np.ndarray | None:
        """The views file, memory-mapped, once both files match the checksums recorded when they were built
        (checked once per process): a truncated or overwritten cache is moved aside and rebuilt, never trained
        on. None when there is nothing usable."""
        if not (self.path.is_file() and self.center_path.is_file()):
            return None
        for path in (self.path, self.center_path):
            if path in _VERIFIED:
                continue
            problem = checksum_problem(path)
            if problem is not None:
                move_aside(path, problem)
                return None
            _VERIFIED.add(path)
        try:
            return np.load(self.path, mmap_mode="r")
        except (OSError, ValueError) as err:
            _VERIFIED.discard(self.path)
            move_aside(self.path, f"{type(err).__name__}: {err}")
            return None

    def _build(self) -> None:
        s = self.spec
        prefix = self._prefix_runner()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.key}.{os.getpid()}.tmp.npy")
        tmp_center = self.center_path.with_name(f"{self.key}.center.{os.getpid()}.tmp.npy")
        shape = prefix(np.zeros((1, 3, s.image_size, s.image_size), np.float32)).shape[1:]
        n = len(self.samples)
        check_room(self.path, (s.views + 1) * n * int(np.prod(shape)) * np.dtype(s.dtype).itemsize,
                   "finetune.cached_views")
        with writing(tmp, tmp_center, checksum_path(tmp), checksum_path(tmp_center)):
            views = np.lib.format.open_memmap(tmp, mode="w+", dtype=s.dtype, shape=(s.views, n, *shape))
            center = np.lib.format.open_memmap(tmp_center, mode="w+", dtype=s.dtype, shape=(n, *shape))
            chunks = [range(i, min(i + s.batch_size, n)) for i in range(0, n, s.batch_size)]
            with ThreadPoolExecutor(max_workers=1) as pool:  # decoding and cropping overlap the prefix pass
                pending = pool.submit(self._inputs, chunks[0]) if chunks else None
                for c, rows in enumerate(chunks):
                    inputs = pending.result()
                    if c + 1 < len(chunks):
                        pending = pool.submit(self._inputs, chunks[c + 1])
                    center[rows.start : rows.stop] = prefix(inputs[0])
                    for v in range(s.views):
                        views[v, rows.start : rows.stop] = prefix(inputs[v + 1])
            views.flush()
            center.flush()
            del views, center
            write_checksum(tmp_center)
            write_checksum(tmp)
        for built, final in ((tmp_center, self.center_path), (tmp, self.path)):  # center first: a killed
            checksum_path(built).replace(checksum_path(final))  # build leaves no usable half
            built.replace(final)
            _VERIFIED.add(final)

    def _inputs(self, rows: range) -> list[np.ndarray]:
        """[center, view 0, ..., view K-1] batches of preprocessed images for the photos `rows`."""
        s = self.spec
        scaling = self.backbone.profile.input_scaling
        out = [np.zeros((len(rows), 3, s.image_size, s.image_size), np.float32) for _ in range(s.views + 1)]
        for j, row in enumerate(rows):
            sample = self.samples[row]
            rgb = read_rgb(sample.path)
            out[0][j] = preprocess(rgb, s.image_size, scaling)
            for v in range(s.views):
                crop = augment(rgb, s.image_size, view_rng(s.seed, v, sample.digest)) if s.augment else rgb
                out[v + 1][j] = preprocess(crop, s.image_size, scaling)
        return out

    def _prefix_runner(self):
        """A function: images (n <= batch_size, 3, H, W) -> cut-point activations, by ONNX Runtime when
        installed (as feature extraction), else by MindSpore; batches are padded to one compiled shape."""
        s = self.spec
        backbone = build_backbone(self.backbone)
        prefix = BlockRange(backbone.features, 0, s.cut)
        prefix.set_train(False)
        if resolve_engine(s.engine) == "onnxruntime":
            run = _onnx_runner(prefix, s, self.path.parent / f"{self.key}.prefix.onnx")
        else:
            def run(batch: np.ndarray) -> np.ndarray:
                return prefix(ms.Tensor(batch)).asnumpy()

        def padded(batch: np.ndarray) -> np.ndarray:
            n = len(batch)
            if n < s.batch_size:
                batch = np.concatenate([batch, np.zeros((s.batch_size - n, *batch.shape[1:]), np.float32)])
            return run(batch)[:n]

        return padded


def _onnx_runner(prefix: nn.Cell, s: CutCacheSpec, path: Path):
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.onnx")
    write_onnx(prefix, ms.Tensor(np.zeros((s.batch_size, 3, s.image_size, s.image_size), np.float32)), tmp)
    session = onnxruntime_session(tmp)
    tmp.unlink(missing_ok=True)  # the session holds the model; the activations are what is kept
    name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {name: np.ascontiguousarray(batch, np.float32)})[0]

    return run
