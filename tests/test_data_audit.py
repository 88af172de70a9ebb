"""`python -m garbage_hpo.data check`: every kind of bad or odd file, made for real, is reported in one place."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from garbage_hpo.data.audit import audit_dataset
from garbage_hpo.data.images import read_rgb
from tests.conftest import run_cli
from tests.test_data import make_dataset


def photo(seed: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


@pytest.fixture
def messy(tmp_path) -> Path:
    """A dataset with one of each problem; which file has which is what the tests check."""
    root = make_dataset(tmp_path / "messy", classes=("00_00", "00_01", "02_01", "03_02"), per_class=4, val=True)
    folder = root / "train" / "00_00"
    good = (folder / "train0.jpg").read_bytes()
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (folder / "notes.jpg").write_text("not a photo", encoding="utf-8")
    (folder / "corrupt.jpg").write_bytes(good[:20] + bytes(300) + b"\xff\xd9")  # JPEG header, garbage body
    (folder / "readme.txt").write_text("ignored", encoding="utf-8")
    odd = root / "train" / "00_01"
    cv2.imwrite(str(odd / "gray.jpg"), cv2.cvtColor(photo(1), cv2.COLOR_RGB2GRAY))
    Image.fromarray(photo(2)).convert("CMYK").save(odd / "cmyk.jpg")
    rgba = np.dstack([photo(3), np.full((32, 32), 0, np.uint8)])  # fully transparent
    Image.fromarray(rgba, "RGBA").save(odd / "alpha.png")
    cv2.imwrite(str(odd / "deep.png"), (photo(4).astype(np.uint16) * 257))
    cv2.imwrite(str(odd / "huge.jpg"), np.full((4200, 4100, 3), 90, np.uint8))
    shutil.copy(root / "train" / "02_01" / "train0.jpg", root / "train" / "02_01" / "copy.jpg")
    shutil.copy(root / "train" / "03_02" / "train1.jpg", root / "val" / "03_02" / "leak.jpg")
    (root / "train" / "01_00").mkdir()  # a class with no photos at all
    for path in (root / "val" / "02_01").iterdir():
        path.unlink()
    return root


def names(findings) -> dict[str, str]:
    return {f.path.name: f.detail for f in findings}


def test_every_problem_is_reported_once_with_its_reason(messy):
    report = audit_dataset(messy)
    unusable = names(report.unusable)
    assert set(unusable) == {"zero.jpg", "truncated.jpg", "notes.jpg", "corrupt.jpg"}
    assert unusable["zero.jpg"] == "empty file"
    assert "truncated" in unusable["truncated.jpg"] and "not an image" in unusable["notes.jpg"]
    assert "decodable" in unusable["corrupt.jpg"]
    converted = names(report.converted)
    assert set(converted) == {"gray.jpg", "cmyk.jpg", "alpha.png", "deep.png"}
    assert "grayscale" in converted["gray.jpg"] and "CMYK" in converted["cmyk.jpg"]
    assert "alpha" in converted["alpha.png"] and "16-bit" in converted["deep.png"]
    assert names(report.large) == {"huge.jpg": "4100x4200 px"}
    assert [p.name for p in report.ignored] == ["readme.txt"]
    assert report.empty_classes == ["train/01_00", "val/02_01"]
    assert [sorted(p.name for p in g) for g in report.duplicates] == [["copy.jpg", "train0.jpg"]]
    assert [sorted(p.name for p in g) for g in report.cross_split] == [["leak.jpg", "train1.jpg"]]
    assert report.errors == ["class folder train/01_00 has no usable images"]
    assert report.images["train"]["00_00"] == 4 and report.images["train"]["00_01"] == 4 + 5


def test_converted_images_load_as_8_bit_rgb(messy):
    odd = messy / "train" / "00_01"
    for name in ("gray.jpg", "cmyk.jpg", "alpha.png", "deep.png", "huge.jpg"):
        rgb = read_rgb(odd / name)
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3, name
    assert (read_rgb(odd / "alpha.png") == 255).all()  # transparent becomes white, not black
    expected = photo(4)
    assert np.abs(read_rgb(odd / "deep.png").astype(int) - expected[..., ::-1].astype(int)).max() <= 1


def test_val_class_missing_from_train_and_an_empty_dataset_are_errors(tmp_path):
    root = make_dataset(tmp_path / "a", val=True)
    (root / "val" / "09_09").mkdir()
    cv2.imwrite(str(root / "val" / "09_09" / "x.jpg"), photo(5))
    assert audit_dataset(root).errors == ["class val/09_09 is in val/ but not in train/"]
    empty = tmp_path / "b"
    (empty / "train" / "00_00").mkdir(parents=True)
    (empty / "train" / "00_00" / "zero.jpg").write_bytes(b"")
    assert audit_dataset(empty).errors[0] == "no usable images"


def test_check_cli_prints_the_report_and_exits_by_usability(messy, tmp_path):
    bad = run_cli("garbage_hpo.data", "check", f"data.root={messy}", check=False)
    assert bad.returncode == 1
    out = bad.stdout
    assert "unusable files (skipped): 4" in out and "train/00_00/zero.jpg: empty file" in out
    assert "exact duplicates across train/ and val/" in out and "val/03_02/leak.jpg" in out
    assert "ERRORS: class folder train/01_00 has no usable images" in out

    shutil.rmtree(messy / "train" / "01_00")
    good = run_cli("garbage_hpo.data", "check", f"data.root={messy}", "--json")
    summary = json.loads(good.stdout)
    assert summary["errors"] == [] and summary["unusable"] == 4 and summary["train_val_duplicates"] == 1
    assert summary["converted"] == 4 and summary["large"] == 1 and summary["duplicate_extra_copies"] == 1

    missing = run_cli("garbage_hpo.data", "check", f"data.root={tmp_path / 'nowhere'}", check=False)
    assert missing.returncode == 2 and "data.root=" in missing.stderr and "nowhere" in missing.stderr


def test_real_photos_audit_finds_the_known_duplicates(real_data_root):
    report = audit_dataset(real_data_root)
    assert report.errors == [] and report.usable == 2342 and not report.unusable
    eggshell = [g for g in report.duplicates if g[0].parent.name == "03_02"]
    assert len(eggshell) == 5 and sum(len(g) for g in eggshell) == 99
