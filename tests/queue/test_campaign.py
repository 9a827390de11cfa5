"""Campaign tags per delivery: klapper.yaml's links › utm, a post's utm:, placeholders, and
`klapper check` / `klapper plan` counting and showing the text as it is sent."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klapper.cli import app
from klapper.config.platforms import platform as describe
from klapper.queue import check_posts, load_repository
from klapper.queue.campaign import campaign_tags, parts_as_sent
from tests.queue.repo_helpers import CONFIG, make_repo

LINKS = (
    CONFIG
    + """\
links:
  utm: {source: "{platform}", medium: social, campaign: "{post}", content: "{account}-{date}"}
"""
)
POST = """\
id: advent
text: "Advent sale: https://shop.de/advent?ref=1#top. See you!"
to: [x, masto, li, bsky]
thread:
  - "Workshops: https://shop.de/kurse"
per:
  li: {text: "LinkedIn only: https://shop.de/li"}
"""


def _repo(tmp_path: Path, post: str = POST, config: str = LINKS):
    repo = load_repository(make_repo(tmp_path, {"posts/a.yaml": post}, config=config))
    assert repo.problems == []
    return repo


def _sent(repo, account: str, due: datetime) -> list[str]:
    post = repo.posts[0]
    settings = repo.config.accounts[account]
    rules = describe(settings.platform).rules
    return [
        part.text
        for part in parts_as_sent(
            config=repo.config,
            post=post,
            account=account,
            platform=settings.platform,
            rules=rules,
            due=due,
        )
    ]


def test_every_link_of_every_part_and_per_text_is_tagged_per_account(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    due = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert _sent(repo, "x", due) == [
        "Advent sale: https://shop.de/advent?ref=1&utm_source=x&utm_medium=social"
        "&utm_campaign=advent&utm_content=x-2026-12-01#top. See you!",
        "Workshops: https://shop.de/kurse?utm_source=x&utm_medium=social&utm_campaign=advent"
        "&utm_content=x-2026-12-01",
    ]
    assert _sent(repo, "li", due)[0] == (
        "LinkedIn only: https://shop.de/li?utm_source=linkedin&utm_medium=social"
        "&utm_campaign=advent&utm_content=li-2026-12-01"
    )
    # Bluesky keeps the text as written: its link facets carry the tags (adapters.bluesky).
    assert _sent(repo, "bsky", due)[0] == "Advent sale: https://shop.de/advent?ref=1#top. See you!"


@pytest.mark.parametrize(
    ("due", "date"),
    [
        # Local midnight in Berlin is 22:00 UTC the day before in summer, 23:00 in winter.
        (datetime(2026, 3, 28, 23, 30, tzinfo=UTC), "2026-03-29"),  # 00:30 CET, the DST night
        (datetime(2026, 3, 29, 21, 59, tzinfo=UTC), "2026-03-29"),  # 23:59 CEST
        (datetime(2026, 3, 29, 22, 0, tzinfo=UTC), "2026-03-30"),  # 00:00 CEST
        (datetime(2026, 10, 24, 22, 30, tzinfo=UTC), "2026-10-25"),  # 00:30 CEST, before the fall
        (datetime(2026, 10, 25, 22, 59, tzinfo=UTC), "2026-10-25"),  # 23:59 CET
    ],
)
def test_the_date_is_the_local_date_of_the_delivery_in_berlin(
    tmp_path: Path, due: datetime, date: str
) -> None:
    repo = _repo(tmp_path)
    tags = campaign_tags(
        config=repo.config, post=repo.posts[0], account="masto", platform="mastodon", due=due
    )
    assert tags == {
        "source": "mastodon",
        "medium": "social",
        "campaign": "advent",
        "content": f"masto-{date}",
    }


def test_a_post_overrides_single_tags_or_turns_them_off(tmp_path: Path) -> None:
    due = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    repo = _repo(tmp_path, POST + 'utm: {campaign: "advent-{date}", term: Kurse}\n')
    assert campaign_tags(
        config=repo.config, post=repo.posts[0], account="x", platform="x", due=due
    ) == {
        "source": "x",
        "medium": "social",
        "campaign": "advent-2026-12-01",
        "content": "x-2026-12-01",
        "term": "Kurse",
    }
    off = _repo(tmp_path / "off", POST + "utm: false\n")
    assert _sent(off, "x", due)[0] == "Advent sale: https://shop.de/advent?ref=1#top. See you!"
    # Without links › utm in klapper.yaml nothing is tagged, unless the post asks.
    plain = _repo(tmp_path / "plain", config=CONFIG)
    assert _sent(plain, "x", due)[1] == "Workshops: https://shop.de/kurse"
    own = _repo(tmp_path / "own", POST + "utm: {source: shop}\n", config=CONFIG)
    assert _sent(own, "x", due)[1] == "Workshops: https://shop.de/kurse?utm_source=shop"


def test_unknown_placeholders_are_errors_with_the_line(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {"posts/a.yaml": "text: hi\nutm: {source: '{site}'}\n"},
        config=CONFIG + "links:\n  utm: {campaign: '{post:>10}'}\n",
    )
    result = CliRunner().invoke(app, ["check", "--repo", str(root)])
    assert result.exit_code == 1
    assert (
        "17:19  error  links › utm › campaign: '{post:>10}': write the placeholder as "
        "{post}, without a format"
    ) in result.output
    fixed = make_repo(tmp_path / "b", {"posts/a.yaml": "text: hi\nutm: {source: '{site}'}\n"})
    result = CliRunner().invoke(app, ["check", "--repo", str(fixed)])
    assert result.exit_code == 1
    assert (
        "2:15  error  utm › source: unknown placeholder {site} in '{site}'; use {platform}, "
        "{account}, {post}, {date}"
    ) in result.output
    assert "1 error," in result.output  # one error, not one per form `utm:` takes


def test_check_counts_the_text_as_sent(tmp_path: Path) -> None:
    # 2,950 letters and a link fit LinkedIn's 3,000 only without the tags (94 characters:
    # ?utm_source=linkedin&utm_medium=social&utm_campaign=posts%2Fa%2Eyaml&utm_content=li-DATE).
    post = f'text: "{"a" * 2950} https://shop.de/"\nto: [li, x, masto]\n'
    tagged = _repo(tmp_path, post)
    problems = [
        (p.account, p.message) for p in check_posts(tagged, now=datetime(2026, 1, 1, tzinfo=UTC))
    ]
    assert (
        "li",
        "text is 3061 characters as linkedin counts them; the limit is 3000 (account li)",
    ) in problems
    # X and Mastodon count a link as 23 whatever its tags: their findings do not change.
    plain = _repo(tmp_path / "plain", post, config=CONFIG)
    untagged = [
        (p.account, p.message) for p in check_posts(plain, now=datetime(2026, 1, 1, tzinfo=UTC))
    ]
    assert [p for p in problems if p[0] != "li"] == [p for p in untagged if p[0] != "li"]
    assert all(account != "li" for account, _ in untagged)


def test_plan_shows_the_text_as_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLAPPER_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("KLAPPER_SECRETS", str(tmp_path / "no-secrets.yaml"))
    root = make_repo(
        tmp_path / "repo", {"posts/a.yaml": POST + "at: 2036-07-01 00:30\n"}, config=LINKS
    )
    result = CliRunner().invoke(
        app, ["plan", "--repo", str(root), "--days", "3660", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = {row["account"]: row["text"] for row in json.loads(result.stdout)}
    # 00:30 in Berlin is 22:30 UTC the day before: {date} is the local date.
    assert rows["masto"] == (
        "Advent sale: https://shop.de/advent?ref=1&utm_source=mastodon"
        "&utm_medium=social&utm_campaign=advent"
        "&utm_content=masto-2036-07-01#top. See you!"
    )
    assert rows["bsky"] == "Advent sale: https://shop.de/advent?ref=1#top. See you!"


PER_UTM = """\
id: advent
text: "Advent sale: https://shop.de/advent#top"
to: [x, masto, li, bsky]
utm: {medium: post}
thread:
  - "Workshops: https://shop.de/kurse?a=1"
