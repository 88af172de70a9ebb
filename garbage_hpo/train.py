"""Train and evaluate one configuration: `python -m garbage_hpo.train [overrides...]`.

Examples:
  python -m garbage_hpo.train                                   # demo data unless a dataset is found
  python -m garbage_hpo.train data.root=/path/to/garbage_26x100 train.epochs=30
  python -m garbage_hpo.train head=two_layer optimizer=adam schedule.lr_max=1e-3
  python -m garbage_hpo.train finetune=last_blocks finetune.epochs=2
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from garbage_hpo.cli import configure_runtime, friendly_errors
from garbage_hpo.pipeline import prepare, runs_dir, train
from garbage_hpo.tracking import Tracker, default_tracking_uri

log = logging.getLogger("garbage_hpo.train")


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    with friendly_errors():
        configure_runtime()
        prepared = prepare(cfg)
        runs = runs_dir(cfg)
        uri = cfg.tracking.uri or default_tracking_uri(runs)
        tags = {"garbage_hpo.role": "train"}
        tracker = Tracker(uri, str(cfg.tracking.experiment), runs / "mlartifacts", cfg.tracking.run_name, tags)
        status = "FAILED"
        try:
            result = train(cfg, prepared, tracker)
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            tracker.end(status)
        print(f"val_acc={result.val_acc:.4f} val_top5={result.val_top5:.4f} val_loss={result.val_loss:.4f} "
              f"best={result.best_stage}@{result.best_epoch} features_cached={prepared.features.from_cache} "
              f"prepare_s={prepared.seconds:.1f} train_s={result.seconds:.1f}")
        print(f"mlflow run {tracker.run_id} in {uri}; checkpoint {result.checkpoint}")
        return result.val_acc


if __name__ == "__main__":
    main()
