"""Bluesky's real AppView for tests: its own PostgreSQL and Redis, then the PDS network with it.

dev-env's ``TestNetwork`` runs the AppView (with bsync and Ozone) next to the PLC and PDS and
needs a PostgreSQL URL and a Redis host. Each test run gets a throwaway PostgreSQL cluster and
redis-server on free ports of 127.0.0.1, with their files in one temp folder; all three start on
first use, once per test process, and stop at exit. Tests skip with the reason when Node (.pds/),
PostgreSQL or Redis is missing.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.fakes.bluesky import MISSING, LocalPds, installed
from tests.fakes.postgres import Cluster, free_port, pg_bindir, server_user, start_cluster

START_TIMEOUT = 30.0  # seconds for Redis to accept connections (well under 1 here)


def missing() -> str | None:
    """Why the AppView cannot run here (what to install), or None when it can."""
    if not installed():
        return MISSING
    if pg_bindir() is None:
        return "PostgreSQL is not installed (Debian: postgresql; .ci/debian-setup installs it)"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (Debian: redis-server; .ci/debian-setup installs it)"
    if server_user() is None:
        return (
            "running as root, and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL"
        )
    return None


class Redis:
    """A redis-server on 127.0.0.1 without persistence, files in ``folder``."""

    def __init__(self, *, folder: Path) -> None:
        self.port = free_port()
        folder.mkdir()
        self.log = folder / "redis.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(folder),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready()
        self.host = f"127.0.0.1:{self.port}"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)  # not listening yet
        self.stop()
        raise RuntimeError(
            f"redis-server did not start: {self.log.read_text(errors='replace')[-1500:]}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class AppViewNetwork:
    """PostgreSQL, Redis and the PLC + PDS + AppView process; ``pds`` is what tests use."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="klapper-appview-"))
        self.folder.chmod(0o711)  # PostgreSQL's user must reach its own folder inside
        self.postgres: Cluster | None = None
        self.redis: Redis | None = None
        try:
            (self.folder / "postgres").mkdir()
            # The AppView, bsync and Ozone each keep a connection pool.
            self.postgres = start_cluster(self.folder / "postgres", max_connections=200)
            self.redis = Redis(folder=self.folder / "redis")
            self.pds = LocalPds(
                appview=True,
                env={"DB_POSTGRES_URL": self.postgres.url, "REDIS_HOST": self.redis.host},
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        # The PDS network first: it writes to PostgreSQL until it has closed.
        if hasattr(self, "pds"):
            self.pds.stop()
        for server in (self.postgres, self.redis):
            if server is not None:
                server.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


_shared: AppViewNetwork | None = None
_shared_lock = threading.Lock()


def shared_appview() -> LocalPds:
    """The test process's PDS with an AppView, started on first use; skips with what is missing."""
    global _shared
    if reason := missing():
        pytest.skip(reason)
    with _shared_lock:
        if _shared is None:
            _shared = AppViewNetwork()
            atexit.register(_shared.stop)
        return _shared.pds
