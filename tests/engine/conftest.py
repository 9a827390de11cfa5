"""Fixtures of the engine tests: a fake platform server and a publisher wired to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.helpers import Env, make_config
from tests.fakes.generic import FakeServer


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as running:
        yield running


@pytest.fixture
def env(tmp_path: Path, server: FakeServer) -> Iterator[Env]:
    environment = Env(state=tmp_path / "state", server=server, config=make_config())
    yield environment
    environment.close()
