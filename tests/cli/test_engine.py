"""`klapper publish`, `status`, `retry`, `skip` end to end, on the outbox (no account needed)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from klapper.cli import app
from klapper.ledger import read_events
from tests.scheduler.repo import TempRepo

runner = CliRunner()


@pytest.fixture
def repo(tmp_path: Path) -> TempRepo:
    r = TempRepo(tmp_path / "repo")
    r.configure(accounts=("a", "b"))
    return r


def klapper(repo: TempRepo, *args: str) -> tuple[int, str]:
    state = repo.root.parent / "state"
    result = runner.invoke(app, [*args, "--repo", str(repo.root), "--state", str(state)])
    return result.exit_code, result.output


def outbox(repo: TempRepo, account: str) -> list[dict]:
    folder = repo.root / f"out-{account}"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def test_publish_due_writes_the_outbox_once(repo: TempRepo) -> None:
    now = datetime.now(UTC)
    repo.write(
        "hello",
        text="Hello world",
        at=now - timedelta(minutes=5),
        to=["a", "b"],
        thread=[{"text": "and more"}],
    )
    repo.write("later", text="Not yet", at=now + timedelta(hours=2))
    code, output = klapper(repo, "publish", "--due")
    assert code == 0, output
    assert "2 published" in output
    first, reply = outbox(repo, "a")
    assert first["text"] == "Hello world" and first["account"] == "a"
    assert first["post"] == "posts/hello.yaml" and first["part"] == 0
    assert set(first) >= {"text", "media", "account", "post", "due", "published_at"}
    assert reply["reply_to"] == next((repo.root / "out-a").glob("*-0.json")).name
    code, output = klapper(repo, "publish", "--due")
    assert code == 0 and "nothing due" in output
    assert len(outbox(repo, "a")) == 2 and len(outbox(repo, "b")) == 2


def test_publish_due_reports_missed_and_exits_1(repo: TempRepo) -> None:
    repo.write("old", text="Too late", at=datetime.now(UTC) - timedelta(hours=1))
    repo.configure(accounts=("a", "b"), defaults={"to": ["a"], "catch_up": "30m"})
    code, output = klapper(repo, "publish", "--due")
    assert code == 0 and "nothing due" in output  # not in the planning window: never planned
    repo.write("soon", text="Soon", at=datetime.now(UTC) + timedelta(seconds=1))
    klapper(repo, "status")  # plans it
    state = repo.root.parent / "state"
    code, output = klapper(repo, "status", "--format", "json")
    assert [d["post"] for d in json.loads(output)["upcoming"]] == ["posts/soon.yaml"]
    # Pretend the machine slept through it: move the planned due time back 2 hours.
    with sqlite3.connect(state / "ledger.sqlite3") as conn:
        conn.execute(
            "UPDATE deliveries SET due = ?",
            ((datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="microseconds"),),
        )
    repo.write("soon", text="Soon", at=datetime.now(UTC) - timedelta(hours=2))
    code, output = klapper(repo, "publish", "--due")
    assert code == 1 and "missed" in output
    assert [e["event"] for e in read_events(state / "events.jsonl")] == ["missed"]
    code, output = klapper(repo, "status", "--format", "json")
    assert json.loads(output)["missed"][0]["post"] == "posts/soon.yaml"


def test_publish_post_now_retry_and_skip(repo: TempRepo) -> None:
    repo.write("p", text="Future", at=datetime.now(UTC) + timedelta(days=1), to=["a", "b"])
    code, output = klapper(repo, "publish", "posts/p.yaml", "--account", "a")
    assert code == 1 and "add --now" in output
    code, output = klapper(repo, "publish", "posts/p.yaml", "--account", "a", "--now")
    assert code == 0 and "published" in output
    assert [m["text"] for m in outbox(repo, "a")] == ["Future"]
    code, output = klapper(repo, "publish", "posts/p.yaml", "--account", "a", "--now")
    assert code == 0 and "already published" in output and len(outbox(repo, "a")) == 1
    code, output = klapper(repo, "skip", "posts/p.yaml", "--account", "b")
    assert code == 0 and "skipped" in output
    code, output = klapper(repo, "status", "--format", "json")
    data = json.loads(output)
    assert data["upcoming"] == [] and data["recent"][0]["account"] == "a"
    delivery = data["recent"][0]["delivery"]
    code, output = klapper(repo, "retry", delivery)
    assert code == 1 and "never posts a delivery twice" in output
    code, output = klapper(repo, "retry", "posts/p.yaml", "--account", "b", "--now")
    assert code == 0 and [m["text"] for m in outbox(repo, "b")] == ["Future"]
    code, output = klapper(repo, "status")
    assert code == 0 and "Published lately" in output


def test_retry_after_skip_goes_back_to_the_planned_time(repo: TempRepo) -> None:
    at = datetime.now(UTC) + timedelta(days=1)
    repo.write("p", text="Tomorrow", at=at, to=["a"])
    code, output = klapper(repo, "skip", "posts/p.yaml")
    assert code == 0 and "skipped" in output

    code, output = klapper(repo, "retry", "posts/p.yaml")

    assert code == 0, output
    assert "planned for" in output and "--now" in output
    assert outbox(repo, "a") == []  # not published early
    code, output = klapper(repo, "status", "--format", "json")
    (upcoming,) = json.loads(output)["upcoming"]
    assert upcoming["state"] == "planned"
    assert datetime.fromisoformat(upcoming["due"]) == at
    code, output = klapper(repo, "publish", "--due")
    assert code == 0 and outbox(repo, "a") == []
    klapper(repo, "skip", "posts/p.yaml")
    code, output = klapper(repo, "retry", "posts/p.yaml", "--now")
    assert code == 0 and [m["text"] for m in outbox(repo, "a")] == ["Tomorrow"]


def test_status_without_a_repository_reads_the_ledger(repo: TempRepo, tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = runner.invoke(app, ["status", "--repo", str(tmp_path), "--state", str(state)])
    assert result.exit_code == 0 and "nothing planned" in result.output
    result = runner.invoke(
        app, ["publish", "--due", "--repo", str(tmp_path), "--state", str(state)]
    )
    assert result.exit_code == 2 and "klapper.yaml" in result.output


def test_a_post_check_refuses_is_held_for_that_account_only(repo: TempRepo) -> None:
    repo.configure(accounts=("a", "b"), defaults={"to": ["a", "b"]})
    config = yaml.safe_load((repo.root / "klapper.yaml").read_text())
    config["accounts"]["a"]["text_limit"] = 20
    (repo.root / "klapper.yaml").write_text(yaml.safe_dump(config))
    due = datetime.now(UTC) - timedelta(minutes=1)
    repo.write("long", text="This text is longer than twenty characters", at=due)

    code, output = klapper(repo, "publish", "--due")

    assert code == 1, output
    assert "held" in output and "the limit is 20" in output and outbox(repo, "a") == []
    assert [p["text"] for p in outbox(repo, "b")] == ["This text is longer than twenty characters"]
    repo.write("long", text="Short now", at=due)  # fixed within the catch-up window
    code, output = klapper(repo, "publish", "--due")
    assert code == 0, output
    assert [p["text"] for p in outbox(repo, "a")] == ["Short now"]


def test_status_warns_of_credentials_running_out_and_of_held_posts(
    repo: TempRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from klapper.config.secrets import save_secrets

    repo.configure(accounts=("a",))
    config = yaml.safe_load((repo.root / "klapper.yaml").read_text())
    config["accounts"]["a"]["text_limit"] = 5
    config["accounts"]["li"] = {"platform": "linkedin", "author": "urn:li:person:abc"}
    (repo.root / "klapper.yaml").write_text(yaml.safe_dump(config))
    secrets = tmp_path / "secrets.yaml"
    monkeypatch.setenv("KLAPPER_SECRETS", str(secrets))
    expires = datetime.now(UTC) + timedelta(days=3)
    save_secrets(
        "li",
        {"access_token": "canary-li-token", "expires_at": str(expires.timestamp())},
        path=secrets,
        environ={},
    )
    repo.write("soon", text="Too long for a", at=datetime.now(UTC) + timedelta(hours=1))

    code, output = klapper(repo, "status")
    assert code == 0, output
    assert "li" in output and "expires on" in output and "klapper login li" in output
    assert "held, fix the post" in output
    code, output = klapper(repo, "status", "--format", "json")
    report = json.loads(output)
    assert [c["account"] for c in report["expiring"]] == ["li"]
    assert report["held"] and report["attention"] is True
    assert "canary-li-token" not in output


def test_publish_due_says_why_due_deliveries_did_not_go_out(repo: TempRepo) -> None:
    from klapper.ledger import Ledger

    state = repo.root.parent / "state"
    due = datetime.now(UTC) - timedelta(minutes=1)
    repo.write("broken", text="Fine until edited", at=due + timedelta(days=1), to=["a"])
    repo.write("stuck", text="For the paused account", at=due, to=["b"])
    klapper(repo, "status")  # plans both
    with sqlite3.connect(state / "ledger.sqlite3") as conn:  # the broken one came due meanwhile
        conn.execute(
            "UPDATE deliveries SET due = ? WHERE post_id = 'posts/broken.yaml'",
            (due.isoformat(timespec="microseconds"),),
        )
    (repo.root / "posts" / "broken.yaml").write_text("text: [unclosed\n", encoding="utf-8")
    ledger = Ledger.open(state=state)
    ledger.set_account("b", now=due, paused_at=due, pause_reason="token revoked")
    ledger.close()

    code, output = klapper(repo, "publish", "--due")

    assert code == 1, output
    assert "nothing due" not in output
    assert "broken" in output and "posts/broken.yaml" in output and "klapper check" in output
    assert "paused" in output and "token revoked" in output and "klapper login b" in output
    assert "1 broken, 1 paused" in output
    assert outbox(repo, "a") == [] and outbox(repo, "b") == []


def test_publish_due_reports_an_account_paused_in_klapper_yaml_without_failing(
    repo: TempRepo,
) -> None:
    repo.write("p", text="Waits", at=datetime.now(UTC) - timedelta(minutes=1), to=["a"])
    config = yaml.safe_load((repo.root / "klapper.yaml").read_text())
    config["accounts"]["a"]["paused"] = True
    (repo.root / "klapper.yaml").write_text(yaml.safe_dump(config))

    code, output = klapper(repo, "publish", "--due")

    assert code == 0, output
    assert "paused in klapper.yaml" in output and outbox(repo, "a") == []


def test_accounts_without_credentials_show_before_the_first_publish(
    repo: TempRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLAPPER_SECRETS", str(tmp_path / "no-secrets.yaml"))
    config = yaml.safe_load((repo.root / "klapper.yaml").read_text())
    config["accounts"]["shop-masto"] = {"platform": "mastodon", "instance": "http://127.0.0.1:9"}
    config["accounts"]["idle-bsky"] = {
        "platform": "bluesky",
        "handle": "idle.test",
        "paused": True,
    }  # paused: nothing goes there
    (repo.root / "klapper.yaml").write_text(yaml.safe_dump(config))
    repo.write("p", text="Soon", at=datetime.now(UTC) + timedelta(hours=1), to=["a", "shop-masto"])

    code, output = klapper(repo, "check")
    assert code == 0, output
    assert "warning" in output and "account shop-masto has no credentials" in output
    assert "klapper login shop-masto" in output and "idle-bsky" not in output
    code, output = klapper(repo, "check", "--format", "json")
    (warning,) = [p for p in json.loads(output) if p["account"] == "shop-masto"]
    assert warning["file"] == "klapper.yaml" and warning["line"] > 1

    code, output = klapper(repo, "plan", "--format", "json")
    assert {(r["account"], r["no_credentials"]) for r in json.loads(output)} == {
        ("a", False),
        ("shop-masto", True),
    }
    code, output = klapper(repo, "plan")
    assert "shop-masto !" in output and "klapper login shop-masto" in output

    code, output = klapper(repo, "status", "--format", "json")
    report = json.loads(output)
    assert [c["account"] for c in report["no_credentials"]] == ["shop-masto"]
    assert report["attention"] is True
    code, output = klapper(repo, "status")
    assert "account shop-masto has no credentials" in output

    repo.write("p", text="Now", at=datetime.now(UTC) - timedelta(minutes=1), to=["shop-masto"])
    code, output = klapper(repo, "publish", "--due")
    assert code == 1 and "has no credentials" in output and "expired" not in output


def test_retry_account_shows_the_new_outcome_not_the_old_reason(repo: TempRepo) -> None:
    from klapper.ledger import Ledger, State

    repo.write("p", text="Hello", at=datetime.now(UTC) - timedelta(minutes=1), to=["a"])
    klapper(repo, "status")  # plans it
    ledger = Ledger.open(state=repo.root.parent / "state")
    (row,) = ledger.for_post("posts/p.yaml", account="a")
    now = datetime.now(UTC)
    # As the publisher leaves it when the platform refused the token.
    ledger.update(
        row.id, now=now, expect=[State.PLANNED], reason="token revoked (run `klapper login a`)"
    )
    ledger.set_account("a", now=now, paused_at=now, pause_reason="token revoked")
    ledger.close()

    code, output = klapper(repo, "retry", "--account", "a")

    assert code == 0, output
    assert output.startswith("published") and "revoked" not in output
    assert [m["text"] for m in outbox(repo, "a")] == ["Hello"]


def test_status_shows_the_text_each_account_gets(repo: TempRepo) -> None:
    repo.write(
        "p",
        text="Base text",
        at=datetime.now(UTC) + timedelta(hours=2),
        to=["a", "b"],
        per={"b": {"text": "Text for b\nsecond line"}},
    )
    code, output = klapper(repo, "status", "--format", "json")
    assert code == 0, output
    upcoming = {d["account"]: d["first_line"] for d in json.loads(output)["upcoming"]}
    assert upcoming == {"a": "Base text", "b": "Text for b"}
    code, output = klapper(repo, "status")
    line_b = next(line for line in output.splitlines() if " b " in line)
    assert "Text for b" in line_b and "Base text" not in line_b
