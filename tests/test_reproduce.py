"""`make reproduce-best`: a real tiny sweep, then its best (and a later) trial re-trained, exported, registered."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from garbage_hpo.tracking.runs import shown
from tests.conftest import REPO, run_cli

SWEEP = ["+experiment=head_depth", "sweep.n_trials=4", "sweep.pruner=none", "train.epochs=3", "data.image_size=64"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory, tiny_demo, mlflow_template, weights_dir):
    base = tmp_path_factory.mktemp("reproduce")
    runs = base / "runs"
    runs.mkdir()
    shutil.copy(mlflow_template, runs / "mlflow.db")
    env = {"GARBAGE_HPO_RUNS": str(runs), "GARBAGE_HPO_WEIGHTS": str(weights_dir)}
    mp = pytest.MonkeyPatch()
    for key, value in env.items():
        mp.setenv(key, value)
    try:
        run_cli("garbage_hpo.sweep", *SWEEP, f"data.root={tiny_demo}", cwd=base)
    finally:
        mp.undo()
    study = optuna.load_study(study_name="head_depth", storage=f"sqlite:///{runs / 'optuna.db'}")
    return {"base": base, "runs": runs, "env": env, "study": study, "data": tiny_demo}


@pytest.fixture
def env(swept, monkeypatch):
    for key, value in swept["env"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(swept["base"])
    return swept


def client(env) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{env['runs'] / 'mlflow.db'}")


def reproduce(*args: str, check: bool = True) -> tuple[subprocess.CompletedProcess, dict]:
    proc = run_cli("garbage_hpo.reproduce", *args, "--json", check=check)
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    return proc, json.loads(last) if last.startswith("{") else {}


@pytest.mark.slow
def test_make_reproduce_best_retrains_the_best_trial_exports_and_registers_the_champion(env):
    study = env["study"]
    best = max((t for t in study.trials if t.state == TrialState.COMPLETE), key=lambda t: (t.value, -t.number))
    proc = subprocess.run(["make", "-s", "-C", str(REPO), "reproduce-best", f"PY={sys.executable}",
                           "EXPERIMENT=head_depth", "ARGS=--json"],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["trial_number"] == best.number and report["original_run_id"] == best.user_attrs["mlflow_run_id"]
    assert report["recorded_val_acc"] == pytest.approx(best.value) and report["cv_folds"] == 5
    assert report["difference_pp"] == 0.0 and report["passed"] and report["champion"]
    assert report["link"].startswith("http://127.0.0.1:") and f"/runs/{report['run_id']}?" in report["link"]
    assert report["export_top1_agreement"] == 1.0 and report["export_max_abs_diff"] < 1e-4
    # the shipped model is the refit on every training photo, for the epoch count CV chose
    photos = sum(1 for _ in (env["data"] / "train").glob("*/*"))
    assert report["refit"] and report["train_images"] == photos
    assert report["refit_epochs"] == best.user_attrs["refit_epochs"]

    mlflow = client(env)
    run = mlflow.get_run(report["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["hpo.reproduction_of"] == best.user_attrs["mlflow_run_id"]
    trial_run = mlflow.get_run(best.user_attrs["mlflow_run_id"])  # nested under the sweep run of the trial
    assert run.data.tags["mlflow.parentRunId"] == trial_run.data.tags["mlflow.parentRunId"]
    assert mlflow.get_run(run.data.tags["mlflow.parentRunId"]).data.tags["hpo.role"] == "sweep"
    assert run.data.metrics["cv_mean"] == shown(best.value) and run.data.metrics["train_images"] == photos
    assert {"model/model.ckpt", "model/model.mindir", "model/model.json"} <= {
        a.path for a in mlflow.list_artifacts(run.info.run_id, "model")}
    card = json.loads(Path(mlflow.download_artifacts(run.info.run_id, "model/model.json")).read_text(encoding="utf-8"))
    assert card["train_images"] == photos
    selection = card["selection"]
    assert selection["cv_folds"] == 5 and selection["trial"] == best.number
    assert selection["cv_mean"] == pytest.approx(best.value) and selection["cv_std"] == pytest.approx(
        best.user_attrs["cv_std"])
    assert selection["ci95"][0] <= selection["cv_mean"] <= selection["ci95"][1]
    assert selection["refit_epochs"] == report["refit_epochs"]
    # the figure to quote: BBC-CV over the study's 4 trials, the same the sweep's parent logged
    sweep_run = mlflow.get_run(run.data.tags["mlflow.parentRunId"])
    assert selection["cv_bbc_trials"] == 4 and selection["quote"].startswith("cv_bbc")
    assert shown(selection["cv_bbc"]) == sweep_run.data.metrics["best_cv_bbc"] == run.data.metrics["selection_cv_bbc"]
    assert selection["cv_bbc_ci95"][0] <= selection["cv_bbc"] <= selection["cv_bbc_ci95"][1]
    assert report["bias_corrected"]["cv_bbc"] == selection["cv_bbc"]
    # the sweep's parent opens with the leaderboard: every trial against the winner, paired over the same folds
    note = sweep_run.data.tags["mlflow.note.content"]
    assert "```" not in note and "**Top trials against the winner** (paired over the same folds)" in note
    assert f"| 1 | {best.number} | {best.value:.4f} |" in note and note.count(" pp [") == 3
    assert {"leaderboard.html", "leaderboard.json", "plots/top_trials_curves.png"} <= {
        a.path for a in mlflow.list_artifacts(sweep_run.info.run_id)} | {
        a.path for a in mlflow.list_artifacts(sweep_run.info.run_id, "plots")}
    champion = mlflow.get_model_version_by_alias("garbage-hpo", "champion")
    assert champion.run_id == report["run_id"] and str(champion.version) == report["registered_version"]
    assert champion.tags["image_size"] == "64" and champion.tags["reproduction"] == "passed"
    assert len(json.loads(champion.tags["classes"])) == 26
    assert json.loads(champion.tags["preprocessing"])["input_scaling"] == "minus_one_one"
    # what shipped, said first: the card opens with it, the run's name and description, the version's too
    assert next(iter(card)) == "network" and card["network"]["kind"] == "single trial"
    quote = card["network"]["quote"]
    assert quote["figure"] == "cv_bbc" and quote["value"] == selection["cv_bbc"]
    assert quote["n"] == report["reproduced_n"] and report["network"] == card["network"]
    assert list(card)[-2:] == ["classes", "binding"]
    assert run.data.tags["mlflow.runName"] == f"reproduce-head_depth-trial-{best.number}"
    assert champion.tags["shipped"] == "single trial" and champion.tags["members"] == str(best.number)
    assert champion.tags["quote"].startswith(f"cv_bbc {selection['cv_bbc']:.4f} (95% CI [")
    assert champion.description.startswith(f"a single trial: trial {best.number} of study head_depth. Quote cv_bbc")

    # the champion is what predict uses by default, and the exported MINDIR answers like the checkpoint
    photo = next((env["data"] / "train" / "00_03").iterdir())
    by_alias = run_cli("garbage_hpo.predict", str(photo), "--json").stdout
    by_path = run_cli("garbage_hpo.predict", str(photo), f"model={report['checkpoint']}", "--json").stdout
    assert by_alias == by_path

    from garbage_hpo.deploy.predictor import Predictor

    exported, trained = Predictor.load(report["mindir"]), Predictor.load(report["checkpoint"])
    assert np.abs(exported.scores(photo) - trained.scores(photo)).max() < 1e-4
    assert exported.predict(photo, top_k=3) == trained.predict(photo, top_k=3)
    # the card binds both files: the MINDIR with an edited card is refused like the checkpoint
    local = json.loads(Path(report["checkpoint"]).with_suffix(".json").read_text(encoding="utf-8"))
    assert set(local["binding"]["weights"]) == {"model.ckpt", "model.mindir"}
    edited = Path(report["mindir"]).parent / "edited"
    edited.mkdir()
    shutil.copy(report["mindir"], edited / "model.mindir")
    local["image_size"] = 96
    (edited / "model.json").write_text(json.dumps(local), encoding="utf-8")
    with pytest.raises(ValueError, match="field 'image_size' differs from the value model.mindir was saved with"):
        Predictor.load(edited / "model.mindir")


@pytest.mark.slow
def test_a_later_trial_reproduces_after_other_trials_shared_its_compiled_graphs(env):
    last = max(t.number for t in env["study"].trials if t.state == TrialState.COMPLETE and t.number > 0)
    recorded = env["study"].trials[last].value
    proc, report = reproduce("experiment=head_depth", f"trial={last}")
    assert report["trial_number"] == last and report["reproduced_val_acc"] == pytest.approx(recorded, abs=0)
    assert report["passed"]


@pytest.mark.slow
def test_a_result_that_does_not_reproduce_fails_and_leaves_the_champion_alone(env):
    mlflow = client(env)
    try:
        before = mlflow.get_model_version_by_alias("garbage-hpo", "champion").version
    except Exception:
        before = None
    # a learning rate of 1e-9 leaves the head at its initialisation: far from the recorded accuracy
    proc, report = reproduce("experiment=head_depth", "schedule.lr_max=1e-9", check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert not report["passed"] and not report["champion"] and abs(report["difference_pp"]) > 0.5
    version = mlflow.get_model_version("garbage-hpo", report["registered_version"])
    assert version.tags["reproduction"] == "failed"
    after = mlflow.get_model_version_by_alias("garbage-hpo", "champion").version if before else None
    assert after == before


@pytest.mark.slow
def test_ensemble_selection_weighs_the_trials_by_their_predictions_and_ships_only_if_it_wins(env):
    proc, report = reproduce("experiment=head_depth", "ensemble=caruana", "tolerance=100")
    chosen = report["ensemble"]
    done = [t.number for t in env["study"].trials if t.state == TrialState.COMPLETE]
    assert chosen["method"] == "caruana" and set(chosen["members"]) <= set(done) and sum(chosen["weights"]) == 25
    assert chosen["candidates"] == len(done) and chosen["cv_folds"] == 5
    # the two nested figures are honest (chosen on 4 folds, scored on the fifth): the comparison decides
    assert chosen["shipped"] == (chosen["nested_cv_mean"] > chosen["nested_single_cv_mean"])
    low, high = chosen["gain_ci95_pp"]
    assert low <= chosen["gain_pp"] <= high and "ensemble selection over" in proc.stdout
    card = json.loads(Path(report["checkpoint"]).with_suffix(".json").read_text(encoding="utf-8"))
    assert card["selection"]["ensemble"]["members"] == chosen["members"]
    mlflow = client(env)
    version = mlflow.get_model_version("garbage-hpo", report["registered_version"])
    run = mlflow.get_run(report["run_id"])
    network = card["network"]
    if chosen["shipped"]:  # one network, each member's head weighted as chosen, and every field says so
        assert [m["weight"] for m in card["ensemble"]] == chosen["weights"]
        assert list(card)[:6] == ["network", "architecture", "width", "image_size", "weights_source", "ensemble"]
        assert network["kind"] == "ensemble" and network["members"] == chosen["members"]
        assert network["quote"]["figure"] == "nested_cv_mean"
        assert network["quote"]["value"] == chosen["nested_cv_mean"]
        assert version.tags["shipped"] == "ensemble"
        assert version.tags["members"] == ",".join(map(str, chosen["members"]))
        assert version.tags["member_weights"] == ",".join(f"{w:g}" for w in chosen["weights"])
        assert version.description.startswith(f"an ensemble of {len(chosen['members'])} heads on one backbone")
        assert run.data.tags["mlflow.runName"] == f"reproduce-head_depth-ensemble-of-{len(chosen['members'])}"
    else:
        assert "ensemble" not in card and network["kind"] == version.tags["shipped"] == "single trial"
    low, high = network["quote"]["ci95"]
    assert f"(95% CI [{low:.4f}, {high:.4f}], n={network['quote']['n']:,})" in version.description
    assert version.tags["quote"].startswith(f"{network['quote']['figure']} {network['quote']['value']:.4f}")
    assert report["network"] == network
    assert report["export_top1_agreement"] == 1.0


@pytest.mark.parametrize(("args", "message"), [
    (["experiment=nope"], "experiment=nope: no such study"),
    (["trial=1"], "trial=1: name its study too"),
    (["experiment=head_depth", "trial=999"], "trial=999: study head_depth has no completed trial"),
    (["experiment=head_depth", "train.nope=3"], "train.nope=3: not a key of the recorded config"),
    (["sweep.storage=sqlite:////no/such/optuna.db"], "no such Optuna store"),
    (["sweep.storage=postgresql://nobody:secret@127.0.0.1:1/optuna"],
     "sweep.storage=postgresql://nobody:***@127.0.0.1:1/optuna: cannot open it (OperationalError"),
    (["sweep.storage=redis://127.0.0.1:1/0"], "sweep.storage=redis://127.0.0.1:1/0: cannot open it"),
])
def test_bad_requests_end_with_one_line(env, args, message):
    proc, _ = reproduce(*args, check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_an_ensemble_asked_of_a_one_split_study_is_refused_before_any_run(env):
    run_cli("garbage_hpo.sweep", *SWEEP[:1], "sweep.n_trials=2", "sweep.cv_folds=1", "sweep.study_name=one_split",
            "train.epochs=2", "data.image_size=64", f"data.root={env['data']}")
    mlflow = client(env)
    runs_before = {e.experiment_id: len(mlflow.search_runs([e.experiment_id])) for e in mlflow.search_experiments()}
    for ensemble in ("caruana", "3"):
        proc, _ = reproduce("experiment=one_split", f"ensemble={ensemble}", check=False)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert f"error: ensemble={ensemble}: ensembles are chosen and measured by cross-validation" in proc.stderr
        assert "measured on one split (sweep.cv_folds=1)" in proc.stderr
    assert runs_before == {e.experiment_id: len(mlflow.search_runs([e.experiment_id]))
                           for e in mlflow.search_experiments()}


def test_a_damaged_out_of_fold_file_is_named_with_what_it_costs(env, tmp_path, caplog):
    import logging

    from garbage_hpo.selection import OOF_FILE
    from garbage_hpo.sweep.winner_findings import trial_predictions

    study = optuna.load_study(study_name="head_depth", storage=f"sqlite:///{env['runs'] / 'optuna.db'}")
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    damaged = complete[0]
    run_id = damaged.user_attrs["mlflow_run_id"]
    mlflow = client(env)
    good = Path(mlflow.download_artifacts(run_id, OOF_FILE, str(tmp_path / "good")))
    stored = Path(mlflow.get_run(run_id).info.artifact_uri.removeprefix("file://")) / OOF_FILE
    saved = stored.read_bytes()
    try:
        stored.write_bytes(saved[: len(saved) // 2])  # cut short, as a full disk or a killed copy leaves it
        with caplog.at_level(logging.WARNING):
            found = trial_predictions(mlflow, complete, tmp_path / "read")
    finally:
        stored.write_bytes(saved)
    assert damaged.number not in found and set(found) == {t.number for t in complete[1:]}
    assert f"trial {damaged.number}'s out-of-fold predictions (oof.npz of MLflow run {run_id}) are damaged" in \
        caplog.text and "left out of BBC-CV, ensemble selection" in caplog.text
    assert good.stat().st_size == len(saved)
