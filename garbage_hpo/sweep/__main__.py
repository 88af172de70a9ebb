"""Run a hyperparameter sweep: `python -m garbage_hpo.sweep +experiment=<name> [overrides...]`.

Examples:
  python -m garbage_hpo.sweep +experiment=head_depth
  python -m garbage_hpo.sweep +experiment=optimizer sweep.n_trials=40 sweep.sampler=random
  python -m garbage_hpo.sweep +experiment=lr_schedule data.root=/path/to/garbage_26x100
  python -m garbage_hpo.sweep +experiment=head_depth sweep.storage=postgresql://host/db tracking.uri=http://host:5000

Running the same command again continues the study until sweep.n_trials trials have completed or been pruned.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from garbage_hpo.config import check_command_line, read_settings, read_sweep_settings
from garbage_hpo.runtime import configure_runtime, friendly_errors, run_hydra_app, runs_dir
from garbage_hpo.sweep.driver import Sweep, TooManyFailures
from garbage_hpo.sweep.space import SearchSpace, check_against_config, load_space, run_facts
from garbage_hpo.sweep.space_check import check_enqueue, check_values
from garbage_hpo.sweep.trial_config import TrialConfigs
from garbage_hpo.tracking import check_tracking_store, default_tracking_uri, flatten, refuse_mlflow_database

PROJECT = Path(__file__).resolve().parents[2]
log = logging.getLogger("garbage_hpo.sweep")


def available_experiments() -> list[str]:
    return sorted(p.stem for p in (PROJECT / "conf" / "experiment").glob("*.yaml"))


def build_sweep(cfg: DictConfig, space: SearchSpace, overrides: list[str]) -> Sweep:
    """The config read once (the sweep's settings, the base training settings, the composer of trial configs),
    the space checked against it, the tracking store reachable: all before any study or run exists."""
    uri = str(cfg.tracking.uri or default_tracking_uri(runs_dir(cfg.runs_dir)))
    settings = read_sweep_settings(cfg, uri)
    check_tracking_store(uri)
    refuse_mlflow_database(settings.storage, uri)
    configs = TrialConfigs(cfg, overrides)
    check_against_config(space, cfg)
    base = read_settings(cfg)
    space = space.given(run_facts(base))
    check_enqueue(space, cfg)
    check_values(space, configs, read_settings)
    return Sweep(settings, base, space, configs, flatten(OmegaConf.to_container(cfg, resolve=False)))


@hydra.main(version_base="1.3", config_path="../../conf", config_name="sweep")
def main(cfg: DictConfig) -> None:
    with friendly_errors():
        check_command_line(cfg)
        if not cfg.sweep.name:
            raise ValueError("sweep.name is unset: choose an experiment, e.g. +experiment=head_depth "
                             f"(available: {', '.join(available_experiments())})")
        space_file = Path(str(cfg.sweep.space)) if str(cfg.sweep.space).endswith(".yaml") else \
            PROJECT / "sweeps" / f"{cfg.sweep.space}.yaml"
        space = load_space(space_file, PROJECT / "conf")
        configure_runtime()
        sweep = build_sweep(cfg, space, list(HydraConfig.get().overrides.task))
        sweep.stop.install()
        try:
            study = sweep.run()
        except KeyboardInterrupt:
            print("interrupted: the running trial is recorded as failed and queued again; run the same command "
                  "to continue the study", file=sys.stderr)
            sweep.stop.exit_interrupted(130)
        except TooManyFailures as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(1)
        print(sweep.summary(study))


if __name__ == "__main__":
    run_hydra_app(main)
