"""Runs the real daemon or `publish --due` in a subprocess, with every account on a fake platform.

    python -m tests.scheduler.runner daemon|due --repo R --state S --api http://127.0.0.1:PORT \
        [--platform generic|mastodon] [--ledger postgresql://...]

With ``KLAPPER_TEST_WEDGE=PATH`` in the environment, a reload of the repository waits while
PATH exists: a main loop stuck in its work, as a file that blocks on reading would leave it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from klapper.adapters.base import Adapter
from klapper.adapters.mastodon.adapter import MastodonAdapter
from klapper.scheduler.daemon import Daemon
from klapper.scheduler.engine import Engine
from klapper.scheduler.logs import setup_logging
from tests.fakes.generic import generic_factory
from tests.fakes.mastodon import TOKEN


def mastodon_factory(*, api_base: str, repo: Path, timeout: float) -> Callable[[str], Adapter]:
    """Every account is the fake Mastodon's one account, through klapper's Mastodon adapter."""

    def build(account: str) -> Adapter:
        return MastodonAdapter(
            name=account,
            settings={"instance": api_base, "cache_dir": str(repo)},
            secrets={"access_token": TOKEN},
            repo=repo,
            timeout=timeout,
        )

    return build


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["daemon", "due"])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--api", required=True)
    parser.add_argument("--refresh", type=float, default=30.0)
    parser.add_argument("--ledger", default=None, help="a shared ledger's PostgreSQL URL")
    parser.add_argument(
        "--platform",
        choices=["generic", "mastodon"],
        default="generic",
        help="mastodon: the real adapter on tests/fakes/mastodon.py",
    )
    args = parser.parse_args(argv)
    setup_logging(log_format="json")
    build = mastodon_factory if args.platform == "mastodon" else generic_factory
    engine = Engine(
        repo=args.repo,
        state=args.state,
        watched=args.mode == "daemon",
        ledger=args.ledger,
        adapters_for=lambda config, repo: build(
            api_base=args.api, repo=repo, timeout=config.publishing.timeout.total_seconds()
        ),
    )
    wedge = os.environ.get("KLAPPER_TEST_WEDGE")
    if wedge:
        _wedge_reload(engine, Path(wedge))
    if args.mode == "daemon":
        return Daemon(engine, refresh_every=args.refresh).run()
    try:
        engine.reload()
        engine.recover()
        assert engine.publisher is not None
        outcomes = engine.publisher.publish_due()
    finally:
        engine.close()
    return 0 if all(o.ok for o in outcomes) else 1


def _wedge_reload(engine: Engine, wedge: Path) -> None:
    reload = engine.reload

    def wedged(*args: object, **kwargs: object) -> object:
        while wedge.exists():
            time.sleep(0.01)
        return reload(*args, **kwargs)

    engine.reload = wedged  # type: ignore[method-assign]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
