"""`klapper run` as a real process reads reactions and replies by itself, and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from klapper.engagement.store import EngagementStore
from klapper.ledger import Ledger, read_events
from tests.engagement.helpers import record_published
from tests.fakes.mastodon import FakeMastodon


def test_the_daemon_polls_when_a_reading_comes_due(tmp_path: Path) -> None:
    with FakeMastodon() as server:
        repo, state = tmp_path / "repo", tmp_path / "state"
        (repo / "posts").mkdir(parents=True)
        (repo / "klapper.yaml").write_text(yaml.safe_dump({
            "timezone": "Europe/Berlin",
            "accounts": {"masto": {"platform": "mastodon", "instance": server.url}},
            "engagement": {"min_gap": "1s"},
        }), encoding="utf-8")
        status = server.state.add_status(text="An hour old in a moment")
        ledger = Ledger.open(state=state)
        record_published(ledger, post_id="p", account="masto", platform="mastodon",
                         remote_ids=[status["id"]],
                         published_at=datetime.now(UTC) - timedelta(minutes=59, seconds=58))
        status["favourites_count"] = 4
        server.state.add_reply(to=status["id"], text="Habt ihr morgen offen?")
        env = {**os.environ, "KLAPPER_SECRETS": str(tmp_path / "none.yaml"),
               "KLAPPER_MASTO_ACCESS_TOKEN": server.state.token,
               "XDG_CACHE_HOME": str(tmp_path / "cache")}
        env.pop("NOTIFY_SOCKET", None)
        proc = subprocess.Popen(
            [sys.executable, "-c", "from klapper.cli import main; main()", "run", "--repo",
             str(repo), "--state", str(state)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            events: list[dict] = []
            items = []
            while time.monotonic() < deadline:
                events = [e for e in read_events(state / "events.jsonl")
                          if e["event"] == "engagement"]
                # The inbox is read after the reactions, in the same round.
                items = EngagementStore(ledger).inbox_items(open_only=True)
                if events and items:
                    break
                time.sleep(0.1)
            assert [(e["stage"], e["likes"]) for e in events] == [("1h", 4)]
            [item] = items
            assert item.attention == "question"
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=15)
            ledger.close()
        assert code == 0, proc.stderr.read().decode() if proc.stderr else ""
