"""Ctrl-C and SIGTERM stop a sweep at the next safe point instead of wherever the signal lands.

The first signal asks for a stop: the running trial ends after its current epoch (its metrics are recorded,
then it is marked FAIL and queued again) and the sweep closes its runs. A second signal stops at once.
"""

from __future__ import annotations

import signal
import sys


class GracefulStop:
    def __init__(self) -> None:
        self.requested: str | None = None

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)  # what SLURM, Kubernetes and `kill` send

    def _handle(self, signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if self.requested is not None:
            raise KeyboardInterrupt(name)
        self.requested = name
        print(f"{name}: stopping after the current epoch (send it again to stop now)", file=sys.stderr, flush=True)

    def check(self) -> None:
        """Raise KeyboardInterrupt here if a stop was asked for."""
        if self.requested is not None:
            raise KeyboardInterrupt(self.requested)
