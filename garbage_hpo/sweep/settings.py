"""Checks of the `sweep.*` values that no trial would catch, before any study or run exists."""

from __future__ import annotations

import re

from omegaconf import DictConfig

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def check_sweep_settings(cfg: DictConfig) -> None:
    """Reject negative budgets, ensembles of fewer than one trial, and study names that would leave runs/ (they
    become folder names)."""
    s = cfg.sweep
    for key in ("n_trials", "max_failures"):
        value = s.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"sweep.{key}={value!r}: a whole number, 0 or more")
    ensemble = s.get("ensemble", 1)
    if isinstance(ensemble, bool) or not isinstance(ensemble, int) or ensemble < 1:
        raise ValueError(f"sweep.ensemble={ensemble!r}: the number of top trials `make reproduce-best` combines, "
                         "1 or more (1: the best trial alone)")
    timeout = s.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
        raise ValueError(f"sweep.timeout={timeout!r}: seconds, more than 0 (or null for no limit)")
    name = str(s.study_name or s.name)
    if not SAFE_NAME.match(name) or ".." in name:
        raise ValueError(f"sweep.study_name={name!r}: letters, digits, '_', '-' and '.' only (it names a folder "
                         "under runs/sweeps/, which it must not leave)")
