"""`--ledger URL` end to end: two state folders (two machines) publish from one PostgreSQL ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from klapper.cli import app
from tests.scheduler.repo import TempRepo

runner = CliRunner()


def test_two_state_folders_share_one_ledger_and_publish_once(tmp_path: Path, pg_url: str) -> None:
    repo = TempRepo(tmp_path / "repo")
    repo.configure(accounts=("a",))
    repo.write("hello", text="Hello", at=datetime.now(UTC) - timedelta(minutes=1))
    for machine in ("one", "two"):  # on SQLite the second state folder would be refused
        args = ["--repo", str(repo.root), "--state", str(tmp_path / machine)]
        result = runner.invoke(app, ["publish", "--due", *args], env={"KLAPPER_LEDGER": pg_url})
        assert result.exit_code == 0, result.output
    assert len(list((repo.root / "out-a").glob("*.json"))) == 1
    assert (tmp_path / "one" / "events.jsonl").is_file()
    status = runner.invoke(
        app,
        ["status", "--format", "json", "--ledger", pg_url, "--state", str(tmp_path / "three")],
    )
    assert status.exit_code == 0, status.output
    shown = json.loads(status.output)
    assert [d["post"] for d in shown["recent"]] == ["posts/hello.yaml"]
    (writer,) = [p for p in shown["processes"] if p["published"]]
    assert writer["published"] == 1


def test_a_ledger_option_that_is_no_postgresql_url_is_bad_usage(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["status", "--ledger", "mysql://u:s3cret@db/k", "--state", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "PostgreSQL URL" in result.output and "s3cret" not in result.output


def test_a_sqlite_ledgers_event_log_moves_into_the_shared_ledger(
    tmp_path: Path, pg_url: str
) -> None:
    repo = TempRepo(tmp_path / "repo")
    repo.configure(accounts=("a",))
    repo.write("hello", text="Hello", at=datetime.now(UTC) - timedelta(minutes=1))
    args = ["--repo", str(repo.root), "--state", str(tmp_path / "old")]
    assert runner.invoke(app, ["publish", "--due", *args]).exit_code == 0  # on SQLite
    moved = runner.invoke(app, ["ledger", "rebuild", "--ledger", pg_url, *args])
    assert moved.exit_code == 0, moved.output
    assert "rebuilt 1 deliveries" in moved.output and "1 published" in moved.output
    again = runner.invoke(
        app, ["publish", "--due", "--ledger", pg_url, *args[:2], "--state", str(tmp_path / "new")]
    )
    assert again.exit_code == 0 and "nothing due" in again.output  # not sent twice
    assert len(list((repo.root / "out-a").glob("*.json"))) == 1
