"""sd_notify messages and the repository watcher (file events and the polling fallback)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from klapper.scheduler.systemd import Notifier
from klapper.scheduler.watch import RepoWatcher
from tests.scheduler.procs import NotifySocket, wait_for


def test_notifier_speaks_the_sd_notify_protocol(tmp_path: Path) -> None:
    sock = NotifySocket(tmp_path)
    notifier = Notifier(
        environ={
            "NOTIFY_SOCKET": str(sock.path),
            "WATCHDOG_USEC": "20000000",
            "WATCHDOG_PID": str(os.getpid()),
        }
    )
    assert notifier.watchdog_interval == 10.0
    notifier.ready("next: p at 09:00")
    notifier.watchdog()
    notifier.reloading()
    notifier.stopping()
    wait_for(lambda: len(sock.poll()) == 4)
    ready, watchdog, reloading, stopping = sock.messages
    assert ready == {"READY": "1", "STATUS": "next: p at 09:00"}
    assert watchdog == {"WATCHDOG": "1"} and stopping == {"STOPPING": "1"}
    assert reloading["RELOADING"] == "1" and int(reloading["MONOTONIC_USEC"]) > 0
    sock.close()


def test_notifier_sends_no_field_smuggled_into_a_value(tmp_path: Path) -> None:
    sock = NotifySocket(tmp_path)
    notifier = Notifier(environ={"NOTIFY_SOCKET": str(sock.path)})
    hostile = "next: posts/x\nWATCHDOG=trigger\nMAINPID=1\r\x1b[2J\u2028READY=1.yaml"
    notifier.status(hostile)
    notifier.send(STATUS="tab\there", ERRNO="5\n")
    wait_for(lambda: len(sock.poll()) == 2)
    first, second = sock.messages
    assert first == {
        "STATUS": "next: posts/x\\nWATCHDOG=trigger\\nMAINPID=1\\r\\x1b[2J\\u2028READY=1.yaml"
    }
    assert second == {"STATUS": "tab\\there", "ERRNO": "5\\n"}
    with pytest.raises(ValueError, match="field name"):
        notifier.send(**{"STATUS=x\nWATCHDOG": "trigger"})
    sock.close()


def test_notifier_is_silent_without_systemd_and_never_blocks(tmp_path: Path) -> None:
    Notifier(environ={}).ready("x")  # no socket: nothing happens
    assert (
        Notifier(environ={"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}).watchdog_interval is None
    )  # the watchdog is meant for another process
    sock = NotifySocket(tmp_path)  # nobody reads it: the queue fills, sending must not block
    notifier = Notifier(environ={"NOTIFY_SOCKET": str(sock.path)})
    done = threading.Event()
    threading.Thread(
        target=lambda: ([notifier.status("x" * 2000) for _ in range(2000)], done.set()), daemon=True
    ).start()
    assert done.wait(timeout=10)
    sock.close()


@pytest.mark.parametrize("polling", [False, True], ids=["events", "polling"])
def test_watcher_reports_post_and_config_changes_once_settled(
    tmp_path: Path, polling: bool
) -> None:
    (tmp_path / "posts").mkdir()
    (tmp_path / "klapper.yaml").write_text("timezone: UTC\n")
    batches: list[set[str]] = []
    watcher = RepoWatcher(
        root=tmp_path,
        posts="posts",
        config_file="klapper.yaml",
        on_change=batches.append,
        debounce=0.2,
        polling=polling,
    )
    watcher.start()
    try:
        for number in range(5):  # a burst, as from `git pull`
            (tmp_path / "posts" / f"p{number}.yaml").write_text("text: hi\n")
        (tmp_path / "outbox").mkdir()  # not the queue: ignored
        (tmp_path / "outbox" / "x.json").write_text("{}")
        wait_for(lambda: batches, timeout=5)
        assert all(p.startswith(str(tmp_path / "posts")) for p in batches[0])
        (tmp_path / "klapper.yaml").write_text("timezone: Europe/Berlin\n")
        wait_for(lambda: any(str(tmp_path / "klapper.yaml") in b for b in batches), timeout=5)
    finally:
        watcher.stop()
    assert not any("outbox" in p for batch in batches for p in batch)
