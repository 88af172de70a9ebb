"""Ctrl-C and SIGTERM end a command with its MLflow runs closed (KILLED) and exit code 130.

A sweep (`GracefulStop()`): the first signal asks for a stop: the running trial ends after its current epoch
(its metrics are recorded, then it is marked FAIL and queued again) and the sweep closes its runs. A second
signal stops at once. The one-run commands (train, reproduce, evaluate, baseline, bench: `stop_at_once`)
stop at the first signal: their open runs are closed KILLED and the partial files they registered removed.

Why a watcher thread: Python runs a signal handler only when the main thread returns to the interpreter,
and a MindSpore graph step can keep it in C++ for seconds (two signals in that time reach Python as one,
and a KeyboardInterrupt raised between MindSpore's own Python calls dumps its ERROR lines). MindSpore also
installs its own SIGINT handler while it runs, which re-sends the signal as SIGTERM. So every signal is
also written to a wakeup pipe at C level (signal.set_wakeup_fd), and a thread counts them as they arrive:
on the second, it closes the running trial and the sweep's runs itself (`on_force`) and ends the process
with exit code 130.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # SIGTERM is what SLURM, Kubernetes and `kill` send
FORCE_TIMEOUT_S = 10.0  # closing the runs must not hang a user who pressed Ctrl-C twice


SWEEP_FORCE_MESSAGE = ("the running trial is recorded as failed and queued again; run the same command to "
                       "continue the study")


class GracefulStop:
    def __init__(self, immediate: bool = False, force_message: str = SWEEP_FORCE_MESSAGE) -> None:
        self.requested: str | None = None
        self.on_force: Callable[[], None] | None = None  # closes what is open, from the watcher thread
        self.immediate = immediate  # the first signal already stops at once
        self.force_message = force_message
        self._lock = threading.Lock()
        self._count = 0

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        threading.Thread(target=self._watch, args=(read_end,), name="stop-watcher", daemon=True).start()

    def _handle(self, signum: int, _frame: object) -> None:
        """The Python-level handler: the watcher has already counted this signal; nothing to raise here."""

    def _watch(self, fd: int) -> None:
        while True:
            for signum in os.read(fd, 64):
                if signum in STOP_SIGNALS:
                    self._arrived(signal.Signals(signum).name)

    def _arrived(self, name: str) -> None:
        with self._lock:
            self._count += 1
            first = self._count == 1
            if first:
                self.requested = name
        if first and not self.immediate:
            # named generically: MindSpore re-sends a Ctrl-C as SIGTERM, so the name would mislead
            print("stop requested: stopping after the current epoch (Ctrl-C or SIGTERM again to stop now)",
                  file=sys.stderr, flush=True)
            return
        self.force(name)

    def force(self, name: str) -> None:
        """Close what is open and end the process. `name` is not printed: once MindSpore has run, a Ctrl-C
        arrives re-sent as SIGTERM, so the signal's name would tell a user who pressed Ctrl-C the wrong thing."""
        what = "stop request" if self.immediate else "second stop request"
        print(f"{what} (Ctrl-C or SIGTERM): stopping now; {self.force_message}", file=sys.stderr, flush=True)
        watchdog = threading.Timer(FORCE_TIMEOUT_S, os._exit, args=(130,))
        watchdog.daemon = True
        watchdog.start()
        try:
            if self.on_force is not None:
                self.on_force()
        except Exception as err:  # the process ends anyway; say what could not be closed
            print(f"could not close every run: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(130)  # at once: the main thread may be inside a MindSpore graph step

    @staticmethod
    def exit_interrupted(code: int = 130) -> None:
        """End the process after a stop that closed everything. Not sys.exit: interpreter shutdown first
        gives SIGINT/SIGTERM back to their default action and then tears MindSpore down for a while, so a
        second signal in that window would kill the process (-15) instead of ending it with `code`."""
        logging.shutdown()
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(code)

    def check(self) -> None:
        """Raise KeyboardInterrupt here if a stop was asked for."""
        if self.requested is not None:
            raise KeyboardInterrupt(self.requested)

