"""`feeds:` in klapper.yaml: read on their interval by `publish --due` and the daemon's timer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klapper.cli import app
from klapper.config.load import ConfigError, load_config
from klapper.intake.feeds import next_check, run_feeds
from klapper.queue import load_repository
from tests.intake.images import serve_images
from tests.intake.test_feed import ATOM, P1, P2, RSS
from tests.queue.repo_helpers import CONFIG, make_repo
from tests.scheduler.procs import wait_for

pytest.importorskip("feedparser", reason="feedparser missing: run pip install -e .")
NOW = datetime(2030, 1, 1, 8, tzinfo=UTC)


def _repo(tmp_path: Path, feeds: str) -> Path:
    return make_repo(tmp_path / "repo", {}, config=CONFIG + feeds)


def test_feed_read_once_per_interval_as_drafts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with serve_images({"/feed.xml": RSS.encode()}) as server:
        repo = _repo(
            tmp_path,
            f"feeds:\n  - url: {server.url}/feed.xml\n    to: [masto]\n    draft: true\n"
            "    every: 2h\n",
        )
        config = load_config(repo)
        assert next_check(config=config, state=state, now=NOW) == NOW  # never read: now
        first = run_feeds(repo=repo, state=state, config=config, now=NOW)
        soon = run_feeds(repo=repo, state=state, config=config, now=NOW + timedelta(hours=1))
        later = run_feeds(repo=repo, state=state, config=config, now=NOW + timedelta(hours=2))
    assert [o.entry for o in first[0].result.written] == [P1, P2]  # type: ignore[union-attr]
    assert soon == []  # not due: the feed was not even fetched
    assert server.hits["/feed.xml"] == 2
    assert later[0].result is not None and not later[0].result.written  # guids remembered
    assert next_check(config=config, state=state, now=NOW) == NOW + timedelta(hours=4)
    posts = load_repository(repo).posts
    assert len(posts) == 2 and all(p.draft and p.to == ("masto",) for p in posts)


def test_a_failing_feed_is_one_line_naming_its_line_and_the_others_go_on(
    tmp_path: Path,
) -> None:
    files = {"/atom.xml": ATOM.encode(), "/feed.xml": RSS.encode(), "/page.html": b"<html>"}
    with serve_images(files) as srv:
        repo = _repo(
            tmp_path,
            "feeds:\n"
            f"  - url: {srv.url}/gone.xml\n"
            f"  - url: {srv.url}/page.html\n"
            f"  - {{url: {srv.url}/atom.xml, template: feed.yaml}}\n"
            f"  - url: {srv.url}/feed.xml\n"
            "    to: [outbox]\n",
        )
        (repo / "feed.yaml").write_text("text: '{titel}'\n")
        runs = run_feeds(repo=repo, state=tmp_path / "s", config=load_config(repo), now=NOW)
    base = len(CONFIG.splitlines())
    problems = [p for run in runs for p in run.problems()]
    assert (
        problems[0]
        == f"klapper.yaml:{base + 2}: feed {srv.url}/gone.xml: the server answered HTTP 404"
    )
    assert problems[1].startswith(
        f"klapper.yaml:{base + 3}: feed {srv.url}/page.html: not an RSS or Atom feed"
    )
    assert problems[2] == (
        f"klapper.yaml:{base + 4}: feed {srv.url}/atom.xml: feed.yaml:1: unknown placeholder "
        "{titel}; use {title}, {link}, {summary}, {hashtags}"
    )
    assert len(problems) == 3
    assert runs[3].result is not None and len(runs[3].result.written) == 2


@pytest.mark.parametrize(
    ("feeds", "message", "line"),
    [
        ("feeds:\n  - url: ftp://example.com/feed\n", "give the feed's http(s) URL", 1),
        ("feeds:\n  - url: https://e.example/f\n    every: 8x\n", "is not a duration", 2),
        ("feeds:\n  - url: https://e.example/f\n    to: [nobody]\n", "no account named", 2),
        ("feeds:\n  - url: https://e.example/f\n    every: 1m\n", "at most every 5m", 2),
        ("feeds:\n  - url: https://e.example/f\n  - url: https://e.example/f\n", "twice", 2),
        ("feeds:\n  - url: https://e.example/f\n    template: ../t.yaml\n", "inside the", 2),
    ],
)
def test_bad_feed_settings_are_clear(tmp_path: Path, feeds: str, message: str, line: int) -> None:
    repo = _repo(tmp_path, feeds)
    with pytest.raises(ConfigError) as caught:
        load_config(repo)
    issue = caught.value.issues[0]
    assert message in issue.message
    assert issue.line == len(CONFIG.splitlines()) + 1 + line


def test_publish_due_reads_the_feeds_and_a_broken_one_does_not_stop_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLAPPER_STATE", str(tmp_path / "state"))
    due = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with serve_images({"/feed.xml": RSS.encode()}) as srv:
        repo = make_repo(
            tmp_path / "repo",
            {"posts/now.yaml": f"text: due now\nat: {due}\n"},
            config=CONFIG + f"feeds:\n  - url: {srv.url}/down.xml\n  - url: {srv.url}/feed.xml\n",
        )
        result = CliRunner().invoke(app, ["publish", "--due", "--repo", str(repo)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "1 published"
    assert f"klapper.yaml:{len(CONFIG.splitlines()) + 2}: feed {srv.url}/down.xml" in result.output
    assert len(list((repo / "posts/imported").iterdir())) == 2


def test_the_daemon_reads_its_feeds_on_their_own_timer(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with serve_images({"/feed.xml": RSS.encode(), "/atom.xml": ATOM.encode()}) as srv:
        repo = _repo(
            tmp_path, f"feeds:\n  - url: {srv.url}/feed.xml\n  - url: {srv.url}/atom.xml\n"
        )
        # The atom feed was read 59 min 58 s ago: its turn comes 2 s after the start.
        (state / "feeds").mkdir(parents=True)
        last = datetime.now(UTC) - timedelta(minutes=59, seconds=58)
        (state / "feeds/checked.json").write_text(
            json.dumps({f"{srv.url}/atom.xml": last.isoformat()})
        )
        args = ["--repo", str(repo), "--state", str(state)]
        env = {**os.environ, "KLAPPER_SECRETS": str(tmp_path / "none.yaml")}
        env.pop("NOTIFY_SOCKET", None)
        proc = subprocess.Popen(
            [sys.executable, "-c", "from klapper.cli import main; main()", "run", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for(lambda: srv.hits.get("/feed.xml"), timeout=20)  # at the start
            assert "/atom.xml" not in srv.hits
            wait_for(lambda: srv.hits.get("/atom.xml"), timeout=20)  # at its turn
            files = wait_for(lambda: len(list((repo / "posts/imported").iterdir())) == 3)
            assert files
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=15)
    assert code == 0, proc.stderr.read().decode() if proc.stderr else ""
    assert srv.hits == {"/feed.xml": 1, "/atom.xml": 1}


def test_a_fault_of_klappers_own_fails_that_feed_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import klapper.intake.feeds as feeds

    calls = []

    def flaky(**kw: object) -> object:
        calls.append(kw["url"])
        if len(calls) == 1:
            raise KeyError("surprise")
        return real(**kw)

    real = feeds.import_feed
    monkeypatch.setattr(feeds, "import_feed", flaky)
    with serve_images({"/feed.xml": RSS.encode(), "/atom.xml": ATOM.encode()}) as srv:
        repo = _repo(
            tmp_path, f"feeds:\n  - url: {srv.url}/atom.xml\n  - url: {srv.url}/feed.xml\n"
        )
        runs = run_feeds(repo=repo, state=tmp_path / "s", config=load_config(repo), now=NOW)
    assert runs[0].error == "failed unexpectedly (KeyError)"
    assert runs[1].result is not None and len(runs[1].result.written) == 2
