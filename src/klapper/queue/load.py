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

import gc
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from klapper.config.load import CONFIG_FILE, ConfigError, load_config
from klapper.config.model import Config
from klapper.queue.build import RepoContext
from klapper.queue.files import FileResult, Found, Stamp, load_file, stamp_of, walk
from klapper.queue.model import Post, Problem, Source


@dataclass(frozen=True)
class Repository:
    """A loaded content repository: its config, the valid posts in file order, the problems."""

    config: Config
    posts: list[Post]
    problems: list[Problem]
    root: Path


@dataclass
class LoadCache:
    """Per-file results between loads; see the module docstring for how it is kept fresh."""

    watched: bool = False
    files: dict[str, FileResult] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)  # repo-relative file -> absolute path
    config_stamp: Stamp | None = None
    config: Config | None = None
    walk_problems: list[Problem] = field(default_factory=list)
    _pending: set[str] | None = None  # absolute paths changed since the last load; None = all

    def changed(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        """Note files or folders that changed (created, modified, moved, deleted)."""
        if self._pending is not None:
            self._pending.update(os.path.abspath(p) for p in paths)

    def rescan_all(self) -> None:
        """Walk the whole posts folder on the next load (e.g. on SIGHUP)."""
        self._pending = None

    def _reset(self) -> None:
        self.files.clear()
        self.paths.clear()
        self.walk_problems = []
        self._pending = None


def _config_problems(error: ConfigError) -> list[Problem]:
    problems = [Problem(Source(CONFIG_FILE, issue.line, issue.column), "error", issue.message)
                for issue in error.issues]
    problems.append(Problem(Source(CONFIG_FILE), "error",
                            "posts are not loaded while klapper.yaml has errors"))
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
    seen: set[str] = set()
    cache.walk_problems = []
    for found in walk(folder, ctx=ctx):
        _take(found, ctx, cache)
        seen.add(found.file)
    for gone in set(cache.files) - seen:
        del cache.files[gone]
        cache.paths.pop(gone, None)


def _take(found: Found, ctx: RepoContext, cache: LoadCache) -> None:
    if found.problem is not None:
        cache.walk_problems.append(found.problem)
        return
    old = cache.files.get(found.file)
    if old is None or old.stamp != found.stamp:
        assert found.stamp is not None
        cache.files[found.file] = load_file(found.path, file=found.file, ctx=ctx,
                                            stamp=found.stamp)
        cache.paths[found.file] = found.path


def _walk_changed(folder: str, ctx: RepoContext, cache: LoadCache, pending: set[str]) -> None:
    """Only the noted paths: re-stat files, re-walk folders, forget what is gone."""
    by_path = {path: file for file, path in cache.paths.items()}
    for path in sorted(pending):
        if not (path == folder or path.startswith(folder + os.sep)):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            prefix = path + os.sep
            for file in [f for p, f in by_path.items() if p.startswith(prefix)]:
                cache.files.pop(file, None)
            for found in walk(path, ctx=ctx):
                _take(found, ctx, cache)
            continue
        file = by_path.get(path) or os.path.relpath(path, ctx.root).replace(os.sep, "/")
        try:
            stamp = stamp_of(os.stat(path))
        except OSError:
            cache.files.pop(file, None)
            cache.paths.pop(file, None)
            continue
        if path.endswith((".yaml", ".yml")) and not os.path.basename(path).startswith("."):
            _take(Found(file, path, stamp), ctx, cache)


def _without_duplicates(posts: list[Post]) -> tuple[list[Post], list[Problem]]:
    first: dict[str, Post] = {}
    clashing: dict[str, list[Post]] = {}
    for post in posts:
        if post.id in first:
            clashing.setdefault(post.id, [first[post.id]]).append(post)
        else:
            first[post.id] = post
    if not clashing:
        return posts, []
    problems = []
    for post_id, group in clashing.items():
        places = [str(p.source) for p in group]
        for post, place in zip(group, places, strict=True):
            others = ", ".join(p for p in places if p != place)
            problems.append(Problem(post.source, "error",
                                    f"id {post_id!r} is used more than once: here and at "
                                    f"{others}; give each post its own id", post=post_id))
    return [p for p in posts if p.id not in clashing], problems


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
    if not (real == ctx.real_root or real.startswith(ctx.real_root + os.sep)):
        problem = Problem(Source(CONFIG_FILE), "error",
                          f"the posts folder {config.paths.posts!r} is a symlink out of the "
                          "repository; not read")
        return Repository(config, [], [problem], repo)
    pending, cache._pending = cache._pending, (set() if cache.watched else None)
    if pending is None:
        _walk_all(folder, ctx, cache)
    else:
        _walk_changed(folder, ctx, cache, pending)
    problems = list(cache.walk_problems)
    if not os.path.isdir(folder):
        problems.append(Problem(Source(CONFIG_FILE), "warning",
                                f"no posts folder {config.paths.posts!r} yet; create it"))
    posts: list[Post] = []
    for file in sorted(cache.files):
        result = cache.files[file]
        posts.extend(result.posts)
        problems.extend(result.problems)
    posts, duplicate_problems = _without_duplicates(posts)
    problems.extend(duplicate_problems)
    problems.sort(key=lambda p: (p.source, p.severity))
    return Repository(config, posts, problems, repo)
