"""`klapper preview` run as a user (and CI) would: JSON, exit codes, --since-ref, what it writes."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from klapper.cli import app
from tests.preview.sample import make_sample
from tests.queue.repo_helpers import make_repo


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KLAPPER_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("KLAPPER_REPO", raising=False)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["preview", *args], catch_exceptions=False)

    return invoke


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin")).date()
    return make_sample(tmp_path / "content", day=today)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"},
    )
    return done.stdout


def committed(folder: Path) -> Path:
    git(folder, "init", "-q", "-b", "main")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "posts")
    return folder


def test_json_lists_each_delivery_and_exits_1_on_errors(run, repo: Path) -> None:
    result = run("--repo", str(repo), "--format", "json")
    assert result.exit_code == 1  # too long for X and Bluesky, a missing alt text
    data = json.loads(result.output)
    assert [p["post"] for p in data["posts"]] == [
        "posts/advent.yaml",
        "posts/long.yaml",
        "posts/script.yaml",
        "posts/insta.yaml",
    ]
    x = next(d for d in data["posts"][1]["deliveries"] if d["account"] == "x")
    assert x["parts"][0]["over"] and x["parts"][0]["limit"] == 280 and x["errors"] == 1
    advent = {d["account"]: d for d in data["posts"][0]["deliveries"]}
    assert [p["text"] for p in advent["bsky"]["parts"][1:]] == [
        "Dovetails on Tuesday, sharpening on Thursday.",
        "Gift vouchers never expire.",
    ]
    assert advent["bsky"]["parts"][2]["media"] == [
        {"file": "../media/chart.png", "alt": None, "alt_missing": True}
    ]
    assert advent["masto"]["parts"][0]["cw"] == "Sale"
    assert data["errors"] > 0 and data["since_ref"] is None


def test_exit_0_when_every_previewed_post_is_fine(run, repo: Path) -> None:
    for name in ("advent", "long", "insta"):
        (repo / f"posts/{name}.yaml").unlink()
    result = run("--repo", str(repo))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 post, 1 delivery until ")


def test_nothing_but_the_page_is_written_into_the_repository(run, repo: Path) -> None:
    committed(repo)
    result = run("--repo", str(repo), "--html", str(repo / "preview.html"))
    assert result.exit_code == 1
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == "?? preview.html\n"
    assert (repo / "preview.html").read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("klapper.yaml", "must end in .html"),
        ("posts/advent.yaml", "must end in .html"),
        ("link.html", "is a symbolic link"),
        ("nowhere/preview.html", "no folder"),
    ],
)
def test_the_page_goes_only_where_asked(run, repo: Path, target: str, message: str) -> None:
    (repo / "link.html").symlink_to(repo / "klapper.yaml")
    before = (repo / "klapper.yaml").read_bytes()
    result = run("--repo", str(repo), "--html", str(repo / target))
    assert result.exit_code == 2 and message in result.output
    assert (repo / "klapper.yaml").read_bytes() == before


def test_since_ref_shows_changed_posts_and_lists_removed_ones(run, repo: Path) -> None:
    committed(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    advent = repo / "posts/advent.yaml"
    advent.write_text(advent.read_text().replace("20% off all", "25% off all"))
    git(repo, "rm", "-q", "posts/long.yaml")
    git(repo, "commit", "-q", "-am", "advent: 25%; no spoon post")
    script = repo / "posts/script.yaml"  # changed, not committed
    script.write_text(script.read_text().replace("& more", "and more"))
    (repo / "posts/new.yaml").write_text("text: A new one\n")  # untracked: the next slot
    (repo / "posts/later.yaml").write_text("text: Still far\nat: 2099-01-01 09:00\n")
    result = run("--repo", str(repo), "--since-ref", "main", "--format", "json")
    data = json.loads(result.output)
    assert data["changed_files"] == [
        "posts/advent.yaml",
        "posts/later.yaml",
        "posts/long.yaml",
        "posts/new.yaml",
        "posts/script.yaml",
    ]
    assert {p["post"] for p in data["posts"]} == {
        "posts/advent.yaml",
        "posts/script.yaml",
        "posts/new.yaml",
    }
    assert data["removed"] == [
        {
            "post": "posts/long.yaml",
            "file": "posts/long.yaml",
            "first_line": data["removed"][0]["first_line"],
        }
    ]
    assert data["removed"][0]["first_line"].startswith("Spoon carving")
    assert data["not_in_period"] == [
        {"post": "posts/later.yaml", "why": "nothing due within 14 days"}
    ]
    # The too-long post went away: the missing alt text is the only error left.
    assert result.exit_code == 1 and data["errors"] == 3  # one per account of advent
    text = run("--repo", str(repo), "--since-ref", "main").output
    assert "removed: posts/long.yaml  Spoon carving" in text


def test_since_ref_in_a_folder_of_a_larger_repository(run, tmp_path: Path) -> None:
    top = tmp_path / "site"
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin")).date()
    content = make_sample(top / "social", day=today)
    (top / "README.md").write_text("site\n")
    committed(top)
    git(top, "checkout", "-q", "-b", "feature")
    (content / "posts/script.yaml").write_text("text: Replaced\n")
    (top / "README.md").write_text("changed outside the content repository\n")
    data = json.loads(run("--repo", str(content), "--since-ref", "main", "-f", "json").output)
    assert data["changed_files"] == ["posts/script.yaml"]
    assert [p["post"] for p in data["posts"]] == ["posts/script.yaml"]


def test_since_ref_errors_are_one_clear_line(run, repo: Path) -> None:
    result = run("--repo", str(repo), "--since-ref", "main")
    assert result.exit_code == 2
    assert result.output == (
        f"error: {repo} is not in a git repository; --since-ref compares git commits\n"
    )
    committed(repo)
    result = run("--repo", str(repo), "--since-ref", "origin/nope")
    assert result.exit_code == 2
    assert "unknown git ref 'origin/nope'" in result.output and "fetch-depth: 0" in result.output
    result = run("--repo", str(repo), "--since-ref", "--output=x")
    assert result.exit_code == 2 and "is not a git ref" in result.output


def test_since_ref_names_a_broken_file_and_a_post_removed_from_a_list(run, repo: Path) -> None:
    (repo / "posts/week.yaml").write_text("- text: Monday\n- text: Tuesday\n  id: tuesday\n")
    committed(repo)
    (repo / "posts/week.yaml").write_text("- text: Monday\n")
    (repo / "posts/broken.yaml").write_text("text: [unclosed\n")
    result = run("--repo", str(repo), "--since-ref", "HEAD", "--format", "json")
    data = json.loads(result.output)
    assert data["removed"] == [
        {"post": "tuesday", "file": "posts/week.yaml", "first_line": "Tuesday"}
    ]
    assert [(p["file"], p["severity"]) for p in data["problems"]] == [
        ("posts/broken.yaml", "error")
    ]
    assert [p["post"] for p in data["posts"]] == ["posts/week.yaml#1"]  # in the next slot
    assert result.exit_code == 1 and data["errors"] == 1


def test_the_deliveries_are_the_plans_evergreen_time_rounds_too(run, tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "ever",
        {"posts/tip.yaml": "text: Evergreen tip\nevergreen: {every: 1w}\n"},
        config="timezone: Europe/Berlin\naccounts:\n  outbox: {platform: outbox, path: o}\n"
        "defaults:\n  to: [outbox]\nslots:\n  thu: ['09:00']\n",
    )
    args = ("--repo", str(repo), "--days", "30", "--format", "json")
    preview = json.loads(run(*args).output)
    plan = json.loads(CliRunner().invoke(app, ["plan", *args], catch_exceptions=False).output)
    assert preview["posts"][0]["deliveries"][0]["due"] == [row["due"] for row in plan]
    assert len(plan) >= 4  # the first time and its weekly time rounds


def test_a_missing_image_is_an_error_and_shown_in_its_place(run, repo: Path) -> None:
    for name in ("advent", "long", "insta"):
        (repo / f"posts/{name}.yaml").unlink()
    (repo / "posts/gone.yaml").write_text(
        "text: Where is it?\nmedia: [{file: ../media/gone.png, alt: Nothing}]\n"
    )
    result = run("--repo", str(repo), "--html", str(repo / "p.html"), "-f", "json")
    assert result.exit_code == 1
    gone = next(p for p in json.loads(result.output)["posts"] if p["post"] == "posts/gone.yaml")
    assert [p["message"][:32] for p in gone["deliveries"][0]["problems"]] == [
        "media file '../media/gone.png' n"
    ]
    page = (repo / "p.html").read_text()
    assert '<div class="thumb missing">../media/gone.png<br>file not found</div>' in page
