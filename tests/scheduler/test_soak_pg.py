"""The short shared-ledger soak (benchmarks/soak_pg.py is the long one): 2 daemons on one
PostgreSQL ledger, 300 deliveries due within 5 s, one SIGKILL: none twice, none lost."""

from __future__ import annotations

from pathlib import Path

from tests.scheduler.soak import soak


def test_two_daemons_and_a_kill_publish_every_delivery_once(tmp_path: Path, pg_url: str) -> None:
    report = soak(
        tmp_path, url=pg_url, deliveries=300, daemons=2, window=5.0, kills=1, lead=6.0, lease=2.0
    )
    assert report.kills == 1
    assert report.duplicates == [] and report.losses == [] and report.not_published == 0
    print(
        f"soak: {report.deliveries} deliveries, {report.daemons} daemons, {report.kills} kill:"
        f" {report.throughput:.0f}/s, lateness p50 {report.lateness_p50:.2f} s,"
        f" p99 {report.lateness_p99:.2f} s, ready before due: {report.ready_before_due}"
    )
