"""Damaged caches (zeroed, truncated, overwritten) are never used: they are named, moved aside and rebuilt, and the
rebuilt cache holds what the original did. A cache the disk cannot hold is refused before it is written."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from garbage_hpo.pipeline.preparation import prepare
from garbage_hpo.runtime.files import NoSpaceError
from garbage_hpo.selection.folds import Fold
from garbage_hpo.selection.probe import cached_probe
from garbage_hpo.training import cut_cache
from garbage_hpo.training.cut_cache import CutCache, CutCacheSpec
from tests.conftest import settings_of


def zero_after_header(path: Path, header: int = 128) -> None:
    """Zeros over everything after the first `header` bytes: the same size, a valid-looking file."""
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.seek(header)
        handle.write(b"\0" * (size - header))


def truncate(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


def aside(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.damaged-*"))


@pytest.mark.parametrize("damage", [zero_after_header, truncate])
def test_a_damaged_cut_cache_is_moved_aside_and_rebuilt_not_trained_on(runs, tiny_demo, tmp_path, damage, caplog):
    prepared = prepare(settings_of(f"data.root={tiny_demo}", "data.image_size=64", f"runs_dir={runs}"))
    samples = prepared.index.samples[:5]
    spec = CutCacheSpec(cut=16, image_size=64, views=2, seed=1, augment=True, dtype="float32",
                        engine="onnxruntime", batch_size=4)
    built = CutCache(tmp_path, prepared.spec, spec, samples).ensure()
    original = np.array(built.views)
    del built
    damage(CutCache(tmp_path, prepared.spec, spec, samples).path)
    cut_cache._VERIFIED.clear()  # as a new process, which checks every cache file once
    with caplog.at_level(logging.WARNING):
        again = CutCache(tmp_path, prepared.spec, spec, samples).ensure()
    assert not again.from_cache  # rebuilt, and equal to what was damaged
    np.testing.assert_array_equal(np.array(again.views), original)
    assert len(aside(tmp_path)) == 1 and "damaged cache file" in caplog.text and ".npy" in caplog.text


def test_a_cut_cache_larger_than_the_free_disk_is_refused_before_writing(runs, tiny_demo, tmp_path):
    prepared = prepare(settings_of(f"data.root={tiny_demo}", "data.image_size=64", f"runs_dir={runs}"))
    spec = CutCacheSpec(cut=16, image_size=64, views=100_000_000, seed=1, augment=True, dtype="float16",
                        engine="onnxruntime", batch_size=4)
    with pytest.raises(NoSpaceError, match=r"finetune.cached_views: the cache it asks for needs more room than the "
                       r"disk has \([\d,]+ MiB needed"):
        CutCache(tmp_path / "cut", prepared.spec, spec, prepared.index.samples[:5]).ensure()
    assert not list((tmp_path / "cut").iterdir())  # nothing was started


@pytest.mark.parametrize("damage", [zero_after_header, truncate])
def test_a_damaged_feature_cache_is_named_moved_aside_and_rebuilt(runs, tiny_demo, damage, caplog):
    cfg = settings_of(f"data.root={tiny_demo}", "data.image_size=64", f"runs_dir={runs}")
    first = prepare(cfg).features
    (cached,) = (runs / "cache" / "features").glob("*.npz")
    damage(cached)
    with caplog.at_level(logging.WARNING):
        again = prepare(cfg).features
    assert not again.from_cache and str(cached) in caplog.text
    np.testing.assert_allclose(again.mean, first.mean, rtol=1e-5, atol=1e-6)
    assert len(aside(cached.parent)) == 1 and prepare(cfg).features.from_cache  # and the rebuilt one is used


def test_a_truncated_probe_cache_is_named_moved_aside_and_recomputed(tmp_path, caplog):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 5)), np.arange(60) % 3
    x[np.arange(60), y] += 3
    folds = [Fold(np.setdiff1d(np.arange(60), np.arange(i, 60, 3)), np.arange(i, 60, 3)) for i in range(3)]
    first = cached_probe(x, y, folds, tmp_path, grid=(1.0,))
    (path,) = tmp_path.glob("*.json")
    path.write_text(path.read_text()[:20])
    with caplog.at_level(logging.WARNING):
        again = cached_probe(x, y, folds, tmp_path, grid=(1.0,))
    assert not again.from_cache and again.cv_acc == first.cv_acc and str(path) in caplog.text
    assert len(aside(tmp_path)) == 1


def _probe_inputs() -> tuple[np.ndarray, np.ndarray, list[Fold]]:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 5)), np.arange(60) % 3
    x[np.arange(60), y] += 3
    return x, y, [Fold(np.setdiff1d(np.arange(60), np.arange(i, 60, 3)), np.arange(i, 60, 3)) for i in range(3)]


def test_a_probe_cache_edited_to_another_figure_is_not_reported(tmp_path, caplog):
    """Valid JSON, one figure changed (cv_acc 0.99): its content record no longer matches, so it is recomputed."""
    x, y, folds = _probe_inputs()
    first = cached_probe(x, y, folds, tmp_path, grid=(1.0,))
    (path,) = tmp_path.glob("*.json")
    record = json.loads(path.read_text())
    path.write_text(json.dumps(record | {"cv_acc": 0.99}))
    with caplog.at_level(logging.WARNING):
        again = cached_probe(x, y, folds, tmp_path, grid=(1.0,))
    assert not again.from_cache and again.cv_acc == first.cv_acc != 0.99
    assert "differ from the content record" in caplog.text and len(aside(tmp_path)) == 1
    assert cached_probe(x, y, folds, tmp_path, grid=(1.0,)).from_cache  # the recomputed file is trusted again


def test_a_feature_cache_resaved_whole_with_other_numbers_is_rebuilt(runs, tiny_demo, caplog):
    """A well-formed .npz with every member present but other numbers (the CRCs are right): a cache hit today
    would train on them; its content record catches it, and a file without one (older) is rebuilt too."""
    cfg = settings_of(f"data.root={tiny_demo}", "data.image_size=64", f"runs_dir={runs}")
    first = prepare(cfg).features
    (cached,) = (runs / "cache" / "features").glob("*.npz")
    with np.load(cached) as data:
        members = {name: data[name] for name in data.files}
    np.savez(cached, **(members | {"mean": members["mean"][::-1].copy()}))  # np.savez adds .npz only if missing
    with caplog.at_level(logging.WARNING):
        again = prepare(cfg).features
    assert not again.from_cache and "differ from the content record" in caplog.text
    np.testing.assert_allclose(again.mean, first.mean, rtol=1e-5, atol=1e-6)
    members.pop("content_sha256")
    np.savez(cached, **members)  # as a cache written before content records
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert not prepare(cfg).features.from_cache and "no content record" in caplog.text
    assert prepare(cfg).features.from_cache
