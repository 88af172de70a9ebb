"""A study remembers which experiment and search space filled it, so a reused study name cannot silently mix
the trials of two different questions in one ranking (`sweep.allow_space_change=true` continues anyway)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

import optuna

from garbage_hpo.sweep.space import SearchSpace


def space_fingerprint(space: SearchSpace) -> str:
    """A hash of every entry's name, kind, bounds, choices, scale, step and conditions (not of comments)."""
    entries = [asdict(p) | {"when": {k: list(v) for k, v in sorted(p.when.items())}} for p in space.params]
    return hashlib.sha256(json.dumps(entries, sort_keys=True, default=str).encode()).hexdigest()[:16]


def check_study_space(study: optuna.Study, experiment: str, space: SearchSpace, allow_change: bool) -> None:
    """Refuse a study recorded with another experiment or space; record them on a new (or allowed) one."""
    wanted = {"experiment": experiment, "space_fingerprint": space_fingerprint(space)}
    recorded = {k: study.user_attrs.get(k) for k in wanted}
    if study.trials and recorded["space_fingerprint"] is not None and recorded != wanted and not allow_change:
        raise ValueError(
            f"sweep.study_name={study.study_name}: this study holds trials of experiment "
            f"{recorded['experiment']!r} (space {study.user_attrs.get('space')}, fingerprint "
            f"{recorded['space_fingerprint']}), not of {experiment!r} with {space.source} (fingerprint "
            f"{wanted['space_fingerprint']}); mixing them would rank different questions together. Choose "
            "another sweep.study_name, or continue on purpose with sweep.allow_space_change=true")
    for key, value in wanted.items():
        study.set_user_attr(key, value)
