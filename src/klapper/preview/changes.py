"""`--since-ref`: the content repository's files changed since a git ref, and the posts removed.

Changed means ``git diff --name-only REF...HEAD`` (what a pull request brings, from the merge
base on) plus what is not committed yet: staged and unstaged changes and new files git does not
ignore. Git runs as a subprocess in the content repository, which may be a folder of a larger
git repository (paths are taken relative to it). Nothing is written anywhere.
"""

from __future__ import annotations

import os
import posixpath
import subprocess
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from klapper.queue import Repository
from klapper.queue.build import RepoContext
from klapper.queue.files import SUFFIXES, load_file, repo_file
from klapper.queue.model import first_line_of

from .model import Removed

GIT_TIMEOUT = 60  # seconds; a diff of a content repository takes milliseconds


class GitError(Exception):
    """Git cannot answer: not a repository, an unknown ref, git missing. One line, for users.

    ``usage``: what the user asked cannot work (not a repository, no such ref): exit 2.
    """

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class Changes:
    base: str  # the merge base's commit
    files: frozenset[str]  # repository-relative POSIX paths, as post ids and sources name them


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
        )
    except FileNotFoundError as exc:
        raise GitError("--since-ref needs git, and git is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git did not answer within {GIT_TIMEOUT} s in {repo}") from exc


def _names(output: bytes) -> set[str]:
    return {repo_file(os.fsdecode(name), start=0) for name in output.split(b"\0") if name}


def _out(repo: Path, *args: str, error: str, usage: bool = False) -> bytes:
    done = _git(repo, *args)
    if done.returncode != 0:
        raise GitError(error, usage=usage)
    return done.stdout


def changed_files(*, repo: Path, ref: str) -> Changes:
    """The files changed since ``ref`` (module docstring); GitError saying what to do."""
    if ref.startswith("-") or not ref.strip():
        raise GitError(
            f"--since-ref {ref!r} is not a git ref (a branch, tag or commit)", usage=True
        )
    inside = _git(repo, "rev-parse", "--is-inside-work-tree")
    if inside.returncode != 0 or inside.stdout.strip() != b"true":
        raise GitError(
            f"{repo} is not in a git repository; --since-ref compares git commits", usage=True
        )
    _out(
        repo,
        "rev-parse",
        "--verify",
        "--quiet",
        f"{ref}^{{commit}}",
        error=f"unknown git ref {ref!r} in {repo}: fetch it first "
        "(in GitHub Actions: actions/checkout with fetch-depth: 0)",
        usage=True,
    )
    base = _out(
        repo,
        "merge-base",
        ref,
        "HEAD",
        error=f"{ref!r} and HEAD have no common history in {repo}",
        usage=True,
    )
    files = set()
    for args in (
        ("diff", "--name-only", "-z", "--no-renames", "--relative", f"{ref}...HEAD", "--"),
        ("diff", "--name-only", "-z", "--no-renames", "--relative", "HEAD", "--"),
        ("ls-files", "-z", "--others", "--exclude-standard"),
    ):
        files |= _names(_out(repo, *args, error=f"git {args[0]} failed in {repo}"))
    return Changes(base.decode().strip(), frozenset(files))


def removed_posts(*, repository: Repository, changes: Changes) -> list[Removed]:
    """Posts that the changed post files held at the merge base and no file holds now."""
    config = repository.config
    folder = posixpath.normpath(config.paths.posts) + "/"
    folder = "" if folder == "./" else folder  # posts: . holds every YAML file
    present = {p.id for p in repository.posts} | {p.post for p in repository.problems if p.post}
    ctx = RepoContext.create(config=config, root=repository.root)
    removed: list[Removed] = []
    for file in sorted(changes.files):
        if not file.startswith(folder) or not file.endswith(SUFFIXES):
            continue
        before = _git(repository.root, "show", f"{changes.base}:./{file}")
        if before.returncode != 0:
            continue  # new since the base
        for post_id, text in _posts_in(before.stdout, file=file, ctx=ctx, present=present):
            removed.append(Removed(post_id, file, first_line_of(text)))
    return removed


def _posts_in(
    content: bytes, *, file: str, ctx: RepoContext, present: Collection[str]
) -> list[tuple[str, str]]:
    """(id, text) of the posts an old version of ``file`` held that are not ``present``."""
    # Loaded by the same code as the working tree's files, from a temporary copy outside the
    # repository (ids depend on ``file``, the name it had, not on where the copy lies).
    with tempfile.TemporaryDirectory(prefix="klapper-preview-") as folder:
        copy = os.path.join(folder, "old.yaml")
        with open(copy, "wb") as out:
            out.write(content)
        result = load_file(copy, file=file, ctx=ctx, stamp=None)
    found = {post.id: post.text for post in result.posts}
    for problem in result.problems:  # a post that was broken then is gone all the same
        if problem.post and problem.post not in found:
            found[problem.post] = ""
    return [(post_id, text) for post_id, text in found.items() if post_id not in present]
