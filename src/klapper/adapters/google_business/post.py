"""A local post as Google's API takes it: the topic from the options, the event's schedule, the
offer, the call-to-action button and the photo by its public URL.

The per-platform options (``event``, ``offer``, ``action``, ``action_url``) are declared with all
the others in ``queue.schema``; ``option_problems`` is what `klapper check` asks about their
combination after ``per:`` overrides are merged, and ``local_post`` refuses the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def option_problems(options: Mapping[str, Any]) -> list[str]:
    """What Google would refuse in one post's options, each as one sentence."""
    problems = []
    if options.get("offer") and not options.get("event"):
        problems.append("a Google offer needs `event:` with its title, start and end")
    action = options.get("action")
    if action and action != "CALL" and not options.get("action_url"):
        problems.append(f"the Google button {action} needs `action_url:` (only CALL takes none)")
    if options.get("action_url") and not action:
        problems.append(
            "`action_url` needs `action:` (BOOK, ORDER, SHOP, LEARN_MORE, SIGN_UP or CALL)"
        )
    return problems


def topic(options: Mapping[str, Any]) -> str:
    """STANDARD ("what's new"), EVENT or OFFER, from which options are set."""
    if options.get("offer"):
        return "OFFER"
    return "EVENT" if options.get("event") else "STANDARD"


def local_post(
    *, summary: str, options: Mapping[str, Any], photo_url: str | None
) -> dict[str, Any]:
    """The LocalPost body for ``POST {location}/localPosts``."""
    body: dict[str, Any] = {"topicType": topic(options)}
    if summary:
        body["summary"] = summary
    if options.get("lang"):
        body["languageCode"] = str(options["lang"])
    event = options.get("event")
    if event:
        body["event"] = {
            "title": event["title"],
            "schedule": schedule(start=event["start"], end=event["end"]),
        }
    offer = options.get("offer")
    if offer:
        body["offer"] = {
            key: offer[name]
            for name, key in (
                ("coupon", "couponCode"),
                ("link", "redeemOnlineUrl"),
                ("terms", "termsConditions"),
            )
            if offer.get(name)
        }
    if options.get("action"):
        button = {"actionType": options["action"]}
        if options["action"] != "CALL":
            button["url"] = str(options.get("action_url") or "")
        body["callToAction"] = button
    if photo_url:
        body["media"] = [{"mediaFormat": "PHOTO", "sourceUrl": photo_url}]
    return body


def schedule(*, start: str, end: str) -> dict[str, Any]:
    """An event's TimeInterval: civil dates and, when given, times of day (the business's)."""
    out: dict[str, Any] = {}
    for side, value in (("start", start), ("end", end)):
        moment = datetime.fromisoformat(value)
        out[f"{side}Date"] = {"year": moment.year, "month": moment.month, "day": moment.day}
        if len(value) > 10:  # a time was written, not only the day
            out[f"{side}Time"] = {"hours": moment.hour, "minutes": moment.minute}
    return out
