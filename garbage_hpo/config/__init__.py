"""The configuration, read once: typed settings from the composed Hydra config (settings), the checks a
command line gets before any run opens (checks), the config a run records (recorded).

The names below are this package's public face, each loaded on first use (runtime/lazy.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from garbage_hpo.runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from garbage_hpo.config.checks import check_command_line
    from garbage_hpo.config.recorded import recorded_config
    from garbage_hpo.config.settings import (
        Objective,
        RunSettings,
        SweepSettings,
        ensemble_setting,
        read_settings,
        read_sweep_settings,
    )

_WHERE = {
    "Objective": "settings",
    "RunSettings": "settings",
    "SweepSettings": "settings",
    "check_command_line": "checks",
    "ensemble_setting": "settings",
    "read_settings": "settings",
    "read_sweep_settings": "settings",
    "recorded_config": "recorded",
}
__all__ = [
    "Objective",
    "RunSettings",
    "SweepSettings",
    "check_command_line",
    "ensemble_setting",
    "read_settings",
    "read_sweep_settings",
    "recorded_config",
]
__getattr__ = lazy_exports(__name__, _WHERE)
