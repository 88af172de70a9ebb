"""The parent run's comparison past "who won": the top trials with their intervals, each one's paired difference to
the winner over the same folds (with its interval) and what differs in its parameters; parameter importances as
numbers (Optuna's PED-ANOVA); the top trials' learning curves in one figure. Shown first on the parent's page (its
description) and as `leaderboard.html`, `leaderboard.json` and `plots/top_trials_curves.png`."""

from __future__ import annotations

import html
import json
import logging
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from garbage_hpo.metrics import Interval, paired_difference
from garbage_hpo.sweep.space import config_key

log = logging.getLogger(__name__)
TOP = 10
CURVES = 5


@dataclass
class Row:
    rank: int
    trial: int
    value: float
    ci95: list[float] | None  # the trial's own interval (over folds, or Wilson on one split)
    n: int | None  # photos behind the value
    diff_pp: float | None = None  # paired over the same folds, trial minus winner; None for the winner itself
    diff_ci95_pp: list[float] | None = None
    differs: dict = field(default_factory=dict)  # parameters whose value is not the winner's
    run_id: str = ""


def recorded_folds(attrs: dict) -> list[float]:
    """The fold accuracies a trial keeps as user attributes (`fold_acc.<i>`)."""
    k = int(attrs.get("cv_folds", 1))
    return [float(attrs[f"fold_acc.{i}"]) for i in range(k) if f"fold_acc.{i}" in attrs]


def _interval(attrs: dict) -> list[float] | None:
    for low, high in (("cv_ci95_low", "cv_ci95_high"), ("val_ci95_low", "val_ci95_high")):
        if isinstance(attrs.get(low), int | float) and isinstance(attrs.get(high), int | float):
            return [float(attrs[low]), float(attrs[high])]
    return None


def _differences(trial: FrozenTrial, winner: FrozenTrial) -> dict:
    keys = sorted(set(trial.params) | set(winner.params))
    return {k: trial.params.get(k, "(not sampled)") for k in keys if trial.params.get(k) != winner.params.get(k)}


def leaderboard(study: optuna.Study, top: int = TOP) -> list[Row]:
    """The `top` completed trials, best first (single objective), each against the winner."""
    done = [t for t in study.trials if t.state == TrialState.COMPLETE and t.values]
    if not done or len(study.directions) > 1:
        return []
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    ranked = sorted(done, key=lambda t: (-t.values[0] if maximize else t.values[0], t.number))[:top]
    winner, winner_folds = ranked[0], recorded_folds(ranked[0].user_attrs)
    rows = []
    for rank, trial in enumerate(ranked, 1):
        attrs = trial.user_attrs
        n = attrs.get("cv_n", attrs.get("val_n"))
        row = Row(rank, trial.number, float(trial.values[0]), _interval(attrs), int(n) if n is not None else None,
                  differs=_differences(trial, winner), run_id=str(attrs.get("mlflow_run_id", "")))
        folds = recorded_folds(attrs)
        if trial is not winner and len(folds) > 1 and len(folds) == len(winner_folds):
            diff = paired_difference(folds, winner_folds)
            row.diff_pp, row.diff_ci95_pp = 100 * diff.mean, [100 * diff.ci95.low, 100 * diff.ci95.high]
        rows.append(row)
    return rows


def importances(study: optuna.Study) -> dict[str, float]:
    """PED-ANOVA importances of the sampled parameters (normalized to sum to 1), {} where they cannot be had
    (fewer than 3 completed trials, one parameter, several objectives)."""
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    if len(done) < 3 or len(study.directions) > 1:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (ValueError, RuntimeError, ZeroDivisionError) as err:
        log.info("parameter importances skipped: %s", err)
        return {}


def knob_importances(values: dict[str, float]) -> list[tuple[str, float, list[str]]]:
    """(knob, summed importance, the sampled names behind it), most important first."""
    grouped: dict[str, list[str]] = {}
    for name in values:
        grouped.setdefault(config_key(name), []).append(name)  # `@raw`, `@standardized`: one knob
    rows = [(k, sum(values[n] for n in names), names) for k, names in grouped.items()]
    return sorted(rows, key=lambda r: -r[1])


