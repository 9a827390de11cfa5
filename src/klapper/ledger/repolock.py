"""One ledger per content repository on a machine: a lock in the runtime folder, not the repo.

Two state folders on one repository (a user mistake: two ``--state`` folders, or a service and
a shell with different ``KLAPPER_STATE``) would each publish everything. Every process that
publishes holds a shared ``flock`` on ``repo-<hash of the repository's real path>.lock`` for
as long as it runs, and ``.owner`` next to it names the state folder that holds it. Processes of the same
state folder (a daemon, `publish --due`, `retry`) share the hold; another state folder is
refused while any of them lives. The kernel drops a dead process's lock (even after SIGKILL),
so nothing is ever stale. A ledger that several daemons share on purpose (PostgreSQL) does
not take the hold: pass ``exclusive=False`` to the engine.

The folder: ``$XDG_RUNTIME_DIR/klapper``, else ``/run/user/<uid>/klapper``, else
``<tmp>/klapper-<uid>`` (made 0700 and checked to be this user's own). Never in the repository,
which may be read-only or shared.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from klapper.ledger.faults import StateError


class RepositoryHeld(StateError):
    """Another state folder publishes from this repository right now."""


def runtime_dir() -> Path:
    """Where klapper keeps its repository locks (created when missing)."""
    uid = os.getuid()
    candidates = [Path(os.environ["XDG_RUNTIME_DIR"])] if os.environ.get("XDG_RUNTIME_DIR") else []
    candidates.append(Path(f"/run/user/{uid}"))
    for base in candidates:
        if base.is_dir() and os.access(base, os.W_OK | os.X_OK):
            folder = base / "klapper"
            folder.mkdir(mode=0o700, exist_ok=True)
            return folder
    folder = Path(tempfile.gettempdir()) / f"klapper-{uid}"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid or info.st_mode & 0o077:
        raise StateError(
            f"{folder}: not a private folder of this user; remove it, or set"
            " XDG_RUNTIME_DIR to a folder only you can write"
        )
    return folder


class RepositoryHold:
    """This process's share of the hold on ``repo`` for ``state``; ``release()`` ends it."""

    def __init__(self, *, repo: Path, state: Path, folder: Path | None = None) -> None:
        self.repo = repo.resolve()
        self.state = state.resolve()
        self._base = folder or runtime_dir()
        name = "repo-" + hashlib.sha256(os.fsencode(self.repo)).hexdigest()[:24]
        self._lock = self._base / f"{name}.lock"
        self._owner = self._base / f"{name}.owner"
        self._fd = -1
        with self._mutex():
            self._fd = os.open(self._lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                self._take()
            except BaseException:
                self.release_fd()
                raise

    @contextmanager
    def _mutex(self) -> Iterator[None]:
        """Holds are taken and given up one at a time (a lock on the runtime folder), so that
        "nobody holds it", "it is mine" and removing the files are decided without a race."""
        fd = os.open(self._base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _take(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = self._read_owner()
            if owner != str(self.state):
                raise RepositoryHeld(
                    f"{self.repo} is in use by another klapper with the state folder"
                    f" {owner or '(unknown)'}: two ledgers on one repository would publish every"
                    f" post twice. Use --state {owner} (or KLAPPER_STATE), or stop that"
                    " one first"
                ) from None
            fcntl.flock(self._fd, fcntl.LOCK_SH)
            return
        # Nobody holds it: this state folder does now.
        tmp = self._owner.with_name(f"{self._owner.name}.{os.getpid()}")
        tmp.write_text(str(self.state), encoding="utf-8")
        tmp.replace(self._owner)
        fcntl.flock(self._fd, fcntl.LOCK_SH)

    def _read_owner(self) -> str:
        try:
            return self._owner.read_text(encoding="utf-8").strip()
        except OSError:
            return ""

    def release(self) -> None:
        """Give up this process's share; the last holder removes the files."""
        if self._fd < 0:
            return
        with self._mutex():
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass  # others of this state folder still hold it
            else:
                self._lock.unlink(missing_ok=True)
                self._owner.unlink(missing_ok=True)
            self.release_fd()

    def release_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
