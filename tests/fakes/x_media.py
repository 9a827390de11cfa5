"""The fake X API's v2 media routes: initialize, append (multipart), finalize, STATUS, metadata."""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import time
from typing import Any

from tests.fakes.x_oauth import Reply, problem


def invalid(message: str) -> Reply:
    """X's 400 "Invalid Request" problem with one specific error message."""
    reply = problem(
        400,
        "Invalid Request",
        "One or more parameters to your request was invalid.",
        "https://api.twitter.com/2/problems/invalid-request",
    )
    reply.body["errors"] = [{"message": message}]
    return reply


class MediaRoutes:
    """Upload sessions keyed by media id; GIFs are processed asynchronously like on X."""

    media: dict[str, dict[str, Any]]
    processing_check_after: int
    _ids: itertools.count[int]

    def _media_init(self, *, body: bytes, **_: Any) -> Reply:
        data = json.loads(body)
        if not str(data.get("media_type", "")).startswith("image/"):
            return invalid(f"media_type {data.get('media_type')!r} is not supported")
        media_id = str(next(self._ids))
        self.media[media_id] = {
            "total": int(data["total_bytes"]),
            "chunks": {},
            "category": data.get("media_category"),
            "state": "uploading",
        }
        return Reply(
            200,
            {"data": {"id": media_id, "media_key": f"3_{media_id}", "expires_after_secs": 86400}},
        )

    def _media_append(
        self, media_id: str, *, body: bytes, headers: dict[str, str], **_: Any
    ) -> Reply:
        entry = self.media.get(media_id)
        if entry is None:
            return invalid("Invalid media id")
        parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {headers.get('Content-Type', '')}\r\n\r\n".encode() + body
        )
        parts = {
            p.get_param("name", header="content-disposition"): p.get_payload(decode=True)
            for p in parsed.iter_parts()
        }
        entry["chunks"][int(parts["segment_index"])] = parts["media"]
        return Reply(200, {"data": {"expires_at": int(time.time()) + 86400}})

    def _media_finalize(self, media_id: str, **_: Any) -> Reply:
        entry = self.media.get(media_id)
        if entry is None:
            return invalid("Invalid media id")
        size = sum(len(c) for c in entry["chunks"].values())
        if size != entry["total"]:
            return invalid(f"File size mismatch: got {size} bytes, expected {entry['total']}")
        data: dict[str, Any] = {
            "id": media_id,
            "media_key": f"3_{media_id}",
            "size": size,
            "expires_after_secs": 86400,
        }
        if entry["category"] == "tweet_gif":  # X processes GIFs asynchronously
            entry["state"] = "pending"
            data["processing_info"] = {
                "state": "pending",
                "check_after_secs": self.processing_check_after,
            }
        else:
            entry["state"] = "succeeded"
        return Reply(200, {"data": data})

    def _media_status(self, *, query: dict[str, str], **_: Any) -> Reply:
        entry = self.media.get(query.get("media_id", ""))
        if entry is None or query.get("command") != "STATUS":
            return invalid("Invalid media id")
        entry["state"] = {"pending": "in_progress", "in_progress": "succeeded"}.get(
            entry["state"], entry["state"]
        )
        info: dict[str, Any] = {"state": entry["state"]}
        if entry["state"] != "succeeded":
            info["check_after_secs"] = self.processing_check_after
        return Reply(200, {"data": {"id": query["media_id"], "processing_info": info}})

    def _media_metadata(self, *, body: bytes, **_: Any) -> Reply:
        data = json.loads(body)
        entry = self.media.get(str(data.get("id")))
        alt = data.get("metadata", {}).get("alt_text", {}).get("text", "")
        if entry is None:
            return invalid("Invalid media id")
        if len(alt) > 1000:
            return invalid("alt_text.text must be at most 1000 characters")
        entry["alt"] = alt
        return Reply(200, {"data": {"associated_metadata": {"alt_text": {"text": alt}}}})
