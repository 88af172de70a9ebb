"""`python -m garbage_hpo.reproduce` (`make reproduce-best`): re-train a sweep's best trial, prove it
reproduces, export it and register it (__main__.py; the workflow read top-down in workflow.py).

The names below are this package's public face, each loaded on first use (runtime/lazy.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from garbage_hpo.runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from garbage_hpo.reproduce.report import Reproduction, human_report
    from garbage_hpo.reproduce.workflow import reproduce

_WHERE = {
    "Reproduction": "report",
    "human_report": "report",
    "reproduce": "workflow",
}
__all__ = [
    "Reproduction",
    "human_report",
    "reproduce",
]
__getattr__ = lazy_exports(__name__, _WHERE)
