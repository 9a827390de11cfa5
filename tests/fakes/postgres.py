"""A throwaway PostgreSQL server on 127.0.0.1, shared by the ledger and Bluesky AppView tests.

``start_cluster(folder)`` runs initdb into ``folder`` and starts ``postgres`` listening on
127.0.0.1 at a free port, its unix socket in the same folder. As root it runs the server as the
``postgres`` user (or ``nobody``): PostgreSQL refuses to run as root. Durability is off: the
cluster is deleted after the test run.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: how long a fresh cluster may take to accept connections (initdb is separate)
START_TIMEOUT = 30.0
#: the superuser initdb creates; tests connect as it
SUPERUSER = "klapper"


def pg_bindir() -> Path | None:
    """Where initdb and postgres live: $KLAPPER_PG_BIN, pg_config's answer, or Debian's newest."""
    candidates = [os.environ.get("KLAPPER_PG_BIN", "")]
    if shutil.which("pg_config"):
        found = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=False
        )
        candidates.append(found.stdout.strip())
    # Debian keeps the server binaries off PATH, one folder per major version.
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    for folder in filter(None, candidates):
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "postgres").is_file():
            return Path(folder)
    return None


def server_user() -> pwd.struct_passwd | None:
    """The account to run the server as: ourselves, or (as root) postgres, else nobody."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    """A running server: where to reach it and how to stop it."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def conninfo(self, *, dbname: str = "postgres", schema: str | None = None) -> str:
        info = f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={dbname} connect_timeout=5"
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


def start_cluster(folder: Path, *, max_connections: int = 60) -> Cluster:
    """initdb into ``folder`` and start the server; raises RuntimeError with the log on failure."""
    import psycopg  # a test dependency; imported here so that merely importing this never fails

    bindir = pg_bindir()
    user = server_user()
    if bindir is None or user is None:
        raise RuntimeError("no PostgreSQL server binaries (or no user to run them as)")
    os.chown(folder, user.pw_uid, user.pw_gid)
    as_user: dict[str, Any] = (
        {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if os.geteuid() == 0 else {}
    )
    data, log = folder / "data", folder / "server.log"
    # trust on 127.0.0.1 and the private socket only: a test cluster, gone after the session
    subprocess.run(
        [
            bindir / "initdb",
            "-D",
            data,
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        cwd=folder,
        **as_user,
    )
    for _attempt in range(3):  # another process may take the free port before the server does
        port = free_port()
        with open(log, "ab") as sink:
            process = subprocess.Popen(
                [
                    bindir / "postgres",
                    "-D",
                    data,
                    "-p",
                    str(port),
                    "-k",
                    folder,
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    f"max_connections={max_connections}",
                    "-c",
                    "shared_buffers=16MB",
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=folder,
                **as_user,
            )
        cluster = Cluster(folder=folder, port=port, process=process, log=log)
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            try:
                psycopg.connect(cluster.conninfo(), autocommit=True).close()
                return cluster
            except psycopg.OperationalError:
                time.sleep(0.05)
        cluster.stop()
    raise RuntimeError(f"postgres did not start; its log says:\n{log.read_text()[-2000:]}")
