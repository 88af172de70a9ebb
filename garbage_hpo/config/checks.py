"""Command-line values checked against the config's own schema before any data, model or MLflow work.

Hydra accepts `+train.epoch=3` (a new key, silently ignored by the code) and `train.batch_size=1.5` or
`seed=abc` (a value of the wrong type, failing later inside a run, or worse, training a broken one). The
schema here is the config composed with the same group choices (`optimizer=adam`, `+experiment=...`) and no
value overrides: a key it lacks is unknown (with a did-you-mean), and a key whose default is a number or a
boolean must get one of that type. Keys whose default is null or text take any value (their own checks
name them later: e.g. `features.taps`).
"""

from __future__ import annotations

import difflib
from typing import Any

from hydra import compose
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf

MISSING = object()
# documented words a numeric key also takes (its default in some config group is a number)
ALSO_ALLOWED = {"finetune.unfreeze": ("all",), "sweep.ensemble": ("caruana",)}


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(node, ListConfig):
        return {prefix[:-1]: node}
    if isinstance(node, DictConfig):
        for key in node:
            out |= _leaves(node._get_node(key), f"{prefix}{key}.")  # unresolved: interpolations stay text
        return out
    value = node._value() if hasattr(node, "_value") else node
    out[prefix[:-1]] = value
    return out


def _type_error(key: str, default: Any, given: Any) -> str | None:
    if isinstance(given, str) and given.startswith("${"):
        return None  # an interpolation: resolved (and checked) where it is used
    if isinstance(default, bool):
        return None if isinstance(given, bool) else "true or false"
    if isinstance(default, int):
        return None if isinstance(given, int) and not isinstance(given, bool) else "a whole number"
    if isinstance(default, float):
        return None if isinstance(given, int | float) and not isinstance(given, bool) else "a number"
    return None


def schema_for(config_name: str, overrides: list[str], groups: set[str]) -> DictConfig:
    """The config with the same group choices and none of the value overrides."""
    kept = [o for o in overrides if o.lstrip("+~").split("=", 1)[0].split("@", 1)[0] in groups]
    return compose(config_name=config_name, overrides=kept)


def check_values(cfg: DictConfig, schema: DictConfig) -> None:
    """Raise ValueError naming the first unknown key or mistyped value of `cfg` (hydra/ excluded)."""
    known = _leaves(schema)
    for key, value in _leaves(cfg).items():
        if key.startswith("hydra."):
            continue
        default = known.get(key, MISSING)
        if default is MISSING:
            if any(key.startswith(k + ".") for k, v in known.items() if v is None or isinstance(v, ListConfig)):
                continue  # inside a key whose default is null or a list (e.g. sweep.objectives entries)
            near = difflib.get_close_matches(key, list(known), n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise ValueError(f"{key}: not a key of this configuration{hint}; `--cfg job` prints every key")
        expected = None if value in ALSO_ALLOWED.get(key, ()) else _type_error(key, default, value)
        if expected and key in ALSO_ALLOWED:
            expected += f" or one of {list(ALSO_ALLOWED[key])}"
        if expected:
            raise ValueError(f"{key}={value!r}: expected {expected} (the default is {default!r})")


def check_command_line(cfg: DictConfig) -> None:
    """For a `@hydra.main` app: the composed `cfg` against its schema (see the module docstring)."""
    hydra_cfg = HydraConfig.get()
    overrides = list(hydra_cfg.overrides.task)
    if not overrides:
        return
    groups = set(OmegaConf.to_container(hydra_cfg.runtime.choices).keys())
    check_values(cfg, schema_for(hydra_cfg.job.config_name, overrides, groups))
