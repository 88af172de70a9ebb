"""What a reproduction shipped, said once and used everywhere a person meets it (the model card's first field, the
run's name and description, the registry version's description and tags): a single trial or an ensemble of heads
(members and weights), and the figure to quote with its interval and photo count."""

from __future__ import annotations

from typing import Protocol

from garbage_hpo.metrics import Interval


class Reproduction(Protocol):
    """What is read of report.Reproduction (a protocol: report.py imports this module)."""

    study_name: str
    trial_number: int
    cv_folds: int
    reproduced_val_acc: float
    reproduced_ci95: list[float]
    reproduced_n: int
    ensemble: dict | None
    bias_corrected: dict | None


def _quote(figure: str, value: float, ci95: list[float], n: int, why: str) -> dict:
    return {"figure": figure, "value": value, "ci95": [float(c) for c in ci95], "n": int(n), "why": why}


def quoted_figure(report: Reproduction) -> dict:
    """The honest figure for what shipped: the nested CV of ensemble selection, the top-K ensemble's CV, the best
    trial's BBC-CV, or (a trial named by hand, or no predictions at hand) its reproduced value."""
    e, n = report.ensemble, report.reproduced_n
    if e and e.get("shipped") and e.get("method") == "caruana":
        return _quote("nested_cv_mean", e["nested_cv_mean"], e["nested_ci95"], e.get("n", n),
                      f"ensemble selection made on {e['cv_folds'] - 1} folds and scored on the one left out, per fold")
    if e and e.get("shipped"):
        return _quote("ensemble_cv_mean", e["cv_mean"], e["ci95"], e.get("n", n),
                      "the top trials' ensemble on the folds that ranked them (optimistic by the choice of members)")
    if report.bias_corrected:
        b = report.bias_corrected
        return _quote("cv_bbc", b["cv_bbc"], b["cv_bbc_ci95"], n, f"bias-corrected for picking the best of "
                      f"{b['cv_bbc_trials']} trials on the same folds (BBC-CV)")
    figure = "cv_mean" if report.cv_folds > 1 else "val_acc"
    return _quote(figure, report.reproduced_val_acc, report.reproduced_ci95, n,
                  "this trial re-trained (named by hand, or its study's predictions were not at hand)")


def shipped_network(report: Reproduction) -> dict:
    """{kind, summary, study, best_trial, members, weights, quote}: what the model card opens with."""
    e = report.ensemble
    if e and e.get("shipped"):
        members = [int(m) for m in e["members"]]
        weights = [float(w) for w in e.get("weights") or [1] * len(members)]
        kind = "ensemble"
        what = (f"an ensemble of {len(members)} heads on one backbone: trials "
                + ", ".join(f"{m} (weight {w:g})" for m, w in zip(members, weights, strict=True)))
    else:
        members, weights, kind = [report.trial_number], [1.0], "single trial"
        what = f"a single trial: trial {report.trial_number}"
    quote = quoted_figure(report)
    summary = (f"{what} of study {report.study_name}. Quote {quote['figure']} {quote['value']:.4f} (95% CI "
               f"{Interval(*quote['ci95'])}, n={quote['n']:,}): {quote['why']}.")
    return {"kind": kind, "summary": summary, "study": report.study_name, "best_trial": report.trial_number,
            "members": members, "weights": weights, "quote": quote}


def registry_tags(network: dict) -> dict[str, str]:
    """The registry version's tags that name the shipped network (MLflow tags are strings)."""
    quote = network["quote"]
    return {"shipped": network["kind"], "members": ",".join(str(m) for m in network["members"]),
            "member_weights": ",".join(f"{w:g}" for w in network["weights"]),
            "quote": f"{quote['figure']} {quote['value']:.4f} (95% CI {Interval(*quote['ci95'])}, n={quote['n']})",
            "best_trial": str(network["best_trial"])}


def run_name(network: dict) -> str:
    if network["kind"] == "ensemble":
        return f"reproduce-{network['study']}-ensemble-of-{len(network['members'])}"
    return f"reproduce-{network['study']}-trial-{network['best_trial']}"
