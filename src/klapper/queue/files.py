"""One post file -> its posts and problems; finding the post files below the posts folder.

Ids: a post's ``id:`` if it has one, else its repository-relative path. A file holding several
posts (a YAML list, or several ``---`` documents) numbers them from 1 in file order:
``posts/week.yaml#1``, ``posts/week.yaml#2`` ... (empty documents are not counted).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from operator import attrgetter
from typing import Any, NamedTuple

import yaml
from pydantic import ValidationError

from klapper.config.errors import FieldError, field_errors
from klapper.config.safeopen import FileTooLarge, NotRegularFile, kind_of, read_regular
from klapper.config.yamlsrc import (
    MAX_BYTES,
    Document,
    YamlError,
    locate,
    read_documents,
)
from klapper.display import is_shown_as_is, shown
from klapper.queue.build import RepoContext, build_post, within
from klapper.queue.model import Post, Problem, Source
from klapper.queue.schema import PostFile

SUFFIXES = (".yaml", ".yml")
_NAME = attrgetter("name")
Stamp = tuple[int, int, int, int]
UNREAD: Stamp = (0, 0, -1, 0)  # of a file that could not be opened: no real stamp matches it


class FileResult(NamedTuple):  # a tuple: made once per file, and cheaper than a dataclass
    """What one post file yielded, with the stat stamp it was read at (for the rescan cache)."""

    stamp: Stamp
    posts: tuple[Post, ...]
    problems: tuple[Problem, ...]


def stamp_of(stat: os.stat_result) -> Stamp:
    """Identity of a file version: mtime and ctime in ns, size, inode (an editor's rename)."""
    return (stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino)


def read_file(path: str) -> tuple[bytes, Stamp]:
    """A post file's bytes and its stamp, both from one open descriptor (see safeopen)."""
    raw, info = read_regular(path, limit=MAX_BYTES)
    return raw, stamp_of(info)


def _entries(documents: list[Document]) -> Iterator[tuple[Any, yaml.Node]]:
    for document in documents:
        if isinstance(document.data, list) and isinstance(document.node, yaml.SequenceNode):
            yield from zip(document.data, document.node.value, strict=False)
        else:
            yield document.data, document.node


def repo_file(path: str, *, start: int) -> str:
    """The repository-relative POSIX name of ``path`` (which begins at ``start``) as klapper
    uses it in ids, the ledger and messages: a name that is not UTF-8 or holds control
    characters is escaped (display.shown), the same way each time, so its ids stay stable."""
    file = path[start:] if os.sep == "/" else path[start:].replace(os.sep, "/")
    if file.isascii() and file.isprintable():  # nearly every name: no regular expression
        return file
    return shown(file)


def _name_problems(path: str, *, file: str, ctx: RepoContext) -> tuple[Problem, ...]:
    if "\\" not in file or is_shown_as_is(path[len(ctx.root) + 1 :]):
        return ()
    return (
        Problem(
            Source(file),
            "warning",
            "this file's name holds bytes that are not UTF-8 or control characters; "
            f"klapper shows it (and its post ids) as {file}; rename it",
        ),
    )


def _several(documents: list[Document]) -> bool:
    return len(documents) > 1 or isinstance(documents[0].data, list)


def _problems(
    errors: list[FieldError], *, file: str, node: yaml.Node, post: str | None
) -> list[Problem]:
    return [
        Problem(
            Source(file, *locate(node, error.loc, key=error.at_key)),
            "error",
            error.message,
            post=post,
        )
        for error in errors
    ]


def load_file(path: str, *, file: str, ctx: RepoContext, stamp: Stamp | None) -> FileResult:
    """Parse and build every post of one file; a fault becomes a Problem, never an exception.

    ``stamp`` is the file's from the walk (kept for a file that cannot be read), or None.
    """
    named = _name_problems(path, file=file, ctx=ctx)
    problem: Problem | None
    try:
        raw, stamp = read_file(path)
        documents = read_documents(raw)
    except YamlError as exc:
        problem = Problem(Source(file, exc.line, exc.column), "error", str(exc))
    except FileTooLarge as exc:
        problem = Problem(Source(file), "error", str(exc))
    except NotRegularFile as exc:  # a FIFO, socket or device: never opened for reading
        problem = Problem(Source(file), "warning", str(exc))
    except OSError as exc:
        problem = Problem(Source(file), "error", f"cannot read this file: {exc.strerror}")
    else:
        problem = None if documents else Problem(Source(file), "warning", "this file has no posts")
    if problem is not None:
        return FileResult(stamp or UNREAD, (), (*named, problem))
    several = _several(documents)
    posts: list[Post] = []
    problems: list[Problem] = list(named)
    for number, (data, node) in enumerate(_entries(documents), 1):
        default_id = f"{file}#{number}" if several else file
        if not isinstance(data, dict):
            mark = node.start_mark
            problems.append(
                Problem(
                    Source(file, mark.line + 1, mark.column + 1),
                    "error",
                    "a post is a mapping of keys (text:, at:, to: ...); found "
                    + ("a list" if isinstance(data, list) else repr(data)[:40]),
                    post=default_id,
                )
            )
            continue
        try:
            raw_post = PostFile.model_validate(data)
        except ValidationError as exc:
            post_id = data.get("id") if isinstance(data.get("id"), str) else default_id
            problems += _problems(
                field_errors(exc, model=PostFile), file=file, node=node, post=post_id
            )
            continue
        except RecursionError:
            problems.append(
                Problem(
                    Source(file, node.start_mark.line + 1),
                    "error",
                    "this post nests too deeply to read",
                    post=default_id,
                )
            )
            continue
        post, errors = build_post(raw_post, ctx=ctx, file=file, default_id=default_id, node=node)
        if errors:
            problems += _problems(errors, file=file, node=node, post=raw_post.id or default_id)
        if post is not None:
            posts.append(post)
    return FileResult(stamp or UNREAD, tuple(posts), tuple(problems))


def outside_problem(file: str) -> Problem:
    """The walk's finding for a post file that is a symlink out of the repository."""
    return Problem(
        Source(file), "error", "symlink to a file outside the content repository; not read"
    )


class Found(NamedTuple):
    """A post file found by the walk (or a problem with an entry that is not read)."""

    file: str  # repository-relative, POSIX
    path: str  # absolute
    stamp: Stamp | None = None  # None: not stat'ed (a first load reads the stamp as it opens)
    problem: Problem | None = None


# A folder's listing: its stamp, then (path, file) per post file and (path, None) per subfolder.
Listing = tuple[Stamp, tuple[tuple[str, str | None], ...]]
# A folder changed this recently may change again within its mtime's granularity (coarse clocks,
# FAT's 2 s) without its stamp changing, so its listing is not kept (as git treats "racy" files).
RACY_NS = 3_000_000_000


def walk(
    folder: str, *, ctx: RepoContext, listings: dict[str, Listing] | None = None, stat: bool = True
) -> Iterator[Found]:
    """Every *.yaml / *.yml below ``folder`` in sorted order; hidden entries are skipped.

    Symlinks to files inside the repository are followed; to files outside, never (reported);
    symlinked folders are not descended into (reported as a warning).

    With ``listings`` (kept between walks) a folder whose stamp has not changed is not listed
    again: adding, removing or renaming an entry changes its folder's mtime. Its files are still
    stat'ed one by one (a change of content does not). Folders holding symlinks, whose targets
    can change without their folder, are always listed. ``stat=False`` leaves files' stamps
    out (None), for a first load with nothing to compare them with.
    """
    if listings is not None:
        try:
            stamp = stamp_of(os.stat(folder))
        except OSError:
            return
        known = listings.pop(folder, None)
        if known is not None and known[0] == stamp:
            listings[folder] = known
            yield from _walk_listed(known[1], ctx=ctx, listings=listings, stat=stat)
            return
    try:
        entries = sorted(os.scandir(folder), key=_NAME)
    except OSError:
        return
    start = len(ctx.root) + 1  # the walk starts below ctx.root
    listed: list[tuple[str, str | None]] | None = []
    for entry in entries:
        name = entry.name
        if name[0] == ".":
            continue
        file = repo_file(entry.path, start=start)
        try:
            if entry.is_symlink():
                listed = None
                real = os.path.realpath(entry.path)
                if entry.is_dir():
                    yield Found(
                        file,
                        entry.path,
                        problem=Problem(
                            Source(file),
                            "warning",
                            "a symlinked folder: klapper does not look inside it",
                        ),
                    )
                    continue
                if not name.endswith(SUFFIXES):
                    continue
                if not within(real, ctx.real_root):
                    yield Found(file, entry.path, problem=outside_problem(file))
                    continue
            if entry.is_dir(follow_symlinks=False):
                if listed is not None:
                    listed.append((entry.path, None))
                yield from walk(entry.path, ctx=ctx, listings=listings, stat=stat)
            elif name.endswith(SUFFIXES) and entry.is_file():
                if listed is not None:
                    listed.append((entry.path, file))
                yield Found(file, entry.path, stamp_of(entry.stat()) if stat else None)
            elif name.endswith(SUFFIXES):  # a FIFO, socket or device: never opened
                listed = None  # listed again each time, so that the warning stays
                refused = NotRegularFile(kind_of(entry.stat().st_mode))
                yield Found(
                    file, entry.path, problem=Problem(Source(file), "warning", str(refused))
                )
        except OSError:
            listed = None
            continue  # vanished while we looked: the next scan will not see it either
    if listings is not None and listed is not None and time.time_ns() - stamp[0] > RACY_NS:
        listings[folder] = (stamp, tuple(listed))


def _walk_listed(
    listed: tuple[tuple[str, str | None], ...],
    *,
    ctx: RepoContext,
    listings: dict[str, Listing],
    stat: bool,
) -> Iterator[Found]:
    for path, file in listed:
        if file is None:
            yield from walk(path, ctx=ctx, listings=listings, stat=stat)
            continue
        if not stat:
            yield Found(file, path)
            continue
        try:
            yield Found(file, path, stamp_of(os.stat(path)))
        except OSError:
            continue  # removed, and its folder's stamp did not show it yet: as if not seen
