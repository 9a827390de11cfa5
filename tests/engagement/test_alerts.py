"""Notifications: the notify command runs for final failures, pauses, new replies, expiry."""

from __future__ import annotations

import json
import logging
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from klapper.adapters.base import Interaction
from klapper.config.expiry import ExpiringCredential
from klapper.engagement.alerts import KEPT_ENV, Notifier, run_notify
from klapper.engagement.store import EngagementStore
from klapper.ledger import EventLog, Ledger
from tests.engagement.helpers import config_for
from tests.fakes.generic import FakeServer
from tests.scheduler.helpers import Env, make_config, make_post

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
    notifier = Notifier(
        store=store, config=config, events_path=events.path, expiring=lambda **_: []
    )
    yield notifier, events, store
    events.close()
    ledger.close()


def test_final_failures_and_pauses_from_the_event_log(parts, recorder) -> None:
    notifier, events, _ = parts
    events.emit(
        "failed",
        account="masto",
        post="old",
        reason="from before klapper listened",
        now=datetime.now(UTC) - timedelta(days=2),
    )
    assert notifier.check() == []  # the first check leaves out what is older than a day
    # As `klapper publish --due` from cron (another process) writes it:
    with open(events.path, "a", encoding="utf-8") as other:
        other.write(
            json.dumps(
                {
                    "ts": "2026-03-20T10:00:00+00:00",
                    "event": "failed",
                    "delivery": "d123",
                    "post": "advent",
                    "account": "masto",
                    "reason": "Validation failed: Text character limit of 500 exceeded",
                }
            )
            + "\n"
        )
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
    found = [
        Interaction(
            remote_id=str(n),
            kind="reply",
            author="@a",
            text=text,
            url=None,
            created_at=now,
            in_reply_to="1",
        )
        for n, text in enumerate(["Wann öffnet ihr?", "Alles kaputt", "Schön"])
    ]
    items = store.add_interactions(
        account="masto",
        platform="mastodon",
        found=found,
        owners={},
        attention={"0": "question", "1": "complaint"},
        now=now,
    )
    [message] = notifier.check(new_items=items)
    assert message.startswith("klapper: 3 new replies and mentions wait in the inbox")
    assert "1 complaint, 1 question" in message and "klapper inbox" in message


def test_expiring_credentials_are_told_once(tmp_path: Path, recorder) -> None:
    now = datetime.now(UTC)
    soon = ExpiringCredential(now + timedelta(days=3), "li", "linkedin", "access_token")
    ledger = Ledger.open(state=tmp_path / "s")
    config = config_for({"li": "linkedin"}).model_copy(update={"notify": recorder[0]})
    notifier = Notifier(
        store=EngagementStore(ledger),
        config=config,
        events_path=tmp_path / "s" / "events.jsonl",
        expiring=lambda **_: [soon],
    )
    [message] = notifier.check()
    assert "linkedin account 'li'" in message and "klapper login li" in message
    assert notifier.check() == []
    ledger.close()


def test_a_failing_command_is_logged_never_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="klapper.notify")
    assert (
        run_notify(command=f"{sys.executable} -c 'import sys; sys.exit(3)'", message="hello")
        is False
    )
    assert run_notify(command="/nonexistent/notifier --flag", message="hello") is False
    assert (
        run_notify(
            command=f"{sys.executable} -c 'import time; time.sleep(5)'",
            message="hello",
            timeout=0.3,
        )
        is False
    )
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
        notifier = Notifier(
            store=EngagementStore(env.ledger),
            config=config,
            events_path=env.events.path,
            expiring=lambda **_: [],
        )
        notifier.check()
        [delivery] = env.plan(make_post("refused"))
        server.platform.fail_next("422")
        env.publisher.publish(delivery)
        [message] = notifier.check()
        assert "refused to a failed for good" in message and f"klapper retry {delivery}" in message
        env.close()


def test_the_first_failure_in_a_new_state_folder_is_told(parts, recorder) -> None:
    notifier, events, _ = parts
    events.emit("paused", account="masto", reason="The access token is invalid")
    [message] = notifier.check()  # the very first check of this state folder
    assert "account masto is paused" in message and _messages(recorder[1]) == [message]
    assert notifier.check() == []


