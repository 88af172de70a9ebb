"""Deterministic search-space mistakes found before trial 0, not as `max_failures` failing trials.

Every numeric bound and every choice of every entry is applied to the base config (with the group choices
and the other conditional entries its conditions bring along) and validated like a trial's config; values
must have the config key's type (YAML reads `1.0e30` without a sign as a string); `sweep.enqueue` entries may
only name the space's entries.
"""

from __future__ import annotations

import difflib
from typing import Any

from omegaconf import DictConfig, OmegaConf

from garbage_hpo.sweep.space import Param, SearchSpace, SearchSpaceError
from garbage_hpo.sweep.trial_config import TrialConfigs


def _context(space: SearchSpace, param: Param) -> dict[str, Any]:
    """Values of the entries `param`'s conditions name (the first allowed value of each), recursively."""
    by_name = {p.name: p for p in space.params}
    values: dict[str, Any] = {}
    pending = list(param.when.items())
    while pending:
        name, allowed = pending.pop()
        if name not in values:
            values[name] = allowed[0]
            if name in by_name:
                pending += list(by_name[name].when.items())
    return values


def _companions(space: SearchSpace, param: Param, context: dict[str, Any]) -> dict[str, Any]:
    """Config values a trial in `context` also gets: the context's own entries and every other conditional entry
    active there (its first value), so an entry is checked inside a coherent trial (a fine-tuning value with
    the head settings fine-tuning requires), not alone against the experiment's defaults."""
    values = dict(context)
    for other in space.params:
        if other is not param and other.name not in values and other.when and other.active(values):
            values[other.name] = _extremes(other)[0]
    by_name = {p.name: p for p in space.params}
    return {by_name[n].key: v for n, v in values.items()
            if n in by_name and not by_name[n].is_switch and not by_name[n].is_group and n != param.name}


def _extremes(param: Param) -> list[Any]:
    return list(param.choices) if param.kind == "categorical" else [param.low, param.high]


def _check_type(space: SearchSpace, param: Param, value: Any, current: Any) -> None:
    numeric = isinstance(current, int | float) and not isinstance(current, bool)
    if numeric and isinstance(value, str | bool):
        raise SearchSpaceError(f"{space.source}: entry {param.name}: value {value!r} is a {type(value).__name__}, "
                               "the key takes a number (YAML reads 1.0e30 as text: write 1.0e+30)")


def check_values(space: SearchSpace, configs: TrialConfigs, validate) -> None:
    """Apply each entry's bounds/choices to the config and run `validate` (the trial config check) on it."""
    by_name = {p.name: p for p in space.params}
    for param in space.params:
        if param.is_switch or param.is_group:
            continue
        context = _context(space, param)
        groups = {by_name[n].key: v for n, v in context.items() if n in by_name and by_name[n].is_group}
        companions = _companions(space, param, context)
        for value in _extremes(param):
            cfg = configs.build(groups, {})
            _check_type(space, param, value, OmegaConf.select(cfg, param.key))
            try:
                validate(configs.build(groups, companions | {param.key: value}))
            except (ValueError, TypeError, KeyError) as err:
                raise SearchSpaceError(f"{space.source}: entry {param.name}: the value {value!r} is not valid: "
                                       f"{err}") from None


def check_enqueue(space: SearchSpace, cfg: DictConfig) -> None:
    names = [p.name for p in space.params]
    for i, entry in enumerate(cfg.sweep.enqueue or []):
        for key in entry:
            if key not in names and key not in space.dropped:
                near = difflib.get_close_matches(str(key), names, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else f" (entries: {', '.join(names)})"
                raise ValueError(f"sweep.enqueue[{i}]: {key!r} is not an entry of {space.source.name}{hint}")
