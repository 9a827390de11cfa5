"""Kill the daemon with SIGKILL at random moments while it publishes; nothing twice, nothing lost."""

from __future__ import annotations

from pathlib import Path

from tests.scheduler.crash import drill


def test_sigkill_at_random_moments_neither_duplicates_nor_loses(tmp_path: Path) -> None:
    report = drill(tmp_path, posts=24, kills=10, seed=3)
    assert report.kills == 10
    assert report.deliveries == 48 and report.parts == 80
    assert report.duplicates == [] and report.losses == [] and report.strays == []
    assert report.ledger_mismatches == []


def test_sigkill_and_a_deleted_ledger_on_a_server_that_ignores_idempotency_keys(
    tmp_path: Path,
) -> None:
    """Issue 9, proof: the ledger is deleted after every kill; the fake GoToSocial keeps no
    keys, so only the event log and `find` stand between a kill and a second post."""
    report = drill(
        tmp_path,
        posts=12,
        kills=6,
        seed=5,
        platform="mastodon",
        delete_ledger=True,
        server_delay=0.1,
    )
    assert report.kills == 6 and report.ledgers_deleted == 6
    assert report.deliveries == 12 and report.parts == 20
    assert report.duplicates == [] and report.losses == [] and report.strays == []
    assert report.ledger_mismatches == []
    assert report.rebuilds >= 1 and report.unknown_resolved >= 1
