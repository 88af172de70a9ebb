"""Samplers and pruners by config name (`sweep.sampler`, `sweep.pruner`)."""

from __future__ import annotations

import warnings

import optuna

from garbage_hpo.sweep.space import SearchSpace

# multivariate/group TPE and constant_liar are marked experimental but are Optuna's recommended setup
# for conditional spaces and parallel workers
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

SAMPLERS = ("tpe", "random", "grid", "cmaes", "nsga2")
PRUNERS = ("median", "hyperband", "none")


def make_sampler(name: str, seed: int, space: SearchSpace, multi_objective: bool) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    if name == "cmaes":
        if multi_objective:
            raise ValueError("sweep.sampler=cmaes cannot optimise several objectives; use nsga2 or tpe")
        # CMA-ES handles the numeric entries; categorical ones fall back to seeded random sampling
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False,
                                            independent_sampler=optuna.samplers.RandomSampler(seed=seed))
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    raise ValueError(f"sweep.sampler={name!r}: choose one of {SAMPLERS}")


def make_pruner(name: str, max_epochs: int, startup_trials: int = 5, warmup_epochs: int | None = None
                ) -> optuna.pruners.BasePruner:
    if name == "median":
        warmup = max(1, max_epochs // 4) if warmup_epochs is None else warmup_epochs
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(max_epochs, 1), reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"sweep.pruner={name!r}: choose one of {PRUNERS}")
