"""The crash window of `klapper inbox reply`: killed after the platform stored the answer and
before the ledger recorded it, the next run finds it (``find_reply``) and posts nothing.

The fake Mastodon imitates GoToSocial, which ignores Idempotency-Key, so a blind second POST
would show as a second status; it holds each status ``post_delay`` seconds before answering,
and the test SIGKILLs the real `klapper` process in that window.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klapper.cli import app
from klapper.engagement.store import EngagementStore
from klapper.ledger import Ledger, State, read_events
from tests.engagement.helpers import mastodon_repo, published_status, question_in_inbox
from tests.fakes.mastodon import FakeMastodon
from tests.scheduler.procs import ROOT, wait_for

TEXT = "Ja, auch am Sonntag von 10 bis 16 Uhr."


def inbox_item(state: Path, server: FakeMastodon) -> str:
    """Our post, someone's question under it, in the inbox as `klapper refresh` keeps it."""
    status = published_status(
        server, state, text="Adventsmarkt in der Werkstatt", post_id="markt", ago=timedelta(hours=1)
    )
    question = server.state.add_reply(to=status["id"], text="Auch am Sonntag?")
    ledger = Ledger.open(state=state)
    try:
        item = question_in_inbox(
            EngagementStore(ledger),
            status=status,
            question=question,
            text="Auch am Sonntag?",
            owners={status["id"]: "markt"},
        )
    finally:
        ledger.close()
    return item.id


def answers(server: FakeMastodon) -> list[dict[str, object]]:
    return [s for s in server.state.posts() if s["text"] == f"@alice {TEXT}"]


def test_killed_between_sending_and_recording_the_answer_goes_out_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeMastodon(flavor="gotosocial", post_delay=4.0) as server:
        assert server.state.honours_idempotency is False
        repo, state = mastodon_repo(
            tmp_path, monkeypatch, instance=server.url, token=server.state.token
        )
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
        item = inbox_item(state, server)
        where = ["--repo", str(repo), "--state", str(state)]
        # The console script next to this Python: the real command, in its own process.
        klapper = Path(sys.executable).parent / "klapper"
        command = [str(klapper), "inbox", "reply", item, "--text", TEXT, *where]
        with open(tmp_path / "killed.log", "wb") as log:
            child = subprocess.Popen(
                command, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=log
            )
        try:
            wait_for(lambda: answers(server), timeout=20)  # stored; its answer is held back
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
        assert child.returncode == -signal.SIGKILL
        ledger = Ledger.open(state=state)
        [claimed] = [d for d in ledger.deliveries() if d.post_id.startswith("reply:")]
        ledger.close()
        assert claimed.state is State.CLAIMED and claimed.remote_id is None

        server.state.post_delay = 0.0
        result = CliRunner().invoke(
            app, ["inbox", "reply", item, "--text", TEXT, "-f", "json", *where]
        )
        assert result.exit_code == 0, result.output
        sent = json.loads(result.stdout)
        [answer] = answers(server)
        assert sent["result"] == "sent" and sent["remote_id"] == answer["id"]
        events = read_events(state / "events.jsonl")
        [found] = [e for e in events if e["event"] == "reconciled"]
        assert found["found"] is True and found["remote_id"] == answer["id"]
        assert [e["event"] for e in events if e.get("delivery") == claimed.id] == [
            "unknown",
            "reconciled",
            "published",
            "answered",
        ]

        again = CliRunner().invoke(app, ["inbox", "reply", item, "--text", TEXT, *where])
        assert again.exit_code == 0 and "already answered" in again.stdout
        assert len(answers(server)) == 1
