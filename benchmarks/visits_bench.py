"""Visits cost: requests to the website's analytics for one round over N published posts.

Run: .venv/bin/python benchmarks/visits_bench.py [--posts 1000]

N posts, each published to a Mastodon and a Bluesky account over the last 30 days (so every
one has a visits reading due), with visits and goals on the fake Matomo and the fake
Plausible on 127.0.0.1 (three visits per delivery, on its publishing day and the next). One
visits round reads them all; requests are counted at the servers. Figures only: it never
fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' fake servers

from klapper.config.model import Config
from klapper.engagement.visits import Visits
from tests.engagement.helpers import World, bulk_published
from tests.fakes.matomo import SITE_ID, TOKEN, fake_matomo
from tests.fakes.plausible import KEY, SITE, fake_plausible
from tests.fakes.site_visits import SiteState, Visit


def _config(tool: dict[str, Any]) -> Config:
    return Config.model_validate(
        {
            "timezone": "Europe/Berlin",
            "accounts": {
                "masto": {"platform": "mastodon", "instance": "https://m.example"},
                "bsky": {"platform": "bluesky"},
            },
            "links": {"utm": {"source": "{platform}", "campaign": "{post}"}},
            "analytics": {**tool, "budget": 100},
        }
    )


def _round(name: str, tool: dict[str, Any], site: SiteState, token: str, posts: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        world = World(state=Path(folder), config=_config(tool), adapters=lambda _: None)  # type: ignore[arg-type,return-value]
        now = world.clock.now
        rows, visits = [], []
        for n in range(posts):
            when = now - timedelta(hours=2) - timedelta(minutes=43 * n)  # 1,000 in 30 days
            day = when.astimezone(world.config.tz).date()
            for account, platform in (("masto", "mastodon"), ("bsky", "bluesky")):
                rows.append((f"p{n}", account, platform, f"{account}-{n}", when))
                visits += [
                    Visit(f"p{n}", platform, day, f"{n}a", goals=("booking",)),
                    Visit(f"p{n}", platform, day, f"{n}b"),
                    Visit(f"p{n}", platform, day + timedelta(days=1), f"{n}a"),
                ]
        bulk_published(world.ledger, rows)
        site.add(visits)
        reader = Visits(
            ledger=world.ledger,
            events=world.events,
            config=world.config,
            clock=world.clock,
            environ={"KLAPPER_ANALYTICS_TOKEN": token, "KLAPPER_SECRETS": f"{folder}/none"},
        )
        began = time.perf_counter()
        report = reader.run_round()
        seconds = time.perf_counter() - began
        world.close()
    assert report is not None
    print(
        f"| {name} | {posts:,} | {report.readings:,} | {report.requests} | {len(site.asked)} "
        f"| {report.rows:,} | {seconds:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    posts = parser.parse_args().posts
    print(
        "| tool | posts | deliveries read | requests (round) | requests (server) | rows | seconds |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with fake_matomo() as (base, site):
        _round("Matomo", {"matomo": {"url": base, "site_id": SITE_ID}}, site, TOKEN, posts)
    with fake_plausible() as (base, site):
        _round("Plausible", {"plausible": {"url": base, "site_id": SITE}}, site, KEY, posts)


if __name__ == "__main__":
    main()
