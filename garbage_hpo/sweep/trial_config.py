"""Per-trial configs: the sweep's composed config with the trial's group choices and values applied."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from typing import Any

from hydra import compose
from omegaconf import DictConfig, OmegaConf, open_dict

from garbage_hpo.config import RunSettings
from garbage_hpo.pipeline import Prepared, prepare


class TrialConfigs:
    """Group choices (e.g. optimizer=adam) are composed by Hydra once per combination and cached;
    scalar values are set on a copy. Either way the result is exactly what the same overrides on the
    command line of `garbage_hpo.train` would give."""

    def __init__(self, base: DictConfig, base_overrides: list[str], config_name: str = "sweep") -> None:
        self.base = base
        self.base_overrides = list(base_overrides)
        self.config_name = config_name
        self._composed: dict[tuple, DictConfig] = {(): base}

    def build(self, groups: dict[str, Any], scalars: dict[str, Any]) -> DictConfig:
        key = tuple(sorted(groups.items()))
        if key not in self._composed:
            overrides = self.base_overrides + [f"{g}={v}" for g, v in sorted(groups.items())]
            self._composed[key] = compose(config_name=self.config_name, overrides=overrides)
        cfg = copy.deepcopy(self._composed[key])
        for name, value in scalars.items():
            if OmegaConf.select(cfg, name, default=KeyError) is KeyError:
                raise KeyError(f"sweep entry {name!r} is not a key of the config with {dict(groups)}")
            with open_dict(cfg):
                OmegaConf.update(cfg, name, value, merge=False)
        return cfg


class PreparedCache:
    """`prepare()` once per distinct data/model setting in a sweep, not once per trial."""

    def __init__(self) -> None:
        self._cache: dict[str, Prepared] = {}
        self.misses = 0

    def get(self, settings: RunSettings) -> Prepared:
        key = json.dumps({"data": asdict(settings.data), "model": asdict(settings.model),
                          "runs_dir": str(settings.runs)}, sort_keys=True)
        if key not in self._cache:
            self._cache[key] = prepare(settings)
            self.misses += 1
        return self._cache[key]

    def photo_counts(self) -> list[str]:
        """One line per dataset this sweep read: photos used, where from, skipped, the test set left alone."""
        lines = []
        for prepared in self._cache.values():
            index, split = prepared.index, prepared.split
            used = len(index.samples) - len(split.test)
            line = f"photos: {used} used from {index.root}/train/, {len(index.skipped)} skipped"
            if len(index.skipped):
                line += f" (e.g. {index.skipped[0][0].name}: {index.skipped[0][1]})"
            if len(split.test):
                line += f"; val/ test set ({len(split.test)} photos) not used by the sweep"
            lines.append(line)
        return list(dict.fromkeys(lines))  # one line for the photos of several sizes or architectures
