"""`klapper check`'s per-account validation: text length, media and alt text, past times.

Every post is checked for every account it goes to, with that platform's counting and limits
(from its description in the registry, what its server announced, an account's ``text_limit``). Findings in drafts are warnings: a draft never publishes.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from klapper.adapters.base import Rules
from klapper.adapters.counting import URL_LENGTH, count_text
from klapper.config.model import Config, format_duration
from klapper.config.platforms import platform as describe
from klapper.display import shown
from klapper.queue.campaign import parts_as_sent
from klapper.queue.load import Repository
from klapper.queue.media import KNOWN, MediaInfo, inspect_media
from klapper.queue.model import Media, Part, Post, Problem, Severity, Source
from klapper.timing import TimeError, parse_cron


def account_rules(config: Config, account: str, *, cache_dir: Path | None = None) -> Rules:
    """The limits that apply to one account: its platform's, its server's, its own text limit."""
    settings = config.accounts[account]
    return describe(settings.platform).rules_for(settings, cache_dir=cache_dir)


class _Checker:
    def __init__(
        self,
        repo: Repository,
        *,
        now: datetime,
        published: Callable[[str], bool] | None,
        rules: Mapping[str, Rules] | None,
    ) -> None:
        self.config = repo.config
        self.now = now
        self.tz = repo.config.tz
        self.published = published
        # Per account, once: (platform, rules); an account's rules passed in win.
        self.accounts = {
            name: (settings.platform, (rules or {}).get(name) or account_rules(self.config, name))
            for name, settings in self.config.accounts.items()
        }
        self.problems: list[Problem] = []
        self.files: dict[str, MediaInfo | str] = {}  # path -> size and type, or why not
        self.lengths: dict[tuple[str, str], int] = {}

    def add(
        self,
        post: Post,
        source: Source,
        severity: Severity,
        message: str,
        account: str | None = None,
    ) -> None:
        if post.draft:
            severity, message = "warning", f"(draft) {message}"
        # One line whatever a name written in the post holds ("a\nb.png"): status shows it too.
        self.problems.append(
            Problem(source, severity, shown(message), post=post.id, account=account)
        )

    def length(self, texts: tuple[str, ...], rules: Rules) -> int:
        """The texts' total length as the platform counts it; 0 when it surely fits."""
        counting = rules.counting
        bound = (
            _bound(texts[0], counting)
            if len(texts) == 1
            else sum(_bound(text, counting) for text in texts)
        )
        if bound <= rules.text_limit:
            return 0
        total = 0
        for text in texts:
            key = (text, rules.counting)
            if key not in self.lengths:
                self.lengths[key] = count_text(text, rules.counting)
            total += self.lengths[key]
        return total

    def media_file(self, media: Media) -> MediaInfo | str:
        key = str(media.path)
        if key not in self.files:
            try:
                self.files[key] = inspect_media(key)
            except FileNotFoundError:
                self.files[key] = f"media file {media.file!r} not found (looked at {key})"
            except OSError as exc:  # a FIFO or device among them: never waited on
                self.files[key] = f"cannot read media file {media.file!r}: {exc.strerror}"
        return self.files[key]

    def check(self, post: Post) -> None:
        # Without overrides or tags every account gets the post itself: build its part once.
        same = (
            (Part(post.text, post.media, post.options),)
            if not post.per and not post.thread and not self.tagged(post)
            else None
        )
        for account in post.to:
            if account in self.accounts:  # else loading reported it
                self.check_account(post, account, same)
        self.check_time(post)

    def tagged(self, post: Post) -> bool:
        return post.utm is not False and bool(post.utm or self.config.links.utm)

    def check_account(self, post: Post, account: str, same: tuple[Part, ...] | None) -> None:
        platform, rules = self.accounts[account]
        # Counted as sent: with campaign tags (any date: {date} is always ten characters).
        parts = same or parts_as_sent(
            config=self.config,
            post=post,
            account=account,
            platform=platform,
            rules=rules,
            due=post.at or self.now,
        )
        if len(parts) > 1 and not rules.threads:
            self.add(
                post,
                post.source_of("thread"),
                "error",
                f"{platform} cannot post threads; remove `thread` or use per: to drop it",
                account,
            )
        for index, part in enumerate(parts):
            label = f"follow-up {index}: " if index else ""
            if not part.text and not part.media:
                self.add(
                    post,
                    _text_location(post, account, platform, index),
                    "error",
                    f"{label}no text and no media",
                    account,
                )
            for problem in describe(platform).option_problems(part.options):
                self.add(
                    post,
                    _text_location(post, account, platform, index),
                    "error",
                    f"{label}{problem} (account {account})",
                    account,
                )
            cw = part.options.get("cw") if rules.counts_cw else None
            # Mastodon counts the content warning into the same limit.
            length = self.length((part.text, str(cw)) if cw else (part.text,), rules)
            if length > rules.text_limit:
                counted = " with the content warning" if cw else ""
                self.add(
                    post,
                    _text_location(post, account, platform, index),
                    "error",
                    f"{label}text is {length} characters{counted} as {platform} counts "
                    f"them; the limit is {rules.text_limit} (account {account})",
                    account,
                )
            size = len(part.text.encode()) if rules.max_text_bytes else 0
            if rules.max_text_bytes and size > rules.max_text_bytes:
                self.add(
                    post,
                    _text_location(post, account, platform, index),
                    "error",
                    f"{label}text is {size} bytes in UTF-8; {platform} takes at most "
                    f"{rules.max_text_bytes} (account {account}): shorten it",
                    account,
                )
            if rules.media_required and not part.media:
                self.add(
                    post,
                    _text_location(post, account, platform, index),
                    "error",
                    f"{label}{platform} posts need an image; add `media:` (or use per: "
                    f"to give account {account} one)",
                    account,
                )
            self.check_tags(post, part.text, rules, account, label, index)
            comment = part.options.get("first_comment") if index == 0 else None
            if comment:
                self.check_comment(post, str(comment), rules, account)
            if part.media:
                self.check_media(post, part.media, rules, account, label)

    def check_tags(
        self,
        post: Post,
        text: str,
        rules: Rules,
        account: str,
        label: str,
        index: int,
        where: Source | None = None,
    ) -> None:
        """Hashtags and mentions within the platform's caps (Instagram: 30 and 20)."""
        if rules.max_hashtags is None and rules.max_mentions is None:
            return  # most platforms: nothing to count
        platform = self.accounts[account][0]
        where = where or _text_location(post, account, platform, index)
        for cap, pattern, what in (
            (rules.max_hashtags, _HASHTAG, "hashtags"),
            (rules.max_mentions, _MENTION, "mentions"),
        ):
            found = len(pattern.findall(text)) if cap is not None else 0
            if cap is not None and found > cap:
                self.add(
                    post,
                    where,
                    "error",
                    f"{label}{found} {what}; {platform} takes at most {cap} (account {account})",
                    account,
                )

    def check_comment(self, post: Post, comment: str, rules: Rules, account: str) -> None:
        """``first_comment:`` is held to the same caps as a caption."""
        platform = self.accounts[account][0]
        where = (
            post.source_of(f"per.{platform}.first_comment")
            if f"per.{platform}.first_comment" in post.locations
            else post.source_of("first_comment")
        )
        length = self.length((comment,), rules)
        if length > rules.text_limit:
            self.add(
                post,
                where,
                "error",
                f"first_comment is {length} characters; {platform} "
                f"takes at most {rules.text_limit} (account {account})",
                account,
            )
        self.check_tags(post, comment, rules, account, "first_comment: ", 0, where)

    def check_media(
        self, post: Post, media: tuple[Media, ...], rules: Rules, account: str, label: str
    ) -> None:
        platform = self.accounts[account][0]
        if len(media) > rules.max_media:
            self.add(
                post,
                media[rules.max_media].source or post.source,
                "error",
                f"{label}{len(media)} images; {platform} takes at most {rules.max_media}",
                account,
            )
        for item in media:
            where = item.source or post.source
            found = self.media_file(item)
            if isinstance(found, str):
                self.add(post, where, "error", found)
                continue
            size, mime = found
            if mime is None:
                self.add(
                    post,
                    where,
                    "error",
                    f"{item.file} is not an image: its content is "
                    f"not {KNOWN}, whatever its name says",
                )
            elif mime not in rules.media_types:
                self.add(
                    post,
                    where,
                    "error",
                    f"{item.file} is {mime}; {platform} takes "
                    f"{', '.join(sorted(rules.media_types))}",
                    account,
                )
            if size > rules.max_media_bytes:
                self.add(
                    post,
                    where,
                    "error",
                    f"{item.file} is {size:,} bytes; {platform} "
                    f"takes at most {rules.max_media_bytes:,}",
                    account,
                )
            if item.alt is None and self.config.defaults.alt_required:
                self.add(
                    post,
                    where,
                    "error",
                    f"{item.file} has no alt text; add `alt:` "
                    "describing the image (or set defaults › alt_required: false)",
                )
            elif item.alt is not None and len(item.alt) > rules.alt_limit:
                self.add(
                    post,
                    where,
                    "error",
                    f"alt text of {item.file} is {len(item.alt)} "
                    f"characters; {platform} takes at most {rules.alt_limit}",
                    account,
                )

    def check_time(self, post: Post) -> None:
        if post.draft:
            return
        tz = self.tz
        if post.at is not None and post.at < self.now and not self._published(post.id):
            self.add(
                post,
                post.source_of("at"),
                "warning",
                f"at {post.at.astimezone(tz):%Y-%m-%d %H:%M} is in the past and this post "
                "has not been published; it goes out only within the catch-up window "
                f"({format_duration(self.config.defaults.catch_up)}), otherwise it is missed",
            )
        if post.every is None:
            return
        if post.until is not None and post.until < self.now:
            self.add(
                post,
                post.source_of("until"),
                "warning",
                f"this repeat ended at {post.until.astimezone(tz):%Y-%m-%d %H:%M}; "
                "nothing more goes out",
            )
        try:
            cron = parse_cron(post.every)
        except TimeError:
            return
        if len(cron.minutes) > 1:  # more than once an hour is almost always a typo
            self.add(
                post,
                post.source_of("every"),
                "warning",
                f"every {cron.expression!r} posts {len(cron.times())} times a day; "
                "is that intended?",
            )

    def _published(self, post_id: str) -> bool:
        return bool(self.published and self.published(post_id))


