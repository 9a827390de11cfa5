"""`klapper inbox reply` end to end against a fake Mastodon: once, with saved replies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klapper.cli import app
from klapper.engagement.store import EngagementStore, posts_only
from klapper.ledger import Ledger, State, read_events
from tests.engagement.helpers import mastodon_repo, published_status
from tests.fakes.mastodon import FakeMastodon


@pytest.fixture
def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeMastodon, Path, Path, list[str]]]:
    with FakeMastodon() as server:
        repo, state = mastodon_repo(
            tmp_path, monkeypatch, instance=server.url, token=server.state.token
        )
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
        status = published_status(
            server, state, text="Our advent sale starts today", post_id="advent", ago=HOURS_2
        )
        server.state.add_reply(to=status["id"], text="Gilt das auch für Gutscheine?")
        where = ["--repo", str(repo), "--state", str(state)]
        assert run("refresh", *where)[0] == 0
        yield server, repo, state, where


HOURS_2 = timedelta(hours=2)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def only_item(where: list[str]) -> dict[str, object]:
    [item] = json.loads(run("inbox", "--format", "json", *where)[1])
    return item  # type: ignore[no-any-return]


def answers(server: FakeMastodon, text: str) -> list[dict[str, object]]:
    """The account's answers with ``text`` (Mastodon's start with the author's handle)."""
    return [s for s in server.state.posts() if s["text"] == f"@alice {text}"]


def test_a_reply_goes_out_once_and_answers_the_item(world) -> None:
    server, _repo, state, where = world
    item = only_item(where)
    text = "Ja, auch für Gutscheine!"
    code, out, err = run("inbox", "reply", str(item["id"]), "--text", text, *where)
    assert code == 0, (out, err)
    [sent] = answers(server, text)
    assert sent["reply_to"] == str(item["url"]).rsplit("/", 1)[-1]
    assert f"answered {item['id']}" in out and str(sent["id"]) in out
    assert "Nothing waits" in run("inbox", *where)[1]

    code, out, _ = run("inbox", "reply", str(item["id"]), "--text", text, "-f", "json", *where)
    assert code == 0 and len(answers(server, text)) == 1
    result = json.loads(out)
    assert result["result"] == "already sent" and result["remote_id"] == sent["id"]
    assert result["url"]

    events = read_events(state / "events.jsonl")
    [answered] = [e for e in events if e["event"] == "answered"]
    assert answered["item"] == item["id"] and answered["remote_id"] == sent["id"]
    ledger = Ledger.open(state=state)
    try:
        [stored] = EngagementStore(ledger).inbox_items(ids=[str(item["id"])])
        assert stored.answered_by == sent["id"] and stored.answered_at is not None
        # The answer is no post: no readings, not in the report's posts.
        published = ledger.published_deliveries()
        assert len(published) == 2
        assert [p.delivery.post_id for p in posts_only(published)] == ["advent"]
    finally:
        ledger.close()


def test_an_answered_item_takes_another_answer_only_with_again(world) -> None:
    server, _repo, _state, where = world
    item = str(only_item(where)["id"])
    assert run("inbox", "reply", item, "--text", "Ja!", *where)[0] == 0
    code, _, err = run("inbox", "reply", item, "--text", "Und noch etwas", *where)
    assert code == 1 and "--again" in err
    assert run("inbox", "reply", item, "--text", "Und noch etwas", "--again", *where)[0] == 0
    assert len(answers(server, "Und noch etwas")) == 1


