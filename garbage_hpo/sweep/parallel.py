"""A parallel-coordinate plot of EVERY completed trial, conditional parameters included.

Optuna's own plot keeps only the trials that have every parameter, so in a space with conditions (dropout
only when `use_dropout`) it silently drops the others, the best trial among them. Here each parameter is an
axis; a trial whose parameter was inactive is drawn through an "inactive" level below the axis.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

INACTIVE = -0.15  # axis position of "this parameter did not apply to the trial"


def axis_positions(values: list) -> tuple[dict, list[tuple[float, str]]]:
    """value -> position in [0, 1] and the tick labels, for one parameter's values (None = inactive)."""
    present = [v for v in values if v is not None]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
    if numeric and len(set(present)) > 2:
        low, high = min(present), max(present)
        log = low > 0 and high / low > 20
        scale = (lambda v: math.log10(v)) if log else (lambda v: float(v))
        span = (scale(high) - scale(low)) or 1.0
        mapping = {v: (scale(v) - scale(low)) / span for v in present}
        ticks = [(0.0, f"{low:.3g}"), (1.0, f"{high:.3g}")]
    else:
        levels = sorted(set(present), key=str)
        mapping = {v: (i / (len(levels) - 1) if len(levels) > 1 else 0.5) for i, v in enumerate(levels)}
        ticks = [(p, str(v)) for v, p in mapping.items()]
    if len(present) < len(values):
        ticks.append((INACTIVE, "inactive"))
    return mapping, ticks


def parallel_rows(study: optuna.Study, target_index: int = 0) -> tuple[list[str], list[tuple[float, list]]]:
    """(parameter names in first-seen order, [(objective value, [value or None per name]) per complete trial])."""
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]
    names: list[str] = []
    for t in trials:
        names += [n for n in t.params if n not in names]
    return names, [(t.values[target_index], [t.params.get(n) for n in names]) for t in trials]


def parallel_coordinate_png(study: optuna.Study, target_name: str, path: Path, target_index: int = 0
                            ) -> Path | None:
    names, rows = parallel_rows(study, target_index)
    if len(rows) < 2 or not names:
        return None
    axes = [target_name] + names
    columns = [[r[0] for r in rows]] + [[r[1][i] for r in rows] for i in range(len(names))]
    mapped = [axis_positions(col) for col in columns]
    values = [r[0] for r in rows]
    low, high = min(values), max(values)
    figure, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(axes)), 4.5))
    cmap = plt.get_cmap("viridis")
    for j in sorted(range(len(rows)), key=lambda j: values[j]):  # the best drawn last, on top
        ys = [mapped[a][0].get(columns[a][j], INACTIVE) for a in range(len(axes))]
        ax.plot(range(len(axes)), ys, color=cmap((values[j] - low) / ((high - low) or 1.0)), alpha=0.8, lw=1.2)
    for a, (_, ticks) in enumerate(mapped):
        ax.axvline(a, color="0.6", lw=0.8)
        for y, label in ticks:
            ax.text(a + 0.03, y, label, fontsize=7, va="center")
    ax.set_xticks(range(len(axes)), axes, rotation=20, ha="right", fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(INACTIVE - 0.1, 1.08)
    ax.set_title(f"{len(rows)} completed trials (colour: {target_name}; 'inactive': the parameter did not apply)",
                 fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
