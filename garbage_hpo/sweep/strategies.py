"""Samplers and pruners by config name (`sweep.sampler`, `sweep.pruner`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from garbage_hpo.sweep.space import SearchSpace

# multivariate/group TPE and constant_liar are marked experimental but are Optuna's recommended setup
# for conditional spaces and parallel workers
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

SAMPLERS = ("tpe", "random", "grid", "cmaes", "nsga2")
PRUNERS = ("median", "hyperband", "none")


def trial_seed(seed: int, number: int) -> int:
    """The sampler seed of trial `number`: distinct per trial, the same for the same (seed, number)."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


class PerTrialSeeded(optuna.samplers.BaseSampler):
    """A sampler whose random state is a function of (seed, trial number), not of the process.

    A seeded sampler's RNG starts at the same state in every process: two workers on one study, or a sweep
    continued in a new invocation, then draw the same random points again (issue: parallel and resumed
    sweeps repeated trials). Trial numbers are unique in a study, so seeding each trial from its number gives
    every worker and invocation different draws, while one uninterrupted sweep stays reproducible. The
    wrapped samplers keep no state between trials that matters (TPE, random, CMA-ES and NSGA-II read
    the study's history from the storage), so a fresh one per trial loses nothing. The grid sampler is the
    exception (see `make_sampler`).
    """

    def __init__(self, factory: Callable[[int], optuna.samplers.BaseSampler], seed: int) -> None:
        self.factory = factory
        self.seed = seed
        self.inner = factory(seed)
        self.inner_number: int | None = None

    def _for(self, trial: FrozenTrial) -> optuna.samplers.BaseSampler:
        if trial.number != self.inner_number:
            self.inner = self.factory(trial_seed(self.seed, trial.number))
            self.inner_number = trial.number
        return self.inner

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._for(trial).before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: list[float] | None) -> None:
        self._for(trial).after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


def earlier_duplicate(trial: optuna.Trial) -> int | None:
    """The number of an earlier trial that already tried (or is trying) exactly these parameters, if any.

    Two workers that enqueue the same first trial at the same moment both get it; a categorical space can
    be drawn twice. A trial that repeats a point is skipped instead of re-run; retries of failed or
    interrupted trials repeat a FAILED one, which does not count."""
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    for other in trial.study.get_trials(deepcopy=False, states=states):
        if other.number < trial.number and other.params == trial.params and "duplicate_of" not in other.user_attrs:
            return other.number
    return None


DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)


def counted(trials: list[FrozenTrial]) -> int:
    """Trials that use up `sweep.n_trials`: completed or pruned, not skipped as a duplicate (no work was done)."""
    return sum(t.state in DONE_STATES and "duplicate_of" not in t.user_attrs for t in trials)


class TrialBudget:
    """A study callback (in place of Optuna's MaxTrialsCallback): stop once `target` trials count (see `counted`),
    or after `duplicate_limit` duplicates in a row, when the sampler keeps drawing points already tried (a small
    space, mostly exhausted)."""

    def __init__(self, target: int, duplicate_limit: int = 25) -> None:
        self.target = target
        self.duplicate_limit = duplicate_limit
        self.duplicates_in_a_row = 0
        self.exhausted = False

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.duplicates_in_a_row = self.duplicates_in_a_row + 1 if "duplicate_of" in trial.user_attrs else 0
        if self.duplicates_in_a_row >= self.duplicate_limit:
            self.exhausted = True
            study.stop()
        elif counted(study.get_trials(deepcopy=False, states=DONE_STATES)) >= self.target:
            study.stop()


def make_sampler(name: str, seed: int, space: SearchSpace, multi_objective: bool) -> optuna.samplers.BaseSampler:
    if name not in SAMPLERS:
        raise ValueError(f"sweep.sampler={name!r}: choose one of {SAMPLERS}")
    if name == "cmaes" and multi_objective:
        raise ValueError("sweep.sampler=cmaes cannot optimise several objectives; use nsga2 or tpe")
    if name == "grid":
        # One shuffle for the whole study, in every worker and invocation: GridSampler coordinates through the
        # study by grid index (`grid_id` in the trials' system attrs), and an index only names the same point
        # under the same shuffle. Re-seeding per trial skipped and repeated points.
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    return PerTrialSeeded(lambda trial_seed_: _sampler(name, trial_seed_, space), seed)


def _sampler(name: str, seed: int, space: SearchSpace) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        # CMA-ES handles the numeric entries; categorical ones fall back to seeded random sampling
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False,
                                            independent_sampler=optuna.samplers.RandomSampler(seed=seed))
    return optuna.samplers.NSGAIISampler(seed=seed)


KIND_ATTR = "pruning_kind"  # "head" or "finetune": which trials a trial's epochs may be compared with


class _TrialsOfKind:
    """The study as a pruner reads it, holding only the trials of one kind."""

    def __init__(self, study: optuna.Study, kind: str) -> None:
        self._study = study
        self._kind = kind

    def get_trials(self, deepcopy: bool = True, states: tuple[TrialState, ...] | None = None) -> list[FrozenTrial]:
        return [t for t in self._study.get_trials(deepcopy=deepcopy, states=states)
                if t.user_attrs.get(KIND_ATTR, "head") == self._kind]  # trials from before kinds: head

    def __getattr__(self, name: str) -> Any:  # direction and the rest: the study's own
        return getattr(self._study, name)


class SameKindPruner(optuna.pruners.BasePruner):
    """Prunes a trial against trials of its own kind only (user attribute `pruning_kind`). In a space that mixes
    head-only trials with fine-tuning ones, cross-validated fine-tuning trials report no per-epoch values and a
    one-split one's curve continues past the head's epochs: counted with the head trials, they made the median
    pruner's start-up count and compare head trials with a single early trial, which then pruned every later
    head trial. Wraps the median pruner, which reads the study only through `get_trials` and `direction`."""

    def __init__(self, inner: optuna.pruners.BasePruner) -> None:
        self.inner = inner

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        kind = trial.user_attrs.get(KIND_ATTR, "head")
        return self.inner.prune(_TrialsOfKind(study, kind), trial)  # type: ignore[arg-type]


def make_pruner(name: str, max_epochs: int, startup_trials: int = 5, warmup_epochs: int | None = None
                ) -> optuna.pruners.BasePruner:
    if name == "median":
        warmup = max(1, max_epochs // 4) if warmup_epochs is None else warmup_epochs
        return SameKindPruner(optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup))
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(max_epochs, 1), reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"sweep.pruner={name!r}: choose one of {PRUNERS}")
