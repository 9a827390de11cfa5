"""The plugin seen from klapper: installed, `webhook` is a platform that check and publish know."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klapper.cli import app
from klapper.config.platforms import registry
from klapper_webhook.testing import serve


def make_repo(root: Path, *, account: str, posts: dict[str, str]) -> Path:
    (root / "posts").mkdir(parents=True)
    (root / "klapper.yaml").write_text(
        textwrap.dedent(f"""\
        timezone: Europe/Berlin
        accounts:
          site: {account}
        defaults: {{to: [site], catch_up: 1d}}
        """),
        encoding="utf-8",
    )
    for name, text in posts.items():
        (root / "posts" / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "KLAPPER_STATE": str(tmp_path / "state"),
        "KLAPPER_SECRETS": str(tmp_path / "secrets.yaml"),
        "KLAPPER_SITE_HEADER_AUTHORIZATION": "Bearer hook-s3cret",
    }


def test_the_plugin_is_a_registered_platform() -> None:
    described = registry()["webhook"]
    assert described.title == "Webhook"
    assert described.adapter_class().__name__ == "WebhookAdapter"


def test_check_names_an_unknown_key_in_the_plugins_settings(
    tmp_path: Path, env: dict[str, str]
) -> None:
    repo = make_repo(
        tmp_path / "repo",
        account="{platform: webhook, url: 'http://127.0.0.1:9/h', formt: discord}",
        posts={"a.yaml": "text: Hello\n"},
    )
    code, out, _ = run("check", "--repo", str(repo), env=env)
    assert code == 1
    assert "3:58  error  accounts › site: unknown key 'formt'; did you mean 'format'?" in out


def test_check_uses_the_formats_limits(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(
        tmp_path / "repo",
        account="{platform: webhook, url: 'http://127.0.0.1:9/h', format: discord}",
        posts={"a.yaml": f"text: {'a' * 2001}\n"},
    )
    code, out, err = run("check", "--repo", str(repo), env=env)
    assert code == 1 and "2000" in out + err


def test_publish_due_posts_each_delivery_once(tmp_path: Path, env: dict[str, str]) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="seconds")
    with serve("json") as receiver:
        repo = make_repo(
            tmp_path / "repo",
            account=f"{{platform: webhook, url: '{receiver.url}', headers: [Authorization]}}",
            posts={
                "a.yaml": f"""\
                                 text: Advent sale
                                 at: {past}
                                 thread:
                                   - text: Workshops this week
                                 """,
                "b.yaml": f"text: Second post\nat: {past}\n",
            },
        )
        first = run("publish", "--due", "--repo", str(repo), env=env)
        again = run("publish", "--due", "--repo", str(repo), env=env)
        sent = [json.loads(r.body) for r in receiver.received]
    assert first[0] == 0, first
    assert again[0] == 0, again
    assert sorted(body["text"] for body in sent) == ["Advent sale", "Second post"]
    advent = next(body for body in sent if body["text"] == "Advent sale")
    assert advent["thread"] == [{"text": "Workshops this week", "media": []}]
    assert advent["post"] == "posts/a.yaml" and advent["account"] == "site" and advent["delivery"]
    assert {r.headers["Authorization"] for r in receiver.received} == {"Bearer hook-s3cret"}
    keys = [r.headers["Idempotency-Key"] for r in receiver.received]
    assert len(set(keys)) == 2
    state = Path(env["KLAPPER_STATE"])
    assert "hook-s3cret" not in "".join(
        p.read_text(errors="replace")
        for p in state.rglob("*")
        if p.is_file() and p.suffix in (".jsonl", ".log")
    )


def test_a_receiver_that_is_down_fails_the_run_and_the_retry_waits(
    tmp_path: Path, env: dict[str, str]
) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="seconds")
    with serve("json") as receiver:
        repo = make_repo(
            tmp_path / "repo",
            account=f"{{platform: webhook, url: '{receiver.url}', headers: [Authorization]}}",
            posts={"a.yaml": f"text: Hello\nat: {past}\n"},
        )
        receiver.fail_next("500")
        code, _, _ = run("publish", "--due", "--repo", str(repo), env=env)
        assert code == 1
        assert len(receiver.received) == 1
        code, _, _ = run("publish", "--due", "--repo", str(repo), env=env)
    assert len(receiver.received) == 1  # the retry waits for its time (Retry-After: 2 s)
