"""Train a finished study's completed trials again without Optuna or MLflow, in a fresh process like the sweep's:
`python -m garbage_hpo.bench.replay STORAGE_URL STUDY [hydra overrides...]`. Prints one JSON line with the
summed seconds of those bare trainings (the denominator of the sweep overhead ratio)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> int:
    storage, study_name, *overrides = argv
    from garbage_hpo.cli import configure_runtime

    configure_runtime()
    import optuna
    from hydra import compose, initialize_config_dir
    from optuna.trial import TrialState

    from garbage_hpo.pipeline import prepare, train
    from garbage_hpo.sweep.space import load_space
    from garbage_hpo.sweep.trial_config import TrialConfigs

    study = optuna.load_study(study_name=study_name, storage=storage)
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    with initialize_config_dir(version_base="1.3", config_dir=str(PROJECT / "conf")):
        base = compose(config_name="sweep", overrides=overrides)
        space = load_space(PROJECT / "sweeps" / f"{base.sweep.space}.yaml", PROJECT / "conf")
        configs = TrialConfigs(base, overrides)
        prepared = prepare(base)
        seconds = 0.0
        for trial in done:
            groups, scalars = space.config_values(trial.params)
            cfg = configs.build(groups, scalars)
            start = time.perf_counter()
            train(cfg, prepared, tracker=None, save_checkpoint=False)
            seconds += time.perf_counter() - start
    print(json.dumps({"trials": len(done), "bare_seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
