"""The preview as JSON for scripts (`klapper preview --format json`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .model import DeliveryView, Preview


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _delivery(delivery: DeliveryView, preview: Preview) -> dict[str, Any]:
    tz = preview.config.tz
    return {
        "account": delivery.account,
        "platform": delivery.platform,
        "due": [due.astimezone(tz).isoformat() for due in delivery.due],
        "due_utc": [_utc(due) for due in delivery.due],
        "counting": delivery.counting,
        "parts": [
            {
                **part.body.to_json(),
                "cw": part.cw,
                "media": [
                    {"file": m.file, "alt": m.alt, "alt_missing": not m.alt} for m in part.media
                ],
                "options": {k: str(v) for k, v in part.options.items()},
            }
            for part in delivery.parts
        ],
        "first_comment": delivery.first_comment.to_json() if delivery.first_comment else None,
        "link_tags": dict(delivery.facet_tags),
        "errors": delivery.errors,
        "problems": [p.to_json() for p in delivery.problems],
    }


def preview_json(preview: Preview) -> dict[str, Any]:
    """Everything the page shows, as plain data (times local with offset, and UTC)."""
    return {
        "timezone": preview.config.timezone,
        "start": _utc(preview.start),
        "end": _utc(preview.end),
        "since_ref": preview.since_ref,
        "changed_files": list(preview.changed),
        "posts": [
            {
                "post": view.post.id,
                "file": view.post.source.file,
                "line": view.post.source.line,
                "deliveries": [_delivery(d, preview) for d in view.deliveries],
            }
            for view in preview.posts
        ],
        "removed": [
            {"post": r.post, "file": r.file, "first_line": r.first_line} for r in preview.removed
        ],
        "not_in_period": [{"post": p.id, "why": why} for p, why in preview.elsewhere],
        "problems": [p.to_json() for p in preview.problems],
        "errors": preview.errors,
    }
