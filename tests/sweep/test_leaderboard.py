"""The parent run's leaderboard: the top trials against the winner, paired over the same folds, what differs in
their parameters, and the parameters' importances as numbers (a real Optuna study, its trials recorded the way a
cross-validated sweep records them)."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest

from garbage_hpo.metrics import paired_difference
from garbage_hpo.sweep.leaderboard import knob_importances, leaderboard, markdown, write_leaderboard
from garbage_hpo.sweep.verdict import parent_note


def cv_study(n_trials: int = 12) -> optuna.Study:
    """Trials whose accuracy rises with the learning rate and ignores the dropout, five folds each; the
    learning rate sampled in a range per normalization (`@raw`, `@standardized`) as the champion's space does."""
    rng = np.random.default_rng(0)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(n_trials):
        trial = study.ask()
        normalize = trial.suggest_categorical("features.normalize", ["none", "standardize"])
        lr = trial.suggest_float(f"schedule.lr_max@{'raw' if normalize == 'none' else 'standardized'}", 0.001, 0.2,
                                 log=True)
        trial.suggest_float("head.dropout", 0.0, 0.5)
        folds = np.clip(0.80 + 0.5 * lr + rng.normal(0, 0.005, 5), 0, 1)
        for i, acc in enumerate(folds):
            trial.set_user_attr(f"fold_acc.{i}", float(acc))
        trial.set_user_attr("cv_folds", 5)
        trial.set_user_attr("cv_n", 500)
        trial.set_user_attr("cv_ci95_low", float(folds.mean() - 0.01))
        trial.set_user_attr("cv_ci95_high", float(folds.mean() + 0.01))
        for epoch in range(1, 4):
            trial.report(float(folds.mean()) * epoch / 3, epoch)
        study.tell(trial, float(folds.mean()))
    return study


def test_each_trial_is_compared_to_the_winner_over_the_same_folds():
    study = cv_study()
    rows = leaderboard(study, top=5)
    done = sorted(study.trials, key=lambda t: -t.value)
    assert [r.trial for r in rows] == [t.number for t in done[:5]] and rows[0].diff_pp is None
    winner = [done[0].user_attrs[f"fold_acc.{i}"] for i in range(5)]
    second = [done[1].user_attrs[f"fold_acc.{i}"] for i in range(5)]
    expected = paired_difference(second, winner)
    assert rows[1].diff_pp == pytest.approx(100 * expected.mean) and rows[1].diff_pp <= 0
    assert rows[1].diff_ci95_pp == pytest.approx([100 * expected.ci95.low, 100 * expected.ci95.high])
    assert rows[1].differs and all(done[1].params.get(k, "(not sampled)") == v for k, v in rows[1].differs.items())
    assert rows[0].ci95 == [done[0].user_attrs["cv_ci95_low"], done[0].user_attrs["cv_ci95_high"]]


def test_importances_are_numbers_and_one_knob_sampled_twice_is_named_once(tmp_path):
    study = cv_study(20)
    board, files, values = write_leaderboard(study, "cv_mean", tmp_path)
    assert values and sum(values.values()) == pytest.approx(1.0)
    knobs = knob_importances(values)
    assert [k for k, _, _ in knobs].count("schedule.lr_max") == 1
    lr = next(names for k, _, names in knobs if k == "schedule.lr_max")
    assert set(lr) <= {"schedule.lr_max@raw", "schedule.lr_max@standardized"}
    if len(lr) > 1:
        assert "(one knob)" in board
    assert {f.name for f in files} == {"leaderboard.json", "leaderboard.html", "top_trials_curves.png"}
    record = json.loads((tmp_path / "leaderboard.json").read_text())
    assert record["rows"][0]["trial"] == study.best_trial.number and record["importances"] == values
    html = (tmp_path / "leaderboard.html").read_text()
    assert "<table>" in html and "vs winner, paired over folds" in html and "PED-ANOVA" in html


def test_the_parent_description_shows_the_leaderboard_as_tables_not_a_wide_code_block():
    study = cv_study()
    rows = leaderboard(study, top=3)
    board = markdown(rows, "cv_mean", {})
    note = parent_note("Which learning rate?", "sweep x: best cv_mean in trial #3\n  cv_mean: 0.9 +- 0.01", None,
                       board)
    assert "```" not in note and "- cv_mean: 0.9 +- 0.01" in note
    assert "| # | trial | cv_mean | 95% CI | vs winner, paired over folds (95% CI) |" in note
    assert f"| 1 | {rows[0].trial} | {rows[0].value:.4f} |" in note and "| winner |" in note
    assert f"{rows[1].diff_pp:+.2f} pp [{rows[1].diff_ci95_pp[0]:+.2f}, {rows[1].diff_ci95_pp[1]:+.2f}]" in note


def test_no_leaderboard_for_several_objectives_or_no_completed_trial():
    multi = optuna.create_study(directions=["maximize", "minimize"])
    assert leaderboard(multi) == [] and leaderboard(optuna.create_study()) == []