per:
  mastodon:
    utm: {source: fedi, term: "{account}"}
    thread: ["Fedi thread: https://shop.de/fedi"]
  masto: {utm: {campaign: "masto-{post}"}}
  li:
    text: "LinkedIn only: https://shop.de/li"
    utm: false
  x:
    utm: false
    text: "X text: https://shop.de/x"
  bluesky: {utm: {content: sky}}
"""


def test_per_utm_overrides_the_posts_tags_by_platform_then_account(tmp_path: Path) -> None:
    repo = _repo(tmp_path, PER_UTM)
    due = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    # mastodon's per: entry replaces source and adds term; the account's own entry the campaign;
    # links in per: thread texts are tagged like the post's own.
    assert _sent(repo, "masto", due) == [
        "Advent sale: https://shop.de/advent?utm_source=fedi&utm_medium=post"
        "&utm_campaign=masto-advent&utm_content=masto-2026-12-01&utm_term=masto#top",
        "Fedi thread: https://shop.de/fedi?utm_source=fedi&utm_medium=post"
        "&utm_campaign=masto-advent&utm_content=masto-2026-12-01&utm_term=masto",
    ]
    # utm: false in per: leaves this account's links (its per: text, the post's thread) bare.
    assert _sent(repo, "li", due) == [
        "LinkedIn only: https://shop.de/li",
        "Workshops: https://shop.de/kurse?a=1",
    ]
    assert _sent(repo, "x", due) == [
        "X text: https://shop.de/x",
        "Workshops: https://shop.de/kurse?a=1",
    ]
    # Bluesky: the text stays as written; the facets get the tags with its per: content.
    assert campaign_tags(
        config=repo.config, post=repo.posts[0], account="bsky", platform="bluesky", due=due
    ) == {"source": "bluesky", "medium": "post", "campaign": "advent", "content": "sky"}


def test_per_utm_after_utm_false_tags_only_with_the_keys_it_gives(tmp_path: Path) -> None:
    post = "text: 'See https://shop.de/a'\nto: [x, masto]\nutm: false\nper:\n  x: {utm: {campaign: xmas}}\n"
    repo = _repo(tmp_path, post)
    due = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert _sent(repo, "x", due) == ["See https://shop.de/a?utm_campaign=xmas"]
    assert _sent(repo, "masto", due) == ["See https://shop.de/a"]


def test_a_bad_per_utm_is_an_error_at_its_line(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path,
        {"posts/a.yaml": "text: hi\nto: [x]\nper:\n  x:\n    utm: {source: '{site}'}\n"},
        config=LINKS,
    )
    result = CliRunner().invoke(app, ["check", "--repo", str(root)])
    assert result.exit_code == 1
    assert "5:19  error  per › x › utm › source: unknown placeholder {site}" in result.output
