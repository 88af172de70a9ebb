"""A full check of a dataset folder, reported in one place before any training.

Where `index_dataset` stops at the first fatal problem, the audit looks at every file (decoding each one)
and lists everything: unusable files (skipped by training), images that are converted on load, very large
images, empty class folders, classes of val/ missing from train/, and exact duplicate photos, including
copies on both sides of the train/val boundary, which inflate validation accuracy.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from garbage_hpo.data.classes import read_label_file
from garbage_hpo.data.dataset import _class_folders, _image_files, _quick_check
from garbage_hpo.data.images import UnreadableImageError, read_rgb
from garbage_hpo.runtime import shown

LARGE_PIXELS = 4096 * 4096  # decoding and resizing such photos costs far more than the network's input needs


@dataclass
class FileFinding:
    path: Path
    detail: str


@dataclass
class AuditReport:
    root: Path
    images: dict[str, dict[str, int]] = field(default_factory=dict)  # subset -> class folder -> usable images
    unusable: list[FileFinding] = field(default_factory=list)
    converted: list[FileFinding] = field(default_factory=list)
    large: list[FileFinding] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)  # files whose suffix is not an image's
    empty_classes: list[str] = field(default_factory=list)  # "train/NN_NN"
    val_only_classes: list[str] = field(default_factory=list)
    duplicates: list[list[Path]] = field(default_factory=list)  # groups of identical files within one subset
    cross_split: list[list[Path]] = field(default_factory=list)  # identical files in train/ and val/
    fatal: list[str] = field(default_factory=list)  # what index_dataset would refuse, in its words
    single_photo_classes: list[str] = field(default_factory=list)  # train classes with one distinct photo

    @property
    def usable(self) -> int:
        return sum(sum(classes.values()) for classes in self.images.values())

    @property
    def errors(self) -> list[str]:
        """What makes the dataset unusable for training."""
        out = list(self.fatal)
        if not self.usable:
            out.append("no usable images")
        out += [f"class folder {c} has no usable images" for c in self.empty_classes if c.startswith("train/")]
        out += [f"class {c} is in val/ but not in train/" for c in self.val_only_classes]
        return out

    def summary(self) -> dict[str, int]:
        return {"usable": self.usable, "unusable": len(self.unusable), "converted": len(self.converted),
                "large": len(self.large), "ignored": len(self.ignored), "empty_classes": len(self.empty_classes),
                "duplicate_groups": len(self.duplicates),
                "duplicate_extra_copies": sum(len(g) - 1 for g in self.duplicates),
                "train_val_duplicates": len(self.cross_split), "single_photo_classes": len(self.single_photo_classes)}

    def format(self, limit: int = 20) -> str:
        lines = [f"dataset {self.root}"]
        for subset, classes in self.images.items():
            counts = list(classes.values())
            lines.append(f"  {subset}/: {sum(counts)} usable images in {len(counts)} classes "
                         f"({min(counts, default=0)}-{max(counts, default=0)} per class)")

        def section(title: str, items: list, render) -> None:
            if not items:
                return
            lines.append(f"{title}: {len(items)}")
            lines.extend(f"  {render(item)}" for item in items[:limit])
            if len(items) > limit:
                lines.append(f"  ... and {len(items) - limit} more")

        rel = self._rel
        section("unusable files (skipped)", self.unusable, lambda f: f"{rel(f.path)}: {f.detail}")
        section("converted on load", self.converted, lambda f: f"{rel(f.path)}: {f.detail}")
        section("very large images (resized on load)", self.large, lambda f: f"{rel(f.path)}: {f.detail}")
        section("ignored (not an image file name)", self.ignored, rel)
        section("empty class folders", self.empty_classes, str)
        section("classes in val/ missing from train/", self.val_only_classes, str)
        section("classes with a single distinct photo in train/ (never validated: no validation sample, and "
                "k-fold CV needs k)", self.single_photo_classes, str)
        section(f"exact duplicates within a subset ({self.summary()['duplicate_extra_copies']} extra copies), "
                "groups", self.duplicates, self._group)
        section("exact duplicates across train/ and val/ (inflate validation accuracy)", self.cross_split,
                self._group)
        errors = self.errors
        lines.append("ERRORS: " + "; ".join(errors) if errors else "OK: usable for training")
        return "\n".join(lines)

    def _group(self, paths: list[Path]) -> str:
        shown = " = ".join(self._rel(p) for p in paths[:3])
        more = f" = ... ({len(paths)} copies)" if len(paths) > 3 else ""
        labels = {p.parent.name for p in paths}
        conflict = f"  CONFLICTING LABELS {sorted(labels)}" if len(labels) > 1 else ""
        return shown + more + conflict

    def _rel(self, path: Path) -> str:
        try:
            return shown(path.relative_to(self.root).as_posix())
        except ValueError:
            return shown(path)


def describe_colour(data: bytes, decoded: np.ndarray | None) -> str | None:
    """How the file's pixels differ from 8-bit RGB (each is converted on load), or None."""
    if data.startswith(b"\xff\xd8"):
        components = _jpeg_components(data)
        if components == 1:
            return "grayscale JPEG (converted to RGB)"
        if components == 4:
            return "CMYK JPEG (converted to RGB)"
        return None
    if decoded is None:
        return None
    if decoded.ndim == 2 or decoded.shape[2] == 1:
        return "grayscale (converted to RGB)"
    notes = []
    if decoded.shape[2] == 4:
        notes.append("has an alpha channel (composited on white)")
    if decoded.dtype != np.uint8:
        notes.append(f"{decoded.dtype.itemsize * 8}-bit samples (scaled to 8 bits)")
    return ", ".join(notes) or None


