"""Shared fixtures: a fake platform server, a publisher wired to it, a throwaway PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.generic import FakeServer
from tests.scheduler.helpers import Env, make_config


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as running:
        yield running


@pytest.fixture
def env(tmp_path: Path, server: FakeServer) -> Iterator[Env]:
    environment = Env(state=tmp_path / "state", server=server, config=make_config())
    yield environment
    environment.close()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Any]:
    """One throwaway PostgreSQL for the session (the tests using it skip when none is installed)."""
    from tests.scheduler.postgres import throwaway_cluster  # skips without psycopg

    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg(postgres_cluster: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A schema of its own holding the ledger's tables."""
    from tests.scheduler.postgres import create_schema, fresh_schema

    with fresh_schema(postgres_cluster, test=request.node.name) as schema:
        with schema.connect() as conn:
            create_schema(conn)
        yield schema


@pytest.fixture
def pg_url(postgres_cluster: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """The ``--ledger`` URL of an empty PostgreSQL schema of the test's own (``Ledger`` makes
    its tables there itself)."""
    from tests.scheduler.postgres import fresh_schema

    # A venv made before psycopg_pool became a dependency: say so instead of failing.
    pytest.importorskip("psycopg_pool", reason="psycopg_pool is missing: pip install -e '.[test]'")
    with fresh_schema(postgres_cluster, test=request.node.nodeid) as schema:
        yield schema.url


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest) -> str | None:
    """Each backend in turn: None (SQLite in the state folder), or ``pg_url``."""
    return None if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))
