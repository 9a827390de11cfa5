"""Loading a content repository (klapper.yaml + post files), with a cache for cheap rescans.

A broken klapper.yaml stops loading: ``posts`` is empty and ``problems`` says why, because
a wrong time zone or account would send posts at the wrong time or to the wrong place. A broken
post file never stops the others; a post with an error is left out of ``posts`` (so it is
never published) until it is fixed, and duplicate ids leave out every post that shares one.

The rescan cache (``LoadCache``) keeps each file's result keyed by its stat stamp (mtime and
ctime in ns, size, inode); a changed klapper.yaml drops it all. By default every load still
stats every post file (a few microseconds each). A caller that watches the folder (the daemon)
can make a rescan cost only what changed: ``LoadCache(watched=True)`` and
``cache.changed(paths)`` for each file event; ``cache.rescan_all()`` forces a full walk.
"""

from __future__ import annotations

import bisect
import gc
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path

from klapper.config.load import CONFIG_FILE, ConfigError, load_config
from klapper.config.model import Config
from klapper.queue.build import RepoContext, within
from klapper.queue.files import (
    SUFFIXES,
    FileResult,
    Found,
    Listing,
    Stamp,
    load_file,
    outside_problem,
    repo_file,
    stamp_of,
    walk,
)
from klapper.queue.model import Post, Problem, Source

_FILE = attrgetter("source.file")


@dataclass(frozen=True)
class Repository:
    """A loaded content repository: its config, the valid posts in file order, the problems."""

    config: Config
    posts: list[Post]
    problems: list[Problem]
    root: Path


