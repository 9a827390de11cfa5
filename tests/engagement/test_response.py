"""The report's time to answer per platform: median and 90th percentile, in every format."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from klapper.adapters.base import Interaction
from klapper.engagement.html import render_html
from klapper.engagement.render import print_report
from klapper.engagement.report import build_report
from klapper.engagement.response import duration, percentile
from tests.engagement.helpers import World, config_for

NOW = datetime(2026, 12, 1, 18, tzinfo=UTC)


def test_percentile_is_the_nearest_rank() -> None:
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.9) == 4.0
    assert percentile([float(n) for n in range(1, 11)], 0.9) == 9.0
    assert percentile([float(n) for n in range(1, 11)], 0.5) == 5.0
    assert [duration(s) for s in (None, 59, 3600, 3600 * 3 + 600, 86400 * 3 + 7200)] == [
        "–",
        "1 min",
        "1 h",
        "3 h 10 min",
        "3 d 2 h",
    ]


def test_the_report_shows_the_time_to_answer_per_platform(tmp_path: Path) -> None:
    world = World(
        state=tmp_path / "state",
        config=config_for(
            {
                "masto": "mastodon",
                "bakery": {"platform": "google-business", "location": "accounts/1/locations/2"},
            }
        ),
        adapters=lambda name: None,
    )
    try:
        came = NOW - timedelta(hours=10)
        answers = {"q1": 30, "q2": 60, "q3": 120, "q4": 300}  # minutes until answered
        items = [
            Interaction(
                remote_id=key, kind="reply", author="@ann", text="?", url=None, created_at=came
            )
            for key in [*answers, "open", "handled"]
        ]
        added = world.store.add_interactions(
            account="masto",
            platform="mastodon",
            found=items,
            owners={},
            attention={},
            now=NOW,
        )
        ids = {item.remote_id: item.id for item in added}
        for key, minutes in answers.items():
            world.store.mark_answered(ids[key], at=came + timedelta(minutes=minutes), by="r")
        world.store.mark_done(ids["handled"], now=NOW)
        review = Interaction(
            remote_id="rev",
            kind="review",
            author="A",
            text="★★☆☆☆",
            url=None,
            created_at=came - timedelta(days=2),
            rating=2,
        )
        [item] = world.store.add_interactions(
            account="bakery",
            platform="google-business",
            found=[review],
            owners={},
            attention={},
            now=NOW,
        )
        world.store.mark_answered(item.id, at=came, by="rev/reply")
        report = build_report(ledger=world.ledger, since=NOW - timedelta(days=7), until=NOW, tz=UTC)
    finally:
        world.close()
    assert [r.to_json() for r in report.response] == [
        {
            "platform": "google-business",
            "answered": 1,
            "waiting": 0,
            "median_seconds": 2 * 86400.0,
            "p90_seconds": 2 * 86400.0,
        },
        {
            "platform": "mastodon",
            "answered": 4,
            "waiting": 1,
            "median_seconds": 90 * 60.0,
            "p90_seconds": 300 * 60.0,
        },
    ]
    assert report.to_json()["response_times"][1]["median_seconds"] == 5400.0
    out = io.StringIO()
    print_report(Console(file=out, width=200), report)
    assert (
        "Time to answer on mastodon: median 1 h 30 min, 90% within 5 h (4 answered, 1 waiting)"
        in out.getvalue()
    )
    page = render_html(report, generated=NOW)
    assert "Time to answer" in page and "1 h 30 min" in page and "2 d" in page
