"""Search spaces declared in `sweeps/<name>.yaml`, validated against the composed config before any trial.

    question: Does a second dense layer of half width help, with or without dropout?
    switches:                     # sampled choices that are not config keys; other entries depend on them
      use_dropout: [false, true]
    params:
      head.depth: {choices: [1, 2]}                            # categorical
      head.dropout: {low: 0.1, high: 0.7, when: {use_dropout: true}}
      schedule.lr_max: {low: 1.0e-3, high: 0.2, log: true}     # float (log scale)
      train.epochs: {low: 10, high: 40, step: 10}              # int: both bounds are integers
      optimizer: {choices: [momentum, adam]}                   # a config group: picks conf/optimizer/<x>.yaml
      optimizer.momentum: {low: 0.8, high: 0.99, when: {optimizer: momentum}}

An entry with `when` exists only if every named switch or parameter has (one of) the given value(s);
otherwise the config keeps the experiment's value. `key@tag` sets `key` too, so one key can get a different
range under different conditions (the conditions must not overlap):

      schedule.lr_max@momentum: {low: 0.01, high: 0.3, log: true, when: {optimizer: momentum}}
      schedule.lr_max@adam: {low: 1.0e-4, high: 1.0e-2, log: true, when: {optimizer: adam}}

A `when` may also name a fact of the run's settings (FACTS), settled once before the sweep: an entry whose fact
does not hold is not part of that sweep's space at all (no trial samples it, the study's fingerprint omits it):

      features.companion_taps: {choices: ["-1", "11,12,-1"], when: {model.companion: mobilenetv1}}
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna
import yaml
from omegaconf import DictConfig, OmegaConf

from garbage_hpo.config import RunSettings

CONFIG_GROUPS = ("head", "optimizer", "schedule", "finetune", "model", "data", "train")
MARKER = object()
# Facts a `when` may name, with the values each takes: model.companion is the second backbone that
# model.companion resolves to (`auto` finds one beside ImageNet TFLite weights only)
FACTS = {"model.companion": ("none", "mobilenetv1", "mobilenetv2")}


class SearchSpaceError(ValueError):
    """A malformed search-space file; the message names the file and the entry."""


def config_key(name: str) -> str:
    """The config key a search-space entry sets: its name without an `@tag` (`schedule.lr_max@raw` and
    `schedule.lr_max@standardized` both set `schedule.lr_max`, each in its own range)."""
    return name.split("@", 1)[0]


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # categorical | int | float
    choices: tuple = ()
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    when: dict[str, tuple] = field(default_factory=dict)
    is_switch: bool = False
    is_group: bool = False

    @property
    def key(self) -> str:
        return config_key(self.name)

    def active(self, values: dict[str, Any]) -> bool:
        return all(name in values and values[name] in allowed for name, allowed in self.when.items())

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), step=self.step, log=self.log)

    def grid_values(self) -> list:
        if self.kind == "categorical":
            return list(self.choices)
        if self.step is None:
            raise SearchSpaceError(f"{self.name}: sweep.sampler=grid needs `choices` or a `step` for every entry")
        values, v = [], self.low
        while v <= self.high + 1e-12:
            values.append(int(v) if self.kind == "int" else round(float(v), 12))
            v += self.step
        return values


@dataclass(frozen=True)
class SearchSpace:
    name: str
    question: str
    params: tuple[Param, ...]
    source: Path
    dropped: tuple[str, ...] = ()  # entries a fact of the run removed (given): enqueued values for them are unused

    def sample(self, trial: optuna.Trial) -> dict[str, Any]:
        """Sample the active entries in declaration order (a condition may only name an earlier entry)."""
        values: dict[str, Any] = {}
        for param in self.params:
            if param.active(values):
                values[param.name] = param.suggest(trial)
        return values

    def config_values(self, sampled: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(group choices, scalar config values) from a sample; switches are dropped."""
        groups = {p.key: sampled[p.name] for p in self.params if p.is_group and p.name in sampled}
        scalars: dict[str, Any] = {}
        for p in self.params:
            if not p.is_group and not p.is_switch and p.name in sampled:
                if p.key in scalars:
                    raise SearchSpaceError(f"{self.source}: entries for {p.key!r} were active together; "
                                           "make their `when` conditions exclusive")
                scalars[p.key] = sampled[p.name]
        return groups, scalars

    def grid(self) -> dict[str, list]:
        return {p.name: p.grid_values() for p in self.params}

    def given(self, facts: dict[str, Any]) -> SearchSpace:
        """This space for a run whose FACTS are `facts`: entries waiting for another value of a fact dropped,
        the facts' conditions removed from the others."""
        kept, dropped = [], list(self.dropped)
        for param in self.params:
            if all(facts[k] in allowed for k, allowed in param.when.items() if k in facts):
                kept.append(replace(param, when={k: v for k, v in param.when.items() if k not in facts}))
            else:
                dropped.append(param.name)
        return replace(self, params=tuple(kept), dropped=tuple(dropped))

    def enqueued(self, params: dict[str, Any]) -> dict[str, Any]:
        """An enqueued trial's values without those of entries this run's facts removed (sweep.enqueue is written
        for every run of the experiment)."""
        return {name: value for name, value in params.items() if name not in self.dropped}


def run_facts(settings: RunSettings) -> dict[str, Any]:
    """The FACTS of a run's settings."""
    companion = settings.model.companion
    return {"model.companion": companion.arch if companion is not None else "none"}


