"""Train and evaluate one configuration: `python -m garbage_hpo.train [overrides...]`.

Examples:
  python -m garbage_hpo.train                                   # demo data unless a dataset is found
  python -m garbage_hpo.train data.root=/path/to/garbage_26x100 train.epochs=30
  python -m garbage_hpo.train head=two_layer optimizer=adam schedule.lr_max=1e-3
  python -m garbage_hpo.train finetune=last_blocks finetune.epochs=2
  python -m garbage_hpo.train sweep.cv_folds=5                  # 5-fold CV value, then refit on every photo

Every accuracy printed carries its photo count and 95% interval. A val/ folder in data.root is a test set:
scored once, by the final model, at the end.
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from garbage_hpo.config import RunSettings, check_command_line, read_settings
from garbage_hpo.metrics import describe_split
from garbage_hpo.pipeline import Prepared, TrainResult, check_view_room, prepare, train
from garbage_hpo.runtime import configure_runtime, friendly_errors, run_hydra_app
from garbage_hpo.selection import (
    default_out_dir,
    log_out_of_fold_views,
    log_photo_list,
    refit,
    run_cv,
    selection_record,
)
from garbage_hpo.tracking import (
    Tracker,
    check_tracking_store,
    default_tracking_uri,
    hide_password,
    stop_at_once,
    ui_hint,
    ui_link,
)

log = logging.getLogger("garbage_hpo.train")


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    with friendly_errors():
        check_command_line(cfg)
        settings = read_settings(cfg)
        runs = settings.runs
        uri = cfg.tracking.uri or default_tracking_uri(runs)
        check_tracking_store(str(uri))  # seconds, before any data work; not minutes of retries after it
        configure_runtime()
        stop_at_once("train")
        prepared = prepare(settings)
        check_view_room(settings, prepared)  # augmented views the disk cannot hold: refused before the run opens
        tags = {"hpo.role": "train"}
        tracker = Tracker(uri, str(cfg.tracking.experiment), runs / "mlartifacts", cfg.tracking.run_name, tags)
        with tracker.outcome():
            if settings.cv_folds > 1:
                value = train_cross_validated(settings, prepared, tracker)
            else:
                value = train_one_split(settings, prepared, tracker)
        link = ui_link(uri, tracker.experiment_id, tracker.run_id)
        print(f"mlflow run {tracker.run_id} in {hide_password(uri)}: {link}{ui_hint(uri)}")
        return value


def test_line(test: dict) -> str:
    if not test:
        return ""
    return (f"\ntest (val/, scored once, never selected on): accuracy "
            f"{describe_split(test['test_acc'], int(test['test_n']))}")


def train_one_split(settings: RunSettings, prepared: Prepared, tracker: Tracker) -> float:
    result: TrainResult = train(settings, prepared, tracker)
    n = len(prepared.split.val)
    print(f"val_acc={describe_split(result.val_acc, n)} val_top5={result.val_top5:.4f} "
          f"val_loss={result.val_loss:.4f} best={result.best_stage}@{result.best_epoch} "
          f"train_images={len(prepared.split.train)} features_cached={prepared.features.from_cache} "
          f"prepare_s={prepared.seconds:.1f} train_s={result.seconds:.1f}{test_line(result.extra)}")
    print(f"checkpoint {result.checkpoint}")
    return result.val_acc


def train_cross_validated(settings: RunSettings, prepared: Prepared, tracker: Tracker) -> float:
    """k-fold CV value, then the refit on every training photo for refit_epochs (the saved model)."""
    cv = run_cv(settings, prepared, tracker)
    log_photo_list(tracker, prepared, default_out_dir(settings, tracker))
    suspects = log_out_of_fold_views(tracker, cv, settings, prepared, default_out_dir(settings, tracker))
    fitted = refit(settings, prepared, cv.refit_epochs, selection_record(cv), default_out_dir(settings, tracker))
    tracker.log_metrics({"train_images": fitted.train_images} | fitted.test, flush=True)
    for name in ("model.ckpt", "model.json"):
        tracker.log_artifact(fitted.checkpoint.with_name(name), "model")
    print(f"{cv.describe()} features_cached={prepared.features.from_cache} prepare_s={prepared.seconds:.1f} "
          f"cv_s={cv.seconds:.1f}{test_line(fitted.test)}")
    print(f"refit on all {fitted.train_images} training photos for {fitted.epochs} epochs: checkpoint "
          f"{fitted.checkpoint}")
    if suspects is not None:
        print(f"out of fold: confusion matrix and error gallery under out_of_fold/, {suspects} suspect labels under "
              "suspects/ on the MLflow run")
    return cv.summary.mean


if __name__ == "__main__":
    run_hydra_app(main)
