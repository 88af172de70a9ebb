"""Pictures on runs: the one matplotlib setup and the plots (plots), photo contact sheets (gallery),
per-class accuracy (class_accuracy).

The names below are this package's public face, each loaded on first use (runtime/lazy.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from garbage_hpo.runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from garbage_hpo.figures.class_accuracy import class_accuracy_png
    from garbage_hpo.figures.gallery import (
        ERRORS_LEGEND,
        PAGE,
        SUSPECTS_LEGEND,
        contact_sheets,
        error_captions,
        figure_names,
        most_confident_mistakes,
    )
    from garbage_hpo.figures.plots import confusion_png

_WHERE = {
    "ERRORS_LEGEND": "gallery",
    "PAGE": "gallery",
    "SUSPECTS_LEGEND": "gallery",
    "class_accuracy_png": "class_accuracy",
    "confusion_png": "plots",
    "contact_sheets": "gallery",
    "error_captions": "gallery",
    "figure_names": "gallery",
    "most_confident_mistakes": "gallery",
}
__all__ = [
    "ERRORS_LEGEND",
    "PAGE",
    "SUSPECTS_LEGEND",
    "class_accuracy_png",
    "confusion_png",
    "contact_sheets",
    "error_captions",
    "figure_names",
    "most_confident_mistakes",
]
__getattr__ = lazy_exports(__name__, _WHERE)
