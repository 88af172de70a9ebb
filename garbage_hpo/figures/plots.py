"""Figures a person looks at: confusion matrices."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def confusion_png(matrix: np.ndarray, labels: list[str], path: Path, title: str) -> Path:
    n = len(labels)
    fig, ax = plt.subplots(figsize=(max(6, 0.42 * n + 2), max(5, 0.42 * n + 1.5)), dpi=100)
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ax.grid(False)  # Optuna's plots switch matplotlib to ggplot, whose grid lines cut through the counts
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if normalised[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def misclassified_grid(images: list[np.ndarray], captions: list[str], path: Path, columns: int = 6,
                       empty: str = "no misclassified photos", legend: str = "") -> Path:
    """A grid of RGB thumbnails with captions such as 'true -> predicted' (at most 36), each caption line wrapped
    to its cell and given room below its photo; `legend` says above the grid what the captions mean; `empty`
    when there are none."""
    images, captions = images[:36], [_fit(c) for c in captions[:36]]
    rows = max(1, -(-len(images) // columns))
    lines = max((c.count("\n") + 1 for c in captions), default=1)
    fig, axes = plt.subplots(rows, columns, figsize=(2.3 * columns, (2.4 + 0.2 * lines) * rows + 0.5), dpi=90,
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, caption in zip(axes.flat, images, captions, strict=False):
        ax.imshow(image)
        ax.set_title(caption, fontsize=7, pad=3)
    if not images:
        axes.flat[0].text(0.5, 0.5, empty, ha="center", va="center")
    if legend:
        fig.suptitle(legend, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.97 if legend else 1), h_pad=0.6)
    fig.savefig(path)
    plt.close(fig)
    return path


def _fit(caption: str, width: int = 28) -> str:
    """Each caption line wrapped at `width` characters: a long class name was cut at the cell's edge."""
    return "\n".join(textwrap.fill(line, width) for line in caption.split("\n"))
