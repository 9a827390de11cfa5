"""The daemon's main loop sleeps here; signals and other threads wake it, no handler takes a lock.

A Python signal handler runs in the main thread between two bytecodes, on top of whatever the
main thread was doing, even inside another handler. One that takes a lock (``Event.set``,
a logging call, a rescan) can wait for a lock its own thread already holds: a burst of
SIGHUPs then SIGTERM hung the daemon for good that way. So the handlers here only set a flag
(and count stop signals with ``itertools.count``, one C call); the interpreter itself writes
each signal's number to a socket (``signal.set_wakeup_fd``) that the loop waits on, and other
threads write a byte to the same socket.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import signal
import socket
from types import FrameType

#: exit code of a second SIGTERM (systemd counts it as a failure, so Restart= applies)
EXIT_FORCED = 130

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Wakeup:
    """Flags the signal handlers set, and a socket the loop sleeps on until something happens."""

    def __init__(self) -> None:
        self._read, self._write = socket.socketpair()
        for end in (self._read, self._write):
            end.setblocking(False)
        #: SIGHUP came: re-read everything
        self.hangup = False
        #: the first SIGTERM or SIGINT came: stop warmly
        self.stop = False
        self._stops = itertools.count()
        self._saved: dict[int, object] = {}
        self._saved_fd: int | None = None

    def install(self) -> None:
        """Take SIGHUP, SIGTERM and SIGINT (main thread only)."""
        self._saved_fd = signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)
        self._saved[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_hangup)
        for signum in _STOP_SIGNALS:
            self._saved[signum] = signal.signal(signum, self._on_stop)

    def uninstall(self) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        if self._saved_fd is not None:
            signal.set_wakeup_fd(self._saved_fd)
        self._read.close()
        self._write.close()

    def wake(self) -> None:
        """From any thread: end the loop's current wait."""
        # Full: a wake-up is waiting already; closed: the loop is gone.
        with contextlib.suppress(OSError):
            self._write.send(b"\0")

    def wait(self, timeout: float) -> None:
        """Sleep until woken, a signal came, or ``timeout`` seconds passed."""
        if timeout > 0:
            select.select([self._read], [], [], timeout)
        try:
            while self._read.recv(4096):
                pass  # a burst of signals is one wake-up: the flags say what came
        except (BlockingIOError, OSError):
            pass

    # --- signal handlers: flags only -------------------------------------------------------

    def _on_hangup(self, signum: int, frame: FrameType | None) -> None:
        self.hangup = True

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        if next(self._stops):
            os._exit(EXIT_FORCED)  # cold stop: a claim in hand is resolved at the next start
        self.stop = True
