"""A Meta publishing quota read before each post, as Instagram and Threads both keep one.

Instagram (``content_publishing_limit``) and Threads (``threads_publishing_limit``) answer
``{"data": [{"quota_usage": N, "config": {"quota_total": T, "quota_duration": S}}]}`` (Threads
adds ``reply_quota_usage`` and ``reply_config`` for replies). When the quota is used up the post
waits (``RateLimitedError``) until the oldest post of the window leaves it; the caller says when
that is (``frees``), from the account's own recent posts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from klapper.adapters.base import RateLimitedError

#: how long the quota window lasts when Meta's answer does not say
QUOTA_WINDOW = timedelta(hours=24)
#: how long to wait on a used-up quota when the recent posts do not show when it frees
QUOTA_WAIT = timedelta(hours=1)


def used_up(
    row: Mapping[str, Any], *, usage: str = "quota_usage", config: str = "config"
) -> tuple[int, int, timedelta] | None:
    """(used, total, window) when the quota in ``row`` is used up; None while posts may go."""
    used = row.get(usage)
    settings = row.get(config) or {}
    total = settings.get("quota_total")
    if used is None or total is None or int(used) < int(total):
        return None
    window = timedelta(seconds=int(settings.get("quota_duration") or 0)) or QUOTA_WINDOW
    return int(used), int(total), window


def quota_error(
    *,
    title: str,
    what: str,
    used: int,
    total: int,
    window: timedelta,
    frees: Callable[[timedelta], datetime | None],
) -> RateLimitedError:
    """The wait for a used-up quota: until ``frees(window)``, else ``QUOTA_WAIT`` from now."""
    until = frees(window) or datetime.now(UTC) + QUOTA_WAIT
    return RateLimitedError(
        f"{title}'s {what} quota is used up ({used} of {total} in"
        f" {window.total_seconds() / 3600:g} hours); klapper waits until"
        f" {until:%Y-%m-%d %H:%M} UTC",
        until=until,
    )
