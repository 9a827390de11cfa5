"""One Graph API session for one account: the call with timeouts, cursor pages, ``?ids=`` batches.

The token goes in the ``Authorization`` header, never in a URL (URLs end up in logs and in
Meta's ``paging.next`` links); pages are followed by their ``after`` cursor on our own base URL,
so a link in an answer can never send the token elsewhere. Every failure leaves as one of
klapper's errors (``errors.graph_error``); a timeout is a ``TransientError``, because Meta may
have done what was asked (the platform's ``find`` settles it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import requests

from klapper.adapters.base import PermanentError, TransientError
from klapper.adapters.http_errors import no_answer
from klapper.adapters.meta import IDS_PER_REQUEST
from klapper.adapters.meta.errors import graph_error

log = logging.getLogger(__name__)

Files = Mapping[str, tuple[str, bytes, str]]
# What Meta says when an id in ?ids= no longer exists (error 100, "#803"); it names the ids.
_MISSING = re.compile(r"aliases you requested do not exist: ([^()]+)")


class GraphClient:
    """Calls to ``base``/``version`` as one account; ``sent`` counts the requests made."""

    def __init__(
        self,
        *,
        platform: str,
        account: str,
        token: str,
        base: str,
        version: str,
        timeout: float,
    ) -> None:
        self.platform = platform
        self.relogin = f"run `klapper login {account}`"
        self.token = token
        self.root = f"{base.rstrip('/')}/{version}" if version else base.rstrip("/")
        self.timeout = timeout
        self.sent = 0
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        files: Files | None = None,
    ) -> dict[str, Any]:
        """One request; its JSON answer, or one of klapper's errors naming ``what``."""
        url = f"{self.root}/{path.lstrip('/')}"
        self.sent += 1
        try:
            response = self._session.request(
                method,
                url,
                params=params,
                data=data,
                files=files,
                timeout=self.timeout,
                headers={"Authorization": f"Bearer {self.token}"},
            )
        except requests.RequestException as exc:
            raise no_answer(exc, platform=self.platform, action=what, timeout=self.timeout) from exc
        if response.status_code >= 400:
            raise graph_error(
                platform=self.platform,
                status=response.status_code,
                action=what,
                relogin=self.relogin,
                headers=dict(response.headers),
                body=response.content,
            )
        try:
            answer = response.json()
        except ValueError:
            raise TransientError(
                f"{self.platform} answered without JSON (HTTP {response.status_code}) to {what}"
            ) from None
        if not isinstance(answer, dict):
            raise PermanentError(f"{self.platform} gave an unexpected answer to {what}")
        return answer

    def pages(
        self, path: str, *, what: str, params: Mapping[str, Any] | None = None, most: int = 10
    ) -> Iterator[list[dict[str, Any]]]:
        """The ``data`` of each page of an edge, newest first, ``most`` pages at most.

        Raises ``TransientError`` when more pages remain after ``most``: a caller that must
        prove something absent cannot do so from a part of the list.
        """
        query = dict(params or {})
        for _ in range(most):
            answer = self.call("GET", path, what=what, params=query)
            yield list(answer.get("data") or [])
            paging = answer.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return
            query["after"] = after
        raise TransientError(f"{self.platform} has more than {most} pages to {what}")

    def recent(
        self,
        path: str,
        *,
        since: datetime,
        fields: str,
        what: str,
        created: Callable[[Mapping[str, Any]], datetime | None],
        page: int = 25,
        most: int = 8,
    ) -> list[dict[str, Any]]:
        """The items of an edge listed newest first (an account's media or posts) created
        since ``since``; ``created`` reads an item's time. More than ``most`` pages of them is a
        ``TransientError``, as ``pages`` says."""
        found: list[dict[str, Any]] = []
        for items in self.pages(
            path,
            what=what,
            most=most,
            params={"fields": fields, "since": int(since.timestamp()), "limit": page},
        ):
            for item in items:
                when = created(item)
                if when is not None and when < since:
                    return found  # newest first: the rest is older
                found.append(item)
        return found

    def by_ids(
        self, ids: Sequence[str], *, fields: str, what: str, size: int = IDS_PER_REQUEST
    ) -> dict[str, dict[str, Any]]:
        """``GET /?ids=a,b,...&fields=`` in batches of ``size``: each id's object, where Meta
        returned one (a deleted post is left out, never reported as zeros)."""
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), size):
            self._read_ids(unique[start : start + size], fields=fields, what=what, into=found)
        return found

    def _read_ids(
        self, chunk: list[str], *, fields: str, what: str, into: dict[str, dict[str, Any]]
    ) -> None:
        """One ``?ids=`` request. Meta refuses all of it when one id is gone (a deleted post):
        ask again without the ids it names, or, when it names none of them, by halves."""
        try:
            answer = self.call(
                "GET", "", what=what, params={"ids": ",".join(chunk), "fields": fields}
            )
        except PermanentError as exc:
            missing = _MISSING.search(str(exc))
            if missing is None:
                raise
            named = {part.strip() for part in missing.group(1).split(",")} & set(chunk)
            if named:
                rest = [one for one in chunk if one not in named]
                if rest:
                    self._read_ids(rest, fields=fields, what=what, into=into)
            elif len(chunk) > 1:
                half = len(chunk) // 2
                self._read_ids(chunk[:half], fields=fields, what=what, into=into)
                self._read_ids(chunk[half:], fields=fields, what=what, into=into)
            return  # a single id that is gone has no reading: absent, never zeros
        into.update(
            {
                key: value
                for key, value in answer.items()
                if key in chunk and isinstance(value, dict)
            }
        )
