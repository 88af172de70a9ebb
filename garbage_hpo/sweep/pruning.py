"""A trial's epochs reported to Optuna's pruner: the validation accuracy of a one-split trial after every epoch,
the fold-mean accuracy of a cross-validated one. The sweep's stop is checked first at every epoch."""

from __future__ import annotations

from collections.abc import Callable

import optuna

from garbage_hpo.runtime import GracefulStop
from garbage_hpo.selection import CVResult, FoldCallback
from garbage_hpo.sweep.timing import TrialTimes
from garbage_hpo.training import EpochCallback, EpochResult


class EpochReports:
    """The hooks a trial's training calls after each epoch; `report=False` (multi-objective studies, which
    Optuna does not prune) only checks the stop."""

    def __init__(self, trial: optuna.Trial, stop: GracefulStop, times: TrialTimes, report: bool) -> None:
        self.trial = trial
        self.stop = stop
        self.times = times
        self.report = report

    def _after_epoch(self, value: Callable[[], float], step: int) -> None:
        self.stop.check()
        if not self.report:
            return
        with self.times.part("optuna"):
            self.trial.report(value(), step)
            prune = self.trial.should_prune()
        if prune:
            raise optuna.TrialPruned(str(step))

    def one_split(self) -> EpochCallback:
        def hook(result: EpochResult) -> None:
            self._after_epoch(lambda: result.val.accuracy, result.step)

        return hook

    def folds(self) -> FoldCallback:
        def hook(epoch: int, partial: CVResult) -> None:  # the fold-mean accuracy of this epoch
            self._after_epoch(lambda: float(partial.mean_curve[-1]), epoch)

        return hook
