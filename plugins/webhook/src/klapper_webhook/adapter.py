"""The webhook adapter: one POST per delivery (json), or one message per part (Discord, Slack)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import requests

from klapper.adapters.base import (
    Adapter,
    AuthExpiredError,
    MediaFile,
    Outgoing,
    PermanentError,
    Published,
    Rules,
    TransientError,
)
from klapper.adapters.http_errors import error_for, no_answer
from klapper_webhook import FORMAT_RULES, JSON_RULES, header_secret


class WebhookAdapter(Adapter):
    """Posts each delivery to one webhook URL in the account's format."""

    platform = "webhook"
    rules = JSON_RULES

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.format: str = self.settings.get("format") or "json"
        self.session = requests.Session()

    def effective_rules(self) -> Rules:
        rules = FORMAT_RULES.get(self.format, JSON_RULES)
        limit = self.settings.get("text_limit")
        return replace(rules, text_limit=int(limit)) if limit else rules

    # --- publishing ----------------------------------------------------------------------

    def publish(self, post: Outgoing) -> Published:
        if self.format == "json":
            return self._publish_json(post)
        if self.format == "discord":
            return self._publish_discord(post)
        return self._publish_slack(post)

    def _publish_json(self, post: Outgoing) -> Published:
        if post.part and post.reply_to is not None:
            # The delivery's one request carried the whole thread with its first part.
            root = post.reply_to.root
            return Published(remote_id=f"{root.remote_id}#{post.part}", url=root.url)
        body = {
            "text": post.text,
            "post": post.post_id,
            "account": self.name,
            "delivery": post.delivery,
            "media": [self._media(m) for m in post.media],
            "thread": [
                {"text": part.text, "media": [self._media(m) for m in part.media]}
                for part in post.followups
            ],
        }
        response = self._post(
            json_body=body,
            action="deliver a post",
            headers={"Idempotency-Key": post.idempotency_key},
        )
        return Published(
            remote_id=_answer_id(response) or post.idempotency_key, url=_answer_url(response)
        )

    def _publish_discord(self, post: Outgoing) -> Published:
        payload: dict[str, Any] = {"content": post.text, "allowed_mentions": {"parse": []}}
        files: dict[str, tuple[str, bytes, str]] = {}
        if post.media:
            payload["attachments"] = [
                {"id": index, "filename": media.path.name, "description": media.alt or ""}
                for index, media in enumerate(post.media)
            ]
            for index, media in enumerate(post.media):
                files[f"files[{index}]"] = (
                    media.path.name,
                    _read(media),
                    media.mime or "application/octet-stream",
                )
        # wait=true makes Discord answer with the message it created (its id), not 204.
        if files:
            response = self._post(
                files=files,
                data={"payload_json": json.dumps(payload)},
                action="post to Discord",
                query="wait=true",
            )
        else:
            response = self._post(json_body=payload, action="post to Discord", query="wait=true")
        message_id = _answer_id(response)
        if not message_id:
            raise TransientError("Discord accepted the message but did not say its id")
        return Published(remote_id=message_id)

    def _publish_slack(self, post: Outgoing) -> Published:
        payload: dict[str, Any] = {"text": post.text}
        if post.media:
            blocks: list[dict[str, Any]] = [
                {"type": "section", "text": {"type": "mrkdwn", "text": post.text}}
            ]
            for media in post.media:
                url = self._media_url(media)
                if url is None:
                    raise PermanentError(
                        f"Slack webhooks take images only by public URL: set media_url in the"
                        f" account {self.name!r} to where the repository's media are served"
                    )
                blocks.append({"type": "image", "image_url": url, "alt_text": media.alt or ""})
            payload["blocks"] = blocks
        self._post(json_body=payload, action="post to Slack")
        # Slack answers a plain "ok" and keeps no id a webhook could look up.
        return Published(remote_id=post.idempotency_key)

    # --- reconciling ---------------------------------------------------------------------

    def find(self, post: Outgoing) -> Published | None:
        """A webhook cannot be asked what it received (see the plugin's README).

        json: the receiver deduplicates by Idempotency-Key, so sending again is the way to
        settle (None). Discord and Slack keep no key: klapper stops rather than post twice.
        """
        if self.format == "json":
            return None
        raise PermanentError(
            f"{self.format.title()} may have received part {post.part + 1} of {post.post_id}"
            " before the answer was lost, and a webhook cannot be asked: look in the channel;"
            " if it is not there, `klapper retry --now` sends it"
        )

    def reply(self, answer: Outgoing) -> Published:
        """A webhook receives nothing back, so nothing in the inbox comes from one."""
        raise PermanentError(
            "a webhook cannot answer: nobody replies through it, so it has nothing to answer"
        )

    def find_reply(self, answer: Outgoing) -> Published | None:
        return None  # ``reply`` never sends anything

    def close(self) -> None:
        self.session.close()

    # --- HTTP ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        url = self.settings.get("url") or self.secrets.get("url")
        if not url:
            raise AuthExpiredError(
                f"the webhook account {self.name!r} has no url: set it in klapper.yaml or as the"
                f" secret KLAPPER_{self.name.upper()}_URL"
            )
        return str(url)

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name in self.settings.get("headers") or ():
            value = self.secrets.get(header_secret(name))
            if value is None:
                raise AuthExpiredError(
                    f"the header {name} of webhook account {self.name!r} has no value: set the"
                    f" secret {header_secret(name)} (KLAPPER_{self.name.upper()}_"
                    f"{header_secret(name).upper()})"
                )
            headers[name] = value
        return headers

    def _post(
        self,
        *,
        action: str,
        json_body: Any = None,
        files: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> requests.Response:
        url = self.url
        if query:
            url += ("&" if "?" in url else "?") + query
        try:
            response = self.session.post(
                url,
                json=json_body,
                files=files,
                data=data,
                timeout=self.timeout,
                headers={**self._headers(), **(headers or {})},
            )
        except requests.RequestException as exc:
            raise no_answer(
                exc, platform="the webhook", action=action, timeout=self.timeout
            ) from exc
        if response.status_code >= 400:
            raise error_for(
                platform="the webhook",
                status=response.status_code,
                action=action,
                relogin=f"check the account {self.name!r}'s url and header secrets",
                headers=response.headers,
                body=response.content,
            )
        return response

    def _media(self, media: MediaFile) -> dict[str, Any]:
        url = self._media_url(media)
        where = {"url": url} if url else {"file": self._relative(media)}
        return {**where, "alt": media.alt}

    def _media_url(self, media: MediaFile) -> str | None:
        base = self.settings.get("media_url")
        if not base:
            return None
        return str(base).rstrip("/") + "/" + quote(self._relative(media))

    def _relative(self, media: MediaFile) -> str:
        try:
            return media.path.resolve().relative_to(self.repo.resolve()).as_posix()
        except ValueError:
            return media.path.name


def _read(media: MediaFile) -> bytes:
    try:
        return media.path.read_bytes()
    except OSError as exc:
        raise PermanentError(f"cannot read {media.path.name}: {exc.strerror}") from exc


def _answer(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _answer_id(response: requests.Response) -> str | None:
    found = _answer(response).get("id")
    return str(found) if found is not None else None


def _answer_url(response: requests.Response) -> str | None:
    found = _answer(response).get("url")
    return str(found) if isinstance(found, str) else None
