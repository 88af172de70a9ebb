"""What a sweep's parent MLflow run gets at the end of each invocation: table, plots, best trial."""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from garbage_hpo.data import DatasetIndex
from garbage_hpo.pipeline import CONFUSION_JSON
from garbage_hpo.selection import BiasCorrected
from garbage_hpo.sweep.leaderboard import write_leaderboard  # noqa: E402
from garbage_hpo.sweep.parallel import parallel_coordinate_png  # noqa: E402
from garbage_hpo.sweep.winner_findings import (  # noqa: E402
    corrected_figure,
    log_winner_views,
    trial_predictions,
)
from garbage_hpo.tracking import MODEL, PER_CATEGORY, PER_CLASS, Tracker, best_name, mlflow_key, score_name  # noqa: E402

log = logging.getLogger(__name__)
SELECTION_COLUMNS = ("cv_", "fold_acc.", "refit_epochs", "val_n", "val_ci95")


@dataclass(frozen=True)
class WinnerFindings:
    """What the sweep's summary adds for a cross-validated winner."""

    corrected: BiasCorrected | None = None  # the winner's BBC-CV figure (best_cv_bbc)
    suspects: int | None = None  # photos whose given class the winner's out-of-fold predictions doubt
    leaderboard: str = ""  # Markdown: the top trials against the winner, and parameter importances


def _save(ax_or_axes, path: Path) -> Path | None:
    figure = ax_or_axes.figure if hasattr(ax_or_axes, "figure") else ax_or_axes.flat[0].figure
    figure.set_size_inches(10, 6)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def plots(study: optuna.Study, metric_names: list[str], out: Path) -> list[Path]:
    """PNG plots a person would rather look at than read; each skipped quietly where it cannot apply."""
    from optuna.visualization import matplotlib as vis

    multi = len(metric_names) > 1
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    target = (lambda t: t.values[0]) if multi else None
    jobs = {
        "optimization_history.png": lambda: vis.plot_optimization_history(
            study, target=target, target_name=metric_names[0]),
        "param_importances.png": lambda: vis.plot_param_importances(
            study, target=target, target_name=metric_names[0]),
        "intermediate_values.png": lambda: vis.plot_intermediate_values(study),
    }
    if multi:
        jobs["pareto_front.png"] = lambda: vis.plot_pareto_front(study, target_names=metric_names)
    written = []
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # "only completed trials with missing parameters" etc.
    try:
        for name, make in jobs.items():
            if len(complete) < 2 and name != "intermediate_values.png":
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    written.append(_save(make(), out / name))
            except (ValueError, RuntimeError, IndexError, ZeroDivisionError) as err:
                log.info("plot %s skipped: %s", name, err)
                plt.close("all")
    finally:
        optuna.logging.set_verbosity(verbosity)
    written.append(parallel_coordinate_png(study, metric_names[0], out / "parallel_coordinate.png"))
    return [p for p in written if p is not None]


def finish_parent(parent: Tracker, study: optuna.Study, metric_names: list[str], out: Path,
                  index: DatasetIndex) -> WinnerFindings:
    """trials.csv, the plots and the winner's figures on the parent run; for a cross-validated winner also its
    pictures, suspect labels and bias-corrected figure (returned, for the summary)."""
    out.mkdir(parents=True, exist_ok=True)
    table = study.trials_dataframe(attrs=("number", "values", "params", "state", "duration", "user_attrs",
                                          "datetime_start", "datetime_complete"))
    # how each trial was measured, under the names its MLflow run uses (cv_mean, cv_std, fold_acc.0, ...)
    table = table.rename(columns={c: c.removeprefix("user_attrs_") for c in table.columns
                                  if c.removeprefix("user_attrs_").startswith(SELECTION_COLUMNS)})
    scores = {old: new for old, new in score_columns(study, metric_names).items() if old in table.columns}
    # Optuna's value column, under the score's name, in front; the trial's copy among its attributes goes
    table = table.drop(columns=[c for c in scores.values() if c in table.columns]).rename(columns=scores)
    table.to_csv(out / "trials.csv", index=False)
    parent.log_artifact(out / "trials.csv")
    for path in plots(study, metric_names, out):
        parent.log_artifact(path, "plots")
    counts = {state.name.lower(): sum(t.state == state for t in study.trials) for state in TrialState}
    parent.log_metrics({f"trials_{k}": v for k, v in counts.items()}, flush=True)
    best = best_trials(study)
    if best and len(metric_names) > 1:
        parent.set_tags({"hpo.pareto_trials": ",".join(str(t.number) for t in best)})
    if not best or len(metric_names) > 1:
        return WinnerFindings()
    trial = best[0]
    best_run_id = trial.user_attrs.get("mlflow_run_id")
    found = run_in_store(parent.client, best_run_id)
    predictions, started = {}, time.perf_counter()
    if found is not None and cross_validated(trial):  # what the winner's pictures and BBC-CV are made from
        predictions = trial_predictions(parent.client, study.trials, out / "oof")
    # BBC-CV replays a selection by accuracy: for cv_mean only
    corrected = corrected_figure(predictions, trial.number) if score_name(metric_names[0], True) == "cv_mean" else None
    log_winner(parent, trial, found, metric_names[0], corrected.metrics("best_cv_bbc") if corrected else {})
    board = log_leaderboard(parent, study, score_name(metric_names[0], cross_validated(trial)), out / "leaderboard")
    if found is not None and not cross_validated(trial):
        best_confusion_png(parent, best_run_id, trial.number, out)
    suspects = log_winner_views(parent, predictions, trial.number, index, out)
    if predictions:
        parent.log_metrics({"work.winner_findings_seconds": time.perf_counter() - started}, flush=True)
    return WinnerFindings(corrected, suspects, board)


