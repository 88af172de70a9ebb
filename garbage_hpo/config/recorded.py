"""The resolved config a finished MLflow run recorded (its config.yaml artifact), to train it again."""

from __future__ import annotations

import tempfile

from omegaconf import DictConfig, OmegaConf, open_dict

from garbage_hpo.runtime import runs_dir


def recorded_config(client, run_id: str, overrides: dict[str, str]) -> DictConfig:
    """The trial's resolved config as logged (config.yaml artifact), with the user's overrides applied."""
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