def test_a_rotated_event_log_is_read_from_its_start(parts, recorder) -> None:
    notifier, events, _ = parts
    events.emit("retry", account="masto", post="p", reason="503 " + "x" * 200)
    assert notifier.check() == []
    events.path.unlink()  # logrotate: a new, shorter file
    with open(events.path, "a", encoding="utf-8") as fresh:
        fresh.write(
            json.dumps(
                {
                    "ts": datetime.now(UTC).isoformat(),
                    "event": "failed",
                    "delivery": "d9",
                    "post": "new",
                    "account": "masto",
                    "reason": "refused",
                }
            )
            + "\n"
        )
    [message] = notifier.check()
    assert "new to masto failed for good" in message


ENV_DUMP = """
import json, os, sys
with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump(dict(os.environ), out)
"""


def test_the_command_gets_a_clean_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, dump = tmp_path / "dump.py", tmp_path / "env.json"
    script.write_text(ENV_DUMP, encoding="utf-8")
    monkeypatch.setenv("KLAPPER_MASTO_ACCESS_TOKEN", "canary-env-token")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/systemd/notify")
    monkeypatch.setenv("SOME_OTHER_SETTING", "x")
    monkeypatch.setenv("LANG", "de_DE.UTF-8")

    assert run_notify(command=f"{sys.executable} {script} {dump}", message="hello")

    seen = json.loads(dump.read_text(encoding="utf-8"))
    assert seen["KLAPPER_MESSAGE"] == "hello" and seen["LANG"] == "de_DE.UTF-8"
    assert "PATH" in seen and "HOME" in seen
    assert not {
        "KLAPPER_MASTO_ACCESS_TOKEN",
        "CREDENTIALS_DIRECTORY",
        "NOTIFY_SOCKET",
        "SOME_OTHER_SETTING",
    } & set(seen)
    assert set(seen) - {"KLAPPER_MESSAGE"} <= set(KEPT_ENV)
    assert "canary-env-token" not in json.dumps(seen)


def test_secrets_the_command_prints_are_redacted_in_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from klapper.config.secrets import save_secrets

    secrets_file = tmp_path / "secrets.yaml"
    monkeypatch.setenv("KLAPPER_SECRETS", str(secrets_file))
    save_secrets("masto", {"access_token": "canary-file-token"}, path=secrets_file, environ={})
    monkeypatch.setenv("KLAPPER_OTHER_APP_PASSWORD", "canary-env-password")
    noisy = (
        f"{sys.executable} -c \"import sys; sys.stderr.write('auth failed for "
        f"canary-file-token and canary-env-password'); sys.exit(2)\""
    )
    ledger = Ledger.open(state=tmp_path / "state")
    events = EventLog(tmp_path / "state" / "events.jsonl")
    config = config_for({"masto": "mastodon"}).model_copy(update={"notify": noisy})
    notifier = Notifier(
        store=EngagementStore(ledger),
        config=config,
        events_path=events.path,
        expiring=lambda **_: [],
    )
    caplog.set_level(logging.WARNING, logger="klapper.notify")
    events.emit("failed", account="masto", post="p", reason="refused")

    assert len(notifier.check()) == 1

    assert "exited with 2" in caplog.text and "[redacted]" in caplog.text
    assert "canary-file-token" not in caplog.text and "canary-env-password" not in caplog.text
    events.close()
    ledger.close()


def test_machines_sharing_a_ledger_each_keep_their_own_place_in_their_log(
    tmp_path: Path, recorder, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same state folder path on two machines (systemd's /var/lib/klapper): one offset each."""
    command, _ = recorder
    log = tmp_path / "state" / "events.jsonl"
    config = config_for({"masto": "mastodon"}).model_copy(update={"notify": command})

    def check_as(host: str) -> list[str]:
        monkeypatch.setattr(socket, "gethostname", lambda: host)
        ledger = Ledger.open(state=tmp_path / host, url=pg_url)
        notifier = Notifier(
            store=EngagementStore(ledger), config=config, events_path=log, expiring=lambda **_: []
        )
        try:
            return notifier.check()
        finally:
            ledger.close()

    def fail(post: str) -> None:
        events = EventLog(log)
        events.emit("failed", account="masto", post=post, reason="refused", delivery=None)
        events.close()

    for number in range(3):
        fail(f"alpha-{number}")
    assert len(check_as("alpha")) == 3
    log.rename(tmp_path / "alpha.jsonl")  # the other machine's log, at the same path there
    fail("beta-0")
    assert len(check_as("beta")) == 1
    log.rename(tmp_path / "beta.jsonl")
    (tmp_path / "alpha.jsonl").rename(log)
    fail("alpha-3")
    (sent,) = check_as("alpha")  # only the new one: alpha's place was its own
    assert "alpha-3" in sent
