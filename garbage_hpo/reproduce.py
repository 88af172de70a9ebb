"""Re-train the best sweep trial and prove it reproduces:

    python -m garbage_hpo.reproduce [experiment=NAME [trial=N]] [tolerance=0.5] [sweep.storage=URL]
                                    [tracking.uri=URI] [key=value ...] [--json]

Finds the best completed (not pruned) trial by val_acc, in study NAME or over every study of the Optuna
storage (default runs/optuna.db), or takes trial N of study NAME; re-trains its exact recorded config and
seed in a new MLflow run tagged garbage_hpo.reproduction_of=<run id>; prints the recorded and reproduced
val_acc and their difference. The reproduced network is saved (model/model.ckpt), exported to MINDIR
(model/model.mindir, checked to give the same top-1 on every validation photo) and registered as a new
version of the MLflow registered model `garbage-hpo`; the alias `champion` moves to it only when the
difference is within `tolerance` percentage points and the export agrees. Other key=value pairs override
the recorded config (e.g. data.root=DIR when the photos moved). Exit code 0: reproduced; 1: not
reproduced; 2: bad input.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from dataclasses import asdict, dataclass

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from garbage_hpo.cli import configure_runtime, friendly_errors, split_args, tracking_uri

log = logging.getLogger("garbage_hpo.reproduce")


@dataclass
class Reproduction:
    study_name: str
    trial_number: int
    original_run_id: str
    run_id: str
    recorded_val_acc: float
    reproduced_val_acc: float
    difference_pp: float
    tolerance_pp: float
    export_top1_agreement: float
    export_max_abs_diff: float
    checkpoint: str
    mindir: str
    registered_version: str
    champion: bool

    @property
    def passed(self) -> bool:
        return abs(self.difference_pp) <= self.tolerance_pp and self.export_top1_agreement == 1.0


def recorded_config(client, run_id: str, overrides: dict[str, str]) -> DictConfig:
    """The trial's resolved config as logged (config.yaml artifact), with the user's overrides applied."""
    from garbage_hpo.paths import runs_dir

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, "config.yaml", tmp)
        except Exception as err:  # MlflowException or OSError, depending on the artifact store
            raise FileNotFoundError(f"MLflow run {run_id} has no config.yaml artifact to re-train from") from err
        cfg = OmegaConf.load(path)
    with open_dict(cfg):
        cfg.runs_dir = str(runs_dir())
        for key, value in overrides.items():
            if OmegaConf.select(cfg, key, default=KeyError) is KeyError:
                raise ValueError(f"{key}={value}: not a key of the recorded config of run {run_id}")
            parsed = OmegaConf.select(OmegaConf.from_dotlist([f"{key}={value}"]), key)  # typed as on a CLI
            OmegaConf.update(cfg, key, parsed, merge=False)
    return cfg


def warn_if_inputs_changed(original_tags: dict[str, str], new_tags: dict[str, str]) -> list[str]:
    """Different photos or weights make a different result expected: say so before the verdict."""
    notes = []
    for tag, what in (("garbage_hpo.dataset_fingerprint", "dataset"), ("garbage_hpo.weights_sha256", "weights")):
        before, now = original_tags.get(tag), new_tags.get(tag)
        if before and now and before != now:
            notes.append(f"the {what} differ from the original run's ({tag} {before[:12]} -> {now[:12]})")
    for note in notes:
        log.warning("reproduction: %s", note)
    return notes


def reproduce(overrides: dict[str, str]) -> Reproduction:
    from mlflow.tracking import MlflowClient

    from garbage_hpo.data.images import preprocess
    from garbage_hpo.export import export_mindir, load_mindir, top1_agreement
    from garbage_hpo.paths import runs_dir
    from garbage_hpo.pipeline import load_images, prepare, run_tags, train
    from garbage_hpo.predictor import Predictor
    from garbage_hpo.registry import promote, register_version
    from garbage_hpo.sweep.best import find_best_trial, find_trial
    from garbage_hpo.tracking import Tracker

    tolerance = float(overrides.pop("tolerance", 0.5))
    if tolerance < 0:
        raise ValueError(f"tolerance={tolerance}: percentage points, at least 0")
    storage = overrides.pop("sweep.storage", None) or f"sqlite:///{runs_dir() / 'optuna.db'}"
    uri = tracking_uri(overrides)
    overrides.pop("tracking.uri", None)
    study_name = overrides.pop("experiment", None) or None
    number = overrides.pop("trial", None)
    if number is not None and study_name is None:
        raise ValueError(f"trial={number}: name its study too, experiment=NAME")
    best = find_trial(storage, study_name, int(number)) if number is not None else \
        find_best_trial(storage, study_name)
    client = MlflowClient(tracking_uri=uri)
    try:
        original = client.get_run(best.run_id)
    except Exception as err:
        raise FileNotFoundError(f"trial {best.number} of study {best.study_name} points at MLflow run "
                                f"{best.run_id}, which {uri} does not hold (pass the sweep's tracking.uri=)") from err
    which = "trial" if number is not None else "best trial"
    print(f"{which}: study {best.study_name} #{best.number} val_acc={best.value:.4f} (MLflow run {best.run_id}) "
          f"params {best.params}", flush=True)
    cfg = recorded_config(client, best.run_id, overrides)
    with open_dict(cfg):
        cfg.tracking.uri = uri

    configure_runtime()
    prepared = prepare(cfg)
    experiment = client.get_experiment(original.info.experiment_id).name
    tracker = Tracker(uri, experiment, runs_dir() / "mlartifacts",
                      run_name=f"reproduce-{best.study_name}-trial-{best.number}",
                      tags={"garbage_hpo.role": "reproduction", "garbage_hpo.reproduction_of": best.run_id,
                            "optuna.study_name": best.study_name, "optuna.trial_number": str(best.number)})
    status = "FAILED"
    try:
        notes = warn_if_inputs_changed(original.data.tags, run_tags(cfg, prepared))
        result = train(cfg, prepared, tracker, save_checkpoint=True)
        assert result.checkpoint is not None
        trained = Predictor.load(result.checkpoint).net  # built once: exported and compared against
        mindir = export_mindir(trained, prepared.image_size, result.checkpoint.with_suffix(".mindir"))
        tracker.log_artifact(mindir, "model")
        scaling = prepared.spec.profile.input_scaling
        val = np.stack([preprocess(img, prepared.image_size, scaling)
                        for img in load_images(prepared, prepared.split.val)])
        agreement, max_diff = top1_agreement(trained, load_mindir(mindir), val)
        difference = (result.val_acc - best.value) * 100
        report = Reproduction(best.study_name, best.number, best.run_id, tracker.run_id, best.value,
                              result.val_acc, difference, tolerance, agreement, max_diff, str(result.checkpoint),
                              str(mindir), "", False)
        verdict = "passed" if report.passed else "failed"
        tracker.log_metrics({"recorded_val_acc": best.value, "reproduction_diff_pp": difference,
                             "export_top1_agreement": agreement, "export_max_abs_diff": max_diff}, flush=True)
        tracker.set_tags({"garbage_hpo.reproduction": verdict} |
                         ({"garbage_hpo.reproduction_notes": "; ".join(notes)} if notes else {}))
        card = json.loads(result.checkpoint.with_suffix(".json").read_text(encoding="utf-8"))
        version = register_version(client, tracker.run_id, card, {
            "reproduction": verdict, "reproduction_of": best.run_id, "val_acc": f"{result.val_acc:.6f}",
            "study": best.study_name, "trial": str(best.number)})
        report.registered_version = str(version.version)
        if report.passed:
            promote(client, version)
            report.champion = True
        status = "FINISHED"
        return report
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        tracker.end(status)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    with friendly_errors():
        overrides, flags, extra = split_args(argv, {"json": False})
        if extra:
            raise ValueError(f"unexpected arguments {extra}: give key=value pairs (see --help)")
        report = reproduce(overrides)
        if flags.get("json"):
            print(json.dumps(asdict(report) | {"passed": report.passed}))
        else:
            print(f"recorded val_acc   {report.recorded_val_acc:.4f}  (run {report.original_run_id})")
            print(f"reproduced val_acc {report.reproduced_val_acc:.4f}  (run {report.run_id})")
            print(f"difference {report.difference_pp:+.2f} percentage points (tolerance {report.tolerance_pp})")
            print(f"MINDIR export: top-1 agrees on {report.export_top1_agreement:.1%} of validation photos, "
                  f"max score difference {report.export_max_abs_diff:.2e}: {report.mindir}")
            alias = "alias champion moved to it" if report.champion else "champion alias NOT moved"
            print(f"registered garbage-hpo version {report.registered_version}: {alias}")
            print("REPRODUCED" if report.passed else "NOT REPRODUCED")
        return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
