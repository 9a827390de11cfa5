"""`klapper import feed`: new RSS or Atom entries (feedparser) -> post files from a template.

The template is a post file whose texts may hold ``{title}``, ``{link}``, ``{summary}`` and
``{hashtags}`` (from the entry's categories); the values are put into the parsed YAML, never
into its source, so a title holding a colon or a quote cannot change the file's structure.
The guids already imported are remembered per feed in the state folder (feeds/), so a second
import writes nothing, even after the files were moved or deleted; an entry refused (too long,
say) is not remembered and is tried again next time.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import yaml

from klapper.adapters.base import Rules
from klapper.config.safeopen import read_regular
from klapper.display import shown
from klapper.intake.csvimport import IntakeError, IntakeUsageError, load_config_for_import
from klapper.intake.postfile import slug, write_atomically
from klapper.intake.writer import ImportResult, Outcome, PostWriter, RefusedError
from klapper.queue.check import account_rules

PLACEHOLDERS = ("title", "link", "summary", "hashtags")
DEFAULT_TEMPLATE = "text: |-\n  {title}\n\n  {link}\n\n  {hashtags}\n"
MAX_FEED_BYTES = 10 * 1024 * 1024
MAX_TEMPLATE_BYTES = 64 * 1024
SUMMARY_CHARS = 200  # a summary is a teaser: the post links to the whole entry
TIMEOUT = 15.0
SEEN_FOLDER = "feeds"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")


def load_template(path: Path | None, *, name: str | None = None) -> dict[str, Any]:
    """The template's fields; IntakeError naming the file (as ``name``) and line of what is
    wrong."""
    name = name or (shown(str(path)) if path is not None else "the default template")
    if path is None:
        raw = DEFAULT_TEMPLATE
    else:
        try:
            raw = read_regular(path, limit=MAX_TEMPLATE_BYTES)[0].decode()
        except (OSError, ValueError) as exc:
            raise IntakeUsageError(f"template {name}: cannot read it: {exc}") from None
    try:
        fields = yaml.safe_load(raw)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise IntakeError(f"{name}:{line}: not YAML: {exc.problem}") from None
    if not isinstance(fields, dict) or not isinstance(fields.get("text"), str):
        raise IntakeError(
            f'{name}: a template is a post file with a `text:` (e.g. text: "{{title}} {{link}}")'
        )
    for match in _PLACEHOLDER.finditer(raw):
        if match[1] not in PLACEHOLDERS:
            line = raw.count("\n", 0, match.start()) + 1
            raise IntakeError(
                f"{name}:{line}: unknown placeholder {{{match[1]}}}; use "
                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            )
    for key in ("id", "at", "every"):
        if key in fields:
            raise IntakeError(
                f"{name}: remove `{key}:`; each entry gets its own id and goes "
                "into the next free slot (or is a draft with `draft: true`)"
            )
    return fields


def _plain(markup: str) -> str:
    text = re.sub(r"<[^>]*>", " ", markup)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(" ,.;:")
    return f"{cut}…"


def _hashtag(term: str) -> str:
    words = re.findall(r"\w+", term)
    return "#" + "".join(w[:1].upper() + w[1:] for w in words) if words else ""


def _values(entry: Mapping[str, Any]) -> dict[str, str]:
    tags = dict.fromkeys(_hashtag(str(t.get("term", ""))) for t in entry.get("tags", []))
    return {
        "title": _plain(str(entry.get("title", ""))),
        "link": str(entry.get("link", "")),
        "summary": _shorten(_plain(str(entry.get("summary", ""))), SUMMARY_CHARS),
        "hashtags": " ".join(t for t in tags if t),
    }


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        text = _PLACEHOLDER.sub(lambda m: values.get(m[1], m[0]), value)
        return re.sub(r"\n{3,}", "\n\n", text).strip()  # an empty value leaves no gap
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, values) for key, item in value.items()}
    return value


def _fetch(url: str, session: requests.Session) -> bytes:
    if not url.startswith(("http://", "https://")):
        raise IntakeUsageError(f"{shown(url)}: give the feed's http(s) URL")
    try:
        with session.get(url, stream=True, timeout=TIMEOUT) as response:
            if response.status_code != 200:
                raise IntakeError(f"{shown(url)}: the server answered HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) > MAX_FEED_BYTES:
                    raise IntakeError(f"{shown(url)}: larger than {MAX_FEED_BYTES:,} bytes")
    except requests.RequestException as exc:
        raise IntakeError(f"{shown(url)}: cannot fetch it ({type(exc).__name__})") from None
    return bytes(body)


class _Seen:
    """The guids imported from one feed, in ``<state>/feeds/<hash of the URL>.json``."""

    def __init__(self, state: Path, url: str) -> None:
        self.path = state / SEEN_FOLDER / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.json"
        self.url = url
        try:
            self.guids: set[str] = set(json.loads(self.path.read_text())["seen"])
        except FileNotFoundError:
            self.guids = set()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IntakeError(
                f"{shown(str(self.path))}: cannot read it ({exc}); remove it to "
                "start over (posts already imported are still found by id)"
            ) from None

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"url": self.url, "seen": sorted(self.guids)}
        write_atomically(self.path, json.dumps(data, indent=1, ensure_ascii=False).encode())


def import_feed(
    *,
    repo: Path,
    url: str,
    state: Path,
    now: datetime,
    to: tuple[str, ...] | None = None,
    template: Path | None = None,
    template_name: str | None = None,
    rules: Mapping[str, Rules] | None = None,
    session: requests.Session | None = None,
    draft: bool = False,
    finish: Callable[[ImportResult], object] | None = None,
) -> ImportResult:
    """Write a post file for every entry of the feed at ``url`` not imported before.

    ``draft`` makes every post a draft; ``finish`` runs after the files are written and before
    their guids are remembered (a commit on a branch: a failed commit forgets nothing).
    """
    import feedparser  # type: ignore[import-untyped]  # only this command needs it

    config = load_config_for_import(repo, to=to)
    fields = load_template(template, name=template_name)
    seen = _Seen(state, url)
    parsed = feedparser.parse(
        _fetch(url, session or requests.Session()), response_headers={"content-location": url}
    )
    if not parsed.entries and parsed.bozo:
        raise IntakeError(f"{shown(url)}: not an RSS or Atom feed ({parsed.bozo_exception})")
    rules = (
        dict(rules)
        if rules is not None
        else {name: account_rules(config, name) for name in config.accounts}
    )
    writer = PostWriter(repo=repo, config=config, rules=rules, now=now)
    result = ImportResult()
    entries = list(parsed.entries)
    # Oldest first, so that the next posting slots follow the order they were published in.
    entries.sort(
        key=lambda e: calendar.timegm(
            e.get("published_parsed") or e.get("updated_parsed") or (0,) * 9
        )
    )
    for entry in entries:
        guid = str(entry.get("id") or entry.get("link") or entry.get("title", ""))
        if guid in seen.guids:
            continue
        pid = "feed-" + hashlib.sha256(f"{url}\n{guid}".encode()).hexdigest()[:12]
        if pid in writer.known:
            result.skipped.append(
                Outcome(entry=guid, file=writer.known[pid], post=pid, reason="imported before")
            )
            seen.guids.add(guid)
            continue
        values = _values(entry)
        post = {"id": pid, **_fill(fields, values)}
        if to:
            post["to"] = list(to)
        if draft:
            post["draft"] = True
        when = entry.get("published_parsed") or entry.get("updated_parsed")
        day = f"{datetime.fromtimestamp(calendar.timegm(when), UTC):%Y-%m-%d}-" if when else ""
        try:
            written = writer.write(
                fields=post,
                stem=day + slug(values["title"]),
                source=f"imported by `klapper import feed` from {url}",
            )
        except RefusedError as exc:
            result.refused.append(Outcome(entry=guid, reason=str(exc)))
            continue
        result.written.append(
            Outcome(entry=guid, file=written.file, post=pid, warnings=written.warnings)
        )
        seen.guids.add(guid)
    if finish is not None:
        finish(result)
    seen.save()
    return result
