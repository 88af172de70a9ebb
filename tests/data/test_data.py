"""Dataset layout, class names, splitting without leaks, bad files, preprocessing, demo set."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from garbage_hpo.data.classes import class_infos, read_label_file
from garbage_hpo.data.dataset import DatasetError, index_dataset, split_dataset
from garbage_hpo.data.demo import generate
from garbage_hpo.data.images import UnreadableImageError, preprocess, read_rgb, to_rgb
from garbage_hpo.data.resolve import resolve_root


def make_dataset(root: Path, classes=("00_00", "00_01", "02_01"), per_class=5, val=False) -> Path:
    rng = np.random.default_rng(0)
    for subset in ["train"] + (["val"] if val else []):
        for c in classes:
            folder = root / subset / c
            folder.mkdir(parents=True)
            for i in range(per_class if subset == "train" else 2):
                img = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
                cv2.imwrite(str(folder / f"{subset}{i}.jpg"), img)
    return root


def test_label_file_in_gbk_and_utf8(tmp_path):
    text = "可回收物: 00\n塑料瓶: 00_00\n电池: 02_01\n"
    for encoding in ("gbk", "utf-8"):
        (tmp_path / "label.txt").write_bytes(text.encode(encoding))
        assert read_label_file(tmp_path) == {"00": "可回收物", "00_00": "塑料瓶", "02_01": "电池"}


def test_class_names_standard_table_and_fallbacks(tmp_path):
    infos = class_infos(["00_00", "02_01", "cats"], tmp_path)
    assert [(i.english, i.chinese, i.category) for i in infos] == [
        ("Plastic Bottle", "塑料瓶", "recyclable"), ("Battery", "电池", "hazardous"), ("cats", "cats", "unknown")]
    (tmp_path / "label.txt").write_text("dots-warm: 00_00\n", encoding="utf-8")
    assert class_infos(["00_00"], tmp_path)[0].english == "dots-warm"  # another dataset reusing the codes


def test_real_label_file_parses_all_classes(real_data_root):
    labels = read_label_file(real_data_root)  # the course ships it in GBK
    assert labels["03_02"] == "蛋壳" and len([k for k in labels if "_" in k]) == 26


def test_index_orders_classes_by_folder_and_keeps_val_as_a_test_set(tmp_path):
    root = make_dataset(tmp_path / "d", val=True)
    index = index_dataset(root)
    assert [c.folder for c in index.classes] == ["00_00", "00_01", "02_01"]
    split = split_dataset(index, 0.2, 0)
    # val/ is the test set: never the validation split that selects epochs or trials
    assert len(split.test) == 6 and {index.samples[i].subset for i in split.test} == {"val"}
    assert {index.samples[i].subset for i in np.r_[split.train, split.val]} == {"train"}
    assert len(split.train) + len(split.val) == 15 and len(split.val) == 3


def test_stratified_split_never_puts_a_photo_and_its_copy_on_both_sides(tmp_path):
    root = make_dataset(tmp_path / "d", per_class=10)
    folder = root / "train" / "00_01"
    for i in range(6):  # a class made mostly of copies, like the course's Eggshell folder
        shutil.copy(folder / "train0.jpg", folder / f"copy{i}.jpg")
    index = index_dataset(root)
    for seed in range(5):
        split = split_dataset(index, 0.3, seed)
        train_digests = {index.samples[i].digest for i in split.train}
        val_digests = [index.samples[i].digest for i in split.val]
        assert not train_digests & set(val_digests)
        assert len(val_digests) == len(set(val_digests))  # each validation photo counted once
        assert {index.samples[i].label for i in split.val} == {0, 1, 2}  # stratified
    assert split_dataset(index, 0.3, 1).val.tolist() == split_dataset(index, 0.3, 1).val.tolist()


def test_real_split_has_no_leak_and_counts_duplicates(real_data_root):
    index = index_dataset(real_data_root)
    assert len(index.samples) == 2342 and index.num_classes == 26 and not index.has_val
    eggshell = {s.digest for s in index.samples if s.label == 24}
    assert len(eggshell) == 5
    split = split_dataset(index, 0.1, 0)
    assert not {index.samples[i].digest for i in split.train} & {index.samples[i].digest for i in split.val}
    assert split.dropped_duplicates > 0


def test_bad_files_are_skipped_and_counted(tmp_path):
    root = make_dataset(tmp_path / "d")
    folder = root / "train" / "00_00"
    (folder / "empty.jpg").write_bytes(b"")
    data = (folder / "train0.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "notes.jpg").write_text("not an image")
    index = index_dataset(root)
    reasons = {p.name: r for p, r in index.skipped}
    assert set(reasons) == {"empty.jpg", "truncated.jpg", "notes.jpg"}
    assert "truncated" in reasons["truncated.jpg"] and "empty" in reasons["empty.jpg"]
    assert len(index.samples) == 15
    with pytest.raises(UnreadableImageError, match="truncated.jpg"):
        read_rgb(folder / "truncated.jpg")


def test_dataset_errors_name_the_path(tmp_path):
    with pytest.raises(DatasetError, match="data.root=.*nope"):
        index_dataset(tmp_path / "nope")
    root = make_dataset(tmp_path / "d")
    (root / "train" / "01_00").mkdir()
    with pytest.raises(DatasetError, match="01_00: class folder has no usable images"):
        index_dataset(root)
    root2 = make_dataset(tmp_path / "e", val=True)
    (root2 / "val" / "03_03").mkdir()
    with pytest.raises(DatasetError, match=r"\['03_03'\] have no folder"):
        index_dataset(root2)
    with pytest.raises(DatasetError, match="data.root=.*missing"):
        resolve_root(str(tmp_path / "missing"), tmp_path / "demo")


def test_resolution_prefers_env_then_course_paths_then_demo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GARBAGE_HPO_DATA", raising=False)
    course = make_dataset(tmp_path / "datasets" / "5fbdf571c06d3433df85ac65-momodel" / "garbage_26x100")
    assert resolve_root(None, tmp_path / "demo") == (course.absolute(), False)
    monkeypatch.setenv("GARBAGE_HPO_DATA", str(tmp_path / "datasets"))
    assert resolve_root(None, tmp_path / "demo") == ((tmp_path / "datasets").absolute(), False)


def test_bgr_and_rgb_inputs_preprocess_identically(tiny_demo):
    path = next((tiny_demo / "train" / "00_03").iterdir())
    from_file = preprocess(read_rgb(path), 32, "minus_one_one")
    from_cv2 = preprocess(to_rgb(cv2.imread(str(path)), "bgr"), 32, "minus_one_one")
    np.testing.assert_array_equal(from_file, from_cv2)
    assert not np.array_equal(from_file, preprocess(cv2.imread(str(path)), 32, "minus_one_one"))
    x = preprocess(read_rgb(path), 32, "minus_one_one")
    assert x.shape == (3, 32, 32) and x.dtype == np.float32 and x.min() >= -1.0 and x.max() <= 1.0


def test_demo_set_is_deterministic_small_and_in_course_layout(tmp_path):
    import time

    start = time.perf_counter()
    a = generate(tmp_path / "a", per_class=4, size=96)
    elapsed = time.perf_counter() - start
    b = generate(tmp_path / "b", per_class=4, size=96)
    files = sorted(p.relative_to(a) for p in (a / "train").rglob("*.jpg"))
    assert len(files) == 26 * 4 and len({f.parent.name for f in files}) == 26
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    index = index_dataset(a, is_demo=True)
    assert index.classes[0].english == "circle-warm" and index.classes[25].category == "wet"
    # the default demo set (40 x 26 at 128 px) stays within its budget: scale this measurement
    assert sum((a / f).stat().st_size for f in files) * 10 * (128 / 96) ** 2 < 30e6
    assert elapsed * 10 < 60


def test_a_class_folder_that_is_a_file_is_an_error_naming_it(tmp_path):
    root = make_dataset(tmp_path / "d")
    (root / "train" / "00_05").write_bytes(b"not a folder")  # a class folder replaced by a file
    with pytest.raises(DatasetError, match=r"train: '00_05' is a file, not class folders"):
        index_dataset(root)
    root2 = make_dataset(tmp_path / "e", val=True)
    (root2 / "val" / "stray.jpg").write_bytes(b"\xff\xd8")  # a photo beside the class folders
    with pytest.raises(DatasetError, match=r"val: 'stray.jpg' is a file"):
        index_dataset(root2)
    root3 = make_dataset(tmp_path / "f")
    (root3 / "train" / "README.txt").write_text("notes")  # other files beside the classes are left alone
    (root3 / "train" / ".DS_Store").write_bytes(b"")
    assert len(index_dataset(root3).classes) == 3


def test_data_check_refuses_a_class_folder_that_is_a_file(tmp_path):
    import subprocess
    import sys

    root = make_dataset(tmp_path / "d")
    (root / "train" / "00_05").write_bytes(b"x")
    proc = subprocess.run([sys.executable, "-m", "garbage_hpo.data", "check", f"data.root={root}"],
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "'00_05' is a file, not class folders" in proc.stderr and "OK" not in proc.stdout
