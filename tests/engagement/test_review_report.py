"""The report's reviews: how many per account and the rating over time, by local week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from klapper.adapters.base import Interaction, review_text
from klapper.engagement.report import build_report
from tests.engagement.helpers import World, config_for


def test_review_text_carries_the_stars():
    assert review_text(rating=2, comment="Cold coffee") == "★★☆☆☆ Cold coffee"
    assert review_text(rating=5, comment="") == "★★★★★"
    assert review_text(rating=None, comment="No stars") == "No stars"


def test_the_report_counts_reviews_and_shows_the_rating_by_week(tmp_path: Path):
    world = World(
        state=tmp_path / "state",
        config=config_for(
            {"bakery": {"platform": "google-business", "location": "accounts/1/locations/2"}}
        ),
        adapters=lambda name: None,
    )
    try:
        monday = datetime(2026, 11, 16, 12, tzinfo=UTC)  # a Monday, 13:00 in Berlin
        given = [(monday, 5), (monday + timedelta(days=2), 3), (monday + timedelta(days=14), 1)]
        found = [
            Interaction(
                remote_id=f"r{n}",
                kind="review",
                author="A",
                rating=stars,
                text=review_text(rating=stars, comment="words"),
                url=None,
                created_at=at,
            )
            for n, (at, stars) in enumerate(given)
        ]
        found.append(
            Interaction(
                remote_id="r0/reply",
                kind="reply",
                author="the owner",
                text="Thanks",
                url=None,
                created_at=monday,
                in_reply_to="r0",
                by_self=True,
            )
        )
        world.store.add_interactions(
            account="bakery",
            platform="google-business",
            found=found,
            owners={},
            attention={},
            now=monday,
        )
        report = build_report(
            ledger=world.ledger,
            since=monday - timedelta(days=1),
            until=monday + timedelta(days=20),
            tz=world.config.tz,
        )
        [stats] = report.reviews
        assert (stats.account, stats.reviews, stats.mean) == ("bakery", 3, 3.0)
        assert [(w.week.isoformat(), w.reviews, w.mean, w.running_mean) for w in stats.weeks] == [
            ("2026-11-16", 2, 4.0, 4.0),
            ("2026-11-23", 0, None, 4.0),
            ("2026-11-30", 1, 1.0, 3.0),
        ]
        assert report.to_json()["reviews"][0]["reviews"] == 3
    finally:
        world.close()


def test_the_terminal_and_html_reports_show_the_reviews(tmp_path: Path):
    import io

    from rich.console import Console

    from klapper.engagement.html import render_html
    from klapper.engagement.render import print_report
    from klapper.engagement.report import Report
    from klapper.engagement.reviews import ReviewStats, ReviewWeek

    monday = datetime(2026, 11, 16, tzinfo=UTC)
    report = Report(
        since=monday,
        until=monday + timedelta(days=7),
        tz=UTC,
        reviews=[
            ReviewStats(
                "bakery", "google-business", 2, 4.0, (ReviewWeek(monday.date(), 2, 4.0, 4.0),)
            )
        ],
    )
    out = io.StringIO()
    print_report(Console(file=out, width=200), report)
    assert (
        "Reviews on bakery: 2, 4.0 stars on average; the rating by week (from Monday): 16 Nov 4.0"
    ) in out.getvalue()
    page = render_html(report, generated=monday)
    assert "2 reviews in this period, 4.0 stars on average" in page and "Mon 16 Nov 2026" in page
