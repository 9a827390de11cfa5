"""A stand-in AppView for the fault proxy: getPosts and listNotifications over real PDS records.

The local PDS has no AppView (it would need PostgreSQL and Redis), so these two reads are
answered here in the shapes of the app.bsky lexicons: post views built from the records the
PDS really holds, with counts the test sets, and notifications the test lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

GET_POSTS = "/xrpc/app.bsky.feed.getPosts"
LIST_NOTIFICATIONS = "/xrpc/app.bsky.notification.listNotifications"
MAX_URIS = 25  # the real AppView refuses more


@dataclass
class AppView:
    """What the stand-in answers: ``counts`` by post uri, ``notifications`` newest first."""

    pds: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    handles: dict[str, str] = field(default_factory=dict)  # did -> handle
    _records: dict[str, dict[str, Any]] = field(default_factory=dict)

    def notify(self, *, reason: str, made: dict[str, Any], author_did: str) -> None:
        """Add a notification for a record the test created (``made``: createRecord's answer)."""
        value = self._record(made["uri"])["value"]
        self.notifications.insert(0, {
            "uri": made["uri"], "cid": made["cid"], "reason": reason, "record": value,
            "author": self._profile(author_did), "isRead": False,
            "indexedAt": value["createdAt"],
        })

    def answer(self, path_and_query: str) -> tuple[int, dict[str, Any]] | None:
        """(status, body) for the routes it serves; None for everything else."""
        url = urlsplit(path_and_query)
        query = parse_qs(url.query)
        if url.path == GET_POSTS:
            uris = query.get("uris", [])
            if len(uris) > MAX_URIS:
                return 400, {"error": "InvalidRequest",
                             "message": f"Array too long (maximum {MAX_URIS}) at $.uris"}
            return 200, {"posts": [view for uri in uris if (view := self._post_view(uri))]}
        if url.path == LIST_NOTIFICATIONS:
            reasons = set(query.get("reasons", [])) or None
            limit = int(query.get("limit", ["50"])[0])
            start = int(query.get("cursor", ["0"])[0])
            chosen = [n for n in self.notifications if reasons is None or n["reason"] in reasons]
            page = chosen[start:start + limit]
            more = start + limit < len(chosen)
            return 200, {"notifications": page, **({"cursor": str(start + limit)} if more else {})}
        return None

    def _record(self, uri: str) -> dict[str, Any]:
        if uri not in self._records:  # records never change here: ask the PDS once per uri
            did, collection, rkey = uri.removeprefix("at://").split("/")
            self._records[uri] = httpx.get(
                f"{self.pds}/xrpc/com.atproto.repo.getRecord",
                params={"repo": did, "collection": collection, "rkey": rkey},
            ).json()
        return self._records[uri]

    def _profile(self, did: str) -> dict[str, Any]:
        return {"did": did, "handle": self.handles.get(did, "handle.invalid")}

    def _post_view(self, uri: str) -> dict[str, Any] | None:
        got = self._record(uri)
        if "value" not in got:
            return None  # deleted or never there: the AppView leaves it out
        counts = self.counts.get(uri, {})
        return {
            "uri": uri, "cid": got["cid"], "record": got["value"],
            "author": self._profile(uri.removeprefix("at://").split("/")[0]),
            "indexedAt": got["value"]["createdAt"],
            "likeCount": counts.get("likes", 0), "repostCount": counts.get("reposts", 0),
            "replyCount": counts.get("replies", 0), "quoteCount": counts.get("quotes", 0),
            "bookmarkCount": counts.get("bookmarks", 0),
        }
