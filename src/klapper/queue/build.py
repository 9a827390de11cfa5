"""A post as written (schema.PostFile) -> a Post: times resolved, accounts and media paths checked."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel

from klapper.config.errors import FieldError
from klapper.config.model import Config, Utm, parse_duration
from klapper.config.platforms import registry
from klapper.config.yamlsrc import locate
from klapper.display import is_shown_as_is
from klapper.queue.model import Media, Override, Part, Post, Source
from klapper.queue.schema import OPTION_KEYS, MediaEntry, Options, PostFile, ThreadEntry
from klapper.timing import TimeError, parse_cron, parse_time

MIN_EVERGREEN = timedelta(days=1)  # a post again within hours reads as spam

Loc = tuple[str | int, ...]
# Ids are part of delivery keys ("post|occurrence|account") and of file-like names.
_ID = re.compile(r"^[^\s|]+$")
_OPTION_SET = frozenset(OPTION_KEYS)  # most posts set none: skip looking at each
#: a bare date: `start` from the day's first instant, `until` through its last; `at` needs a time
_WHOLE_DAY: dict[str, Literal["start", "end"]] = {"start": "start", "until": "end"}


@dataclass(frozen=True)
class RepoContext:
    """What building posts needs to know about the repository, computed once per load."""

    config: Config
    tz: ZoneInfo
    root: str  # absolute, normalised repository path
    real_root: str  # the same with symlinks resolved
    real_dirs: dict[str, str] = field(default_factory=dict)  # folder -> its realpath, per load
    # (post folder, path as written) -> the image's checked path, per load: posts share images.
    media_paths: dict[tuple[str, str], Path] = field(default_factory=dict)

    @classmethod
    def create(cls, *, config: Config, root: Path) -> RepoContext:
        absolute = os.path.abspath(root)
        return cls(config, config.tz, absolute, os.path.realpath(absolute))

    def realpath(self, path: str) -> str:
        """os.path.realpath, resolving each folder once per load (images share few folders)."""
        if os.path.islink(path):
            return os.path.realpath(path)
        folder, name = os.path.split(path)
        if folder not in self.real_dirs:
            self.real_dirs[folder] = os.path.realpath(folder)
        return os.path.join(self.real_dirs[folder], name)


def within(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or lies below it (both absolute and normalised)."""
    return path == root or path.startswith(root + os.sep)


def resolve_media_path(written: str, *, post_file: str, ctx: RepoContext) -> Path:
    """The absolute path of an image named in ``post_file``; ValueError if it leaves the repo.

    Only path names are inspected (symlinks resolved): a file outside is never opened. A path
    once found good is remembered for the rest of the load.
    """
    key = (os.path.dirname(post_file), written)
    path = ctx.media_paths.get(key)
    if path is None:
        path = ctx.media_paths[key] = Path(_checked_path(written, folder=key[0], ctx=ctx))
    return path


def _checked_path(written: str, *, folder: str, ctx: RepoContext) -> str:
    if os.path.isabs(written) or written.startswith("~"):
        raise ValueError(f"media path {written!r} is absolute; write it relative to this file")
    joined = os.path.normpath(os.path.join(ctx.root, folder, written))
    if not within(joined, ctx.root):
        raise ValueError(
            f"media path {written!r} leaves the content repository; keep images "
            "inside it (e.g. media/)"
        )
    if not within(ctx.realpath(joined), ctx.real_root):
        raise ValueError(
            f"media path {written!r} is a symlink pointing outside the content "
            "repository; klapper does not read it"
        )
    return joined


