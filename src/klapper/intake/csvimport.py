"""`klapper import csv`: another tool's bulk-scheduling CSV -> one post file per row.

Files go under ``<posts>/imported/``, written by writer.PostWriter: staged, loaded back and
checked like `klapper check` before they are renamed into place. A refused row is named by its
first line in the CSV, with the reason. Ids come from the rows' content (postfile.post_id):
importing the same file again writes nothing twice.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

from klapper.adapters.base import Rules
from klapper.config.load import CONFIG_FILE, ConfigError, load_config
from klapper.config.model import Config
from klapper.config.safeopen import FileTooLarge, read_regular
from klapper.display import shown
from klapper.intake.csvformats import CsvFormatError, Refused, Row, date_format, read_rows
from klapper.intake.fetch import FetchError, fetch_image
from klapper.intake.postfile import file_stem, post_id
from klapper.intake.writer import ImportResult, Outcome, PostWriter, RefusedError
from klapper.queue.check import account_rules

MEDIA = "media"
MAX_CSV_BYTES = 64 * 1024 * 1024


class IntakeError(Exception):
    """Nothing could be imported (klapper.yaml broken, the file unreadable): one line."""


class IntakeUsageError(IntakeError):
    """The command was given something wrong (an unknown account, a bad --date-format)."""


def _local(at: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock time in klapper.yaml's zone: a time with an offset is converted into it."""
    return at.astimezone(tz).replace(tzinfo=None) if at.tzinfo is not None else at


def load_config_for_import(repo: Path, *, to: tuple[str, ...] | None) -> Config:
    """klapper.yaml, and every account of ``to`` in it; IntakeError (or IntakeUsageError)."""
    try:
        config = load_config(repo)
    except ConfigError as exc:
        raise IntakeError(f"{CONFIG_FILE}: {exc}; fix it first (klapper check)") from None
    unknown = [name for name in to or () if name not in config.accounts]
    if unknown:
        raise IntakeUsageError(
            f"--to {unknown[0]}: no such account in {CONFIG_FILE} "
            f"(accounts: {', '.join(sorted(config.accounts))})"
        )
    return config


def _read(csv_file: Path) -> str:
    try:
        raw, _info = read_regular(csv_file, limit=MAX_CSV_BYTES)
    except FileTooLarge as exc:
        raise IntakeError(f"{shown(str(csv_file))}: {exc}") from None
    except OSError as exc:
        raise IntakeUsageError(f"{shown(str(csv_file))}: cannot read it: {exc.strerror}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IntakeError(
            f'{shown(str(csv_file))}: byte {exc.start} is not UTF-8; save the file as "CSV UTF-8"'
        ) from None


class _Importer:
    def __init__(
        self,
        *,
        writer: PostWriter,
        to: tuple[str, ...] | None,
        source: str,
        session: requests.Session,
    ) -> None:
        self.writer, self.to, self.source, self.session = writer, to, source, session
        config, rules = writer.config, writer.rules
        self.media = writer.repo / MEDIA
        targets = [a for a in (to or config.defaults.to) if a in rules] or list(rules)
        self.max_bytes = max((rules[a].max_media_bytes for a in targets), default=0)
        self.types = frozenset().union(*(rules[a].media_types for a in targets))
        self.result = ImportResult()

    def row(self, row: Row) -> None:
        local = _local(row.at, self.writer.config.tz) if row.at is not None else None
        at = (
            None
            if local is None
            else f"{local:%Y-%m-%d %H:%M}" + (f":{local:%S}" if local.second else "")
        )
        text = row.text
        if row.link and row.link not in text:  # the link goes at the end, as the tools post it
            text = f"{text}\n\n{row.link}" if text else row.link
        pid = post_id(at=at, text=text, link=row.link, images=row.images, alts=row.alts, to=self.to)
        if pid in self.writer.known:
            self.result.skipped.append(
                Outcome(row.line, file=self.writer.known[pid], post=pid, reason="imported before")
            )
            return
        fields: dict[str, Any] = {"id": pid, "text": text}
        if at is not None:
            fields["at"] = at
        if self.to:
            fields["to"] = list(self.to)
        try:
            media = [
                self.image(url, row.alts[i] if i < len(row.alts) else None)
                for i, url in enumerate(row.images)
            ]
            if media:
                fields["media"] = media
            written = self.writer.write(
                fields=fields,
                stem=file_stem(local=local, text=row.text or text),
                source=f"imported by `klapper import csv` from {self.source} line {row.line}",
            )
        except (FetchError, RefusedError) as exc:
            self.result.refused.append(Outcome(row.line, reason=str(exc)))
            return
        self.result.written.append(replace(written, line=row.line))

    def image(self, url: str, alt: str | None) -> dict[str, str]:
        path = fetch_image(
            url=url,
            folder=self.media,
            max_bytes=self.max_bytes,
            types=self.types,
            session=self.session,
        )
        entry = {"file": os.path.relpath(path, self.writer.folder).replace(os.sep, "/")}
        if alt:
            entry["alt"] = alt
        return entry


def import_csv(
    *,
    repo: Path,
    csv_file: Path,
    fmt: str,
    now: datetime,
    to: tuple[str, ...] | None = None,
    date_format_option: str | None = None,
    rules: Mapping[str, Rules] | None = None,
    session: requests.Session | None = None,
) -> ImportResult:
    """Import every row of ``csv_file`` (format ``fmt``, see csvformats.FORMATS) into ``repo``.

    ``to`` replaces defaults.to; ``rules`` an account's limits (as `klapper check` takes them);
    ``now`` (aware) decides what is past. IntakeUsageError for a wrong option, IntakeError when
    nothing can be imported; a bad row is only refused.
    """
    config = load_config_for_import(repo, to=to)
    try:
        strptime = date_format(date_format_option, fmt=fmt)
    except ValueError as exc:
        raise IntakeUsageError(str(exc)) from None
    text = _read(csv_file)
    rules = (
        dict(rules)
        if rules is not None
        else {name: account_rules(config, name) for name in config.accounts}
    )
    writer = PostWriter(repo=repo, config=config, rules=rules, now=now)
    importer = _Importer(
        writer=writer, to=to, source=shown(csv_file.name), session=session or requests.Session()
    )
    try:
        for item in read_rows(text=text, fmt=fmt, strptime=strptime):
            if isinstance(item, Refused):
                importer.result.refused.append(Outcome(item.line, reason=item.reason))
            else:
                importer.row(item)
    except CsvFormatError as exc:
        if exc.whole:
            raise IntakeError(f"{shown(str(csv_file))}: line {exc.line}: {exc}") from None
        importer.result.refused.append(Outcome(exc.line, reason=str(exc)))
    return importer.result
