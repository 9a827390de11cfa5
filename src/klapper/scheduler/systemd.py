"""sd_notify: tell systemd READY, STATUS, WATCHDOG, RELOADING and STOPPING over $NOTIFY_SOCKET.

A message is ``KEY=value`` lines, so a newline inside a value would start a field of its own
(a post file named ``x\nWATCHDOG=trigger`` would ask systemd to kill the daemon). The writer
itself escapes every control character in every value (display.shown, the helper that
escapes names wherever they are shown) and refuses keys that are not the protocol's upper-case
names: no caller can smuggle a field in.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Mapping

from klapper.display import shown

#: what systemd accepts as a field name
_KEY = re.compile(r"[A-Z][A-Z0-9_]*\Z")


class Notifier:
    """Sends notify messages when started by systemd (Type=notify); does nothing otherwise."""

    def __init__(self, *, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # An abstract socket is written with a leading '@', which stands for a NUL byte.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        #: seconds between WATCHDOG=1 pings (half the watchdog timeout), or None
        self.watchdog_interval = int(usec) / 2_000_000 if usec.isdigit() and mine else None

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, **fields: str) -> None:
        """``send(READY="1", STATUS="...")`` -> ``READY=1\\nSTATUS=...``, values escaped."""
        if not self.address:
            return
        for key in fields:
            if not _KEY.match(key):
                raise ValueError(f"not an sd_notify field name: {key!r}")
        message = "\n".join(f"{key}={shown(value)}" for key, value in fields.items())
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            # Never block: a notify socket nobody reads must not stall publishing.
            sock.setblocking(False)
            try:
                sock.connect(self.address)
                sock.send(message.encode("utf-8", "backslashreplace"))
            except OSError:
                pass  # systemd went away, or its queue is full: nothing to tell now

    def ready(self, status: str) -> None:
        self.send(READY="1", STATUS=status)

    def status(self, status: str) -> None:
        self.send(STATUS=status)

    def watchdog(self) -> None:
        self.send(WATCHDOG="1")

    def reloading(self) -> None:
        # systemd 253+ wants the monotonic time with RELOADING=1 (Type=notify-reload).
        self.send(
            RELOADING="1", MONOTONIC_USEC=str(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)
        )

    def stopping(self) -> None:
        self.send(STOPPING="1")
