"""A throwaway PostgreSQL cluster on 127.0.0.1 for the ledger's SQL (skips when none is installed).

``throwaway_cluster()`` starts a cluster in a temp folder (tests/fakes/postgres.py), then stops
it and removes the folder (a session fixture wraps it). ``fresh_schema()`` gives a test its own
empty schema; its ``connect()`` opens one more connection to it.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

psycopg = pytest.importorskip(
    "psycopg", reason="psycopg is not installed: pip install -e '.[test]'"
)
from psycopg.rows import dict_row  # noqa: E402 - only once psycopg is known to be there

from klapper.engagement.schema import MIGRATIONS as ENGAGEMENT  # noqa: E402
from klapper.ledger.schema import MIGRATIONS as LEDGER  # noqa: E402
from tests.fakes.postgres import Cluster, pg_bindir, server_user, start_cluster  # noqa: E402


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """A running cluster for the ``with`` block; skips the test when PostgreSQL is absent."""
    if pg_bindir() is None:
        pytest.skip(
            "PostgreSQL server binaries not found (Debian: apt-get install postgresql,"
            " or set KLAPPER_PG_BIN to the folder holding initdb)"
        )
    if server_user() is None:
        pytest.skip(
            "running as root with neither a 'postgres' nor a 'nobody' user to run the server as"
        )
    folder = Path(tempfile.mkdtemp(prefix="klapper-pg-"))
    # Each open PostgreSQL ledger keeps a small pool; daemons in the failover tests too.
    cluster = start_cluster(folder, max_connections=150)
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

    @property
    def url(self) -> str:
        """A ``--ledger`` URL whose tables live in this schema (search_path)."""
        return f"{self.cluster.url}?options=-csearch_path%3D{self.name}"

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection[dict[str, Any]]:
        return psycopg.connect(
            self.cluster.conninfo(schema=self.name), autocommit=autocommit, row_factory=dict_row
        )


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


#: every component keeping tables in the ledger's file, in the order they are first made
COMPONENTS = {"ledger": LEDGER, "engagement": ENGAGEMENT}


def create_schema(conn: Any) -> None:
    """Every component's migrations, exactly as the SQLite ledger runs them."""
    for migrations in COMPONENTS.values():
        for step in migrations:
            assert not callable(step), "a migration in Python needs its own PostgreSQL twin here"
            for statement in step:
                conn.execute(statement)
    conn.commit()
