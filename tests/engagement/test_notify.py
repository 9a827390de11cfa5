"""Notifications: the notify command runs for final failures, pauses, new replies, expiry."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from klapper.adapters.base import Interaction
from klapper.config.expiry import ExpiringCredential
from klapper.engagement.notify import Notifier, run_notify
from klapper.engagement.store import EngagementStore
from klapper.ledger import EventLog, Ledger
from tests.engagement.helpers import config_for
from tests.engine.helpers import Env, make_config, make_post
from tests.fakes.generic import FakeServer

RECORDER = """
import json, os, sys
with open(sys.argv[1], "a", encoding="utf-8") as out:
    out.write(json.dumps({"arg": sys.argv[2], "env": os.environ.get("KLAPPER_MESSAGE")}) + "\\n")
"""


@pytest.fixture
def recorder(tmp_path: Path) -> tuple[str, Path]:
    script = tmp_path / "record.py"
    script.write_text(RECORDER, encoding="utf-8")
    out = tmp_path / "messages.jsonl"
    return f"{sys.executable} {script} {out}", out


def _messages(out: Path) -> list[str]:
    if not out.exists():
        return []
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(line["arg"] == line["env"] for line in lines)  # argument and $KLAPPER_MESSAGE
    return [line["arg"] for line in lines]


@pytest.fixture
def parts(tmp_path: Path, recorder) -> Iterator[tuple[Notifier, EventLog, EngagementStore]]:
    command, _ = recorder
    ledger = Ledger.open(state=tmp_path / "state")
    events = EventLog(tmp_path / "state" / "events.jsonl")
    config = config_for({"masto": "mastodon"}).model_copy(update={"notify": command})
    store = EngagementStore(ledger)
    notifier = Notifier(store=store, config=config, events_path=events.path,
                        expiring=lambda **_: [])
    yield notifier, events, store
    events.close()
    ledger.close()


def test_final_failures_and_pauses_from_the_event_log(parts, recorder) -> None:
    notifier, events, _ = parts
    events.emit("failed", account="masto", post="old", reason="from before klapper listened")
    assert notifier.check() == []  # the first check starts at the end of the log
    # As `klapper publish --due` from cron (another process) writes it:
    with open(events.path, "a", encoding="utf-8") as other:
        other.write(json.dumps({"ts": "2026-03-20T10:00:00+00:00", "event": "failed",
                                "delivery": "d123", "post": "advent", "account": "masto",
                                "reason": "Validation failed: Text character limit of 500"
                                          " exceeded"}) + "\n")
    events.emit("retry", account="masto", post="other", reason="503")  # not final: quiet
    events.emit("paused", account="masto", reason="The access token is invalid")
    sent = notifier.check()
    assert _messages(recorder[1]) == sent and len(sent) == 2
    assert "advent to masto failed for good" in sent[0] and "klapper retry d123" in sent[0]
    assert "account masto is paused" in sent[1] and "klapper login masto" in sent[1]
    assert notifier.check() == []  # each event once


def test_many_failures_become_one_summary(parts, recorder) -> None:
    notifier, events, _ = parts
    notifier.check()
    for n in range(5):
        events.emit("failed", account="masto", post=f"p{n}", reason="refused")
    [summary] = notifier.check()
    assert "5 deliveries failed for good" in summary


def test_new_replies_in_the_inbox(parts, recorder) -> None:
    notifier, _, store = parts
    now = datetime.now(UTC)
    found = [Interaction(remote_id=str(n), kind="reply", author="@a", text=text, url=None,
                         created_at=now, in_reply_to="1")
             for n, text in enumerate(["Wann öffnet ihr?", "Alles kaputt", "Schön"])]
    items = store.add_interactions(account="masto", platform="mastodon", found=found, owners={},
                                   attention={"0": "question", "1": "complaint"}, now=now)
    [message] = notifier.check(new_items=items)
    assert message.startswith("klapper: 3 new replies and mentions wait in the inbox")
    assert "1 complaint, 1 question" in message and "klapper inbox" in message


def test_expiring_credentials_are_told_once(tmp_path: Path, recorder) -> None:
    now = datetime.now(UTC)
    soon = ExpiringCredential(now + timedelta(days=3), "li", "linkedin", "access_token")
    ledger = Ledger.open(state=tmp_path / "s")
    config = config_for({"li": "linkedin"}).model_copy(update={"notify": recorder[0]})
    notifier = Notifier(store=EngagementStore(ledger), config=config,
                        events_path=tmp_path / "s" / "events.jsonl",
                        expiring=lambda **_: [soon])
    [message] = notifier.check()
    assert "linkedin account 'li'" in message and "klapper login li" in message
    assert notifier.check() == []
    ledger.close()


def test_a_failing_command_is_logged_never_fatal(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="klapper.notify")
    assert run_notify(command=f"{sys.executable} -c 'import sys; sys.exit(3)'",
                      message="hello") is False
    assert run_notify(command="/nonexistent/notifier --flag", message="hello") is False
    assert run_notify(command=f"{sys.executable} -c 'import time; time.sleep(5)'",
                      message="hello", timeout=0.3) is False
    assert run_notify(command="unbalanced 'quote", message="hello") is False
    text = caplog.text
    assert "exited with 3" in text and "cannot run /nonexistent/notifier" in text
    assert "did not finish within" in text and "fix its quoting" in text


def test_the_message_is_one_argument_and_never_goes_through_a_shell(recorder) -> None:
    command, out = recorder
    tricky = "klapper: it's $HOME; `rm -rf /` && echo 'x'"
    assert run_notify(command=command, message=tricky)
    assert _messages(out) == [tricky]


def test_a_final_failure_from_the_publisher_reaches_the_command(tmp_path: Path, recorder) -> None:
    with FakeServer() as server:
        env = Env(state=tmp_path / "state", server=server, config=make_config(("a",)))
        config = config_for({"a": "outbox"}).model_copy(update={"notify": recorder[0]})
        notifier = Notifier(store=EngagementStore(env.ledger), config=config,
                            events_path=env.events.path, expiring=lambda **_: [])
        notifier.check()
        [delivery] = env.plan(make_post("refused"))
        server.platform.fail_next("422")
        env.publisher.publish(delivery)
        [message] = notifier.check()
        assert "refused to a failed for good" in message and f"klapper retry {delivery}" in message
        env.close()
