"""The commands `klapper check`, `klapper plan` and `klapper schema`, run as a user would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from klapper.cli import app
from klapper.config.platforms import BUILT_IN
from tests.queue.repo_helpers import make_repo

ROOT = Path(__file__).resolve().parents[2]
BROKEN = {
    "posts/a.yaml": "text: fine\nat: 2030-06-02 10:00\n",
    "posts/b.yaml": "txt: typo\n",
    "posts/c.yaml": "text: [unclosed\n",
}


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KLAPPER_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("KLAPPER_REPO", raising=False)
    # The accounts of repo_helpers.CONFIG have credentials (else check warns about each one).
    monkeypatch.setenv("KLAPPER_SECRETS", str(tmp_path / "no-secrets.yaml"))
    for account in ("MASTO", "BSKY", "X", "LI"):
        monkeypatch.setenv(f"KLAPPER_{account}_ACCESS_TOKEN", f"test-token-{account}")
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


def test_examples_pass_check(run) -> None:
    result = run("check", "--repo", str(ROOT / "examples"))
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.output


def test_check_text_json_github_and_exit_codes(run, tmp_path: Path) -> None:
    repo = str(make_repo(tmp_path / "repo", BROKEN))
    text = run("check", "--repo", repo)
    assert text.exit_code == 1
    assert text.output.splitlines()[:2] == [
        "posts/b.yaml",
        "  1:1  error  unknown key 'txt'; did you mean 'text'? [posts/b.yaml]",
    ]
    as_json = run("check", "--repo", repo, "--format", "json")
    assert as_json.exit_code == 1
    items = json.loads(as_json.output)
    assert {tuple(sorted(item)) for item in items} == {
        ("account", "column", "file", "line", "message", "post", "severity")
    }
    assert [(i["file"], i["line"], i["severity"]) for i in items] == [
        ("posts/b.yaml", 1, "error"),
        ("posts/c.yaml", 2, "error"),
    ]
    github = run("check", "--repo", repo, "--format", "github").output.splitlines()
    where, _, message = github[0].partition(",title=klapper check::")
    assert where.startswith("::error file=") and where.endswith("posts/b.yaml,line=1,col=1")
    assert message == "unknown key 'txt'; did you mean 'text'? [posts/b.yaml]"


def test_github_paths_are_relative_to_the_workflow_folder(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_repo(tmp_path / "content", {"posts/b.yaml": "txt: typo\n"})
    monkeypatch.chdir(tmp_path)
    result = run("check", "--repo", "content", "--format", "github")
    assert result.output.startswith("::error file=content/posts/b.yaml,line=1,col=1,")


def test_bad_usage_exits_2(run, tmp_path: Path) -> None:
    assert run("check", "--repo", str(tmp_path / "nowhere")).exit_code == 2
    assert run("check", "--format", "xml").exit_code == 2
    assert run("plan", "--days", "0").exit_code == 2
    assert run("schema", "yaml").exit_code == 2


def test_plan_json_and_text(run, tmp_path: Path) -> None:
    repo = str(
        make_repo(
            tmp_path / "repo",
            {
                "posts/a.yaml": "text: |\n  First line\n  second\nat: 2030-06-02 10:00\nto: [outbox, x]\n",
                "posts/b.yaml": "text: autumn\nat: 2030-10-27 02:30\n",
            },
        )
    )
    result = run("plan", "--repo", repo, "--days", "3660", "--format", "json")
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert [(r["post"], r["account"], r["due"], r["due_utc"]) for r in rows] == [
        ("posts/a.yaml", "outbox", "2030-06-02T10:00:00+02:00", "2030-06-02T08:00:00Z"),
        ("posts/a.yaml", "x", "2030-06-02T10:00:00+02:00", "2030-06-02T08:00:00Z"),
        ("posts/b.yaml", "outbox", "2030-10-27T02:30:00+02:00", "2030-10-27T00:30:00Z"),
    ]
    text = run("plan", "--repo", repo, "--days", "3660").output
    assert "Sun 2030-10-27 02:30 *" in text and "First line" in text and "second" not in text
    assert "happens twice in Europe/Berlin" in text


def test_plan_shows_the_text_each_account_gets(run, tmp_path: Path) -> None:
    repo = str(
        make_repo(
            tmp_path / "repo",
            {
                "posts/a.yaml": (
                    "text: Advent sale, all week\nat: 2030-06-02 10:00\nto: [outbox, masto, x]\n"
                    "per:\n  x: {text: 'Advent sale on X only'}\n"
                    "  masto: {cw: Sale}\n"
                ),  # no text override: the base text
            },
        )
    )
    rows = json.loads(run("plan", "--repo", repo, "--days", "3660", "--format", "json").output)
    assert {r["account"]: r["first_line"] for r in rows} == {
        "outbox": "Advent sale, all week",
        "masto": "Advent sale, all week",
        "x": "Advent sale on X only",
    }
    assert {r["account"]: r["text"] for r in rows}["x"] == "Advent sale on X only"
    text = run("plan", "--repo", repo, "--days", "3660").output
    line_x = next(line for line in text.splitlines() if " x " in line)
    assert "Advent sale on X only" in line_x


def test_plan_reports_errors_on_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLAPPER_STATE", str(tmp_path / "state"))
    repo = str(make_repo(tmp_path / "repo", BROKEN))
    result = CliRunner().invoke(app, ["plan", "--repo", repo, "--days", "3660"])
    assert result.exit_code == 0
    assert "posts/a.yaml" in result.stdout
    assert "2 errors in the repository" in result.stderr


def without_plugins(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as klapper alone writes it: installed plugins (the webhook's) add accounts."""
    accounts = schema.get("properties", {}).get("accounts", {}).get("additionalProperties")
    if not accounts:
        return schema
    mapping = accounts["discriminator"]["mapping"]
    for name in [name for name in mapping if name not in BUILT_IN]:
        ref = mapping.pop(name)
        accounts["oneOf"].remove({"$ref": ref})
        del schema["$defs"][ref.rsplit("/", 1)[1]]
    return schema


@pytest.mark.parametrize("kind", ["post", "config"])
def test_schema_matches_the_published_files(run, kind: str) -> None:
    result = run("schema", kind)
    printed = without_plugins(json.loads(result.output))
    assert printed == json.loads((ROOT / "docs" / "schema" / f"{kind}.json").read_text()), (
        "regenerate with: klapper schema {kind} > docs/schema/{kind}.json (no plugins installed)"
    )
    definitions = printed["$defs"]
    if kind == "post":
        assert set(definitions["PostFile"]["properties"]) >= {
            "text",
            "at",
            "every",
            "to",
            "media",
            "thread",
            "per",
            "draft",
            "lang",
        }
        assert definitions["PostFile"]["additionalProperties"] is False
    else:
        assert set(printed["properties"]) >= {"timezone", "accounts", "defaults", "slots"}
