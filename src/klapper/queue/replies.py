"""Saved replies (``replies/*.yaml``): answers written once, filled in for each inbox item.

A file holds one saved reply or a list of them::

    name: danke-de
    lang: de
    text: |
      Danke, {name}! Wir freuen uns auf Ihren nächsten Besuch.
    platforms: [google-business, mastodon]   # optional; or accounts: [...]; else every account

``{name}`` is the author's display name, ``{handle}`` their handle, ``{platform}`` the
platform's title and ``{account}`` the account's name; any other ``{...}`` is an error naming
its file and line (``{{`` and ``}}`` write a brace). `klapper check` counts a saved reply for
every account it may go to, with a person's name or handle counted as ``PERSON_CHARS``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from klapper.adapters.counting import count_text
from klapper.config.model import Config
from klapper.config.platforms import Rules
from klapper.config.platforms import platform as describe
from klapper.config.safeopen import read_regular
from klapper.config.yamlsrc import YamlError, locate, read_documents
from klapper.queue.model import Problem, Source

REPLIES_DIR = "replies"
PLACEHOLDERS = ("name", "handle", "platform", "account")
#: how many characters `klapper check` counts for ``{name}`` and ``{handle}``
PERSON_CHARS = 30
_MAX_BYTES = 1_000_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SavedReplyError(ValueError):
    """A saved reply cannot be used; ``str()`` names the file and line."""


@dataclass(frozen=True)
class SavedReply:
    """One saved reply as written, with where its text starts."""

    name: str
    text: str
    source: Source
    lang: str | None = None
    platforms: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()

    def goes_to(self, config: Config) -> list[str]:
        """The accounts of ``config`` this reply may answer on (sorted)."""
        return sorted(
            name
            for name, settings in config.accounts.items()
            if (not self.platforms or settings.platform in self.platforms)
            and (not self.accounts or name in self.accounts)
        )

    def fill(self, *, name: str, handle: str, platform: str, account: str) -> str:
        """The text with its placeholders filled; ``SavedReplyError`` for an unknown one."""
        values = {"name": name, "handle": handle, "platform": platform, "account": account}
        _check_placeholders(self.text, self.source)
        return self.text.format_map(values)


def _check_placeholders(text: str, source: Source) -> None:
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise SavedReplyError(
            f"{source.file}:{source.line}: {exc} in the text (write {{{{ and }}}} for a brace)"
        ) from None
    written = ""
    for literal, field, spec, conversion in fields:
        written += literal
        if field is None:
            continue
        if field not in PLACEHOLDERS or spec or conversion:
            line = source.line + written.count("\n")
            raise SavedReplyError(
                f"{source.file}:{line}: unknown placeholder {{{field}}}; saved replies know"
                f" {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
            )
        written += "{" + field + "}"


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise TypeError("a name or a list of names")


def _text_line(node: yaml.Node, loc: list[str | int]) -> int:
    """The line a reply's text starts on (a block scalar's first line, after its ``|``)."""
    line, _ = locate(node, [*loc, "text"])
    current: Any = node
    for step in [*loc, "text"]:
        if isinstance(current, yaml.MappingNode):
            current = next((v for k, v in current.value if k.value == step), None)
        elif isinstance(current, yaml.SequenceNode) and isinstance(step, int):
            current = current.value[step]
    return line + 1 if getattr(current, "style", None) in ("|", ">") else line


def _read_file(path: Path, relative: str) -> list[SavedReply]:
    try:
        raw, _ = read_regular(path, limit=_MAX_BYTES)
        documents = read_documents(raw)
    except YamlError as exc:
        raise SavedReplyError(f"{relative}:{exc.line}: {exc}") from None
    except OSError as exc:
        raise SavedReplyError(f"{relative}: cannot read it: {exc.strerror or exc}") from None
    found = []
    for document in documents:
        entries = document.data if isinstance(document.data, list) else [document.data]
        for index, entry in enumerate(entries):
            loc: list[str | int] = [index] if isinstance(document.data, list) else []
            where = Source(relative, locate(document.node, loc)[0])
            if not isinstance(entry, Mapping):
                raise SavedReplyError(f"{where.file}:{where.line}: a saved reply is a mapping")
            unknown = set(entry) - {"name", "lang", "text", "platforms", "accounts"}
            if unknown:
                raise SavedReplyError(
                    f"{where.file}:{where.line}: unknown key {sorted(unknown)[0]!r}; a saved"
                    " reply has name, lang, text and optionally platforms or accounts"
                )
            name, text = entry.get("name"), entry.get("text")
            if not isinstance(name, str) or not _NAME.match(name):
                raise SavedReplyError(
                    f"{where.file}:{where.line}: name: letters, digits, - _ or . (e.g. danke-de)"
                )
            if not isinstance(text, str) or not text.strip():
                raise SavedReplyError(f"{where.file}:{where.line}: {name} needs a text")
            try:
                platforms, accounts = (
                    _strings(entry.get("platforms")),
                    _strings(entry.get("accounts")),
                )
            except TypeError as exc:
                raise SavedReplyError(
                    f"{where.file}:{where.line}: platforms/accounts: {exc}"
                ) from None
            lang = entry.get("lang")
            found.append(
                SavedReply(
                    name=name,
                    text=text.strip("\n"),
                    source=Source(relative, _text_line(document.node, loc)),
                    lang=str(lang) if lang is not None else None,
                    platforms=platforms,
                    accounts=accounts,
                )
            )
    return found


def load_saved_replies(repo: Path) -> dict[str, SavedReply]:
    """Every saved reply in ``repo/replies``, by name; ``SavedReplyError`` on the first fault."""
    folder = repo / REPLIES_DIR
    found: dict[str, SavedReply] = {}
    if not folder.is_dir():
        return found
    for path in sorted([*folder.rglob("*.yaml"), *folder.rglob("*.yml")]):
        relative = path.relative_to(repo).as_posix()
        for reply in _read_file(path, relative):
            if reply.name in found:
                first = found[reply.name].source
                raise SavedReplyError(
                    f"{reply.source}: saved reply {reply.name!r} is also in {first}; names are"
                    " unique"
                )
            found[reply.name] = reply
    return found


def saved_reply(repo: Path, name: str) -> SavedReply:
    """The saved reply ``name``; ``SavedReplyError`` naming the ones there are."""
    replies = load_saved_replies(repo)
    if name not in replies:
        known = ", ".join(sorted(replies)) or f"none: {REPLIES_DIR}/ holds no saved reply"
        raise SavedReplyError(f"no saved reply {name!r} in {REPLIES_DIR}/ (there are: {known})")
    return replies[name]


def check_saved_replies(
    repo: Path, config: Config, *, rules: Mapping[str, Rules] | None = None
) -> list[Problem]:
    """`klapper check`: each saved reply's placeholders, and its length on every account it
    may answer on (``{name}``/``{handle}`` counted as ``PERSON_CHARS`` characters)."""
    try:
        replies = load_saved_replies(repo)
    except SavedReplyError as exc:
        return [_problem(str(exc))]
    problems = []
    for reply in replies.values():
        person = "x" * PERSON_CHARS
        for account in reply.goes_to(config):
            settings = config.accounts[account]
            description = describe(settings.platform)
            try:
                text = reply.fill(
                    name=person, handle=person, platform=description.title, account=account
                )
            except SavedReplyError as exc:
                problems.append(_problem(str(exc)))
                break
            limits = (rules or {}).get(account) or description.rules_for(settings)
            length = count_text(text, limits.counting)
            if length > limits.text_limit:
                problems.append(
                    Problem(
                        reply.source,
                        "error",
                        f"saved reply {reply.name} is {length} characters (a name counted as"
                        f" {PERSON_CHARS}); {description.title} takes at most"
                        f" {limits.text_limit} (account {account})",
                        account=account,
                    )
                )
        unknown = [a for a in reply.accounts if a not in config.accounts]
        if unknown:
            problems.append(
                Problem(
                    reply.source,
                    "warning",
                    f"saved reply {reply.name} names account {unknown[0]!r}, which klapper.yaml"
                    " does not have",
                )
            )
    return problems


def _problem(message: str) -> Problem:
    """A ``SavedReplyError``'s message (``file:line: what``) as a finding of `klapper check`."""
    where, _, what = message.partition(": ")
    file, _, line = where.partition(":")
    number = line.split(":")[0]
    return Problem(Source(file, int(number) if number.isdigit() else 1), "error", what or message)
