"""How long to wait before trying a failed delivery again, and whether a failure hid the outcome."""

from __future__ import annotations

import random
from datetime import timedelta


def backoff(
    *, attempt: int, base: timedelta, cap: timedelta, rng: random.Random, hint: float | None = None
) -> timedelta:
    """Exponential backoff with jitter: ``base * 2**(attempt-1)``, capped, then 50-100% of it.

    The jitter keeps many deliveries that failed together from retrying together. A platform's
    own hint (Retry-After, in seconds) wins when it asks for longer.
    """
    delay = min(base * (1 << max(attempt - 1, 0)), cap)
    delay = delay * rng.uniform(0.5, 1.0)
    if hint is not None and timedelta(seconds=hint) > delay:
        delay = timedelta(seconds=hint)
    return delay


def is_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is a timeout: the call may have landed."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TimeoutError) or "timeout" in type(current).__name__.lower():
            return True
        current = current.__cause__ or current.__context__
    return False
