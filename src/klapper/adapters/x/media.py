"""Images to X through the v2 media endpoint: initialize, append, finalize, then alt text.

X retired the v1.1 upload that tweepy's ``API.media_upload`` uses. The v2 form (2025) is
``POST /2/media/upload/initialize`` -> ``/2/media/upload/{id}/append`` (multipart chunks)
-> ``/2/media/upload/{id}/finalize``, then ``GET /2/media/upload?command=STATUS`` while
``processing_info`` says so, and ``POST /2/media/metadata`` for the alt text.
"""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable, Mapping
from typing import Any

from klapper.adapters.base import MediaFile, PermanentError, TransientError

#: bytes per append request; X accepts up to 5 MB per chunk, images are at most 5 MB
CHUNK_BYTES = 4 * 1024 * 1024

#: ``request(method, path, action=..., **requests_kwargs) -> parsed JSON body``
Request = Callable[..., Mapping[str, Any]]


def media_type(media: MediaFile) -> str:
    """The MIME type X is told: the one given, else guessed from the file name."""
    guessed = mimetypes.guess_type(media.path.name)[0]
    return media.mime or guessed or "application/octet-stream"


def upload(*, request: Request, media: MediaFile, deadline: float) -> str:
    """Upload one image (with its alt text) and return X's media id."""
    data = media.path.read_bytes()
    kind = media_type(media)
    name = media.path.name
    started = request(
        "POST",
        "/2/media/upload/initialize",
        action=f"start the upload of {name}",
        json={
            "media_type": kind,
            "total_bytes": len(data),
            "media_category": "tweet_gif" if kind == "image/gif" else "tweet_image",
        },
    )
    media_id = str(started["data"]["id"])
    for index, offset in enumerate(range(0, len(data), CHUNK_BYTES)):
        request(
            "POST",
            f"/2/media/upload/{media_id}/append",
            action=f"upload {name}",
            data={"segment_index": str(index)},
            files={
                "media": (name, data[offset : offset + CHUNK_BYTES], "application/octet-stream")
            },
        )
    done = request(
        "POST", f"/2/media/upload/{media_id}/finalize", action=f"finish the upload of {name}"
    )
    _await_processing(
        request=request,
        media_id=media_id,
        name=name,
        deadline=deadline,
        info=done.get("data", {}).get("processing_info"),
    )
    if media.alt:
        request(
            "POST",
            "/2/media/metadata",
            action=f"set the alt text of {name}",
            json={"id": media_id, "metadata": {"alt_text": {"text": media.alt}}},
        )
    return media_id


def _await_processing(
    *,
    request: Request,
    media_id: str,
    name: str,
    deadline: float,
    info: Mapping[str, Any] | None,
) -> None:
    # Only when FINALIZE returns processing_info must we ask STATUS until it succeeds.
    while info and info.get("state") in ("pending", "in_progress"):
        wait = float(info.get("check_after_secs", 1))
        if time.monotonic() + wait > deadline:
            raise TransientError(f"X is still processing {name}; klapper tries again later")
        time.sleep(wait)
        status = request(
            "GET",
            "/2/media/upload",
            action=f"check the processing of {name}",
            params={"command": "STATUS", "media_id": media_id},
        )
        info = status.get("data", {}).get("processing_info")
    if info and info.get("state") == "failed":
        error = info.get("error") or {}
        reason = error.get("message") or error.get("name") or "no reason given"
        raise PermanentError(f"X could not process {name}: {reason}; check the file")
