"""`klapper import feed`: a blog's RSS or Atom feed on loopback -> post files, each entry once."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klapper.cli import app
from klapper.intake import IntakeError
from klapper.intake.feed import import_feed
from klapper.queue import load_repository
from tests.intake.images import serve_images
from tests.queue.repo_helpers import make_repo

# A worktree installed before feedparser became a dependency: reinstall (pip install -e .).
pytest.importorskip("feedparser", reason="feedparser missing: run pip install -e .")
NOW = datetime(2030, 1, 1, tzinfo=UTC)
P1, P2 = "tag:example.com,2026:post-1", "tag:example.com,2026:post-2"
RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Workshop blog</title><link>https://example.com/</link>
<item><guid>tag:example.com,2026:post-2</guid><title>Advent: "20% off" all week 🎄</title>
  <link>https://example.com/advent</link><pubDate>Tue, 01 Dec 2026 08:00:00 GMT</pubDate>
  <category>Woodworking</category><category>advent sale</category>
  <description>&lt;p&gt;Four &lt;b&gt;candles&lt;/b&gt; &amp;amp; a bench.&lt;/p&gt;
  </description></item>
<item><guid>tag:example.com,2026:post-1</guid><title>Opening hours</title>
  <link>https://example.com/hours</link>
  <pubDate>Mon, 30 Nov 2026 08:00:00 GMT</pubDate><description>Open daily.</description></item>
</channel></rss>"""
ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom blog</title><id>urn:blog</id>
<updated>2026-12-01T08:00:00Z</updated>
<entry><id>urn:entry:1</id><title>Atom entry</title><link href="/atom-entry"/>
  <updated>2026-12-01T08:00:00Z</updated><summary>Short.</summary></entry>
</feed>"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {})


def _texts(repo: Path) -> dict[str, str]:
    loaded = load_repository(repo)
    assert not [p for p in loaded.problems if p.severity == "error"], loaded.problems
    return {post.source.file: post.text for post in loaded.posts}


def test_rss_imported_once_even_when_run_twice(repo: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    with serve_images({"/feed.xml": RSS.encode()}) as server:
        url = f"{server.url}/feed.xml"
        first = import_feed(repo=repo, url=url, state=state, now=NOW)
        again = import_feed(repo=repo, url=url, state=state, now=NOW)
        # The files deleted: the guids in the state folder still say they were imported.
        for file in (repo / "posts/imported").iterdir():
            file.unlink()
        after_delete = import_feed(repo=repo, url=url, state=state, now=NOW)
    assert [o.entry for o in first.written] == [P1, P2]  # oldest first
    assert not (again.written or again.skipped or again.refused)
    assert not after_delete.written
    seen = json.loads(next((state / "feeds").iterdir()).read_text())
    assert seen == {"url": url, "seen": [P1, P2]}


def test_default_template_title_link_and_hashtags(repo: Path, tmp_path: Path) -> None:
    with serve_images({"/feed.xml": RSS.encode()}) as server:
        result = import_feed(repo=repo, url=f"{server.url}/feed.xml", state=tmp_path / "s", now=NOW)
    advent = result.written[1].file
    assert advent == "posts/imported/2026-12-01-advent-20-off-all-week.yaml"
    assert _texts(repo)[advent] == (
        'Advent: "20% off" all week 🎄\n\nhttps://example.com/advent\n\n#Woodworking #AdventSale'
    )
    assert _texts(repo)[result.written[0].file] == "Opening hours\n\nhttps://example.com/hours"
    posts = {p.source.file: p for p in load_repository(repo).posts}
    assert posts[advent].at is None  # into the next posting slot


def test_template_with_summary_drafts_and_atom(repo: Path, tmp_path: Path) -> None:
    template = tmp_path / "feed.yaml"
    template.write_text("draft: true\ntext: |\n  New: {title}\n  {summary}\n  {link}\n")
    with serve_images({"/atom.xml": ATOM.encode(), "/feed.xml": RSS.encode()}) as server:
        atom = import_feed(
            repo=repo,
            url=f"{server.url}/atom.xml",
            state=tmp_path / "s",
            now=NOW,
            template=template,
            to=("masto",),
        )
        rss = import_feed(
            repo=repo,
            url=f"{server.url}/feed.xml",
            state=tmp_path / "s",
            now=NOW,
            template=template,
        )
    posts = {p.source.file: p for p in load_repository(repo).posts}
    entry = posts[atom.written[0].file]
    assert entry.draft and entry.to == ("masto",)
    assert entry.text == f"New: Atom entry\nShort.\n{server.url}/atom-entry"  # link resolved
    advent = posts[rss.written[1].file]
    assert advent.text.splitlines()[1] == "Four candles & a bench."  # HTML made plain


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("text: '{titel} {link}'\n", r"feed.yaml:1: unknown placeholder \{titel\}; use \{title\}"),
        ("text: [unclosed\n", r"feed.yaml:2: not YAML"),
        ("title: no text\n", r"feed.yaml: a template is a post file with a `text:`"),
        ("text: '{title}'\nat: 2030-01-01 10:00\n", r"feed.yaml: remove `at:`"),
    ],
)
def test_template_errors_are_clear(repo: Path, tmp_path: Path, template: str, message: str) -> None:
    path = tmp_path / "feed.yaml"
    path.write_text(template)
    with pytest.raises(IntakeError, match=message):
        import_feed(
            repo=repo,
            url="http://127.0.0.1:9/never-fetched",
            state=tmp_path / "s",
            now=NOW,
            template=path,
        )


def test_too_long_entry_is_refused_and_tried_again(repo: Path, tmp_path: Path) -> None:
    long_title = "word " * 70  # 350 characters: too long for X
    feed = RSS.replace("Opening hours", long_title)
    with serve_images({"/feed.xml": feed.encode()}) as server:
        url = f"{server.url}/feed.xml"
        first = import_feed(repo=repo, url=url, state=tmp_path / "s", now=NOW, to=("x",))
        again = import_feed(repo=repo, url=url, state=tmp_path / "s", now=NOW, to=("x",))
    assert [o.entry for o in first.refused] == [P1] == [o.entry for o in again.refused]
    assert "the limit is 280 (account x)" in first.refused[0].reason


def test_command_line_and_feed_faults(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLAPPER_STATE", str(tmp_path / "state"))
    runner = CliRunner()
    with serve_images({"/feed.xml": RSS.encode(), "/page.html": b"<html>hello</html>"}) as srv:
        ok = runner.invoke(app, ["import", "feed", f"{srv.url}/feed.xml", "--repo", str(repo)])
        missing = runner.invoke(app, ["import", "feed", f"{srv.url}/nope", "--repo", str(repo)])
        not_feed = runner.invoke(
            app, ["import", "feed", f"{srv.url}/page.html", "--repo", str(repo)]
        )
    assert ok.exit_code == 0, ok.output
    assert ok.output.splitlines()[-1] == "2 written, 0 imported before, 0 refused"
    assert f"(entry {P2})" in ok.output
    assert missing.exit_code == 1 and "the server answered HTTP 404" in missing.output
    assert not_feed.exit_code == 1 and "not an RSS or Atom feed" in not_feed.output
    usage = runner.invoke(app, ["import", "feed", "ftp://example.com/feed", "--repo", str(repo)])
    assert usage.exit_code == 2 and "give the feed's http(s) URL" in usage.output