class _Builder:
    """Collects the errors of one post while converting it."""

    def __init__(self, raw: PostFile, *, ctx: RepoContext, file: str, node: yaml.Node) -> None:
        self.raw, self.ctx, self.file, self.node = raw, ctx, file, node
        self.errors: list[FieldError] = []

    def error(self, loc: Loc, message: str, *, at_key: bool = False) -> None:
        self.errors.append(FieldError(loc, message, at_key))

    def source(self, mark: Any) -> Source:
        return Source(self.file, mark.line + 1, mark.column + 1)

    def time(self, key: str) -> tuple[datetime | None, str | None]:
        value = getattr(self.raw, key)
        if value is None:
            return None, None
        try:
            return parse_time(
                value,
                self.ctx.tz,
                zone_name=self.ctx.config.timezone,
                whole_day=_WHOLE_DAY.get(key),
            )
        except TimeError as exc:
            self.error((key,), f"{key}: {exc}")
            return None, None

    def media(self, entries: list[MediaEntry], loc: Loc) -> tuple[Media, ...]:
        if not entries:
            return ()
        result = []
        for index, entry in enumerate(entries):
            try:
                path = resolve_media_path(entry.file, post_file=self.file, ctx=self.ctx)
            except ValueError as exc:
                self.error((*loc, index, "file"), str(exc))
                continue
            line, column = locate(self.node, (*loc, index))
            alt = entry.alt.strip() if entry.alt is not None else None
            result.append(Media(entry.file, path, alt or None, Source(self.file, line, column)))
        return tuple(result)

    def thread(self, entries: list[ThreadEntry], loc: Loc) -> tuple[Part, ...]:
        if not entries:
            return ()
        parts = []
        for index, entry in enumerate(entries):
            media = self.media(entry.media, (*loc, index, "media"))
            text = entry.text.strip()
            if not text and not entry.media:
                self.error((*loc, index), "this follow-up has no text and no media")
            parts.append(Part(text=text, media=media))
        return tuple(parts)

    def accounts(self) -> tuple[str, ...]:
        config = self.ctx.config
        if self.raw.to is None:
            names = config.default_accounts()
            if not names:
                self.error((), "no `to:` and klapper.yaml has no accounts (defaults › to)")
            return names
        if not self.raw.to:
            self.error(("to",), "to: is empty; name at least one account")
        for index, name in enumerate(self.raw.to):
            if name not in config.accounts:
                self.error(("to", index), _unknown("account", name, list(config.accounts)))
        return tuple(dict.fromkeys(self.raw.to))

    def overrides(self) -> dict[str, Override]:
        result: dict[str, Override] = {}
        for key, entry in self.raw.per.items():
            if key not in self.ctx.config.accounts and key not in registry():
                known = [*self.ctx.config.accounts, *registry()]
                self.error(
                    ("per", key), "per: " + _unknown("account or platform", key, known), at_key=True
                )
            loc: Loc = ("per", key)
            result[key] = Override(
                text=entry.text.strip() if entry.text is not None else None,
                media=self.media(entry.media, (*loc, "media")) if entry.media is not None else None,
                thread=self.thread(entry.thread, (*loc, "thread"))
                if entry.thread is not None
                else None,
                options=_options(entry),
                utm=_utm(entry.utm),
            )
        return result

    def schedule(self) -> dict[str, Any]:
        raw = self.raw
        if raw.every is None and raw.start is None and raw.until is None and raw.count is None:
            at, note = self.time("at")  # the common case: once, or the next free slot
            return {"at": at, "at_note": note}
        if raw.at is not None and raw.every is not None:
            self.error(("every",), "a post has either `at` (once) or `every` (repeating), not both")
        if raw.every is None:
            for key in ("start", "until", "count"):
                if getattr(raw, key) is not None:
                    self.error(
                        (key,), f"`{key}` only works with `every` (a repeating post)", at_key=True
                    )
        elif raw.every is not None:
            try:
                parse_cron(raw.every)
            except TimeError as exc:
                self.error(("every",), f"every: {exc}")
            if raw.count is not None and raw.start is None:
                self.error(
                    ("count",),
                    "count needs `start` to count from, e.g. start: 2026-06-01",
                    at_key=True,
                )
        at, note = self.time("at")
        start, _ = self.time("start")
        until, _ = self.time("until")
        if start and until and until < start:
            self.error(("until",), "until: is before start")
        return {
            "at": at,
            "at_note": note,
            "every": raw.every,
            "start": start,
            "until": until,
            "count": raw.count,
        }

    def evergreen(self) -> timedelta | None:
        """`evergreen: {every: 8w}`: how long before the post comes round again."""
        raw = self.raw.evergreen
        if raw is None:
            return None
        try:
            every = parse_duration(raw.every)
        except ValueError:
            self.error(
                ("evergreen", "every"),
                f"evergreen › every: {raw.every!r} is not a duration; write e.g. 8w, 60d or 2160h",
            )
            return None
        if every < MIN_EVERGREEN:
            self.error(
                ("evergreen", "every"),
                f"evergreen › every: {raw.every!r} is shorter than a day; the same post every "
                "few hours reads as spam (write e.g. 4w)",
            )
        if self.raw.every is not None:
            self.error(
                ("evergreen",),
                "a repeating post (`every`) cannot also be evergreen; use one of them",
                at_key=True,
            )
        if not self.ctx.config.slots:
            self.error(
                ("evergreen",),
                "evergreen posts come round again in the posting slots, and klapper.yaml "
                "has no `slots:`; add some (e.g. slots: {mon: ['09:00']})",
                at_key=True,
            )
        return every

    def post_id(self, default: str) -> str:
        if self.raw.id is None:
            return default
        if not _ID.match(self.raw.id) or not is_shown_as_is(self.raw.id):
            self.error(
                ("id",), f"id {self.raw.id!r}: no spaces, no '|' and no control characters please"
            )
        return self.raw.id

    def locations(self) -> dict[str, tuple[int, int]]:
        """Where the text and time parts were written, for precise messages from check."""
        found: dict[str, tuple[int, int]] = {}
        if not isinstance(self.node, yaml.MappingNode):
            return found
        for key_node, value_node in self.node.value:
            key = str(key_node.value)
            mark = value_node.start_mark
            found[key] = (mark.line + 1, mark.column + 1)
            if key == "thread":
                _item_texts(value_node, "thread", found)
            elif key == "per" and isinstance(value_node, yaml.MappingNode):
                for per_key, per_value in value_node.value:
                    if isinstance(per_value, yaml.MappingNode):
                        for inner_key, inner_value in per_value.value:
                            name = f"per.{per_key.value}.{inner_key.value}"
                            mark = inner_value.start_mark
                            found[name] = (mark.line + 1, mark.column + 1)
                            if inner_key.value == "thread":
                                _item_texts(inner_value, name, found)
        return found


