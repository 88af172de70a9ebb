"""Honest model selection: cross-validation folds, the CV objective, refit on every photo, a peer probe.

The names below are this package's public face, each loaded on first use (runtime/lazy.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from garbage_hpo.runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from garbage_hpo.selection.bbc import BiasCorrected, bbc_cv
    from garbage_hpo.selection.cv import CVResult, FoldCallback
    from garbage_hpo.selection.ensemble import choose_members, ensemble_cv, refit_ensemble
    from garbage_hpo.selection.ensemble_selection import ROUNDS, NestedSelection, greedy_weights, nested_selection
    from garbage_hpo.selection.label_issues import find_suspects, log_suspects, write_suspects
    from garbage_hpo.selection.oof import OOF_FILE, OutOfFold, by_photo
    from garbage_hpo.selection.oof_pictures import log_oof_pictures
    from garbage_hpo.selection.probe import ProbeResult, probe_for, probe_out_of_fold
    from garbage_hpo.selection.run import (
        default_out_dir,
        log_out_of_fold_views,
        log_photo_list,
        refit,
        run_cv,
        selection_record,
    )

_WHERE = {
    "BiasCorrected": "bbc",
    "CVResult": "cv",
    "FoldCallback": "cv",
    "NestedSelection": "ensemble_selection",
    "OOF_FILE": "oof",
    "OutOfFold": "oof",
    "ProbeResult": "probe",
    "ROUNDS": "ensemble_selection",
    "bbc_cv": "bbc",
    "by_photo": "oof",
    "choose_members": "ensemble",
    "default_out_dir": "run",
    "ensemble_cv": "ensemble",
    "find_suspects": "label_issues",
    "greedy_weights": "ensemble_selection",
    "log_oof_pictures": "oof_pictures",
    "log_out_of_fold_views": "run",
    "log_photo_list": "run",
    "log_suspects": "label_issues",
    "nested_selection": "ensemble_selection",
    "probe_for": "probe",
    "probe_out_of_fold": "probe",
    "refit": "run",
    "refit_ensemble": "ensemble",
    "run_cv": "run",
    "selection_record": "run",
    "write_suspects": "label_issues",
}
__all__ = [
    "BiasCorrected",
    "CVResult",
    "FoldCallback",
    "NestedSelection",
    "OOF_FILE",
    "OutOfFold",
    "ProbeResult",
    "ROUNDS",
    "bbc_cv",
    "by_photo",
    "choose_members",
    "default_out_dir",
    "ensemble_cv",
    "find_suspects",
    "greedy_weights",
    "log_oof_pictures",
    "log_out_of_fold_views",
    "log_photo_list",
    "log_suspects",
    "nested_selection",
    "probe_for",
    "probe_out_of_fold",
    "refit",
    "refit_ensemble",
    "run_cv",
    "selection_record",
    "write_suspects",
]
__getattr__ = lazy_exports(__name__, _WHERE)
