"""What the preview shows per account: the text as sent, its count, thread, images, calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from klapper.adapters.counting import count_text
from klapper.config.platforms import platform as describe
from klapper.preview import Preview, build_preview
from klapper.preview.calendar import clock_change, weeks
from klapper.queue import announced_rules, load_repository
from klapper.queue.campaign import parts_as_sent
from klapper.scheduler.evergreen import planned_with_evergreen
from tests.preview.sample import LONG, make_sample
from tests.queue.repo_helpers import make_repo

NOW = datetime(2030, 10, 21, 8, 0, tzinfo=UTC)  # a Monday; the clocks go back on the 27th
BERLIN = "timezone: Europe/Berlin\naccounts:\n  outbox: {platform: outbox, path: outbox}\n"


def _preview(repo: Path, *, days: int = 14, now: datetime = NOW) -> Preview:
    repository = load_repository(repo)
    assert [p for p in repository.problems if p.severity == "error"] == []
    rules = announced_rules(repository.config, cache_dir=repo / "no-cache")
    planned = planned_with_evergreen(
        config=repository.config,
        posts=repository.posts,
        now=now,
        end=now + timedelta(days=days),
        assigned_slots={},
        ledger=None,
    )
    return build_preview(repository=repository, now=now, days=days, rules=rules, planned=planned)


@pytest.fixture
def preview(tmp_path: Path) -> Preview:
    return _preview(make_sample(tmp_path / "repo", day=date(2030, 10, 21)))


def _delivery(preview: Preview, post: str, account: str):
    view = next(v for v in preview.posts if v.post.id == post)
    return next(d for d in view.deliveries if d.account == account)


def test_each_account_gets_its_text_as_sent(preview: Preview) -> None:
    x = _delivery(preview, "posts/advent.yaml", "x")
    masto = _delivery(preview, "posts/advent.yaml", "masto")
    bsky = _delivery(preview, "posts/advent.yaml", "bsky")
    # per: x text, tagged for x; Mastodon's base text tagged for mastodon; Bluesky untagged.
    assert x.parts[0].body.text == (
        "Advent sale: 20% off https://werkbank.de/advent?utm_source=x&utm_medium=social"
    )
    assert "advent?utm_source=mastodon&utm_medium=social" in masto.parts[0].body.text
    assert bsky.parts[0].body.text.endswith("\nhttps://werkbank.de/advent")
    assert dict(bsky.facet_tags) == {"source": "bluesky", "medium": "social"}
    assert x.facet_tags == {} and masto.facet_tags == {}
    # The one code path: exactly what the publisher gets from parts_as_sent.
    post = next(v.post for v in preview.posts if v.post.id == "posts/advent.yaml")
    sent = parts_as_sent(
        config=preview.config,
        post=post,
        account="masto",
        platform="mastodon",
        rules=describe("mastodon").rules,
        due=masto.due[0],
    )
    assert [p.body.text for p in masto.parts] == [p.text for p in sent]


def test_counts_follow_the_platform_and_over_limit_is_an_error(preview: Preview) -> None:
    x = _delivery(preview, "posts/advent.yaml", "x")
    assert x.parts[0].body.count == len("Advent sale: 20% off ") + 23  # a link counts 23 on X
    assert (x.parts[0].body.limit, x.parts[0].body.over) == (280, False)
    long_x = _delivery(preview, "posts/long.yaml", "x")
    long_bsky = _delivery(preview, "posts/long.yaml", "bsky")
    assert long_x.parts[0].body.count == count_text(LONG, "x-weighted") > 280
    assert long_bsky.parts[0].body.count == count_text(LONG, "graphemes") > 300
    assert long_x.parts[0].body.over and long_bsky.parts[0].body.over
    assert [p.message for p in long_x.problems] == [
        f"text is {long_x.parts[0].body.count} characters as x counts them; "
        "the limit is 280 (account x)"
    ]
    assert preview.errors > 0


def test_mastodon_counts_the_content_warning(preview: Preview) -> None:
    masto = _delivery(preview, "posts/advent.yaml", "masto")
    first = masto.parts[0]
    assert first.cw == "Sale" and first.options == {"visibility": "unlisted"}
    assert first.body.count == count_text(first.body.text, "mastodon") + len("Sale")
    assert (
        first.body.with_cw
        and not _delivery(preview, "posts/advent.yaml", "x").parts[0].body.with_cw
    )


def test_thread_images_alt_and_first_comment(preview: Preview) -> None:
    bsky = _delivery(preview, "posts/advent.yaml", "bsky")
    assert [p.body.text for p in bsky.parts[1:]] == [
        "Dovetails on Tuesday, sharpening on Thursday.",
        "Gift vouchers never expire.",
    ]
    assert [(m.file, m.alt) for m in bsky.parts[0].media] == [
        ("../media/candles.png", "Four white candles above a wooden workbench.")
    ]
    assert [(m.file, m.alt) for m in bsky.parts[2].media] == [("../media/chart.png", None)]
    # the missing alt text is check's error (alt_required), for every account of the post
    assert any("chart.png has no alt text" in p.message for p in bsky.problems)
    ig = _delivery(preview, "posts/insta.yaml", "ig")
    assert ig.first_comment is not None and ig.first_comment.text == "#holz #werkbank"
    assert "first_comment" not in ig.parts[0].options


def test_drafts_and_posts_beyond_the_period_are_left_out(preview: Preview) -> None:
    assert [v.post.id for v in preview.posts] == [
        "posts/advent.yaml",
        "posts/long.yaml",
        "posts/script.yaml",
        "posts/insta.yaml",
    ]


def test_the_calendar_is_local_time_across_the_clock_change(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {
            # 00:30 on the 27th in Berlin is 22:30 UTC on the 26th.
            "posts/night.yaml": "text: night\nat: 2030-10-27 00:30\n",
            "posts/late.yaml": "text: late\nat: 2030-10-27 23:30\n",
            "posts/weekly.yaml": "text: weekly\nevery: '0 9 * * SUN'\n",
        },
        config=BERLIN,
    )
    preview = _preview(repo)
    grid = weeks(preview)
    assert [[d.day.day for d in week] for week in grid] == [
        [21, 22, 23, 24, 25, 26, 27],
        [28, 29, 30, 31, 1, 2, 3],
        [4, 5, 6, 7, 8, 9, 10],
    ]
    sunday = grid[0][6]
    assert [(t.strftime("%H:%M %z"), v.post.id) for t, v, _ in sunday.entries] == [
        ("00:30 +0200", "posts/night.yaml"),
        ("09:00 +0100", "posts/weekly.yaml"),
        ("23:30 +0100", "posts/late.yaml"),
    ]
    assert sunday.clock_change == "clocks go back 1 h (UTC+02:00 → UTC+01:00)"
    assert [d.clock_change for week in grid for d in week].count(None) == 20
    assert not grid[2][3].in_period  # the 7th: after the period's 14 days (until the 4th)
    weekly = _delivery(preview, "posts/weekly.yaml", "outbox")
    assert [d.isoformat() for d in weekly.due] == [
        "2030-10-27T08:00:00+00:00",
        "2030-11-03T08:00:00+00:00",
    ]
    assert preview.deliveries == 4


def test_clocks_going_forward() -> None:
    from zoneinfo import ZoneInfo

    assert clock_change(date(2031, 3, 30), ZoneInfo("Europe/Berlin")) == (
        "clocks go forward 1 h (UTC+01:00 → UTC+02:00)"
    )
    assert clock_change(date(2031, 4, 6), ZoneInfo("Australia/Lord_Howe")) == (
        "clocks go back 30 min (UTC+11:00 → UTC+10:30)"
    )
