"""Ensembles of the top trials and the champion experiment: CV-measured on the same folds, one exported network.

Real MindSpore, Optuna and MLflow on a tiny generated data set.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from garbage_hpo.data.images import preprocess, read_rgb
from tests.conftest import run_cli, settings_of

TINY = ("data.image_size=64", "train.epochs=4", "train.batch_size=16", "sweep.cv_folds=3")


@pytest.mark.slow
def test_ensemble_cv_is_the_mean_probability_on_the_same_folds_and_ships_as_one_network(runs, tiny_demo, tmp_path):
    from garbage_hpo.deploy.export import export_mindir, load_mindir, top1_agreement
    from garbage_hpo.deploy.predictor import Predictor
    from garbage_hpo.models.tta import average_views, weighted_views
    from garbage_hpo.pipeline.preparation import prepare
    from garbage_hpo.selection.ensemble import ensemble_cv, refit_ensemble
    from garbage_hpo.selection.run import folds_for, head_scores, refit_member

    base = (f"data.root={tiny_demo}", f"runs_dir={runs}", *TINY)
    # one member averages over 12 views of each photo (tta=crops), the other sees the photo alone
    configs = [settings_of(*base, "features.taps=[13,-1]", "features.normalize=standardize", "features.tta=crops"),
               settings_of(*base, "head.depth=2", "head.reduction=max", "schedule.lr_max=0.02")]
    prepared = prepare(configs[0])
    cv = ensemble_cv(configs, prepared)
    folds = folds_for(configs[0], prepared)
    for f, fold in enumerate(folds):  # the ensemble's fold accuracy, recomputed from the members' fold scores
        mean = average_views(*[m.fold_scores()[f] for m in cv.members])
        assert cv.fold_acc[f] == pytest.approx(float((mean.argmax(1) == prepared.labels[fold.val]).mean()))
    assert cv.n == sum(len(f.val) for f in folds) and cv.members[0].summary.k == 3
    # its out-of-fold predictions, stored like a trial's: the same accuracies, photo by photo
    assert cv.out_of_fold.fold_accuracies() == pytest.approx(cv.fold_acc, abs=1e-12)
    assert sorted(cv.out_of_fold.positions) == sorted(np.concatenate([f.val for f in folds]))

    net, checkpoint, images, _ = refit_ensemble(configs, prepared, [m.refit_epochs for m in cv.members],
                                                {"cv_folds": 3}, tmp_path / "ens")
    card = json.loads(checkpoint.with_suffix(".json").read_text())
    assert images == len(prepared.index.samples) and len(card["ensemble"]) == 2
    assert card["ensemble"][0]["features"]["tta"] == "crops" and card["ensemble"][1]["head"]["reduction"] == "max"
    predictor = Predictor.load(checkpoint)
    rows = np.arange(0, len(prepared.index.samples), 9)
    photos = [read_rgb(prepared.index.samples[i].path) for i in rows]
    members = [refit_member(c, prepared, r.refit_epochs) for c, r in zip(configs, cv.members, strict=True)]
    expected = average_views(*[head_scores(c, prepared, m.classifier, m.scaler, rows)
                               for c, m in zip(configs, members, strict=True)])
    np.testing.assert_allclose(predictor.scores_batch(photos), expected, atol=2e-3, rtol=1e-3)
    # weighted as ensemble selection chose (3:1): the network's mean is weighted the same
    _, weighted, _, _ = refit_ensemble(configs, prepared, [m.refit_epochs for m in cv.members], {"cv_folds": 3},
                                       tmp_path / "weighted", [3, 1])
    assert [e["weight"] for e in json.loads(weighted.with_suffix(".json").read_text())["ensemble"]] == [3, 1]
    expected = weighted_views([head_scores(c, prepared, m.classifier, m.scaler, rows)
                               for c, m in zip(configs, members, strict=True)], [3, 1])
    np.testing.assert_allclose(Predictor.load(weighted).scores_batch(photos), expected, atol=2e-3, rtol=1e-3)
    batch = np.stack([preprocess(p, 64, predictor.profile.input_scaling) for p in photos])
    agreement, _ = top1_agreement(net, load_mindir(export_mindir(net, 64, tmp_path / "e.mindir")), batch)
    assert agreement == 1.0


@pytest.mark.slow
def test_champion_sweep_then_reproduce_with_an_ensemble(runs, tiny_demo):
    """The champion_finetune experiment (the champion's space + tune_blocks) end to end on tiny data: the
    searched taps/normalization/TTA, a fine-tuning trial
    cross-validated on the cut-point cache, the probe on the same taps, and `reproduce` measuring the ensemble
    of the top 3 head-only trials on the same folds and recording it in the card."""
    enqueue = ("sweep.enqueue=[{tune_blocks:false,head.depth:1},{tune_blocks:true,finetune.epochs:1},"
               "{tune_blocks:false,head.depth:2},{tune_blocks:false,features.tta:flip}]")  # distinct: none skipped
    sweep = run_cli("garbage_hpo.sweep", "+experiment=champion_finetune", f"data.root={tiny_demo}",
                    "sweep.n_trials=4",
                    "sweep.pruner=none", "sweep.cv_folds=3", "data.image_size=64", "train.batch_size=16",
                    "finetune.batch_size=16", "finetune.cached_views=2", enqueue)
    assert "best - probe:" in sweep.stdout and "peer probe cv_acc" in sweep.stdout
    study = optuna.load_study(study_name="champion_finetune", storage=f"sqlite:///{runs / 'optuna.db'}")
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(done) == 4
    assert {"features.taps@head", "features.normalize@head", "features.tta"} <= set(done[0].params)
    tuned = done[1]
    assert tuned.params["tune_blocks"] and tuned.params["features.taps@tuned"] == "-1"
    head_epochs = tuned.params["train.epochs"]
    assert tuned.user_attrs["refit_finetune_epochs"] == max(0, tuned.user_attrs["refit_epochs"] - head_epochs)
    proc = run_cli("garbage_hpo.reproduce", "experiment=champion_finetune", f"data.root={tiny_demo}", "tolerance=100",
                   "--json", check=False)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    ensemble = report["ensemble"]
    heads = sorted([t for t in done if not t.params["tune_blocks"]], key=lambda t: (-t.value, t.number))
    assert ensemble["members"] == [t.number for t in heads] and ensemble["cv_folds"] == 3  # fine-tuned: passed over
    assert ensemble["member_cv_mean"] == pytest.approx([t.value for t in heads])  # measured again, same folds
    card = json.loads(Path(report["checkpoint"]).with_suffix(".json").read_text())
    assert card["selection"]["ensemble"]["shipped"] == ensemble["shipped"]
    assert card["train_images"] == report["train_images"] == 156
    assert ("ensemble" in card) == ensemble["shipped"]
    from mlflow.tracking import MlflowClient

    stored = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}").list_artifacts(report["run_id"], "ensemble")
    assert "ensemble/oof.npz" in {a.path for a in stored}  # the ensemble's out-of-fold predictions
    assert report["export_top1_agreement"] == 1.0
