"""The webhook adapter against a fake receiver on 127.0.0.1: json, Discord and Slack."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from klapper.adapters.base import (
    AuthExpiredError,
    MediaFile,
    Outgoing,
    PermanentError,
    RateLimitedError,
    ThreadRef,
    TransientError,
)
from klapper_webhook.adapter import WebhookAdapter
from klapper_webhook.testing import FakeWebhook, serve

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "shop.png").write_bytes(PNG)
    return tmp_path


def adapter(fake: FakeWebhook, repo: Path, **settings: Any) -> WebhookAdapter:
    secrets = settings.pop("secrets", {})
    return WebhookAdapter(
        name="site",
        settings={"url": fake.url, "format": fake.kind, **settings},
        secrets=secrets,
        repo=repo,
        timeout=5,
    )


def outgoing(
    text: str = "Advent sale",
    *,
    part: int = 0,
    media: tuple[MediaFile, ...] = (),
    followups: tuple[Outgoing, ...] = (),
    reply_to: ThreadRef | None = None,
) -> Outgoing:
    return Outgoing(
        text=text,
        idempotency_key=f"klapper-d1-{part}",
        media=media,
        part=part,
        post_id="posts/advent.yaml",
        delivery="d1",
        followups=followups,
        reply_to=reply_to,
        due=datetime.now(UTC),
    )


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[FakeWebhook]:
    with serve(getattr(request, "param", "json")) as fake:
        yield fake


def test_json_sends_one_request_per_delivery_with_its_thread(
    receiver: FakeWebhook, repo: Path
) -> None:
    image = MediaFile(path=repo / "media" / "shop.png", alt="Our shop", mime="image/png")
    second = outgoing("Workshops this week", part=1)
    hook = adapter(
        receiver, repo, headers=["Authorization"], secrets={"header_authorization": "Bearer s3cret"}
    )
    first = hook.publish(outgoing(media=(image,), followups=(second,)))
    follow = hook.publish(
        outgoing("Workshops this week", part=1, reply_to=ThreadRef(root=first, parent=first))
    )
    assert len(receiver.received) == 1
    sent = receiver.received[0]
    assert sent.headers["Idempotency-Key"] == "klapper-d1-0"
    assert sent.headers["Authorization"] == "Bearer s3cret"
    assert sent.json() == {
        "text": "Advent sale",
        "post": "posts/advent.yaml",
        "account": "site",
        "delivery": "d1",
        "media": [{"file": "media/shop.png", "alt": "Our shop"}],
        "thread": [{"text": "Workshops this week", "media": []}],
    }
    assert first.remote_id and follow.remote_id == f"{first.remote_id}#1"


def test_json_media_by_public_url_when_media_url_is_set(receiver: FakeWebhook, repo: Path) -> None:
    image = MediaFile(path=repo / "media" / "shop.png", alt="Our shop", mime="image/png")
    adapter(receiver, repo, media_url="https://example.com/assets/").publish(
        outgoing(media=(image,))
    )
    assert receiver.received[0].json()["media"] == [
        {"url": "https://example.com/assets/media/shop.png", "alt": "Our shop"}
    ]


@pytest.mark.parametrize("receiver", ["discord"], indirect=True)
def test_discord_gets_content_and_attachments_with_alt_text(
    receiver: FakeWebhook, repo: Path
) -> None:
    image = MediaFile(path=repo / "media" / "shop.png", alt="Our shop", mime="image/png")
    published = adapter(receiver, repo).publish(outgoing(media=(image,)))
    sent = receiver.received[0]
    assert "wait=true" in sent.query and published.remote_id.isdigit()
    assert b'"description": "Our shop"' in sent.body and PNG in sent.body
    assert b'"allowed_mentions": {"parse": []}' in sent.body


@pytest.mark.parametrize("receiver", ["discord"], indirect=True)
def test_a_discord_thread_goes_as_several_messages(receiver: FakeWebhook, repo: Path) -> None:
    hook = adapter(receiver, repo)
    first = hook.publish(outgoing("One"))
    hook.publish(outgoing("Two", part=1, reply_to=ThreadRef(root=first, parent=first)))
    assert [r.json()["content"] for r in receiver.received] == ["One", "Two"]
    assert hook.effective_rules().text_limit == 2000


@pytest.mark.parametrize("receiver", ["slack"], indirect=True)
def test_slack_images_need_a_public_url(receiver: FakeWebhook, repo: Path) -> None:
    image = MediaFile(path=repo / "media" / "shop.png", alt="Our shop", mime="image/png")
    with pytest.raises(PermanentError, match="media_url"):
        adapter(receiver, repo).publish(outgoing(media=(image,)))
    adapter(receiver, repo, media_url="https://example.com").publish(outgoing(media=(image,)))
    blocks = receiver.received[-1].json()["blocks"]
    assert blocks[1] == {
        "type": "image",
        "image_url": "https://example.com/media/shop.png",
        "alt_text": "Our shop",
    }


def test_receiver_errors_become_klappers(receiver: FakeWebhook, repo: Path) -> None:
    hook = adapter(receiver, repo)
    receiver.fail_next("500")
    with pytest.raises(TransientError) as transient:
        hook.publish(outgoing())
    assert transient.value.retry_after == 2
    receiver.fail_next("429")
    with pytest.raises(RateLimitedError) as limited:
        hook.publish(outgoing())
    assert limited.value.until is not None and limited.value.until > datetime.now(UTC)
    receiver.fail_next("413")
    with pytest.raises(PermanentError, match="too large"):
        hook.publish(outgoing())
    receiver.fail_next("401")
    with pytest.raises(AuthExpiredError):
        hook.publish(outgoing())


def test_a_missing_header_secret_pauses_the_account_and_names_the_key(
    receiver: FakeWebhook, repo: Path
) -> None:
    with pytest.raises(AuthExpiredError, match="KLAPPER_SITE_HEADER_X_API_KEY"):
        adapter(receiver, repo, headers=["X-Api-Key"]).publish(outgoing())
    assert receiver.received == []


@pytest.mark.parametrize("receiver", ["json", "discord"], indirect=True)
def test_find_resends_json_but_never_guesses_for_chat_webhooks(
    receiver: FakeWebhook, repo: Path
) -> None:
    hook = adapter(receiver, repo)
    if receiver.kind == "json":
        assert hook.find(outgoing()) is None  # the same Idempotency-Key goes out again
    else:
        with pytest.raises(PermanentError, match="look in the channel"):
            hook.find(outgoing())
