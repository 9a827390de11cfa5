"""Shared by the daemon benchmarks: a generated outbox repository and a `klapper run` process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

CONFIG = """\
timezone: Europe/Berlin
accounts:
  outbox: {platform: outbox, path: outbox}
defaults: {to: [outbox]}
"""


def write_repo(root: Path, dues: list[datetime]) -> None:
    """One post file per due time (aware), all to the outbox account."""
    (root / "posts").mkdir(parents=True)
    (root / "klapper.yaml").write_text(CONFIG, encoding="utf-8")
    for number, due in enumerate(dues):
        (root / "posts" / f"p{number:05d}.yaml").write_text(
            f"text: Benchmark post {number}\nat: {due.isoformat()}\n", encoding="utf-8"
        )


class Daemon:
    """`klapper run` in a subprocess, with a notify socket to learn when it is ready."""

    def __init__(self, *, repo: Path, state: Path) -> None:
        self.sock_path = state.parent / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.sock_path))
        env = {**os.environ, "NOTIFY_SOCKET": str(self.sock_path)}
        self.log = open(state.parent / "daemon.log", "wb")  # noqa: SIM115 - the child holds it
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("klapper")),
                "run",
                "--repo",
                str(repo),
                "--state",
                str(state),
                "--log-format",
                "json",
            ],
            env=env,
            stdout=self.log,
            stderr=self.log,
        )

    def wait_ready(self, timeout: float = 300.0) -> float:
        """Seconds from start until READY=1."""
        self.sock.settimeout(timeout)
        while True:
            message = self.sock.recv(4096).decode()
            if "READY=1" in message.splitlines():
                return time.monotonic() - self.started

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self.sock.close()
            self.log.close()
