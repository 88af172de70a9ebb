"""`predict` and `evaluate` on a real trained model, referenced by path, MLflow run id and registry alias."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

import garbage_hpo
from garbage_hpo.tracking.runs import shown
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_demo, mlflow_template, weights_dir):
    """A dataset with val/, a model trained on it through the CLI, and a `champion` alias pointing at it."""
    import os

    base = tmp_path_factory.mktemp("inference")
    runs = base / "runs"
    runs.mkdir()
    shutil.copy(mlflow_template, runs / "mlflow.db")
    data = shutil.copytree(tiny_demo, base / "data")
    for folder in (data / "train").iterdir():  # move two photos per class into val/
        (data / "val" / folder.name).mkdir(parents=True)
        for photo in sorted(folder.iterdir())[:2]:
            photo.rename(data / "val" / folder.name / photo.name)
    env = {"GARBAGE_HPO_RUNS": str(runs), "GARBAGE_HPO_WEIGHTS": str(weights_dir)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        run_cli("garbage_hpo.train", f"data.root={data}", "data.image_size=64", "train.epochs=4",
                "train.batch_size=16", cwd=base)
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("garbage-hpo-train").experiment_id])[0]
    client.create_registered_model("garbage-hpo")
    version = client.create_model_version("garbage-hpo", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    client.set_registered_model_alias("garbage-hpo", "champion", version.version)
    return {"runs": runs, "data": data, "run": run, "base": base, "env": env}


@pytest.fixture
def env(trained, monkeypatch):
    for key, value in trained["env"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(trained["base"])
    return trained


def _lines(proc):
    return [line for line in proc.stdout.splitlines() if line.strip()]


def test_predict_by_path_run_id_and_default_alias_agree(env):
    photo = str(next((env["data"] / "val" / "00_03").iterdir()))
    checkpoint = env["runs"] / "models" / env["run"].info.run_id / "model.ckpt"
    outputs = [
        run_cli("garbage_hpo.predict", photo, f"model={checkpoint}").stdout,
        run_cli("garbage_hpo.predict", photo, f"model={env['run'].info.run_id}").stdout,
        run_cli("garbage_hpo.predict", photo).stdout,  # the registered champion
    ]
    assert outputs[0] == outputs[1] == outputs[2]
    path, name, category, confidence = outputs[0].strip().split("\t")
    assert path == photo and " / " in name and category.strip("[]") in {"recyclable", "dry", "hazardous", "wet"}
    assert confidence.endswith("%")


def test_predict_top_k_json_and_unreadable_files(env, tmp_path):
    folder = tmp_path / "photos"
    shutil.copytree(env["data"] / "val" / "01_02", folder)
    (folder / "notes.jpg").write_text("not a photo")
    proc = run_cli("garbage_hpo.predict", str(folder), "--top-k", "3", "--json", check=False)
    assert proc.returncode == 1  # some files failed
    assert "notes.jpg" in proc.stderr and "1 of 3 files could not be read" in proc.stderr
    rows = [json.loads(line) for line in _lines(proc)]
    assert len(rows) == 2 and all(len(r["predictions"]) == 3 for r in rows)
    confidences = [p["confidence"] for p in rows[0]["predictions"]]
    assert confidences == sorted(confidences, reverse=True) and 0 < sum(confidences) <= 1.0 + 1e-9


@pytest.mark.parametrize(("args", "message"), [
    (["model=0123456789abcdef0123456789abcdef"], "no MLflow run with this id"),
    (["model=nope@champion"], "not a checkpoint path, an MLflow run id, or an alias"),
    (["model=/no/such/model.ckpt"], "no such checkpoint file"),
])
def test_predict_bad_model_reference_is_one_line(env, args, message):
    photo = str(next((env["data"] / "val" / "00_00").iterdir()))
    proc = run_cli("garbage_hpo.predict", photo, *args, check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_predict_empty_folder_is_one_line(env, tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_cli("garbage_hpo.predict", str(tmp_path / "empty"), check=False)
    assert proc.returncode == 2 and "holds no images" in proc.stderr and "Traceback" not in proc.stderr


def test_evaluate_json_report_and_artifacts(env, tmp_path):
    out = tmp_path / "eval"
    proc = run_cli("garbage_hpo.evaluate", f"data.root={env['data']}", f"out={out}", "log=true", "--json")
    report = json.loads(_lines(proc)[-1])
    assert report["n"] == 26 * 2 and 0 <= report["accuracy"] <= report["top5"] <= 1
    assert report["correct"] == round(report["accuracy"] * report["n"])
    low, high = report["ci95"]  # Wilson interval of correct out of n
    assert low <= report["accuracy"] <= high and 0 <= low < high <= 1
    assert set(report["per_category"]) == {"recyclable", "dry", "hazardous", "wet"}
    assert len(report["per_class"]) == 26
    correct = sum(round(acc * 2) for acc in report["per_class"].values())  # two photos per class
    assert correct / 52 == pytest.approx(report["accuracy"])
    assert (out / "confusion_matrix.png").stat().st_size > 1000 and (out / "errors_01.png").is_file()
    pages = sorted(out.glob("errors_*.png"))
    assert len(pages) == max(1, -(-(report["n"] - report["correct"]) // 36))  # 36 mistakes a page
    client = MlflowClient(tracking_uri=f"sqlite:///{env['runs'] / 'mlflow.db'}")
    run = client.get_run(report["mlflow_run_id"])
    assert run.data.metrics["accuracy"] == shown(report["accuracy"])
    assert {"confusion_matrix.png", *(p.name for p in pages), "report.json"} <= {
        a.path for a in client.list_artifacts(run.info.run_id)}


def test_evaluate_uses_train_only_when_asked(env, tiny_demo):
    proc = run_cli("garbage_hpo.evaluate", f"data.root={tiny_demo}", check=False)
    assert proc.returncode == 2 and "data.split=train" in proc.stderr
    report = json.loads(_lines(run_cli("garbage_hpo.evaluate", f"data.root={tiny_demo}", "data.split=train",
                                       "--json"))[-1])
    assert report["n"] == 26 * 6 and report["split"] == "train"


@pytest.mark.slow
def test_evaluate_a_test_set_without_train_and_name_skipped_photos(env, tmp_path):
    """A test set is a val/ folder alone: the class list comes from the model; unreadable photos are named."""
    alone = tmp_path / "test_only"
    shutil.copytree(env["data"] / "val", alone / "val")
    broken = alone / "val" / "00_00" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    proc = run_cli("garbage_hpo.evaluate", f"data.root={alone}", "--json")
    report = json.loads(_lines(proc)[-1])
    assert report["n"] == 26 * 2 and report["skipped"] == 1
    assert report["skipped_files"][0]["path"].endswith("broken.jpg")
    assert "broken.jpg" in proc.stderr
    full = json.loads(_lines(run_cli("garbage_hpo.evaluate", f"data.root={env['data']}", "--json"))[-1])
    assert report["accuracy"] == full["accuracy"] and report["per_class"] == full["per_class"]


def test_evaluate_rejects_a_model_for_other_classes(env, tmp_path):
    other = tmp_path / "other"
    for folder in ("00_00", "00_01", "00_02"):
        shutil.copytree(env["data"] / "val" / folder, other / "val" / folder)
        shutil.copytree(env["data"] / "train" / folder, other / "train" / folder)
    proc = run_cli("garbage_hpo.evaluate", f"data.root={other}", check=False)
    assert proc.returncode == 2 and "not the same class list" in proc.stderr and "Traceback" not in proc.stderr


def test_python_api_is_exported_at_package_level(env):
    import garbage_hpo

    predictor = garbage_hpo.Predictor.load(env["runs"] / "models" / env["run"].info.run_id / "model.ckpt")
    assert predictor.num_classes == 26


def test_checkpoint_that_does_not_match_its_card_is_one_line(env, tmp_path):
    source = env["runs"] / "models" / env["run"].info.run_id
    shutil.copy(source / "model.ckpt", tmp_path / "model.ckpt")
    card = json.loads((source / "model.json").read_text())
    card["head"]["num_classes"] = 10
    card["classes"] = card["classes"][:10]
    (tmp_path / "model.json").write_text(json.dumps(card))
    photo = str(next((env["data"] / "val" / "00_00").iterdir()))
    proc = run_cli("garbage_hpo.predict", photo, f"model={tmp_path / 'model.ckpt'}", check=False)
    assert proc.returncode == 2 and "field 'classes' differs from the value model.ckpt was saved with" in proc.stderr
    assert "Traceback" not in proc.stderr
    del card["binding"]  # an old card accepted on purpose: the shapes are still checked
    (tmp_path / "model.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match=r"does not match its model card \(10 classes"):
        garbage_hpo.Predictor.load(tmp_path / "model.ckpt", unbound_card=True)


def test_a_card_without_its_binding_is_refused_unless_asked_for(env, tmp_path):
    """With its binding deleted, an edited card (bn_eps 0.5) would load with other answers: refused, naming the
    file and the flag; with --unbound-card it is used, said so."""
    def unbind(card: dict) -> None:
        del card["binding"]
        card["profile"]["bn_eps"] = 0.5

    checkpoint = _edited_copy(env, tmp_path, unbind)
    photo = str(next((env["data"] / "val" / "00_00").iterdir()))
    proc = run_cli("garbage_hpo.predict", photo, f"model={checkpoint}", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{tmp_path / 'model.json'}: the card records no binding to its weights" in proc.stderr
    assert "--unbound-card" in proc.stderr and not proc.stdout
    proc = run_cli("garbage_hpo.predict", photo, f"model={checkpoint}", "--unbound-card", check=False)
    assert proc.returncode == 0 and "unbound model card used as asked" in proc.stderr and proc.stdout


def _edited_copy(env, tmp_path, edit) -> Path:
    source = env["runs"] / "models" / env["run"].info.run_id
    shutil.copy(source / "model.ckpt", tmp_path / "model.ckpt")
    card = json.loads((source / "model.json").read_text())
    edit(card)
    (tmp_path / "model.json").write_text(json.dumps(card))
    return tmp_path / "model.ckpt"


def _set(path: str, value):
    def edit(card: dict) -> None:
        *parents, last = path.split(".")
        for key in parents:
            card = card[key]
        card[last] = value
    return edit


@pytest.mark.parametrize(("field", "value"), [
    ("image_size", 96), ("profile.input_scaling", "imagenet"), ("profile.bn_eps", 0.5), ("head.reduction", "max"),
    ("head.activation", "softmax"), ("profile.padding", "symmetric"), ("width", 0.5)])
def test_a_card_edited_after_saving_is_refused_naming_the_field(env, tmp_path, field, value):
    checkpoint = _edited_copy(env, tmp_path, _set(field, value))
    with pytest.raises(ValueError, match=f"field '{field}' differs from the value model.ckpt was saved with"):
        garbage_hpo.Predictor.load(checkpoint)


def test_a_card_with_swapped_class_names_is_refused(env, tmp_path):
    def swap(card: dict) -> None:
        first, second = card["classes"][0], card["classes"][1]
        first["english"], second["english"] = second["english"], first["english"]

    with pytest.raises(ValueError, match="field 'classes' differs"):
        garbage_hpo.Predictor.load(_edited_copy(env, tmp_path, swap))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("image_size", -5, "image_size=-5: a whole number of pixels"),
    ("profile.input_scaling", "weird", "profile.input_scaling='weird': one of"),
    ("profile.bn_eps", 0, "profile.bn_eps=0: a number between 0 and 1"),
    ("classes", [], "classes: a list of at least 2"),
])
def test_impossible_card_values_are_one_line_errors(env, tmp_path, field, value, message):
    checkpoint = _edited_copy(env, tmp_path, _set(field, value))
    with pytest.raises(ValueError, match=message):
        garbage_hpo.Predictor.load(checkpoint)


def test_weights_replaced_beside_their_card_are_refused(env, tmp_path):
    checkpoint = _edited_copy(env, tmp_path, lambda card: None)
    assert garbage_hpo.Predictor.load(checkpoint).num_classes == 26  # an untouched copy loads
    with open(checkpoint, "ab") as handle:  # same parameters, other bytes: not the file the card was written for
        handle.write(b"\0")
    photo = str(next((env["data"] / "val" / "00_00").iterdir()))
    proc = run_cli("garbage_hpo.predict", photo, f"model={checkpoint}", check=False)
    assert proc.returncode == 2 and "not the weights its model card model.json was written for" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_predict_quotes_a_file_name_that_would_split_its_row(env, tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    photo = next((env["data"] / "val" / "00_03").iterdir())
    shutil.copy(photo, folder / "a\tb\nc.jpg")
    rows = _lines(run_cli("garbage_hpo.predict", str(folder)))
    assert len(rows) == 1 and len(rows[0].split("\t")) == 4
    assert rows[0].split("\t")[0] == json.dumps(str(folder / "a\tb\nc.jpg"))
