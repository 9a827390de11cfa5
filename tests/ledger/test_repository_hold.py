"""Two ledgers (state folders) on one content repository: the second is refused (9.2)."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from klapper.cli import app
from klapper.ledger.repolock import RepositoryHeld, RepositoryHold, runtime_dir
from tests.fakes.generic import FakeServer, token_for
from tests.scheduler.procs import NotifySocket, start, wait_for
from tests.scheduler.repo import TempRepo


@pytest.fixture(autouse=True)
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    return folder


def test_one_state_folder_holds_a_repository_others_are_refused(
    tmp_path: Path, runtime: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    first = RepositoryHold(repo=repo, state=tmp_path / "one")
    same = RepositoryHold(repo=tmp_path / "." / "repo", state=tmp_path / "one")  # shared
    with pytest.raises(RepositoryHeld, match=f"state folder {tmp_path / 'one'}"):
        RepositoryHold(repo=repo, state=tmp_path / "two")
    (tmp_path / "link").symlink_to(repo)  # the real path decides, not the name
    with pytest.raises(RepositoryHeld):
        RepositoryHold(repo=tmp_path / "link", state=tmp_path / "two")
    first.release()
    with pytest.raises(RepositoryHeld):  # still held by the other process of "one"
        RepositoryHold(repo=repo, state=tmp_path / "two")
    same.release()
    RepositoryHold(repo=repo, state=tmp_path / "two").release()
    assert runtime_dir() == runtime / "klapper"
    assert not list((runtime / "klapper").glob("repo-*"))  # the last one out cleans up
    assert not list(repo.iterdir())  # nothing in the repository


def test_second_ledger_publish_is_refused_while_a_daemon_holds_the_repository(
    tmp_path: Path, server: FakeServer, runtime: Path
) -> None:
    repo = TempRepo(tmp_path / "repo")
    repo.configure(accounts=("a",))
    server.platform.tokens[token_for("a")] = "a"
    repo.write("soon", text="Soon", at=datetime.now(UTC) + timedelta(hours=1))
    repo.write("now", text="Now", at=datetime.now(UTC) - timedelta(minutes=1))
    notify = NotifySocket(tmp_path)
    daemon = start(
        "daemon",
        repo=repo.root,
        state=tmp_path / "one",
        api=server.url,
        notify=notify,
        extra_env={"XDG_RUNTIME_DIR": str(runtime)},
    )
    runner = CliRunner()
    try:
        wait_for(lambda: notify.saw("READY", "1"), timeout=20)
        for command in (["publish", "--due"], ["run"]):
            result = runner.invoke(
                app, [*command, "--repo", str(repo.root), "--state", str(tmp_path / "two")]
            )
            assert result.exit_code == 1, result.output
            assert f"state folder {tmp_path / 'one'}" in result.output
            assert "Traceback" not in result.output
        status = runner.invoke(
            app, ["status", "--repo", str(repo.root), "--state", str(tmp_path / "two")]
        )
        assert status.exit_code == 0, status.output  # reading is no harm
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=15)
        notify.close()
    assert [p.text for p in server.platform.posts] == ["Now"]
    result = runner.invoke(
        app, ["publish", "--due", "--repo", str(repo.root), "--state", str(tmp_path / "two")]
    )
    assert "state folder" not in result.output  # free again once the daemon stopped
