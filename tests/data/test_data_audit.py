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
from tests.data.test_data import make_dataset


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
    assert "no usable images" in audit_dataset(empty).errors


def _bad_label_file(root: Path) -> None:
    (root / "label.txt").write_bytes(b"\x80\x80 glass: 00_00\n\xff")  # neither UTF-8 nor GBK


def _one_class(root: Path) -> None:
    shutil.rmtree(root / "train" / "00_01")
    shutil.rmtree(root / "train" / "02_01")


@pytest.mark.parametrize(("damage", "message"), [
    (_bad_label_file, "neither UTF-8 nor GBK"),
    (_one_class, "found 1 class folders, need at least 2"),
    (lambda root: shutil.rmtree(root / "train"), "expected a 'train/' folder"),
])
def test_check_refuses_exactly_what_training_refuses(tmp_path, damage, message):
    from garbage_hpo.data.dataset import index_dataset

    root = make_dataset(tmp_path / "d", val=True)
    damage(root)
    with pytest.raises(ValueError, match=message):  # DatasetError is a ValueError
        index_dataset(root)
    proc = run_cli("garbage_hpo.data", "check", f"data.root={root}", check=False)
    assert proc.returncode == 1 and "ERRORS: " in proc.stdout and message in proc.stdout


def test_single_photo_class_is_warned_by_check_and_training_and_kept_in_per_class(runs, tmp_path):
    from garbage_hpo.metrics.classification import per_class_accuracy

    root = make_dataset(tmp_path / "d", classes=("00_00", "00_01", "02_01"), per_class=5)
    for extra in sorted((root / "train" / "02_01").iterdir())[1:]:
        extra.unlink()
    report = audit_dataset(root)
    assert report.single_photo_classes == ["train/02_01"] and report.errors == []
    check = run_cli("garbage_hpo.data", "check", f"data.root={root}")
    assert "single distinct photo" in check.stdout and "train/02_01" in check.stdout
    train = run_cli("garbage_hpo.train", f"data.root={root}", "data.image_size=32", "train.epochs=1",
                    "train.batch_size=4", "data.val_fraction=0.3")
    assert "single distinct photo" in train.stderr + train.stdout and "02_01" in train.stderr + train.stdout
    per_class = json.loads(next((runs / "models").glob("*/per_class.json")).read_text())["per_class"]
    assert list(per_class) == ["Plastic Bottle", "Hats", "Battery"] and per_class["Battery"] is None
    from garbage_hpo.data.dataset import index_dataset

    classes = index_dataset(root).classes
    assert per_class_accuracy(np.array([0, 1]), np.array([0, 0]), classes) == {"00_00": 0.5, "00_01": None,
                                                                              "02_01": None}


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


def test_a_newline_in_a_file_name_cannot_forge_a_report_line(tmp_path):
    root = tmp_path / "d"
    for cls in ("00_00", "00_01"):
        folder = root / "train" / cls
        folder.mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(folder / f"{i}.jpg"), np.full((16, 16, 3), 40 * i, np.uint8))
    (root / "train" / "00_00" / "bad\nOK: usable for training.jpg").write_bytes(b"")  # an empty file, skipped
    text = audit_dataset(root).format()
    assert '"train/00_00/bad\\nOK: usable for training.jpg": empty file' in text
    assert [line for line in text.splitlines() if line.startswith("OK")] == ["OK: usable for training"]
    assert text.splitlines()[-1] == "OK: usable for training"
