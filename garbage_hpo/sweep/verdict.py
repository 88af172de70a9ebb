"""What won, by how much, how sure: the peer probe on the parent run and the sweep's closing summary."""

from __future__ import annotations

import logging

import optuna

from garbage_hpo.config import RunSettings
from garbage_hpo.metrics import (
    FoldSummary,
    describe_folds,
    describe_split,
    format_params,
    newcombe_difference,
    paired_difference,
    summarize_folds,
)
from garbage_hpo.selection import ProbeResult, probe_for
from garbage_hpo.sweep.leaderboard import recorded_folds
from garbage_hpo.sweep.report import WinnerFindings, best_trials
from garbage_hpo.sweep.trial_config import PreparedCache
from garbage_hpo.tracking import Tracker, score_name

log = logging.getLogger("garbage_hpo.sweep")


def log_probe(base: RunSettings, prepared_cache: PreparedCache, parent: Tracker) -> ProbeResult:
    """The LogisticRegression probe on the base config's features and the sweep's folds (cached on disk);
    `probe_cv_acc` etc. on the parent run (the sweep skips it with `sweep.probe=false`)."""
    probe = probe_for(base, prepared_cache.get(base))
    parent.log_metrics({"probe_cv_acc": probe.cv_acc, "probe_cv_bbc": probe.bbc_acc,
                        "probe_cv_bbc_ci95_low": probe.bbc_ci95[0], "probe_cv_bbc_ci95_high": probe.bbc_ci95[1],
                        "probe_cv_std": probe.cv_std, "probe_C": probe.C, "probe_folds": probe.folds,
                        "probe_n": probe.n}, flush=True)
    print(f"peer {probe.describe()}{' (cached)' if probe.from_cache else f' ({probe.seconds:.1f}s)'}", flush=True)
    return probe


def fold_accuracies(trial: optuna.trial.FrozenTrial) -> list[float]:
    return recorded_folds(trial.user_attrs)


def describe_trial_value(trial: optuna.trial.FrozenTrial) -> str:
    return describe_value(trial.user_attrs, float(trial.values[0]))


def describe_value(attrs: dict, value: float) -> str:
    """A trial's value with how it was measured and its interval, from the trial's user attributes."""
    folds = recorded_folds(attrs)
    if len(folds) > 1:
        text = describe_folds(summarize_folds(folds), int(attrs.get("cv_n", 0)))
        return f"{len(folds)}-fold CV mean {text}, refit_epochs {int(attrs.get('refit_epochs', 0))}"
    if "val_n" in attrs:
        return f"one split {describe_split(value, int(attrs['val_n']))}"
    return f"{value:.4f}"


def versus_probe(trial: optuna.trial.FrozenTrial, probe: ProbeResult) -> str:
    folds = fold_accuracies(trial)
    value = float(trial.values[0])
    if len(folds) > 1 and len(folds) == len(probe.fold_acc):
        diff: FoldSummary = paired_difference(folds, probe.fold_acc)
        low, high, how = diff.ci95.low, diff.ci95.high, f"paired over the same {diff.k} folds"
    else:
        n = int(trial.user_attrs.get("val_n", probe.n))
        interval = newcombe_difference(value, n, probe.cv_acc, probe.n)
        low, high, how = interval.low, interval.high, "one split, Newcombe interval"
    verdict = "beats the probe" if low > 0 else "trails the probe" if high < 0 else \
        "cannot be told apart from the probe (the interval holds 0)"
    return (f"best - probe: {100 * (value - probe.cv_acc):+.2f} pp (95% CI [{100 * low:+.2f}, {100 * high:+.2f}] pp, "
            f"{how}): the best trial {verdict}")


def summary_text(name: str, study: optuna.Study, scores: list[str], probe: ProbeResult | None,
                 elapsed: float, findings: WinnerFindings | None = None) -> str:
    """What won and how sure, naming each value as the runs record it (`scores`: metric_names.score_name)."""
    best = best_trials(study)
    if not best:
        return f"sweep {name}: no completed trial ({elapsed:.0f}s)"
    if len(scores) > 1:
        lines = [f"sweep {name}: Pareto front of {len(best)} trials ({elapsed:.0f}s)"]
        lines += [f"  #{t.number}: " + ", ".join(f"{m}={v:.4g}" for m, v in zip(scores, t.values, strict=True))
                  + f"  {format_params(t.params)}" for t in best]
        return "\n".join(lines)
    t = best[0]
    lines = [f"sweep {name}: best {scores[0]} in trial #{t.number} (MLflow run {t.user_attrs.get('mlflow_run_id')}) "
             f"{format_params(t.params)} ({elapsed:.0f}s)",
             f"  {scores[0]}: {describe_trial_value(t)}"]
    lines += findings_lines(findings or WinnerFindings())
    if probe is not None and scores[0] in (score_name("val_acc", True), score_name("val_acc", False)):
        lines += [f"  peer {probe.describe()}", f"  {versus_probe(t, probe)}"]
    return "\n".join(lines)


def findings_lines(findings: WinnerFindings) -> list[str]:
    """The winner's bias-corrected figure (the one to quote) and its suspect labels, where the sweep has them."""
    lines = []
    if findings.corrected is not None:
        lines.append(f"  best_cv_bbc: {findings.corrected.describe()}: quote this one for the chosen configuration; "
                     f"the cv_mean above is the best of {findings.corrected.configurations} on the same folds, "
                     "optimistic")
    if findings.suspects is not None:
        lines.append(f"  suspect labels: {findings.suspects} photos whose class the winner's out-of-fold predictions "
                     "doubt (suspects/suspects.csv and suspects/suspects_01.png on this run)")
    return lines


def parent_note(question: str, summary: str, best_run_link: str | None, board: str = "") -> str:
    """The parent run's description (`mlflow.note.content`, shown first on its page in the MLflow UI): the
    question, what won with its value and interval, the probe verdict, the leaderboard against the winner with
    the parameters' importances, and a link to the winning trial. Plain paragraphs and tables, which wrap to
    the page: a code block kept its longest line and made the page wider than the screen."""
    first, *rest = summary.splitlines()
    note = f"**{question}**\n\n{first}\n\n" + "".join(f"- {line.strip()}\n" for line in rest if line.strip())
    if board:
        note += f"\n**Top trials against the winner** (paired over the same folds):\n\n{board}\n"
    return note + (f"\nWinning trial: {best_run_link}\n" if best_run_link else "")