_HASHTAG = re.compile(r"(?<![\w#&])#\w+")
_MENTION = re.compile(r"(?<![\w@])@[\w.]+")


def _bound(text: str, counting: str) -> int:
    """An upper bound of ``count_text`` that costs almost nothing, to skip exact counting.

    Code points bound graphemes and plain characters; a URL counts URL_LENGTH however short
    it is, and each one holds at least one "://" (Mastodon) or "." (X, which also finds
    URLs without a scheme). X weighs a code point at most 2, and NFC leaves ASCII alone;
    Threads at most its UTF-8 bytes.
    """
    if counting in ("chars", "graphemes"):
        return len(text)
    if counting == "mastodon":
        return len(text) + URL_LENGTH * text.count("://")
    if counting == "threads":  # a code point counts 1, or its UTF-8 bytes inside an emoji
        return len(text.encode("utf-8", "surrogatepass"))
    if text.isascii():
        return len(text) + URL_LENGTH * text.count(".")
    return sys.maxsize  # NFC may lengthen other text: count it exactly


def _text_location(post: Post, account: str, platform: str, index: int) -> Source:
    """Where the text of part ``index`` for this account was written."""
    for key in (account, platform):  # the account's override wins, as in parts_for
        override = post.per.get(key)
        if override is None:
            continue
        if index == 0 and override.text is not None:
            return post.source_of(f"per.{key}.text")
        if index > 0 and override.thread is not None:
            return post.source_of(f"per.{key}.thread.{index}.text")
    name = "text" if index == 0 else f"thread.{index}.text"
    return post.source_of(name)


def check_posts(
    repo: Repository,
    *,
    now: datetime,
    published: Callable[[str], bool] | None = None,
    rules: Mapping[str, Rules] | None = None,
) -> list[Problem]:
    """The validation findings for every post of ``repo`` (not repeating ``repo.problems``).

    ``now`` (aware) decides what is past; ``published(post_id)`` tells whether a past post went
    out (from the ledger); ``rules`` replaces an account's limits (account name -> Rules).
    """
    checker = _Checker(repo, now=now, published=published, rules=rules)
    for post in repo.posts:
        checker.check(post)
    return list(dict.fromkeys(checker.problems))


def announced_rules(config: Config, *, cache_dir: Path) -> dict[str, Rules]:
    """Every account's limits with what its server announced (cached by the engine)."""
    return {name: account_rules(config, name, cache_dir=cache_dir) for name in config.accounts}