def test_usage_errors_exit_2_and_failures_1(world, tmp_path: Path) -> None:
    server, _repo, state, where = world
    item = str(only_item(where)["id"])
    assert run("inbox", "reply", item, *where)[0] == 2
    assert run("inbox", "reply", item, "--text", "a", "--saved", "b", *where)[0] == 2
    code, _, err = run("inbox", "reply", "i0000000000", "--text", "Hallo", *where)
    assert code == 2 and "no inbox item" in err
    code, _, err = run("inbox", "reply", item, "--text", "x" * 494, *where)
    assert code == 1 and "501 characters" in err and "500" in err  # with "@alice "
    server.state.fail_next("server_error")
    code, out, _ = run("inbox", "reply", item, "--text", "Gleich!", "--format", "json", *where)
    assert code == 1
    failed = json.loads(out)
    assert failed["result"] == "failed" and failed["state"] == "failed" and failed["reason"]
    assert answers(server, "Gleich!") == []
    # Asked again: it goes out, once.
    assert run("inbox", "reply", item, "--text", "Gleich!", *where)[0] == 0
    assert len(answers(server, "Gleich!")) == 1
    ledger = Ledger.open(state=state)
    try:
        states = {d.post_id: d.state for d in ledger.deliveries()}
        assert list(states.values()).count(State.PUBLISHED) == 2  # the post and the answer
    finally:
        ledger.close()


def test_a_mastodon_answer_names_its_author_once(world) -> None:
    server, _repo, _state, where = world
    item = str(only_item(where)["id"])
    code, out, _ = run("inbox", "reply", item, "--text", "Danke @Alice, ja!", "-f", "json", *where)
    assert code == 0 and json.loads(out)["text"] == "Danke @Alice, ja!"
    assert [s["text"] for s in server.state.posts() if "ja!" in str(s["text"])] == [
        "Danke @Alice, ja!"
    ]


def test_a_saved_reply_is_filled_in_for_the_item(world) -> None:
    server, repo, _state, where = world
    (repo / "replies").mkdir()
    (repo / "replies" / "danke.yaml").write_text(
        "name: danke-de\nlang: de\ntext: |\n  Danke, {name}! Grüße von {account} auf {platform}.\n",
        encoding="utf-8",
    )
    (repo / "replies" / "bad.yaml").write_text(
        "- name: kaputt\n  text: |\n    Hallo {name},\n    Ihr {order} ist da.\n",
        encoding="utf-8",
    )
    item = str(only_item(where)["id"])
    code, _, err = run("inbox", "reply", item, "--saved", "kaputt", *where)
    assert code == 1 and "replies/bad.yaml:4: unknown placeholder {order}" in err
    code, _, err = run("inbox", "reply", item, "--saved", "nichts", *where)
    assert code == 1 and "danke-de" in err
    assert run("inbox", "reply", item, "--saved", "danke-de", *where)[0] == 0
    assert len(answers(server, "Danke, alice! Grüße von masto auf Mastodon.")) == 1
    code, out, _ = run("check", "--repo", str(repo), "--format", "json")
    [problem] = [p for p in json.loads(out) if p["file"] == "replies/bad.yaml"]
    assert problem["line"] == 4 and "{order}" in problem["message"]


def test_a_ledger_rebuilt_from_the_event_log_keeps_the_answer(world) -> None:
    server, _repo, state, where = world
    item = only_item(where)
    text = "Ja, auch für Gutscheine!"
    assert run("inbox", "reply", str(item["id"]), "--text", text, *where)[0] == 0
    for name in ("ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm"):
        (state / name).unlink(missing_ok=True)
    code, out, _ = run("publish", "--due", *where)  # finds the ledger empty: rebuilds it
    assert code == 0, out
    assert run("refresh", "--now", *where)[0] == 0
    assert "Nothing waits" in run("inbox", *where)[1]  # the answer settles the item again
    code, out, _ = run("inbox", "reply", str(item["id"]), "--text", text, *where)
    assert code == 0 and "already answered" in out
    assert len(answers(server, text)) == 1


def test_an_answer_for_a_paused_account_waits_and_says_why(world) -> None:
    server, _repo, state, where = world
    item = str(only_item(where)["id"])
    ledger = Ledger.open(state=state)
    ledger.set_account(
        "masto", now=datetime.now(UTC), paused_at=datetime.now(UTC), pause_reason="token revoked"
    )
    ledger.close()
    code, out, _ = run("inbox", "reply", item, "--text", "Bald!", *where)
    assert code == 1 and "account masto is paused: token revoked" in out
    assert answers(server, "Bald!") == []
