"""Photos a person looks at: contact sheets of thumbnails with captions (mistakes, suspect labels), and class
names for figures in English and Chinese.

Chinese needs a font that has its glyphs; matplotlib ships none. The `mplfonts` package carries Noto Sans CJK SC
(SIL Open Font License), which draws both scripts: where it is installed, figures name each class "English 中文";
elsewhere in English only, rather than as empty boxes.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from garbage_hpo.data import ClassInfo, read_rgb
from garbage_hpo.figures.plots import misclassified_grid
from garbage_hpo.tracking import class_labels

log = logging.getLogger(__name__)
PAGE = 36  # thumbnails per contact sheet
THUMBNAIL = 128  # pixels, the longer side
CJK_FONT_FILE = "fonts/NotoSansCJKsc-Regular.otf"


@cache
def chinese_font() -> str | None:
    """Register the CJK font with matplotlib as a fallback after its default; its family name, or None."""
    spec = importlib.util.find_spec("mplfonts")  # locates the package without running it (it edits rcParams)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / CJK_FONT_FILE
    if not path.is_file():
        return None
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(path))
    name = font_manager.FontProperties(fname=str(path)).get_name()
    plt.rcParams["font.family"] = ["DejaVu Sans", name]  # per-glyph fallback: Latin from DejaVu, Chinese from Noto
    return name


def figure_names(classes: list[ClassInfo]) -> list[str]:
    """Class names for figures, in class order: "English 中文" where a font draws Chinese, else English."""
    english = class_labels(classes)
    bilingual = chinese_font() is not None
    return [f"{english[c.folder]} {c.chinese}" if bilingual and c.chinese not in ("", c.english)
            else english[c.folder] for c in classes]


def thumbnail(photo: Path | np.ndarray) -> np.ndarray:
    """The photo (a file, read as the project reads it: non-ASCII paths, CMYK and grey JPEGs; or RGB pixels),
    longer side THUMBNAIL pixels."""
    rgb = read_rgb(photo) if isinstance(photo, Path) else photo
    scale = THUMBNAIL / max(rgb.shape[:2])
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


ERRORS_LEGEND = "true class -> predicted class; p = the predicted class's probability (most confident mistakes first)"
SUSPECTS_LEGEND = ("given = the photo's folder; likely = the class the predictions favour; quality = the probability "
                   "they give the given class (low: doubtful)")


def contact_sheets(photos: Sequence[Path | np.ndarray], captions: list[str], out: Path, stem: str,
                   empty: str, legend: str = "") -> list[Path]:
    """`out/<stem>_01.png`, ...: the photos in the given order, PAGE to a sheet (one sheet saying `empty` when
    there are none), `legend` above each saying what the captions mean."""
    chinese_font()
    sheets = []
    for page, start in enumerate(range(0, max(len(photos), 1), PAGE), start=1):
        images = [thumbnail(p) for p in photos[start : start + PAGE]]
        sheets.append(misclassified_grid(images, captions[start : start + PAGE], out / f"{stem}_{page:02d}.png",
                                         empty=empty, legend=legend))
    return sheets


def most_confident_mistakes(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Rows of the misclassified photos, the most confident mistakes (highest predicted probability) first."""
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    return wrong[np.argsort(-probs[wrong, predicted[wrong]], kind="stable")]


def error_captions(rows: np.ndarray, probs: np.ndarray, labels: np.ndarray, names: list[str]) -> list[str]:
    """'true ->' / 'predicted' / 'p=0.93' under each mistake's thumbnail."""
    predicted = probs.argmax(axis=1)
    return [f"{names[labels[i]]} ->\n{names[predicted[i]]}\np={probs[i, predicted[i]]:.2f}" for i in rows]
