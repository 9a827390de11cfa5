"""`--git-branch`: imported files as a commit on a branch; the user's checkout is never touched."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klapper.cli import app
from klapper.config.load import load_config
from klapper.intake.feeds import run_feeds
from tests.intake.images import serve_images
from tests.intake.test_feed import RSS
from tests.queue.repo_helpers import CONFIG, make_repo

pytest.importorskip("feedparser", reason="feedparser missing: run pip install -e .")
NOW = datetime(2030, 1, 1, 8, tzinfo=UTC)
HOOTSUITE = "12/24/2030 09:00,Merry Christmas from the workshop,https://example.com/xmas\n"
MORE = "12/28/2030 09:00,Between the years: open daily,\n"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A content repository in the folder ``site`` of a git repository, with one commit and a
    change that is neither staged nor committed (which must stay as it is)."""
    for key in ("GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))  # no identity
    monkeypatch.setenv("KLAPPER_STATE", str(tmp_path / "state"))
    top = tmp_path / "top"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    content = make_repo(top / "site", {"posts/hello.yaml": "text: hello\n"})
    git(top, "add", ".")
    git(top, "-c", "user.name=u", "-c", "user.email=u@e", "commit", "-q", "-m", "start")
    (content / "posts/hello.yaml").write_text("text: hello, edited\n")
    (content / "scratch.txt").write_text("mine")
    return content


def _checkout_state(repo: Path) -> tuple[str, str, str, str]:
    return (
        git(repo, "rev-parse", "HEAD"),
        git(repo, "symbolic-ref", "HEAD"),
        git(repo, "status", "--porcelain"),
        git(repo, "diff", "--cached"),
    )


def test_feed_on_a_branch_extended_then_nothing_new(repo: Path, tmp_path: Path) -> None:
    before = _checkout_state(repo)
    runner = CliRunner()
    one_entry = RSS.split("<item>")[0] + "<item>" + RSS.split("<item>")[2]
    with serve_images({"/feed.xml": one_entry.encode()}) as srv:
        url = f"{srv.url}/feed.xml"
        args = ["import", "feed", url, "--git-branch", "feeds/blog", "--repo", str(repo)]
        first = runner.invoke(app, args)
        srv.files["/feed.xml"] = RSS.encode()
        second = runner.invoke(app, args)
        third = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "committed" in first.output and "on branch feeds/blog" in first.output
    assert _checkout_state(repo) == before  # working tree, index and current branch as they were
    assert not (repo / "posts/imported").exists()
    tip = git(repo, "rev-parse", "feeds/blog")
    assert git(repo, "rev-list", "--count", "main..feeds/blog") == "2"  # made, then extended
    assert git(repo, "rev-parse", "feeds/blog~2") == before[0]  # from HEAD
    files = git(repo, "diff", "--name-only", "main", "feeds/blog").splitlines()
    assert files == [
        "site/posts/imported/2026-11-30-opening-hours.yaml",
        "site/posts/imported/2026-12-01-advent-20-off-all-week.yaml",
    ]
    assert "1 written" in second.output
    assert third.exit_code == 0 and "committed" not in third.output
    assert git(repo, "rev-parse", "feeds/blog") == tip  # a second run adds nothing
    author = git(repo, "log", "-1", "--format=%an <%ae>%n%s", "feeds/blog")
    assert author == f"klapper <klapper@localhost>\nklapper import: 1 post from {url}"


def test_csv_on_a_branch_twice_adds_nothing(repo: Path, tmp_path: Path) -> None:
    csv = tmp_path / "hootsuite.csv"
    csv.write_text(HOOTSUITE)
    args = ["import", "csv", str(csv), "--format", "hootsuite", "--repo", str(repo)]
    first = CliRunner().invoke(app, [*args, "--git-branch", "import", "-o", "json"])
    tip = git(repo, "rev-parse", "import")
    csv.write_text(HOOTSUITE + MORE)
    second = CliRunner().invoke(app, [*args, "--git-branch", "import"])
    third = CliRunner().invoke(app, [*args, "--git-branch", "import"])
    assert first.exit_code == 0, first.output
    assert f'"commits": [\n      "{tip}"' in first.output
    assert "1 written, 1 imported before" in second.output  # known from the branch's files
    assert "0 written, 2 imported before" in third.output
    assert git(repo, "rev-list", "--count", "main..import") == "2"
    assert not (repo / "posts/imported").exists()


def test_configured_feed_on_a_branch(repo: Path, tmp_path: Path) -> None:
    with serve_images({"/feed.xml": RSS.encode()}) as srv:
        config = CONFIG + f"feeds:\n  - url: {srv.url}/feed.xml\n    git_branch: blog\n"
        (repo / "klapper.yaml").write_text(config)
        git(repo, "add", "klapper.yaml")
        git(repo, "-c", "user.name=u", "-c", "user.email=u@e", "commit", "-q", "-m", "feeds")
        runs = run_feeds(repo=repo, state=tmp_path / "s", config=load_config(repo), now=NOW)
    assert runs[0].commit == git(repo, "rev-parse", "blog")
    assert runs[0].result is not None and len(runs[0].result.written) == 2
    assert not (repo / "posts/imported").exists()


def test_not_a_repository_no_git_and_bad_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLAPPER_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    plain = make_repo(tmp_path / "plain", {})
    csv = tmp_path / "h.csv"
    csv.write_text(HOOTSUITE)
    args = ["import", "csv", str(csv), "--format", "hootsuite", "--repo", str(plain)]
    runner = CliRunner()
    not_repo = runner.invoke(app, [*args, "--git-branch", "x"])
    assert not_repo.exit_code == 1
    assert "is not in a git repository; --git-branch commits to one" in not_repo.output
    git(plain, "init", "-q")
    unborn = runner.invoke(app, [*args, "--git-branch", "x"])
    assert unborn.exit_code == 1 and "has no commit yet" in unborn.output
    bad = runner.invoke(app, [*args, "--git-branch", "a..b"])
    assert bad.exit_code == 2 and "is not a valid branch name" in bad.output
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    no_git = runner.invoke(app, [*args, "--git-branch", "x"])
    assert (
        no_git.exit_code == 1 and "--git-branch needs git, which is not installed" in no_git.output
    )
    assert not (plain / "posts/imported").exists()
    assert os.listdir(plain / "posts") == []
