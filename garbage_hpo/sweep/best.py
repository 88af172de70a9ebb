"""Find the best finished trial in an Optuna storage: of one study, or over every study it holds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from garbage_hpo.sweep.recovery import make_storage
from garbage_hpo.tracking import refuse_mlflow_database

METRIC = "val_acc"


@dataclass(frozen=True)
class BestTrial:
    study_name: str
    number: int
    value: float  # the trial's val_acc
    run_id: str  # its MLflow child run
    params: dict


def open_storage(storage: str) -> RDBStorage:
    """The sweep's store, opened for reading, or one line naming sweep.storage (as the sweep says it): Optuna
    creates an empty SQLite file for a missing path, and a URL it cannot open ends in a long traceback."""
    if storage.startswith("sqlite:///"):
        path = Path(storage.removeprefix("sqlite:///"))
        if not path.is_file():
            raise FileNotFoundError(f"sweep.storage={storage}: no such Optuna store; run a sweep first "
                                    "(python -m garbage_hpo.sweep +experiment=NAME)")
    refuse_mlflow_database(storage)
    return make_storage(storage, None, None, None)


def _candidates(study: optuna.Study) -> list[BestTrial]:
    objectives = study.user_attrs.get("objectives") or [METRIC]
    if METRIC not in objectives:
        return []
    position = objectives.index(METRIC)
    out = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        run_id = trial.user_attrs.get("mlflow_run_id")
        if run_id and trial.values is not None:
            out.append(BestTrial(study.study_name, trial.number, float(trial.values[position]), run_id,
                                 dict(trial.params)))
    return out


def find_trial(storage: str, study_name: str, number: int) -> BestTrial:
    """One named trial (e.g. to re-check a runner-up); it must have completed."""
    opened = open_storage(storage)
    if study_name not in optuna.get_all_study_names(opened):
        raise ValueError(f"experiment={study_name}: no such study in {storage}")
    found = [c for c in _candidates(optuna.load_study(study_name=study_name, storage=opened)) if c.number == number]
    if not found:
        raise ValueError(f"trial={number}: study {study_name} has no completed trial with this number")
    return found[0]


def find_best_trial(storage: str, study_name: str | None = None) -> BestTrial:
    """The completed (never pruned or failed) trial with the highest val_acc; ties go to the earliest trial
    of the first study by name, so the answer does not change between calls."""
    opened = open_storage(storage)
    names = sorted(optuna.get_all_study_names(opened))
    if study_name is not None:
        if study_name not in names:
            raise ValueError(f"experiment={study_name}: no such study in {storage} "
                             f"(studies: {', '.join(names) or 'none'})")
        names = [study_name]
    candidates: list[BestTrial] = []
    for name in names:
        candidates += _candidates(optuna.load_study(study_name=name, storage=opened))
    if not candidates:
        where = f"study {study_name!r}" if study_name else f"any study of {storage}"
        raise ValueError(f"no completed trial with {METRIC} in {where}")
    order = {name: i for i, name in enumerate(names)}
    return min(candidates, key=lambda c: (-c.value, order[c.study_name], c.number))


def top_trials(storage: str, study_name: str, k: int | None) -> list[BestTrial]:
    """The k (None: all) completed trials of a study with the highest val_acc, best first (ties: earliest)."""
    candidates = _candidates(optuna.load_study(study_name=study_name, storage=open_storage(storage)))
    return sorted(candidates, key=lambda c: (-c.value, c.number))[:k]
