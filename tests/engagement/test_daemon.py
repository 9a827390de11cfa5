"""`klapper run` as a real process reads reactions and replies by itself, and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from klapper.engagement.store import EngagementStore
from klapper.ledger import Ledger, read_events
from tests.engagement.helpers import record_published
from tests.fakes.mastodon import FakeMastodon
from tests.scheduler.procs import wait_for


def test_the_daemon_polls_when_a_reading_comes_due(tmp_path: Path) -> None:
    with FakeMastodon() as server:
        repo, state = tmp_path / "repo", tmp_path / "state"
        (repo / "posts").mkdir(parents=True)
        (repo / "klapper.yaml").write_text(
            yaml.safe_dump(
                {
                    "timezone": "Europe/Berlin",
                    "accounts": {"masto": {"platform": "mastodon", "instance": server.url}},
                    "engagement": {"min_gap": "1s"},
                }
            ),
            encoding="utf-8",
        )
        status = server.state.add_status(text="An hour old in a moment")
        ledger = Ledger.open(state=state)
        published_at = datetime.now(UTC) - timedelta(minutes=59, seconds=58)
        due = published_at + timedelta(hours=1)
        record_published(
            ledger,
            post_id="p",
            account="masto",
            platform="mastodon",
            remote_ids=[status["id"]],
            published_at=published_at,
        )
        status["favourites_count"] = 4
        server.state.add_reply(to=status["id"], text="Habt ihr morgen offen?")
        env = {
            **os.environ,
            "KLAPPER_SECRETS": str(tmp_path / "none.yaml"),
            "KLAPPER_MASTO_ACCESS_TOKEN": server.state.token,
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
        }
        env.pop("NOTIFY_SOCKET", None)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from klapper.cli import main; main()",
                "run",
                "--repo",
                str(repo),
                "--state",
                str(state),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            events = wait_for(
                lambda: [
                    e for e in read_events(state / "events.jsonl") if e["event"] == "engagement"
                ],
                timeout=20,
            )
            assert [(e["stage"], e["likes"]) for e in events] == [("1h", 4)]
            # Never before it came due (a start slower than the 2 s lead only makes it late).
            assert datetime.fromisoformat(events[0]["ts"]) >= due
            # The inbox read may come in the same round, after the reading is stored.
            store = EngagementStore(ledger)
            [item] = wait_for(lambda: store.inbox_items(open_only=True), timeout=10)
            assert item.attention == "question"
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=15)
            ledger.close()
        assert code == 0, proc.stderr.read().decode() if proc.stderr else ""
