"""Per-class accuracy in one figure: a bar per class, worst first, with its 95% interval and `correct/photos`."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def class_accuracy_png(rows: list[dict], names: list[str], path: Path, title: str) -> Path:
    """`rows`: metrics.class_table's, in class order; `names`: the classes' figure names (figure_names)."""
    order = sorted((i for i, r in enumerate(rows) if r["photos"]), key=lambda i: (rows[i]["accuracy"], names[i]))
    fig, ax = plt.subplots(figsize=(9, max(4.0, 0.34 * len(order) + 1.5)), dpi=100)
    y = list(range(len(order)))
    accuracy = [rows[i]["accuracy"] for i in order]
    low = [rows[i]["accuracy"] - rows[i]["ci95_low"] for i in order]
    high = [rows[i]["ci95_high"] - rows[i]["accuracy"] for i in order]
    ax.barh(y, accuracy, xerr=[low, high], color="#4c78a8", ecolor="#333333", capsize=2)
    for row, i in zip(y, order, strict=True):
        r = rows[i]
        confused = f"  (-> {r['most_confused_with']} x{r['confused_photos']})" if r["confused_photos"] else ""
        ax.text(1.02, row, f"{r['correct']}/{r['photos']}{confused}", va="center", fontsize=8,
                transform=ax.get_yaxis_transform())
    ax.set_yticks(y, [names[i] for i in order], fontsize=8)
    ax.set_xlim(0, 1)
    ax.invert_yaxis()  # the worst class on top
    ax.grid(False, axis="y")
    ax.set_xlabel("accuracy (bar: 95% Wilson interval; right: correct/photos, most often mistaken for)")
    ax.set_title(title)
    fig.tight_layout()
    fig.subplots_adjust(right=0.68)
    fig.savefig(path)
    plt.close(fig)
    return path