def _as_tuple(value: Any) -> tuple:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def _parse_param(source: Path, name: str, entry: Any, is_switch: bool, conf_dir: Path) -> Param:
    where = f"{source}: entry {name!r}"
    if is_switch:
        if not isinstance(entry, list) or len(entry) < 2:
            raise SearchSpaceError(f"{where}: a switch is a list of at least two values")
        return Param(name, "categorical", tuple(entry), is_switch=True)
    if not isinstance(entry, dict):
        raise SearchSpaceError(f"{where}: expected a mapping such as {{choices: [...]}} or {{low: .., high: ..}}")
    unknown = set(entry) - {"choices", "low", "high", "log", "step", "when", "type"}
    if unknown:
        raise SearchSpaceError(f"{where}: unknown fields {sorted(unknown)}")
    when_raw = entry.get("when") or {}
    if not isinstance(when_raw, dict):
        raise SearchSpaceError(f"{where}: `when` must map entry names to a value or a list of values")
    when = {k: _as_tuple(v) for k, v in when_raw.items()}
    is_group = "." not in name.split("@")[0] and (conf_dir / name.split("@")[0]).is_dir()
    if "choices" in entry:
        choices = entry["choices"]
        if not isinstance(choices, list) or not choices:
            raise SearchSpaceError(f"{where}: `choices` must be a non-empty list")
        if is_group:
            group = name.split("@")[0]
            missing = [c for c in choices if not (conf_dir / group / f"{c}.yaml").is_file()]
            if missing:
                raise SearchSpaceError(f"{where}: no config {[f'{group}/{c}.yaml' for c in missing]} in {conf_dir}")
        return Param(name, "categorical", tuple(choices), when=when, is_group=is_group)
    if "low" not in entry or "high" not in entry:
        raise SearchSpaceError(f"{where}: needs `choices`, or `low` and `high`")
    low, high = entry["low"], entry["high"]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)):
        raise SearchSpaceError(f"{where}: `low` and `high` must be numbers")
    if low >= high:
        raise SearchSpaceError(f"{where}: low={low} must be below high={high}")
    kind = entry.get("type") or ("int" if isinstance(low, int) and isinstance(high, int) else "float")
    if kind not in ("int", "float"):
        raise SearchSpaceError(f"{where}: type must be int or float")
    log = bool(entry.get("log", False))
    if log and low <= 0:
        raise SearchSpaceError(f"{where}: log scale needs low > 0")
    step = entry.get("step")
    if log and step is not None:
        raise SearchSpaceError(f"{where}: `log` and `step` cannot be combined")
    return Param(name, kind, low=low, high=high, log=log, step=step, when=when)


def load_space(path: Path, conf_dir: Path) -> SearchSpace:
    if not path.is_file():
        raise SearchSpaceError(f"sweep.space: no search-space file {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise SearchSpaceError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(raw, dict) or not isinstance(raw.get("params"), dict) or not raw["params"]:
        raise SearchSpaceError(f"{path}: expected a mapping with a non-empty `params:` section")
    unknown = set(raw) - {"question", "switches", "params"}
    if unknown:
        raise SearchSpaceError(f"{path}: unknown top-level keys {sorted(unknown)}")
    params = [_parse_param(path, n, e, True, conf_dir) for n, e in (raw.get("switches") or {}).items()]
    params += [_parse_param(path, n, e, False, conf_dir) for n, e in raw["params"].items()]
    seen: dict[str, Param] = {}
    for param in params:
        if param.name in seen:
            raise SearchSpaceError(f"{path}: entry {param.name!r} declared twice")
        for dep, allowed in param.when.items():
            if dep in FACTS:
                if not set(allowed) <= set(FACTS[dep]):
                    raise SearchSpaceError(f"{path}: entry {param.name!r} waits for {dep} in {list(allowed)}, "
                                           f"but {dep} is one of {list(FACTS[dep])}")
                continue
            if dep not in seen:
                raise SearchSpaceError(f"{path}: entry {param.name!r} depends on {dep!r}, "
                                       "which is not declared before it")
            if seen[dep].kind == "categorical" and not set(allowed) <= set(seen[dep].choices):
                raise SearchSpaceError(f"{path}: entry {param.name!r} waits for {dep} in {list(allowed)}, "
                                       f"but {dep} only takes {list(seen[dep].choices)}")
        seen[param.name] = param
    return SearchSpace(path.stem, str(raw.get("question", "")), tuple(params), path)


def check_against_config(space: SearchSpace, cfg: DictConfig) -> None:
    """Every non-switch, non-group entry must name an existing key of the composed config."""
    for param in space.params:
        if param.is_switch or param.is_group:
            if param.is_switch and OmegaConf.select(cfg, param.name, default=MARKER) is not MARKER:
                raise SearchSpaceError(f"{space.source}: switch {param.name!r} shadows a config key; rename it")
            continue
        if OmegaConf.select(cfg, param.key, default=MARKER) is MARKER:
            group = param.key.split(".")[0]
            if any(p.is_group and p.name == group for p in space.params):
                continue  # a key of a group option chosen per trial: checked when that config is composed
            raise SearchSpaceError(f"{space.source}: entry {param.name!r} is not a key of the config "
                                   f"(see `python -m garbage_hpo.sweep --cfg job`)")
