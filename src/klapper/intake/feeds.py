"""`feeds:` in klapper.yaml: each feed read on its own interval, by the daemon and `publish --due`.

A configured feed goes through the same code as `klapper import feed` (feed.import_feed): the
same template, checks, file names and guids remembered in the state folder. When each feed was
last read is kept in ``<state>/feeds/checked.json``, so a batch run every few minutes reads a
feed only as often as its ``every:`` says. A feed that fails (down, not a feed, a broken
template, git refusing) is one line naming its place in klapper.yaml; the others are read all
the same, and publishing never waits for a feed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests

from klapper.adapters.base import Rules
from klapper.config.load import CONFIG_FILE, config_line
from klapper.config.model import Config, Feed
from klapper.display import shown
from klapper.intake.csvimport import IntakeError
from klapper.intake.feed import SEEN_FOLDER, import_feed
from klapper.intake.gitbranch import import_target
from klapper.intake.postfile import write_atomically
from klapper.intake.writer import ImportResult
from klapper.queue import announced_rules

CHECKED_FILE = "checked.json"

log = logging.getLogger("klapper.feeds")


@dataclass(frozen=True)
class FeedRun:
    """What reading one configured feed came to: ``result``, or ``error`` (one line)."""

    feed: Feed
    line: int  # where the feed is written in klapper.yaml
    result: ImportResult | None = None
    error: str | None = None
    commit: str | None = None  # on ``feed.git_branch``

    @property
    def where(self) -> str:
        return f"{CONFIG_FILE}:{self.line}: feed {shown(self.feed.url)}"

    def problems(self) -> list[str]:
        """One line per fault: the feed's, or each entry refused (tried again next time)."""
        if self.error is not None:
            return [f"{self.where}: {self.error}"]
        refused = self.result.refused if self.result is not None else []
        return [f"{self.where}: entry {o.entry} refused: {o.reason}" for o in refused]


def _checked_path(state: Path) -> Path:
    return state / SEEN_FOLDER / CHECKED_FILE


def _checked(state: Path) -> dict[str, datetime]:
    try:
        return {
            url: datetime.fromisoformat(when)
            for url, when in json.loads(_checked_path(state).read_text()).items()
        }
    except (OSError, ValueError, TypeError, AttributeError):
        return {}  # never read, or unreadable: every feed is read now (its guids still hold)


def next_check(*, config: Config, state: Path, now: datetime) -> datetime | None:
    """When the next configured feed is due to be read (``now`` for one never read; None: no
    feeds)."""
    checked = _checked(state)
    return min(
        (checked[f.url] + f.every if f.url in checked else now for f in config.feeds),
        default=None,
    )


def run_feeds(
    *,
    repo: Path,
    state: Path,
    config: Config,
    now: datetime,
    session: requests.Session | None = None,
    due_only: bool = True,
) -> list[FeedRun]:
    """Read each configured feed that is due (every one with ``due_only=False``)."""
    rules = announced_rules(config, cache_dir=state)  # the limits `klapper check` uses
    checked = _checked(state)
    runs: list[FeedRun] = []
    for index, feed in enumerate(config.feeds):
        last = checked.get(feed.url)
        if due_only and last is not None and now < last + feed.every:
            continue
        runs.append(
            _run_one(feed, index, repo=repo, state=state, now=now, rules=rules, session=session)
        )
        checked[feed.url] = now  # also after a failure: a feed that is down waits its turn
    if runs:
        path = _checked_path(state)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {url: when.isoformat() for url, when in sorted(checked.items())}
        write_atomically(path, json.dumps(data, indent=1).encode())
    return runs


def _run_one(
    feed: Feed,
    index: int,
    *,
    repo: Path,
    state: Path,
    now: datetime,
    rules: Mapping[str, Rules] | None,
    session: requests.Session | None,
) -> FeedRun:
    line = config_line(repo, ("feeds", index))
    try:
        with import_target(repo=repo, branch=feed.git_branch) as target:
            result = import_feed(
                repo=target.root,
                url=feed.url,
                state=state,
                now=now,
                to=feed.to or None,
                template=repo / feed.template if feed.template else None,
                template_name=feed.template,
                rules=rules,
                session=session,
                draft=feed.draft,
                finish=lambda done: target.commit(message=commit_message(feed.url, done)),
            )
    except IntakeError as exc:
        message = str(exc)
        prefix = f"{shown(feed.url)}: "
        return FeedRun(feed, line, error=message.removeprefix(prefix))
    except OSError as exc:  # the repository or the state folder cannot be written
        return FeedRun(feed, line, error=f"cannot write: {exc}")
    except Exception as exc:  # a fault of klapper's own: one feed's, never the publishing's
        log.exception("reading the feed %s failed", shown(feed.url))
        return FeedRun(feed, line, error=f"failed unexpectedly ({type(exc).__name__})")
    return FeedRun(feed, line, result=result, commit=next(iter(target.commits), None))


def commit_message(source: str, result: ImportResult) -> str:
    """The commit of an import on a branch: what came from where, one file a line."""
    files = "\n".join(f"- {o.file}" for o in result.written)
    count = len(result.written)
    return f"klapper import: {count} post{'s' if count != 1 else ''} from {source}\n\n{files}\n"
