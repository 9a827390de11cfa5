"""Kill the daemon with SIGKILL at random moments while it publishes; nothing twice, nothing lost."""

from __future__ import annotations

from pathlib import Path

from tests.engine.crash import drill


def test_sigkill_at_random_moments_neither_duplicates_nor_loses(tmp_path: Path) -> None:
    report = drill(tmp_path, posts=24, kills=10, seed=3)
    assert report.kills == 10
    assert report.deliveries == 48 and report.parts == 80
    assert report.duplicates == [] and report.losses == [] and report.strays == []
    assert report.ledger_mismatches == []