def _item_texts(node: yaml.Node, prefix: str, found: dict[str, tuple[int, int]]) -> None:
    if not isinstance(node, yaml.SequenceNode):
        return
    for index, item in enumerate(node.value, 1):
        mark = item.start_mark
        if isinstance(item, yaml.MappingNode):
            mark = next((v.start_mark for k, v in item.value if k.value == "text"), mark)
        found[f"{prefix}.{index}.text"] = (mark.line + 1, mark.column + 1)


def _unknown(kind: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known) or 'none'}"
    return f"no {kind} named {name!r}{hint}"


def _plain(value: Any) -> Any:
    """An option as plain data (a nested model such as ``event`` becomes a dict)."""
    return value.model_dump(exclude_none=True) if isinstance(value, BaseModel) else value


def _utm(raw: Utm | Literal[False] | None) -> dict[str, str] | Literal[False] | None:
    return False if raw is False else raw.tags() if raw else None


def _options(raw: Options, *, lang: str | None = None) -> dict[str, Any]:
    options = (
        {}
        if _OPTION_SET.isdisjoint(raw.model_fields_set)
        else {
            key: _plain(getattr(raw, key)) for key in OPTION_KEYS if getattr(raw, key) is not None
        }
    )
    if lang and "lang" not in options:
        options["lang"] = lang
    return options


def build_post(
    raw: PostFile, *, ctx: RepoContext, file: str, default_id: str, node: yaml.Node
) -> tuple[Post | None, list[FieldError]]:
    """The Post for ``raw`` (None when it has errors) and the errors, each with its location."""
    builder = _Builder(raw, ctx=ctx, file=file, node=node)
    post_id = builder.post_id(default_id)
    text = raw.text.strip()
    media = builder.media(raw.media, ("media",))
    if not text and not raw.media:
        builder.error((), "this post has no text and no media")
    post = Post(
        id=post_id,
        source=builder.source(node.start_mark),
        text=text,
        to=builder.accounts(),
        media=media,
        thread=builder.thread(raw.thread, ("thread",)),
        options=_options(raw, lang=ctx.config.defaults.lang),
        per=builder.overrides(),
        draft=raw.draft,
        evergreen=builder.evergreen(),
        utm=_utm(raw.utm),
        locations=builder.locations(),
        **builder.schedule(),
    )
    return (None if builder.errors else post), builder.errors