def _pp(value: float | None, ci: list[float] | None) -> str:
    if value is None or ci is None:
        return "winner" if value is None else f"{value:+.2f} pp"
    return f"{value:+.2f} pp [{ci[0]:+.2f}, {ci[1]:+.2f}]"


def _ci(ci: list[float] | None) -> str:
    return str(Interval(*ci)) if ci else ""


def _params(differs: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in differs.items()) or "-"


def markdown(rows: list[Row], score: str, values: dict[str, float]) -> str:
    """The leaderboard and importances as Markdown tables (the parent's description renders them)."""
    lines = [f"| # | trial | {score} | 95% CI | vs winner, paired over folds (95% CI) | parameters that differ |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r.rank} | {r.trial} | {r.value:.4f} | {_ci(r.ci95)} | {_pp(r.diff_pp, r.diff_ci95_pp)} | "
              f"{_params(r.differs).replace('|', '/')} |" for r in rows]
    if values:
        lines += ["", "| parameter (PED-ANOVA importance) | share | sampled as |", "|---|---|---|"]
        lines += [f"| {k} | {share:.2f} | {', '.join(names)}{' (one knob)' if len(names) > 1 else ''} |"
                  for k, share, names in knob_importances(values)]
    return "\n".join(lines)


def html_page(rows: list[Row], score: str, values: dict[str, float], title: str) -> str:
    """A page the artifact viewer renders: the same two tables."""
    def table(head: list[str], body: list[list[str]]) -> str:
        cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in body)
        return f"<table><thead><tr>{cells}</tr></thead><tbody>{trs}</tbody></table>"

    board = table(["#", "trial", score, "95% CI", "vs winner, paired over folds (95% CI)", "parameters that differ"],
                  [[str(r.rank), str(r.trial), f"{r.value:.4f}", _ci(r.ci95), _pp(r.diff_pp, r.diff_ci95_pp),
                    _params(r.differs)] for r in rows])
    importance = table(["parameter", "PED-ANOVA importance", "sampled as"],
                       [[k, f"{s:.3f}", ", ".join(n)] for k, s, n in knob_importances(values)]) if values else ""
    style = ("body{font:14px sans-serif;margin:12px}table{border-collapse:collapse;margin:8px 0 20px}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f3f3f3}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body><h3>{html.escape(title)}</h3>{board}{importance}</body></html>")


def curves_png(study: optuna.Study, rows: list[Row], path: Path, count: int = CURVES) -> Path | None:
    """The top trials' reported curves (fold-mean validation accuracy per epoch, what pruning reads) in one
    figure."""
    import matplotlib.pyplot as plt

    trials = {t.number: t for t in study.trials}
    shown = [r for r in rows[:count] if trials[r.trial].intermediate_values]
    if not shown:
        return None
    figure, ax = plt.subplots(figsize=(9, 5))
    for r in shown:
        steps = sorted(trials[r.trial].intermediate_values.items())
        ax.plot([s for s, _ in steps], [v for _, v in steps], marker=".", label=f"#{r.rank} trial {r.trial} "
                f"({r.value:.4f})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("reported value (fold-mean validation accuracy)")
    ax.set_title(f"top {len(shown)} trials' learning curves")
    ax.grid(alpha=0.3)
    ax.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def write_leaderboard(study: optuna.Study, score: str, out: Path) -> tuple[str, list[Path], dict[str, float]]:
    """(Markdown for the description, files to log, importances by sampled name); ("", [], {}) without a
    single-objective winner."""
    rows = leaderboard(study)
    if not rows:
        return "", [], {}
    values = importances(study)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "leaderboard.json", out / "leaderboard.html"]
    files[0].write_text(json.dumps({"score": score, "rows": [asdict(r) for r in rows], "importances": values,
                                    "importance_method": "PED-ANOVA (optuna.importance)"}, indent=2))
    files[1].write_text(html_page(rows, score, values, f"study {study.study_name}: top {len(rows)} trials"),
                        encoding="utf-8")
    curves = curves_png(study, rows, out / "top_trials_curves.png")
    return markdown(rows, score, values), files + ([curves] if curves else []), values
