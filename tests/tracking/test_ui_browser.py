"""The MLflow UI as a user sees it: the pinned MLflow's own UI server, rendered by headless Chromium.

Skipped where Chromium is not installed (`apt-get install chromium`); CI checks the tags, metrics and links
the UI reads in test_sweep.py, this test checks what the UI makes of them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import make_ui_server, run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed"), pytest.mark.slow]


def rendered(url: str, budget_ms: int = 15000) -> str:
    """The page's DOM after its scripts ran (virtual time lets the UI fetch and render its data)."""
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1600,1000",
                           f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
                          capture_output=True, text=True, timeout=120)
    return proc.stdout


@pytest.fixture
def mlflow_ui(runs):
    with make_ui_server(runs / "mlflow.db") as base:
        yield base


def test_printed_links_open_the_trials_ranked_and_charts_open_on_learning_curves(runs, tiny_demo, mlflow_ui):
    proc = run_cli("garbage_hpo.sweep", "+experiment=head_depth", f"data.root={tiny_demo}", "data.image_size=64",
                   "train.epochs=3", "sweep.n_trials=3", "sweep.cv_folds=1", "sweep.pruner=none")
    link = re.search(r"trials ranked by score (\S+)", proc.stdout).group(1)
    assert "workflowType=machine_learning" in link and "viewStateShareKey=trials" in link
    page = rendered(link.replace("http://127.0.0.1:5000", mlflow_ui))

    study = optuna.load_study(study_name="head_depth", storage=f"sqlite:///{runs / 'optuna.db'}")
    done = sorted((t for t in study.trials if t.state == TrialState.COMPLETE), key=lambda t: (-t.value, t.number))
    shown = list(dict.fromkeys(re.findall(r"trial-\d+", page)))
    assert shown == [f"trial-{t.number}" for t in done]  # the trials, flat, ranked as Optuna ranks them
    assert ">model.val_acc<" in page and ">model.val_ci95_low<" in page and "sampled.head.depth" in page

    experiment = re.search(r"#/experiments/(\d+)/", link).group(1)
    best_run = done[0].user_attrs["mlflow_run_id"]
    charts = rendered(f"{mlflow_ui}/#/experiments/{experiment}/runs/{best_run}/model-metrics"
                      "?workflowType=machine_learning")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", charts))
    sections = [m.group(1) for m in re.finditer(r"\b(epoch|per_category|per_class|Model metrics) \(\d+\)", text)]
    assert sections[:1] == ["epoch"] and "Model metrics" in sections  # learning curves first


def rendered_once_shown(url: str, needle: str, attempts: int = 3) -> str:
    """The page's DOM once it shows `needle`: the artifact viewer fetches the file after the page itself, which
    on a busy machine can outlast one virtual-time budget."""
    page = ""
    for attempt in range(attempts):
        page = rendered(url, budget_ms=20000 + 10000 * attempt)
        if needle in page:
            break
    return page


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_every_way_in_lands_on_the_training_runs_and_a_pruned_trial_shows_its_curve(runs, tiny_demo, mlflow_ui):
    from garbage_hpo.pipeline.preparation import prepare
    from garbage_hpo.selection.run import run_cv
    from garbage_hpo.tracking.runs import Tracker
    from tests.conftest import settings_of

    run_cli("garbage_hpo.sweep", "+experiment=head_depth", f"data.root={tiny_demo}", "data.image_size=64",
            "train.epochs=3", "sweep.n_trials=2", "sweep.cv_folds=1", "sweep.pruner=none")
    # a cross-validated trial pruned after epoch 2, recorded as the sweep records one
    settings = settings_of(f"data.root={tiny_demo}", "data.image_size=64", "train.epochs=4", "sweep.cv_folds=3")
    pruned = Tracker(f"sqlite:///{runs / 'mlflow.db'}", "head_depth", runs / "mlartifacts", run_name="trial-pruned",
                     tags={"hpo.role": "trial"})

    def prune_at_two(epoch, _partial) -> None:
        if epoch == 2:
            raise optuna.TrialPruned("2")

    with pytest.raises(optuna.TrialPruned):
        run_cv(settings, prepare(settings), pruned, on_epoch=prune_at_two)
    pruned.finish("FINISHED", {"pruned_at_epoch": 2.0}, {"hpo.state": "PRUNED"})

    # `make ui`'s link is the experiment list; the list's own link to the experiment carries no workflowType
    listing = rendered(f"{mlflow_ui}/#/experiments?workflowType=machine_learning")
    href = re.search(r'href="(#/experiments/(\d+))"', listing)
    assert href is not None and "head_depth" in text_of(listing)
    opened = text_of(rendered(f"{mlflow_ui}/{href.group(1)}"))
    assert "sweep-head_depth-" in opened and "Overview" not in opened  # runs, not the GenAI overview
    page = text_of(rendered(f"{mlflow_ui}/#/experiments/{href.group(2)}/runs/{pruned.run_id}/model-metrics"))
    assert re.search(r"\bepoch \(1\)", page)  # its one curve, epoch/cv_mean_acc, the fold mean of epochs 1 and 2:
    assert [m.step for m in pruned.client.get_metric_history(pruned.run_id, "epoch/cv_mean_acc")] == [1, 2]


