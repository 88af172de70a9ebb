"""`python -m garbage_hpo.data suspects` (garbage_hpo/suspects.py): cross-validated probe predictions, confident
learning, a list and a gallery; on generated photos with planted label errors, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from tests.conftest import run_cli

COLOURS = {"00_00": (200, 30, 30), "00_01": (30, 200, 30), "01_00": (30, 30, 200), "02_00": (220, 220, 40)}
PER_CLASS = 60


def pattern(kind: int, rng: np.random.Generator) -> np.ndarray:
    """A 64 px mask: blank, stripes, checks or dots, at a random phase."""
    y, x = np.mgrid[:64, :64] + rng.integers(0, 8, 2)[:, None, None]
    return [np.zeros((64, 64), bool), (y // 4) % 2 == 0, ((y // 8) + (x // 8)) % 2 == 0,
            ((y % 16 - 8) ** 2 + (x % 16 - 8) ** 2) < 16][kind]


def colour_classes(root: Path) -> Path:
    """Four classes anyone can tell apart: each its own colour and pattern, with noise."""
    rng = np.random.default_rng(0)
    for kind, (folder, colour) in enumerate(COLOURS.items()):
        out = root / "train" / folder
        out.mkdir(parents=True)
        for i in range(PER_CLASS):
            img = np.array(colour[::-1], float) * np.where(pattern(kind, rng), 0.4, 1.0)[..., None]
            img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(out / f"{i:05d}.jpg"), img)
    return root


def test_planted_label_errors_are_listed_and_nothing_is_moved(runs, tmp_path):
    """5% of the photos (3 of each class) filed under the next class: found, with the class they show."""
    root = colour_classes(tmp_path / "colours")
    folders = list(COLOURS)
    planted = {}
    for k, folder in enumerate(folders):
        into = folders[(k + 1) % len(folders)]
        for i in range(3):
            moved = f"train/{into}/from_{folder}_{i}.jpg"
            (root / f"train/{folder}/{i:05d}.jpg").rename(root / moved)
            planted[moved] = folder
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    out = tmp_path / "suspects"
    proc = run_cli("garbage_hpo.data", "suspects", f"data.root={root}", "sweep.cv_folds=4", "data.image_size=64",
                   f"--out={out}", "--json")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    listed = {entry["path"]: entry for entry in report["suspects"]}
    found = planted.keys() & listed.keys()
    recall, precision = len(found) / len(planted), len(found) / max(1, len(listed))
    print(f"5% planted label errors through the probe: recall {recall:.2f}, precision {precision:.2f}")
    assert recall >= 0.75 and precision >= 0.75
    assert all(listed[path]["likely"] == planted[path] for path in found)  # the class each photo really shows
    assert report["photos"] == len(COLOURS) * PER_CLASS
    assert (out / "suspects.csv").is_file() and (out / "suspects_01.png").is_file()
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # the command only reads the photos


def test_a_single_split_has_no_out_of_fold_prediction_for_every_photo(runs, tiny_demo):
    proc = run_cli("garbage_hpo.data", "suspects", f"data.root={tiny_demo}", "sweep.cv_folds=1", check=False)
    assert proc.returncode == 2 and "sweep.cv_folds must be at least 2" in proc.stderr
