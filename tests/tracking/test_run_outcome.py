"""One run-status rule for every command (train, reproduce, the sweep's parent): `Tracker.outcome()` ends the
run FINISHED, KILLED at Ctrl-C, FAILED on an error, and runs the summary first whatever happened."""

from __future__ import annotations

import pytest

from garbage_hpo.tracking.runs import Tracker


def status_of(tracker: Tracker) -> str:
    return tracker.client.get_run(tracker.run_id).info.status


@pytest.mark.parametrize(("raised", "expected"), [(None, "FINISHED"), (KeyboardInterrupt, "KILLED"),
                                                  (RuntimeError, "FAILED")])
def test_the_run_ends_with_the_blocks_outcome_and_the_summary_runs_first(runs, raised, expected):
    tracker = Tracker(f"sqlite:///{runs / 'mlflow.db'}", "outcome", runs / "mlartifacts")
    seen = []

    def summary() -> None:
        seen.append(tracker.client.get_run(tracker.run_id).info.status)  # still open while it runs
        tracker.set_tags({"summary": "written"})

    with pytest.raises(raised) if raised else _nothing(), tracker.outcome(before_end=summary):
        tracker.log_metrics({"x": 1.0})
        if raised:
            raise raised()
    assert seen == ["RUNNING"]
    run = tracker.client.get_run(tracker.run_id)
    assert run.info.status == expected and run.data.tags["summary"] == "written" and run.data.metrics["x"] == 1.0


def _nothing():
    import contextlib

    return contextlib.nullcontext()