def _jpeg_components(data: bytes) -> int | None:
    """Colour components in a JPEG's frame header (1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK)."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return data[i + 9] if i + 9 < len(data) else None
        i += 2 + length
    return None


def audit_dataset(root: Path) -> AuditReport:
    root = Path(root)
    report = AuditReport(root)
    train_dir = root / "train"
    try:
        read_label_file(root)
    except ValueError as err:  # training refuses an unreadable label.txt: so does the check
        report.fatal.append(str(err))
    if not train_dir.is_dir():
        report.images["train"] = {}
        report.fatal.append(f"expected a 'train/' folder with one subfolder per class in {root}")
        return report
    train_classes = _class_folders(train_dir)
    if len(train_classes) < 2:
        report.fatal.append(f"{train_dir}: found {len(train_classes)} class folders, need at least 2")
    seen: dict[str, dict[str, list[Path]]] = {"train": defaultdict(list), "val": defaultdict(list)}
    for subset in ("train", "val"):
        subset_dir = root / subset
        if not subset_dir.is_dir():
            continue
        counts: dict[str, int] = {}
        for folder in _class_folders(subset_dir):
            if subset == "val" and folder not in train_classes:
                report.val_only_classes.append(f"val/{folder}")
            everything = sorted(p for p in (subset_dir / folder).iterdir() if p.is_file())
            images = set(_image_files(subset_dir / folder))
            report.ignored += [p for p in everything if p not in images and not p.name.startswith(".")]
            usable = 0
            for path in sorted(images):
                data = _check_file(path, report)
                if data is not None:
                    seen[subset][hashlib.sha1(data).hexdigest()].append(path)
                    usable += 1
            counts[folder] = usable
            if not usable:
                report.empty_classes.append(f"{subset}/{folder}")
        report.images[subset] = counts
    for subset in ("train", "val"):
        report.duplicates += [paths for paths in seen[subset].values() if len(paths) > 1]
    report.duplicates.sort(key=len, reverse=True)
    report.cross_split = [seen["train"][d] + seen["val"][d] for d in seen["val"] if d in seen["train"]]
    distinct = defaultdict(int)
    for paths in seen["train"].values():
        distinct[paths[0].parent.name] += 1
    report.single_photo_classes = [f"train/{c}" for c in train_classes if distinct[c] == 1]
    return report


def _check_file(path: Path, report: AuditReport) -> bytes | None:
    """Record what is wrong with one image file; its content when training can use it, else None."""
    data = path.read_bytes()
    reason = _quick_check(path, data)
    if reason:
        report.unusable.append(FileFinding(path, reason))
        return None
    try:
        read_rgb(path)  # exactly what training does with it
    except UnreadableImageError as err:
        report.unusable.append(FileFinding(path, str(err).split(": ", 1)[-1]))
        return None
    raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    colour = describe_colour(data, raw)
    if colour:
        report.converted.append(FileFinding(path, colour))
    if raw is not None and raw.shape[0] * raw.shape[1] > LARGE_PIXELS:
        report.large.append(FileFinding(path, f"{raw.shape[1]}x{raw.shape[0]} px"))
    return data

