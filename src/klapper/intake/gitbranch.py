"""`--git-branch NAME`: imported files committed on a branch of the content repository.

git runs as a subprocess and only plumbing touches the repository: the branch's tree (or the
current HEAD's, for a new branch) is checked out into a temporary folder through a temporary
index file (GIT_INDEX_FILE), the import writes there, and the files it added become one
commit on ``refs/heads/NAME`` (ls-files --others, update-index --add, write-tree, commit-tree,
update-ref with the old value, so a concurrent change of the branch is refused, not
overwritten). The user's
working tree, index and current branch are never touched, and nothing is ever pushed.
Nothing new means no commit (and no new branch).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from klapper.display import shown
from klapper.intake.csvimport import IntakeError, IntakeUsageError

#: used only when git has no identity configured (a server, a CI runner)
_IDENTITY = {"GIT_AUTHOR_NAME": "klapper", "GIT_AUTHOR_EMAIL": "klapper@localhost"}
_TIMEOUT = 120.0


class GitError(IntakeError):
    """git refused, is missing, or the folder is not a git repository: one line."""


@dataclass
class Target:
    """Where an import writes (``root``: the content repository, or its copy on the branch)
    and, after it, ``commit`` records what it wrote (nothing without a branch)."""

    root: Path
    branch: str | None = None
    commits: list[str] = field(default_factory=list)
    _git: _Git | None = None

    def commit(self, *, message: str) -> str | None:
        """Commit what the import wrote on the branch; the commit's id, None if nothing new."""
        if self._git is None:
            return None
        made = self._git.commit(message=message)
        if made is not None:
            self.commits.append(made)
        return made


@contextmanager
def import_target(*, repo: Path, branch: str | None) -> Iterator[Target]:
    """The repository itself without ``branch``; with it, a checkout of the branch to commit."""
    if branch is None:
        yield Target(root=repo)
        return
    with tempfile.TemporaryDirectory(prefix="klapper-branch-") as scratch:
        git = _Git.open(repo=repo, branch=branch, scratch=Path(scratch))
        yield Target(root=git.root, branch=branch, _git=git)


class _Git:
    def __init__(self, *, top: Path, inner: Path, branch: str, scratch: Path) -> None:
        self.top, self.inner, self.branch, self.scratch = top, inner, branch, scratch
        self.ref = f"refs/heads/{branch}"
        self.work = scratch / "tree"
        self.env = {**os.environ, "GIT_INDEX_FILE": str(scratch / "index")}
        self.root = self.work / inner
        self.parent = ""
        self.git_dir = ""

    @classmethod
    def open(cls, *, repo: Path, branch: str, scratch: Path) -> _Git:
        if shutil.which("git") is None:
            raise GitError("--git-branch needs git, which is not installed (or not on PATH)")
        found = _run(["git", "rev-parse", "--show-toplevel"], cwd=repo, check=False)
        if found.returncode != 0:
            raise GitError(
                f"{shown(str(repo))} is not in a git repository; --git-branch commits to one "
                "(git init, commit, then import again; or leave --git-branch out)"
            )
        top = Path(found.stdout.strip())
        valid = _run(["git", "check-ref-format", "--branch", branch], cwd=top, check=False)
        if valid.returncode != 0 or branch.startswith("-"):
            raise IntakeUsageError(f"--git-branch {shown(branch)!r} is not a valid branch name")
        inner = Path(os.path.relpath(repo.resolve(), top.resolve()))
        git = cls(top=top, inner=inner, branch=branch, scratch=scratch)
        git.git_dir = git._git("rev-parse", "--absolute-git-dir").stdout.strip()
        git.parent = git._rev(git.ref) or git._rev("HEAD")
        if not git.parent:
            raise GitError(
                f"{shown(str(top))} has no commit yet: commit once, then import with --git-branch"
            )
        git.work.mkdir()
        git._git("read-tree", git.parent)
        git._git("checkout-index", "--all", f"--prefix={git.work}/")
        return git

    def _rev(self, name: str) -> str:
        found = self._git("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}", check=False)
        return found.stdout.strip() if found.returncode == 0 else ""

    def _git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run(["git", *args], cwd=self.top, env=self.env, check=check)

    def _in_work(self, *args: str, stdin: str | None = None) -> str:
        """git on the temporary checkout (paths below it), with the temporary index."""
        work = [f"--git-dir={self.git_dir}", f"--work-tree={self.work}"]
        return _run(["git", *work, *args], cwd=self.work, env=self.env, stdin=stdin).stdout

    def commit(self, *, message: str) -> str | None:
        # The import only adds files: list the new ones (the repository's own ignore rules
        # apply) and hash those alone, not every file checked out.
        listed = self._in_work(
            "ls-files", "-z", "--others", "--exclude-standard", "--", str(self.inner)
        )
        if listed:
            self._in_work("update-index", "--add", "-z", "--stdin", stdin=listed)
        tree = self._git("write-tree").stdout.strip()
        if tree == self._git("rev-parse", f"{self.parent}^{{tree}}").stdout.strip():
            return None
        env = dict(self.env)
        if not self._git("config", "user.email", check=False).stdout.strip():
            env.update(_IDENTITY)
            env.update(
                GIT_COMMITTER_NAME=_IDENTITY["GIT_AUTHOR_NAME"],
                GIT_COMMITTER_EMAIL=_IDENTITY["GIT_AUTHOR_EMAIL"],
            )
        made = _run(
            ["git", "commit-tree", tree, "-p", self.parent, "-m", message],
            cwd=self.top,
            env=env,
        ).stdout.strip()
        # The old value makes the update refuse a branch moved meanwhile (or made meanwhile).
        old = self.parent if self._rev(self.ref) == self.parent else "0" * len(self.parent)
        self._git("update-ref", "-m", "klapper import", self.ref, made, old)
        self.parent = made
        return made


def _run(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    check: bool = True,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            args,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            check=False,
            input=stdin if stdin is not None else "",
        )
    except FileNotFoundError:
        raise GitError("--git-branch needs git, which is not installed (or not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[1]} did not finish in {_TIMEOUT:.0f} s") from None
    if check and done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise GitError(f"git {args[1]} failed: {last}")
    return done
