"""Where a sweep's time goes, counted inside the process that spends it.

Comparing a sweep's wall time with a bare re-run in another process measures the machine's load more than
the sweep; these counters time each part of a trial where it happens:

- `prepare`: data indexing and backbone features (once per data configuration; work, not overhead)
- `train`: training and evaluation, MLflow calls and Optuna calls made from inside excluded
- `mlflow`: every MLflow client call of the trial's run (Tracker.seconds)
- `optuna`: sampling, pruning reports, user attributes, and Optuna's own bookkeeping between two trials
  (telling the last result, asking the next point)
- `config`: composing and validating the trial's configuration
- `other`: the rest of the trial's wall time (Python between the timed parts)

Overhead is everything but `prepare` and `train`, as a share of the trial's wall time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

PARTS = ("prepare", "train", "mlflow", "optuna", "config")
WORK = ("prepare", "train")


@dataclass
class TrialTimes:
    started: float = field(default_factory=time.perf_counter)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PARTS, 0.0))
    total: float = 0.0

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    @contextmanager
    def part_excluding(self, name: str, elsewhere: Callable[[], float]) -> Iterator[None]:
        """Time `name`, less what `elsewhere()` (other parts' counters) grew by meanwhile: MLflow and Optuna
        calls made from inside training count as theirs."""
        before, start = elsewhere(), time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start - (elsewhere() - before)

    def close(self, mlflow_seconds: float) -> None:
        """Up to now: the wall time since the trial started, and its run's MLflow time."""
        self.total = time.perf_counter() - self.started
        self.seconds["mlflow"] = mlflow_seconds

    @property
    def other(self) -> float:
        return max(0.0, self.total - sum(self.seconds.values()))

    @property
    def overhead(self) -> float:
        return max(0.0, self.total - sum(self.seconds[p] for p in WORK))

    def metrics(self) -> dict[str, float]:
        out = {f"time.{name}_s": value for name, value in self.seconds.items()}
        return out | {"time.other_s": self.other, "time.total_s": self.total,
                      "time.overhead_pct": 100 * self.overhead / self.total if self.total else 0.0}


@dataclass
class SweepTimes:
    """Sums over the trials this process ran."""

    trials: list[TrialTimes] = field(default_factory=list)
    last_end: float | None = None  # Optuna's bookkeeping between trials is counted from here

    def start_trial(self) -> TrialTimes:
        """A trial's counters; its time starts where the last trial ended (or where `last_end` was set): in
        between, Optuna told that result, the progress line was printed, and Optuna asked for this point."""
        now = time.perf_counter()
        times = TrialTimes(started=now if self.last_end is None else self.last_end)
        times.seconds["optuna"] += now - times.started
        return times

    def end_trial(self, times: TrialTimes, mlflow_seconds: float) -> None:
        times.close(mlflow_seconds)
        self.last_end = times.started + times.total
        self.trials.append(times)

    def total(self, part: str | None = None) -> float:
        if part is None:
            return sum(t.total for t in self.trials)
        return sum(t.seconds[part] for t in self.trials)

    @property
    def overhead_pct(self) -> float:
        total = self.total()
        return 100 * sum(t.overhead for t in self.trials) / total if total else 0.0

    def metrics(self) -> dict[str, float]:
        out = {f"time.{part}_s": self.total(part) for part in PARTS}
        return out | {"time.trials_s": self.total(), "time.overhead_pct": self.overhead_pct}

    def line(self) -> str:
        if not self.trials:
            return ""
        parts = ", ".join(f"{name} {self.total(name):.1f} s" for name in PARTS)
        return (f"time in {len(self.trials)} trials: {self.total():.1f} s ({parts}); overhead "
                f"{self.overhead_pct:.1f}% (Optuna, MLflow, config and the rest outside training)")
