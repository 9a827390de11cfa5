"""Bluesky's real AppView for tests: its own PostgreSQL and Redis, then the PDS network with it.

dev-env's ``TestNetwork`` runs the AppView (with bsync and Ozone) next to the PLC and PDS and
needs a PostgreSQL URL and a Redis host. Each test run gets a throwaway PostgreSQL cluster and
redis-server on free ports of 127.0.0.1, with their files in one temp folder; all three start on
first use, once per test process, and stop at exit. Tests skip with the reason when Node (.pds/),
PostgreSQL or Redis is missing.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.fakes.bluesky import MISSING, LocalPds, installed

START_TIMEOUT = 30.0  # seconds for PostgreSQL or Redis to accept connections (well under 1 here)
# As root, PostgreSQL refuses to run: it runs as the first of these users that exists.
SERVER_USERS = ("postgres", "nobody")


def _postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL's bin folder (initdb, pg_ctl), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


def _server_user() -> str | None:
    """Whom PostgreSQL runs as: ourselves, or as root one of SERVER_USERS (None if none exists)."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    for name in SERVER_USERS:
        try:
            return pwd.getpwnam(name).pw_name
        except KeyError:
            continue
    return None


def missing() -> str | None:
    """Why the AppView cannot run here (what to install), or None when it can."""
    if not installed():
        return MISSING
    if _postgres_bin() is None:
        return "PostgreSQL is not installed (Debian: postgresql; .ci/debian-setup installs it)"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (Debian: redis-server; .ci/debian-setup installs it)"
    if _server_user() is None:
        return f"running as root, and none of the users {', '.join(SERVER_USERS)} exists to run PostgreSQL"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_user(user: str, command: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *command] if os.geteuid() == 0 else command


class Postgres:
    """A throwaway PostgreSQL cluster in ``folder``: 127.0.0.1 only, socket in the folder."""

    def __init__(self, *, folder: Path) -> None:
        bindir, user = _postgres_bin(), _server_user()
        assert bindir is not None and user is not None, missing()
        self.folder, self.user, self.pg_ctl = folder, user, str(bindir / "pg_ctl")
        self.port = _free_port()
        folder.mkdir()
        shutil.chown(folder, user)
        data = folder / "data"
        self._run([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                   "-E", "UTF8", "--no-sync"], doing="initdb")
        # Durability is worthless for a cluster deleted at exit; without it the AppView's
        # migrations and writes are much faster.
        options = (f"-h 127.0.0.1 -p {self.port} -k {folder} -F -c full_page_writes=off "
                   "-c synchronous_commit=off -c max_connections=200")
        self._run([self.pg_ctl, "-D", str(data), "-l", str(folder / "postgres.log"), "-w",
                   "-t", str(int(START_TIMEOUT)), "-o", options, "start"], doing="start")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, command: list[str], *, doing: str) -> None:
        done = subprocess.run(_as_user(self.user, command), cwd=self.folder, capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            log = self.folder / "postgres.log"
            said = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            raise RuntimeError(f"PostgreSQL {doing} failed: {done.stderr.strip()} {said}")

    def stop(self) -> None:
        # Immediate: nothing in a test cluster needs a clean checkpoint.
        subprocess.run(_as_user(self.user, [self.pg_ctl, "-D", str(self.folder / "data"),
                                            "-m", "immediate", "stop"]),
                       capture_output=True, check=False)


class Redis:
    """A redis-server on 127.0.0.1 without persistence, files in ``folder``."""

    def __init__(self, *, folder: Path) -> None:
        self.port = _free_port()
        folder.mkdir()
        self.log = folder / "redis.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(folder)],
                stdout=log, stderr=subprocess.STDOUT,
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
        raise RuntimeError(f"redis-server did not start: {self.log.read_text(errors='replace')[-1500:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class AppViewNetwork:
    """PostgreSQL, Redis and the PLC + PDS + AppView process; ``pds`` is what tests use."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="klapper-appview-"))
        self.folder.chmod(0o711)  # PostgreSQL's user must reach its own folder inside
        self.postgres: Postgres | None = None
        self.redis: Redis | None = None
        try:
            self.postgres = Postgres(folder=self.folder / "postgres")
            self.redis = Redis(folder=self.folder / "redis")
            self.pds = LocalPds(appview=True, env={"DB_POSTGRES_URL": self.postgres.url,
                                                   "REDIS_HOST": self.redis.host})
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
