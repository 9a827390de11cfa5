"""A month of plausible engagement in a ledger: posts on four platforms, readings, replies."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from klapper.adapters.base import Interaction
from klapper.engagement.attention import attention
from klapper.engagement.store import EngagementStore, Reading
from klapper.ledger import Ledger
from tests.engagement.helpers import bulk_published

ACCOUNTS = {"masto": "mastodon", "bsky": "bluesky", "x": "x", "li": "linkedin"}
#: how lively each platform is (mean likes of a post) and whether it counts views
_REACH = {"mastodon": (9, False), "bluesky": (14, False), "x": (6, True), "linkedin": (11, True)}
_STAGES = (3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400)
_TEXTS = (
    "Advent sale: 20% off all workshops today",
    "New pottery class on Thursday evenings",
    "Behind the scenes: glazing day in the studio",
    "Our opening hours over the holidays",
    "Five tips for your first wheel-throwing session",
    "Customer spotlight: Anna's tea set",
    "Gift vouchers are back",
    "We are hiring a part-time studio assistant",
)


def fill(ledger: Ledger, *, now: datetime, days: int = 30, seed: int = 3) -> None:
    """One or two posts a day per account, read on schedule, with a few replies."""
    rng = random.Random(seed)
    store = EngagementStore(ledger)
    rows, readings, replies = [], [], []
    first_lines: dict[str, str] = {}
    for day in range(days, 0, -1):
        for account, platform in ACCOUNTS.items():
            for slot in range(rng.choice((1, 1, 2))):
                hour = rng.choice((8, 9, 12, 13, 17, 18, 19, 20))
                published = (now - timedelta(days=day)).replace(
                    hour=hour, minute=0, second=0, microsecond=0
                )
                post = f"{account}-{day}-{slot}"
                remote = f"{platform}:{post}"
                rows.append((post, account, platform, remote, published))
                first_lines[post] = rng.choice(_TEXTS)
                mean, views = _REACH[platform]
                boost = 1.8 if hour in (12, 18, 19) else 1.0
                final = max(0, int(rng.gauss(mean * boost, mean / 2)))
                for stage in _STAGES:
                    taken = published + timedelta(seconds=stage)
                    if taken > now:
                        break
                    share = min(1.0, 0.35 + stage / (3 * 86400))
                    readings.append(
                        Reading(
                            delivery_id="",
                            part=0,
                            remote_id=remote,
                            account=account,
                            platform=platform,
                            stage=stage,
                            taken_at=taken,
                            found=True,
                            likes=int(final * share),
                            reposts=int(final * share / 4),
                            replies=int(final * share / 6),
                            quotes=None if platform == "linkedin" else int(final * share / 12),
                            bookmarks=int(final * share / 8)
                            if platform in ("x", "bluesky")
                            else None,
                            views=int(final * share * 40) if views else None,
                        )
                    )
                if rng.random() < 0.3:
                    replies.append((account, platform, remote, published + timedelta(hours=2)))
    bulk_published(ledger, rows, first_lines=first_lines)
    ids = {
        remote: delivery
        for delivery, remote in (
            (p.delivery.id, p.delivery.remote_id) for p in ledger.published_deliveries()
        )
    }
    store.add_readings([Reading(**{**vars(r), "delivery_id": ids[r.remote_id]}) for r in readings])
    words = (
        "Wann ist der nächste Kurs?",
        "Lovely!",
        "My order arrived broken",
        "Can I bring a friend?",
        "Danke, sehr schön",
    )
    for n, (account, platform, remote, when) in enumerate(replies):
        text = words[n % len(words)]
        kind = "mention" if n % 4 == 3 else "reply"
        store.add_interactions(
            account=account,
            platform=platform,
            owners={remote: ids[remote]},
            found=[
                Interaction(
                    remote_id=f"r{n}",
                    kind=kind,
                    author=f"@friend{n}",
                    text=text,
                    url=f"https://example.social/r{n}",
                    created_at=when,
                    in_reply_to=remote if kind == "reply" else None,
                )
            ],
            attention={f"r{n}": attention(text)},
            now=when,
        )
