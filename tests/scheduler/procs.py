"""Engine processes for tests: start the daemon or a batch run, listen to sd_notify, wait."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def wait_for(
    predicate: Callable[[], object], *, timeout: float = 10.0, every: float = 0.02
) -> object:
    """Poll ``predicate`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {predicate}")
        time.sleep(every)


class NotifySocket:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.05)
        self.messages: list[dict[str, str]] = []

    def poll(self) -> list[dict[str, str]]:
        try:
            while True:
                data = self.sock.recv(4096).decode()
                self.messages.append(dict(line.split("=", 1) for line in data.splitlines()))
        except (TimeoutError, BlockingIOError):
            pass
        return self.messages

    def saw(self, key: str, value: str | None = None) -> bool:
        return any(key in m and (value is None or m[key] == value) for m in self.poll())

    def close(self) -> None:
        self.sock.close()


def start(
    mode: str,
    *,
    repo: Path,
    state: Path,
    api: str,
    notify: NotifySocket | None = None,
    extra_env: dict[str, str] | None = None,
    refresh: float = 30.0,
    platform: str = "generic",
    ledger: str | None = None,
) -> subprocess.Popen:
    """``python -m tests.scheduler.runner MODE`` with stderr (JSON logs) to <state>/<mode>.log."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(extra_env or {})}
    env.pop("NOTIFY_SOCKET", None)
    if notify is not None:
        env["NOTIFY_SOCKET"] = str(notify.path)
    state.mkdir(parents=True, exist_ok=True)
    log = open(state / f"{mode}.log", "ab")  # noqa: SIM115 - the child holds it
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.scheduler.runner",
            mode,
            "--repo",
            str(repo),
            "--state",
            str(state),
            "--api",
            api,
            "--refresh",
            str(refresh),
            "--platform",
            platform,
            *(["--ledger", ledger] if ledger else []),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )


def stop_all(procs: list[subprocess.Popen]) -> None:
    """SIGTERM to each still running, then wait (a kill for one that does not stop in 30 s)."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
