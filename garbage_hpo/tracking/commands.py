"""What a command needs of MLflow before and after its work: the store it uses, checked, and its open runs
closed KILLED at Ctrl-C. Apart from runtime/cli.py, which every command (and the data package) loads without MLflow."""

from __future__ import annotations

from garbage_hpo.runtime import GracefulStop


def stop_at_once(command: str) -> GracefulStop:
    """Ctrl-C/SIGTERM handling of a one-run command (train, reproduce, evaluate, baseline, bench): at the first
    signal its open MLflow runs are closed KILLED, the files it was writing removed, and it exits 130. Without
    it, a process that has run a MindSpore network dies as SIGTERM (143) and leaves its runs RUNNING."""
    from garbage_hpo.tracking.runs import close_open_runs  # MLflow: imported only by the commands that stop here

    stop = GracefulStop(immediate=True, force_message=f"{command} stopped; its open MLflow runs are closed as "
                        "KILLED and its partial files removed")
    stop.on_force = close_open_runs
    stop.install()
    return stop


def tracking_uri(overrides: dict[str, str]) -> str:
    """The MLflow store a command reads or writes, checked to work (one line naming tracking.uri if not)."""
    from garbage_hpo.runtime import runs_dir
    from garbage_hpo.tracking.runs import default_tracking_uri
    from garbage_hpo.tracking.store_check import check_tracking_store

    uri = overrides.get("tracking.uri")
    if uri:
        check_tracking_store(uri)
    return uri or default_tracking_uri(runs_dir())