def test_a_cv_trial_shows_its_score_first_with_its_interval_and_compare_opens_on_it(runs, tiny_demo, mlflow_ui):
    run_cli("garbage_hpo.sweep", "+experiment=head_depth", f"data.root={tiny_demo}", "data.image_size=64",
            "train.epochs=3", "sweep.n_trials=2", "sweep.cv_folds=3", "sweep.pruner=none", "sweep.probe=false")
    study = optuna.load_study(study_name="head_depth", storage=f"sqlite:///{runs / 'optuna.db'}")
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    run_ids = [t.user_attrs["mlflow_run_id"] for t in done]
    experiment = re.search(r"#/experiments/(\d+)", rendered(f"{mlflow_ui}/#/experiments")).group(1)

    page = text_of(rendered(f"{mlflow_ui}/#/experiments/{experiment}/runs/{run_ids[0]}"))
    assert f"cv_mean 3-fold CV mean {done[0].value:.4f} +- " in page and "95% CI [" in page  # the description
    table = page[page.index("Metrics ("):]
    assert table.index("cv_mean") < table.index("cv_ci95_low") < table.index("epoch/cv_mean_acc")  # score first
    assert f"cv_mean {float(f'{done[0].value:.4g}')}" in table  # 4 significant digits, not 16

    ids = ",".join(f"%22{r}%22" for r in run_ids)
    compare = text_of(rendered(f"{mlflow_ui}/#/compare-runs?runs=[{ids}]&experiments=[%22{experiment}%22]"))
    metrics_picker = compare[compare.index("Metrics:"):compare.index("Clear All")]
    assert "cv_mean" in metrics_picker and "epoch/" not in metrics_picker  # the score, not a last-epoch value


def test_the_registry_names_what_shipped_and_the_parent_opens_on_its_leaderboard(runs, tiny_demo, mlflow_ui):
    """A cross-validated sweep and `make reproduce-best`, as a first-time user opens them: the registered
    version says what network it is with the figure to quote; the sweep's page shows the leaderboard with paired
    margins and the importances as numbers; the per-class table shows its counts in the artifact viewer."""
    run_cli("garbage_hpo.sweep", "+experiment=head_depth", f"data.root={tiny_demo}", "data.image_size=64",
            "train.epochs=3", "sweep.n_trials=4", "sweep.cv_folds=3", "sweep.pruner=none", "sweep.probe=false")
    proc = run_cli("garbage_hpo.reproduce", "experiment=head_depth", "tolerance=100", "--json")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    network = report["network"]
    low, high = network["quote"]["ci95"]

    version = text_of(rendered(f"{mlflow_ui}/#/models/garbage-hpo/versions/{report['registered_version']}"))
    assert f"a single trial: trial {report['trial_number']} of study head_depth" in version
    assert f"Quote {network['quote']['figure']} {network['quote']['value']:.4f} (95% CI [{low:.4f}, {high:.4f}]" \
        in version
    assert "shipped" in version and "single trial" in version and "member_weights" in version

    client = optuna.load_study(study_name="head_depth", storage=f"sqlite:///{runs / 'optuna.db'}")
    from mlflow.tracking import MlflowClient

    mlflow = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    parent_id = mlflow.get_run(report["original_run_id"]).data.tags["mlflow.parentRunId"]
    experiment = mlflow.get_run(parent_id).info.experiment_id
    page = rendered(f"{mlflow_ui}/#/experiments/{experiment}/runs/{parent_id}?workflowType=machine_learning")
    words = text_of(page)
    assert "Top trials against the winner" in words and "<table" in page  # a rendered table, not a code block
    assert len(re.findall(r"[+-]\d+\.\d\d pp \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\]", words)) == 3  # 3 runners-up
    assert f"{client.best_value:.4f}" in words
    importances = {k: v for k, v in mlflow.get_run(parent_id).data.metrics.items() if k.startswith("importance.")}
    if importances:  # PED-ANOVA needs trials that differ: here 4 of them
        assert "PED-ANOVA importance" in words and re.search(r"\| ?\d\.\d\d ?\|| \d\.\d\d ", words)

    assert "Ask questions about your experiments" not in page  # the Assistant panel stays closed: full width
    table = text_of(rendered_once_shown(f"{mlflow_ui}/#/experiments/{experiment}/runs/{parent_id}/artifacts/winner/"
                                        "per_class.csv", "Previewing the first"))
    assert "Previewing the first 26 rows" in table  # the artifact viewer's table, one row per class
    assert "class chinese correct photos accuracy ci95 most_confused_with category folder" in table
    assert re.search(r"circle-warm circle-warm \d+ 6 ", table)  # correct of the class's 6 photos, counted
