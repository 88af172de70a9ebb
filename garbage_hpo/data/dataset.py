"""Index a dataset in the course layout and split it into train and validation.

    <root>/train/<class folder>/*.jpg     required
    <root>/val/<class folder>/*.jpg       optional: a test set, reported once at the end, never used to select

    <root>/label.txt                      optional class names (UTF-8 or GBK)
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from garbage_hpo.data.classes import ClassInfo, class_infos
from garbage_hpo.data.images import IMAGE_SUFFIXES

DEMO_MARKER = "demo.json"  # written by garbage_hpo.data.demo.generate
MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"RIFF", b"GIF8")


class DatasetError(ValueError):
    """A dataset that cannot be used; the message names the path and the config key."""


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int
    digest: str  # sha1 of the file content
    subset: str  # "train" or "val": the folder it was found in


@dataclass
class DatasetIndex:
    root: Path
    classes: list[ClassInfo]
    samples: list[Sample]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    is_demo: bool = False

    @property
    def has_val(self) -> bool:
        return any(s.subset == "val" for s in self.samples)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def fingerprint(self) -> str:
        """Content hash of the usable file list: same photos under the same names give the same value."""
        digest = hashlib.sha256()
        for sample in self.samples:
            digest.update(f"{sample.path.relative_to(self.root).as_posix()}\0{sample.digest}\n".encode())
        return digest.hexdigest()

    def train_val_duplicates(self) -> int:
        """Photos of val/ whose exact copy is also in train/: they inflate validation accuracy."""
        train = {s.digest for s in self.samples if s.subset == "train"}
        return sum(s.digest in train for s in self.samples if s.subset == "val")

    def without(self, bad: dict[int, str]) -> DatasetIndex:
        """A copy without the samples at positions `bad` (position -> reason), recorded as skipped."""
        kept = [s for i, s in enumerate(self.samples) if i not in bad]
        skipped = self.skipped + [(self.samples[i].path, reason) for i, reason in sorted(bad.items())]
        return DatasetIndex(self.root, self.classes, kept, skipped, self.is_demo)


def _quick_check(path: Path, data: bytes) -> str | None:
    """Why `data` is unusable without decoding it, or None."""
    if not data:
        return "empty file"
    if not data.startswith(MAGIC):
        return "not an image (unknown file signature)"
    if data.startswith(b"\xff\xd8") and not data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        return "truncated JPEG (no end-of-image marker)"
    return None


def _class_folders(split_dir: Path) -> list[str]:
    """The class folders of train/ or val/; a file named like a class (no suffix) or a photo left beside the
    class folders is an error: it would otherwise drop a class, or a photo, without a word."""
    entries = [p for p in split_dir.iterdir() if not p.name.startswith(".")]
    stray = sorted(p.name for p in entries if not p.is_dir() and (p.suffix == "" or p.suffix.lower() in IMAGE_SUFFIXES))
    if stray:
        names = ", ".join(repr(n) for n in stray[:3]) + (" ..." if len(stray) > 3 else "")
        raise DatasetError(f"{split_dir}: {names} {'is a file' if len(stray) == 1 else 'are files'}, not class "
                           "folders: every entry there must be a folder of one class's photos")
    return sorted(p.name for p in entries if p.is_dir())


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _folders_and_subsets(root: Path, class_folders: list[str] | None) -> tuple[list[str], list[str]]:
    """The class folders (from train/, or from the model when a test set comes without train/) and the
    subsets to index."""
    train_dir = root / "train"
    has_val = (root / "val").is_dir()
    if not train_dir.is_dir():
        if class_folders is None or not has_val:
            raise DatasetError(f"data.root={root}: expected a 'train/' folder with one subfolder per class")
        return list(class_folders), ["val"]
    folders = _class_folders(train_dir)
    if len(folders) < 2:
        raise DatasetError(f"{train_dir}: found {len(folders)} class folders, need at least 2")
    return folders, ["train"] + (["val"] if has_val else [])


def index_dataset(root: Path, is_demo: bool = False, class_folders: list[str] | None = None) -> DatasetIndex:
    """Index `root`/train (and val/). `class_folders`: the class list to use when `root` holds only a val/
    test set (evaluation of a trained model needs no train/)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"data.root={root}: no such directory")
    is_demo = is_demo or (root / DEMO_MARKER).is_file()
    folders, subsets = _folders_and_subsets(root, class_folders)
    classes = class_infos(folders, root)
    label_of = {c.folder: c.index for c in classes}
    samples: list[Sample] = []
    skipped: list[tuple[Path, str]] = []
    for subset in subsets:
        subset_dir = root / subset
        if subset == "val":
            unknown = sorted(set(_class_folders(subset_dir)) - set(label_of))
            if unknown:
                where = root / "train" if "train" in subsets else "the model's classes"
                raise DatasetError(f"{subset_dir}: classes {unknown} have no folder in {where}")
        for folder in _class_folders(subset_dir):
            usable = 0
            for path in _image_files(subset_dir / folder):
                data = path.read_bytes()
                reason = _quick_check(path, data)
                if reason:
                    skipped.append((path, reason))
                    continue
                samples.append(Sample(path, label_of[folder], hashlib.sha1(data).hexdigest(), subset))
                usable += 1
            if subset == "train" and usable == 0:
                raise DatasetError(f"{subset_dir / folder}: class folder has no usable images")
    return DatasetIndex(root, classes, samples, skipped, is_demo)


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # positions into DatasetIndex.samples
    val: np.ndarray
    dropped_duplicates: int  # extra copies of validation photos left out so val counts each photo once
    test: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # val/ photos: reported, never selected on


def positions(index: DatasetIndex, subset: str) -> np.ndarray:
    return np.array([i for i, s in enumerate(index.samples) if s.subset == subset], dtype=np.int64)


def split_dataset(index: DatasetIndex, val_fraction: float, seed: int) -> Split:
    """A stratified split of the `train/` photos that never splits a duplicate group; `val/` is the test set.

    Photos are grouped by content hash. Each class's groups are shuffled with `seed`; about
    `val_fraction` of the groups (at least one, when a class has two or more) go to validation, where each
    photo appears once. All copies of the other groups stay in train. The photos of `val/` (when present)
    are never part of either side: selecting epochs or trials on them would make their score optimistic.
    """
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"data.val_fraction={val_fraction}: must be between 0 and 1")
    samples = index.samples
    groups: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        if s.subset == "train":
            groups[s.digest].append(i)
    by_class: dict[int, list[str]] = defaultdict(list)
    for digest, members in groups.items():
        by_class[samples[members[0]].label].append(digest)

    rng = np.random.default_rng(seed)
    train, val, dropped = [], [], 0
    for label in sorted(by_class):
        digests = sorted(by_class[label])
        rng.shuffle(digests)
        n_val = int(round(val_fraction * len(digests)))
        n_val = min(max(n_val, 1), len(digests) - 1) if len(digests) >= 2 else 0
        for digest in digests[:n_val]:
            val.append(groups[digest][0])
            dropped += len(groups[digest]) - 1
        for digest in digests[n_val:]:
            train.extend(groups[digest])
    return Split(np.array(sorted(train), dtype=np.int64), np.array(sorted(val), dtype=np.int64), dropped,
                 positions(index, "val"))