@dataclass
class LoadCache:
    """Per-file results between loads; see the module docstring for how it is kept fresh.

    Besides the results it keeps, updated file by file, what assembling a Repository needs
    (every post in file order, the files with problems, path -> file, how often each id
    occurs), so that a rescan after one change does work for that file, not for all of them.
    """

    watched: bool = False
    files: dict[str, FileResult] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)  # repo-relative file -> absolute path
    config_stamp: Stamp | None = None
    config: Config | None = None
    walk_problems: list[Problem] = field(default_factory=list)
    listings: dict[str, Listing] = field(default_factory=dict)  # folder -> entries, see walk
    _pending: set[str] | None = None  # absolute paths changed since the last load; None = all
    _posts: list[Post] = field(default_factory=list)  # of every file, in file order
    _problem_files: set[str] = field(default_factory=set)
    _by_path: dict[str, str] = field(default_factory=dict)  # absolute path -> file
    _ids: Counter[str] = field(default_factory=Counter)
    _clashing: set[str] = field(default_factory=set)  # ids used more than once

    def changed(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        """Note files or folders that changed (created, modified, moved, deleted)."""
        if self._pending is not None:
            self._pending.update(os.path.abspath(p) for p in paths)

    def rescan_all(self) -> None:
        """Walk the whole posts folder on the next load (e.g. on SIGHUP)."""
        self._pending = None

    def _store(self, file: str, path: str, result: FileResult) -> None:
        old = self.files.get(file)
        if old is not None:
            self._count(old, -1)
        self._splice(file, old, result.posts)
        self.files[file], self.paths[file], self._by_path[path] = result, path, file
        self._count(result, +1)
        if result.problems:
            self._problem_files.add(file)
        else:
            self._problem_files.discard(file)

    def _drop(self, file: str) -> None:
        result = self.files.pop(file, None)
        if result is None:
            return
        self._count(result, -1)
        self._splice(file, result, ())
        self._problem_files.discard(file)
        self._by_path.pop(self.paths.pop(file), None)

    def _splice(self, file: str, old: FileResult | None, posts: tuple[Post, ...]) -> None:
        """Put a file's posts in place of its old ones: found by bisection, as the posts are in
        file order, and moved in one memmove, so nothing else is touched."""
        if old is None and (not self._posts or self._posts[-1].source.file < file):
            self._posts += posts  # the walk goes in file order: a first load only appends
            return
        start = bisect.bisect_left(self._posts, file, key=_FILE)
        self._posts[start : start + (len(old.posts) if old is not None else 0)] = posts

    def _count(self, result: FileResult, step: int) -> None:
        for post in result.posts:
            count = self._ids[post.id] = self._ids[post.id] + step
            if count > 1:
                self._clashing.add(post.id)
            else:
                self._clashing.discard(post.id)
                if count == 0:
                    del self._ids[post.id]

    def _reset(self) -> None:
        for collection in (
            self.files,
            self.paths,
            self._by_path,
            self._ids,
            self._clashing,
            self.listings,
            self._problem_files,
        ):
            collection.clear()
        self._posts.clear()
        self.walk_problems = []
        self._pending = None


def _config_problems(error: ConfigError) -> list[Problem]:
    problems = [
        Problem(Source(CONFIG_FILE, issue.line, issue.column), "error", issue.message)
        for issue in error.issues
    ]
    problems.append(
        Problem(Source(CONFIG_FILE), "error", "posts are not loaded while klapper.yaml has errors")
    )
    return problems


def _config(repo: Path, cache: LoadCache) -> Config | list[Problem]:
    try:
        stamp: Stamp | None = stamp_of(os.stat(repo / CONFIG_FILE))
    except OSError:
        stamp = None
    if stamp is not None and stamp == cache.config_stamp and cache.config is not None:
        return cache.config
    cache._reset()
    cache.config_stamp, cache.config = stamp, None
    try:
        cache.config = load_config(repo)
    except ConfigError as exc:
        return _config_problems(exc)
    return cache.config


def _walk_all(folder: str, ctx: RepoContext, cache: LoadCache) -> None:
    cache.walk_problems = []
    # A first load has no stamps to compare: files are stat'ed as they are opened.
    seen = {
        found.file
        for found in walk(folder, ctx=ctx, listings=cache.listings, stat=bool(cache.files))
        if _take(found, ctx, cache)
    }
    for gone in set(cache.files) - seen:
        cache._drop(gone)


def _take(found: Found, ctx: RepoContext, cache: LoadCache) -> bool:
    """Keep what the walk found (parsing it only if new or changed); False for a problem."""
    if found.problem is not None:
        if found.problem not in cache.walk_problems:
            cache.walk_problems.append(found.problem)
        return False
    old = cache.files.get(found.file)
    if old is None or found.stamp is None or old.stamp != found.stamp:
        cache._store(
            found.file,
            found.path,
            load_file(found.path, file=found.file, ctx=ctx, stamp=found.stamp),
        )
    return True


def _walk_changed(folder: str, ctx: RepoContext, cache: LoadCache, pending: set[str]) -> None:
    """Only the noted paths: re-stat files, re-walk folders, forget what is gone."""
    for path in sorted(pending):
        if not within(path, folder):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            prefix = path + os.sep
            seen = {
                found.file
                for found in walk(path, ctx=ctx, listings=cache.listings)
                if _take(found, ctx, cache)
            }
            for file in [f for p, f in cache._by_path.items() if p.startswith(prefix)]:
                if file not in seen:
                    cache._drop(file)
            continue
        file = cache._by_path.get(path) or repo_file(path, start=len(ctx.root) + 1)
        try:
            stamp = stamp_of(os.stat(path))
        except OSError:
            cache._drop(file)
            continue
        if not path.endswith(SUFFIXES) or os.path.basename(path).startswith("."):
            continue
        if os.path.islink(path) and not within(os.path.realpath(path), ctx.real_root):
            cache._drop(file)  # as the walk does: a symlink out is never read
            _take(Found(file, path, problem=outside_problem(file)), ctx, cache)
            continue
        _take(Found(file, path, stamp), ctx, cache)


def _duplicate_problems(posts: list[Post], clashing: set[str]) -> list[Problem]:
    groups: dict[str, list[Post]] = {}
    for post in posts:
        if post.id in clashing:
            groups.setdefault(post.id, []).append(post)
    problems = []
    for post_id, group in groups.items():
        places = [str(p.source) for p in group]
        for post, place in zip(group, places, strict=True):
            others = ", ".join(p for p in places if p != place)
            problems.append(
                Problem(
                    post.source,
                    "error",
                    f"id {post_id!r} is used more than once: here and at "
                    f"{others}; give each post its own id",
                    post=post_id,
                )
            )
    return problems


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: a load makes many small objects and no cycles,
    and collections triggered by their sheer number cost a third of the load time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_repository(repo: Path, *, cache: LoadCache | None = None) -> Repository:
    """Load klapper.yaml and every post file below the posts folder; never raises on content."""
    with _gc_paused():
        return _load(repo, cache if cache is not None else LoadCache())


def _load(repo: Path, cache: LoadCache) -> Repository:
    config = _config(repo, cache)
    if not isinstance(config, Config):
        return Repository(Config(), [], config, repo)
    ctx = RepoContext.create(config=config, root=repo)
    folder = os.path.join(ctx.root, config.paths.posts)
    real = os.path.realpath(folder)
    if not within(real, ctx.real_root):
        problem = Problem(
            Source(CONFIG_FILE),
            "error",
            f"the posts folder {config.paths.posts!r} is a symlink out of the repository; not read",
        )
        return Repository(config, [], [problem], repo)
    pending, cache._pending = cache._pending, (set() if cache.watched else None)
    if pending is None:
        _walk_all(folder, ctx, cache)
    else:
        _walk_changed(folder, ctx, cache, pending)
    problems = list(cache.walk_problems)
    if not os.path.isdir(folder):
        problems.append(
            Problem(
                Source(CONFIG_FILE),
                "warning",
                f"no posts folder {config.paths.posts!r} yet; create it",
            )
        )
    posts = list(cache._posts)  # a copy: the only work here that grows with the files
    problems += [
        problem for file in sorted(cache._problem_files) for problem in cache.files[file].problems
    ]
    if cache._clashing:  # every post sharing an id is left out, so none can publish twice
        problems += _duplicate_problems(posts, cache._clashing)
        posts = [post for post in posts if post.id not in cache._clashing]
    problems.sort(key=lambda p: (p.source, p.severity))
    return Repository(config, posts, problems, repo)
