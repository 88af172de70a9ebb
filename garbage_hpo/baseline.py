"""The peer probe a sweep must beat:

    python -m garbage_hpo.baseline [data.root=DIR] [sweep.cv_folds=5] [data.split_seed=0] [key=value ...] [--json]

scikit-learn LogisticRegression on the cached, mean-pooled last-layer features of the configured backbone,
standardized with each fold's training photos, C chosen from {0.001 ... 1} by the same folds a sweep uses
(StratifiedGroupKFold over train/, duplicates kept together, each distinct validation photo once;
sweep.cv_folds=1: the single split of data.val_fraction). Prints the accuracy per C and the chosen one with
its photo count and 95% interval, and beside it the figure corrected for choosing C on the same folds
(BBC-CV); the last line is JSON {"cv_acc", "cv_std", "folds", "C", "bbc_acc", "bbc_ci95"}. Any key of the
training config (e.g. model.pretrained=PATH, data.image_size=224) selects other features. Results are cached
under runs/cache/probe. Exit code 0, or 2 for bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from garbage_hpo.runtime import command_args, configure_runtime, friendly_errors, key_values
from garbage_hpo.tracking import stop_at_once

CONF = Path(__file__).resolve().parent.parent / "conf"


def compose_config(overrides: dict[str, str]):
    from hydra import compose, initialize_config_dir

    items = [f"{k}={v}" for k, v in overrides.items()]
    if "sweep.cv_folds" not in overrides:
        items.append("sweep.cv_folds=5")  # the experiments' default: the figure a sweep is compared with
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return compose(config_name="train", overrides=items)


def config_from_args(argv: list[str], flags: dict[str, bool]):
    """(the composed training config, the --flags) of a probe command's `key=value ...` arguments; a bad
    argument or override raises ValueError naming it."""
    overrides, given = key_values(argv, flags)
    try:
        return compose_config(overrides), given
    except Exception as err:  # Hydra's own errors name the override
        raise ValueError(f"bad override: {err}") from err


def main(argv: list[str] | None = None) -> int:
    argv = command_args(argv, __doc__)
    if argv is None:
        return 0
    with friendly_errors():
        cfg, flags = config_from_args(argv, {"json": False})
        configure_runtime()
        stop_at_once("baseline")
        from garbage_hpo.config import read_settings
        from garbage_hpo.pipeline import prepare
        from garbage_hpo.selection import probe_for

        settings = read_settings(cfg)
        prepared = prepare(settings)
        result = probe_for(settings, prepared)
        if not flags.get("json"):
            for c, acc in result.grid.items():
                print(f"  C={c:<6} fold-mean accuracy {acc:.4f}")
            where = "cached" if result.from_cache else f"{result.seconds:.1f}s"
            print(f"{result.describe()} ({where})")
        print(json.dumps(result.headline()))
        return 0


if __name__ == "__main__":
    sys.exit(main())
