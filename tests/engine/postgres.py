"""A throwaway PostgreSQL cluster on 127.0.0.1 for the ledger's SQL (skips when none is installed).

``throwaway_cluster()`` runs initdb into a temp folder and starts ``postgres`` listening on
127.0.0.1 at a free port, its unix socket in the same folder, and stops it and removes the folder
at the end (a session fixture wraps it). As root it runs the server as the ``postgres`` user (or
``nobody``): PostgreSQL refuses to run as root. ``fresh_schema()`` gives a test its own empty
schema; its ``connect()`` opens one more connection to it.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[test]'")
from psycopg.rows import dict_row  # only once psycopg is known to be there

#: how long a fresh cluster may take to accept connections (initdb is separate)
_START_TIMEOUT = 30.0


def pg_bindir() -> Path | None:
    """Where initdb and postgres live: $KLAPPER_PG_BIN, pg_config's answer, or Debian's newest."""
    candidates = [os.environ.get("KLAPPER_PG_BIN", "")]
    if shutil.which("pg_config"):
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                               check=False)
        candidates.append(found.stdout.strip())
    # Debian keeps the server binaries off PATH, one folder per major version.
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                         else 0, reverse=True)
    for folder in filter(None, candidates):
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "postgres").is_file():
            return Path(folder)
    return None


def _server_user() -> pwd.struct_passwd | None:
    """The account to run the server as: ourselves, or (as root) postgres, else nobody."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Cluster:
    """A running server: where to reach it and how to stop it."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def conninfo(self, *, dbname: str = "postgres", schema: str | None = None) -> str:
        info = f"host=127.0.0.1 port={self.port} user=klapper dbname={dbname} connect_timeout=5"
        if schema is not None:
            info += f" options='-c search_path={schema}'"
        return info

    def stop(self) -> None:
        """Fast shutdown (SIGINT): roll back open transactions, end the sessions, exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_cluster(folder: Path) -> Cluster:
    """initdb into ``folder`` and start the server; raises RuntimeError with the log on failure."""
    bindir = pg_bindir()
    user = _server_user()
    if bindir is None or user is None:
        raise RuntimeError("no PostgreSQL server binaries (or no user to run them as)")
    os.chown(folder, user.pw_uid, user.pw_gid)
    as_user: dict[str, Any] = ({"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
                               if os.geteuid() == 0 else {})
    data, log = folder / "data", folder / "server.log"
    # trust on 127.0.0.1 and the private socket only: a test cluster, gone after the session
    subprocess.run([bindir / "initdb", "-D", data, "-U", "klapper", "-A", "trust", "-E", "UTF8",
                    "--locale=C", "--no-sync"], check=True, capture_output=True, cwd=folder,
                   **as_user)
    for _attempt in range(3):  # another process may take the free port before the server does
        port = _free_port()
        with open(log, "ab") as sink:
            process = subprocess.Popen(
                [bindir / "postgres", "-D", data, "-p", str(port), "-k", folder,
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=60", "-c", "shared_buffers=16MB"],
                stdout=sink, stderr=subprocess.STDOUT, cwd=folder, **as_user)
        cluster = Cluster(folder=folder, port=port, process=process, log=log)
        deadline = time.monotonic() + _START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            try:
                psycopg.connect(cluster.conninfo(), autocommit=True).close()
                return cluster
            except psycopg.OperationalError:
                time.sleep(0.05)
        cluster.stop()
    raise RuntimeError(f"postgres did not start; its log says:\n{log.read_text()[-2000:]}")


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """A running cluster for the ``with`` block; skips the test when PostgreSQL is absent."""
    if pg_bindir() is None:
        pytest.skip("PostgreSQL server binaries not found (Debian: apt-get install postgresql,"
                    " or set KLAPPER_PG_BIN to the folder holding initdb)")
    if _server_user() is None:
        pytest.skip("running as root with neither a 'postgres' nor a 'nobody' user to run"
                    " the server as")
    folder = Path(tempfile.mkdtemp(prefix="klapper-pg-"))
    cluster = start_cluster(folder)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Schema:
    """One test's own schema in the cluster: ``connect()`` opens a connection whose rows are dicts."""

    cluster: Cluster
    name: str

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection[dict[str, Any]]:
        return psycopg.connect(self.cluster.conninfo(schema=self.name), autocommit=autocommit,
                               row_factory=dict_row)


@contextlib.contextmanager
def fresh_schema(cluster: Cluster, *, test: str) -> Iterator[Schema]:
    """An empty schema named after ``test`` for the ``with`` block, dropped afterwards."""
    name = "t_" + hashlib.sha256(test.encode()).hexdigest()[:16]  # unique, a valid identifier
    with psycopg.connect(cluster.conninfo(), autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        admin.execute(f"CREATE SCHEMA {name}")
    try:
        yield Schema(cluster=cluster, name=name)
    finally:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {name} CASCADE")
