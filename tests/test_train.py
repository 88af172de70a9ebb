"""Training end to end with real MindSpore and a real MLflow store, on a tiny generated dataset."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from garbage_hpo.pipeline.one_split import train
from garbage_hpo.pipeline.preparation import prepare
from tests.conftest import compose, run_cli, settings_of

TINY = ("data.image_size=64", "train.epochs=3", "train.batch_size=16")


def mlflow_runs(runs, experiment="garbage-hpo-train"):
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no MLflow experiment {experiment}"
    return client, client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])


def test_train_cli_records_a_complete_run_and_reuses_cached_features(runs, tiny_demo):
    first = run_cli("garbage_hpo.train", f"data.root={tiny_demo}", *TINY)
    second = run_cli("garbage_hpo.train", f"data.root={tiny_demo}", *TINY)
    assert "features_cached=False" in first.stdout and "features_cached=True" in second.stdout

    client, found = mlflow_runs(runs)
    assert len(found) == 2
    run = found[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["train.epochs"] == "3" and run.data.params["head.depth"] == "1"
    assert run.data.params["optimizer.name"] == "momentum" and run.data.params["data.image_size"] == "64"
    tags = run.data.tags
    assert tags["hpo.data"] == "demo"  # the generator's marker is recognised under any path
    assert tags["hpo.weights_profile"] == "keras" and len(tags["hpo.data_sha256"]) == 64
    assert tags["hpo.features_cached"] == "false"
    assert found[1].data.tags["hpo.features_cached"] == "true"
    for key in ("train_loss", "val_acc", "val_loss", "val_top5", "lr"):  # curves: epoch/..., charted first
        history = client.get_metric_history(run.info.run_id, f"epoch/{key}")
        assert sorted(m.step for m in history) == [1, 2, 3], key
    history = client.get_metric_history(run.info.run_id, "epoch/val_acc")
    val_acc = [m.value for m in sorted(history, key=lambda m: m.step)]
    assert run.data.metrics["model.val_acc"] == pytest.approx(max(val_acc))  # the best epoch's model is kept
    assert 1 / 26 < run.data.metrics["model.val_acc"] <= 1.0
    assert not {k for k in run.data.metrics if k.startswith("val_") or "class_acc" in k}  # one name per figure
    # readable class names, every class with a validation photo
    assert set(run.data.metrics) >= {"per_category/recyclable", "per_class/circle-warm", "best_epoch"}
    per_class = json.loads(Path(client.download_artifacts(run.info.run_id, "per_class.json", str(runs))).read_text())
    assert len(per_class["per_class"]) == 26 and per_class["folders"]["circle-warm"] == "00_00"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "confusion_matrix.png", "confusion_matrix.json", "per_class.json", "model"} <= artifacts
    assert {a.path for a in client.list_artifacts(run.info.run_id, "model")} == {"model/model.ckpt", "model/model.json"}
    # seeded: the identical second run reproduces every metric exactly
    assert found[1].data.metrics["model.val_acc"] == run.data.metrics["model.val_acc"]
    assert found[1].data.metrics["model.val_loss"] == run.data.metrics["model.val_loss"]


def test_demo_set_is_used_loudly_when_no_dataset_is_found(runs):
    proc = run_cli("garbage_hpo.train", "data.demo.per_class=4", "data.demo.size=64", *TINY)
    assert "GENERATED DEMO SET" in proc.stdout + proc.stderr
    assert (runs / "demo_data" / "train" / "03_03").is_dir()
    _, found = mlflow_runs(runs)
    assert found[0].data.tags["hpo.data"] == "demo"


@pytest.mark.parametrize(("overrides", "message"), [
    (["data.root=/no/such/dir"], "data.root=/no/such/dir: no such directory"),
    (["optimizer.name=sgd"], "optimizer.name='sgd'"),
    (["schedule.name=linear"], "schedule.name='linear'"),
    (["schedule.lr_max=-0.1"], "schedule.lr_max=-0.1"),
    (["finetune.epochs=1", "finetune.schedule.lr_max=-1"], "finetune.schedule.lr_max=-1"),
    (["finetune.epochs=1", "finetune.unfreeze=40"], "finetune.unfreeze=40"),
    (["head.reduction=sum"], "head.reduction='sum'"),
    (["sweep.cv_folds=3", "features.tta=flip", "finetune=last_blocks", "finetune.epochs=1"],
     "features.tta=flip: test-time augmentation is measured on cached head features, which fine-tuning"),
])
def test_bad_input_fails_fast_with_one_line_naming_the_key(runs, tiny_demo, overrides, message):
    proc = run_cli("garbage_hpo.train", f"data.root={tiny_demo}", *TINY, *overrides, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (runs / "cache").exists()  # rejected before any backbone work


@pytest.mark.parametrize(("overrides", "message"), [
    (["+train.epoch=3"], "train.epoch: not a key of this configuration (did you mean train.epochs?)"),
    (["seed=abc"], "seed='abc': expected a whole number"),
    (["train.epochs=0"], "train.epochs=0: the head trains for at least 1 epoch"),
    (["sweep.cv_folds=3", "features.view_seed=-1"], "features.view_seed=-1: a whole number, 0 or more"),
])
def test_unknown_keys_and_mistyped_values_fail_before_any_run(runs, tiny_demo, overrides, message):
    proc = run_cli("garbage_hpo.train", f"data.root={tiny_demo}", *TINY, *overrides, check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (runs / "cache").exists()
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    assert not client.search_runs([e.experiment_id for e in client.search_experiments()])  # no FAILED run left


@pytest.mark.parametrize(("overrides", "message"), [
    (["train.batch_size=1.5"], "train.batch_size=1.5: expected a whole number"),
    (["train.epochs=abc"], "train.epochs='abc': expected a whole number"),
    (["schedule.lr_max=fast"], "schedule.lr_max='fast': expected a number"),
    (["head.bias=3"], "head.bias=3: expected true or false"),
    (["optimizer=adam", "+optimizer.beta3=0.9"], "optimizer.beta3: not a key"),
    (["finetune=last_blocks", "finetune.unfreeze=most"], "finetune.unfreeze='most': expected a whole number or "
                                                          "one of ['all']"),
])
def test_config_values_are_checked_against_the_defaults_of_the_same_groups(overrides, message):
    from garbage_hpo.config.checks import check_values

    groups = [o for o in overrides if o.split("=")[0] in ("optimizer", "finetune")]
    with pytest.raises(ValueError, match=re.escape(message)):
        check_values(compose(*overrides), compose(*groups))


def test_a_tracking_store_that_cannot_work_is_named_before_any_work(runs, tiny_demo):
    from garbage_hpo.tracking.store_check import check_tracking_store

    proc = run_cli("garbage_hpo.train", f"data.root={tiny_demo}", *TINY, "tracking.uri=http://127.0.0.1:9",
                   check=False)
    assert proc.returncode == 2 and "tracking.uri=http://127.0.0.1:9: no MLflow server answers" in proc.stderr
    assert "Traceback" not in proc.stderr and not (runs / "cache").exists()  # no features computed first
    with pytest.raises(ValueError, match="tracking.uri=sqlite:////proc/garbage-hpo/mlflow.db: cannot write"):
        check_tracking_store("sqlite:////proc/garbage-hpo/mlflow.db")
    with pytest.raises(ValueError, match=r"tracking.uri=postgresql://nobody:\*\*\*@127.0.0.1:1/x: cannot open") as err:
        check_tracking_store("postgresql://nobody:secret@127.0.0.1:1/x")
    assert "secret" not in str(err.value)
    not_a_database = runs / "notes.txt"
    not_a_database.write_text("these are my notes, not an MLflow store\n" * 100)
    with pytest.raises(ValueError, match=f"tracking.uri=sqlite:///{not_a_database}: {not_a_database} is not an "
                       "SQLite database"):
        check_tracking_store(f"sqlite:///{not_a_database}")
    check_tracking_store(f"sqlite:///{runs / 'mlflow.db'}")  # a real store passes


def test_values_of_the_right_type_pass_the_check():
    from garbage_hpo.config.checks import check_values

    schema = compose()
    check_values(compose("model.width=1", "data.root=/x", "features.taps=[13,-1]", "sweep.cv_folds=5"), schema)
    # documented: every block (the default of finetune=last_blocks is a number)
    check_values(compose("finetune=last_blocks", "finetune.unfreeze=all"), compose("finetune=last_blocks"))
    with pytest.raises(ValueError, match="model.widht: not a key.*did you mean model.width"):
        check_values(compose("+model.widht=1"), schema)


def test_hydra_own_refusals_exit_2_like_every_bad_input(runs):
    proc = run_cli("garbage_hpo.train", "optimizer=sgd", check=False)  # a missing config group option
    assert proc.returncode == 2 and "optimizer/sgd" in proc.stderr
    proc = run_cli("garbage_hpo.train", "train.epoch=3", check=False)  # Hydra's "not in struct"
    assert proc.returncode == 2 and "train.epoch" in proc.stderr and "Traceback" not in proc.stderr


def test_unreadable_photos_are_skipped_counted_and_the_run_goes_on(runs, tiny_demo, tmp_path):
    data = shutil.copytree(tiny_demo, tmp_path / "data")
    good = next((data / "train" / "00_00").iterdir())
    (data / "train" / "00_00" / "broken.jpg").write_bytes(good.read_bytes()[:300])
    (data / "train" / "00_01" / "empty.jpg").write_bytes(b"")
    cfg = settings_of(f"data.root={data}", *TINY, f"runs_dir={runs}")
    prepared = prepare(cfg)
    assert sorted(p.name for p, _ in prepared.index.skipped) == ["broken.jpg", "empty.jpg"]
    assert len(prepared.index.samples) == 26 * 6
    result = train(cfg, prepared, save_checkpoint=False)
    assert 0 < result.val_acc <= 1


def test_finetune_stage_continues_from_the_head_and_reports_per_epoch(runs, tiny_demo):
    cfg = settings_of(f"data.root={tiny_demo}", "data.image_size=64", "train.epochs=2", "train.batch_size=16",
                  "finetune.epochs=2", "finetune.batch_size=8", "finetune.unfreeze=3", f"runs_dir={runs}")
    prepared = prepare(cfg)
    seen = []
    result = train(cfg, prepared, on_epoch=seen.append)
    assert [(r.stage, r.epoch, r.step) for r in seen] == [("head", 1, 1), ("head", 2, 2), ("finetune", 1, 3),
                                                          ("finetune", 2, 4)]
    assert all(np.isfinite(r.train_loss) for r in seen)
    assert result.best_stage in {"head", "finetune"}
    best = max(r.val.accuracy for r in seen)
    assert result.val_acc == pytest.approx(best)  # the final model is the best epoch of either stage
    assert result.checkpoint is not None and result.checkpoint.is_file()


def test_train_help_prints_the_usage_and_the_cv_option():
    proc = run_cli("garbage_hpo.train", "--help")
    assert "python -m garbage_hpo.train sweep.cv_folds=5" in proc.stdout and "$GARBAGE_HPO_RUNS" in proc.stdout