def log_leaderboard(parent: Tracker, study: optuna.Study, score: str, out: Path) -> str:
    """The top trials against the winner (leaderboard.html/.json), their curves (plots/top_trials_curves.png) and
    the importances as metrics `importance.<param>`; the Markdown the parent's description shows first."""
    board, files, values = write_leaderboard(study, score, out)
    for path in files:
        parent.log_artifact(path, "plots" if path.suffix == ".png" else None)
    if values:
        parent.log_metrics({mlflow_key(f"importance.{name}"): share for name, share in values.items()}, flush=True)
    return board


def cross_validated(trial: optuna.trial.FrozenTrial) -> bool:
    return int(trial.user_attrs.get("cv_folds", 1)) > 1


def score_columns(study: optuna.Study, metric_names: list[str]) -> dict[str, str]:
    """trials.csv's value columns under the scores' one names (cv_mean, ...), not Optuna's values_0."""
    cv = any(cross_validated(t) for t in study.trials)
    if len(metric_names) == 1:
        return {"value": score_name(metric_names[0], cv), "values_0": score_name(metric_names[0], cv)}
    return {f"values_{i}": score_name(m, cv) for i, m in enumerate(metric_names)}


def log_winner(parent: Tracker, trial: optuna.trial.FrozenTrial, found, metric: str,
               corrected: dict[str, float]) -> None:
    """The parent's headline: the winner's score (best_cv_mean, ...), interval and measured figures as metrics,
    and its resolved configuration as the parent's plain params (the base config is the artifact
    base_config.yaml)."""
    own: dict[str, float] = {}
    score = score_name(metric, cross_validated(trial))
    params = {mlflow_key(f"sampled.{k}"): v for k, v in trial.params.items()}  # the keys the trial run has
    if found is not None:  # the winner's own figures and configuration, for side-by-side comparison
        own = {k: v for k, v in found.data.metrics.items()
               if (k.startswith((MODEL, PER_CLASS, PER_CATEGORY)) or k == "best_epoch") and k != score}
        # sweep.* stays as this invocation logged it (a trial of an earlier invocation may differ, e.g. n_trials)
        params |= {k: v for k, v in found.data.params.items() if not k.startswith("sweep.")}
    # the score first (the page lists metrics in the order first logged), its BBC-CV correction beside it
    headline = {best_name(score): trial.values[0]} | corrected | best_selection(trial)
    parent.log_metrics(headline | own | {"best_trial_number": trial.number}, flush=True)
    parent.log_params(params)
    parent.set_tags({"hpo.best_trial": trial.number,
                     "hpo.best_run_id": trial.user_attrs.get("mlflow_run_id", "")})


def run_in_store(client, run_id: str | None):
    """The MLflow run, or None when this tracking store does not hold it (the study's earlier trials were
    recorded with another tracking.uri)."""
    if not run_id:
        return None
    try:
        return client.get_run(run_id)
    except Exception:  # MlflowException (not found) or an unreachable store: the parent still closes cleanly
        return None


def best_selection(trial: optuna.trial.FrozenTrial) -> dict[str, float]:
    """The winner's CV figures (`best_cv_mean`, `best_cv_std`, its interval, `best_refit_epochs`)."""
    attrs = trial.user_attrs
    names = {"cv_mean": "best_cv_mean", "cv_ci95_low": "best_cv_ci95_low", "cv_ci95_high": "best_cv_ci95_high",
             "cv_std": "best_cv_std", "cv_folds": "best_cv_folds", "refit_epochs": "best_refit_epochs",
             "val_ci95_low": "best_val_ci95_low", "val_ci95_high": "best_val_ci95_high", "val_n": "best_val_n"}
    return {new: float(attrs[old]) for old, new in names.items() if isinstance(attrs.get(old), int | float)}


def best_confusion_png(parent: Tracker, run_id: str, number: int, out: Path) -> None:
    """Render the best trial's confusion matrix (trials record it as numbers) as the parent's plot."""
    from garbage_hpo.figures import confusion_png

    try:
        local = parent.client.download_artifacts(run_id, CONFUSION_JSON, str(out))
    except Exception as err:  # an older trial without it, or an unreachable artifact store: no plot, no failure
        log.info("best trial's confusion matrix not available: %s", err)
        return
    data = json.loads(Path(local).read_text(encoding="utf-8"))
    path = confusion_png(np.array(data["matrix"]), data["classes"], out / "best_confusion_matrix.png",
                         f"best trial #{number}: validation acc {data['val_acc']:.3f}")
    parent.log_artifact(path, "plots")


def best_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    if not any(t.state == TrialState.COMPLETE for t in study.trials):
        return []
    return [study.best_trial] if len(study.directions) == 1 else list(study.best_trials)
