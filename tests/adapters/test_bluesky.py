"""The Bluesky adapter against the real reference PDS (skipped when .pds/ is not installed)."""

from __future__ import annotations

import logging
import struct
import time
import zlib
from datetime import UTC, datetime, timedelta

import pytest

from klapper.adapters import create_adapter
from klapper.adapters.base import (
    AuthExpiredError,
    MediaFile,
    Outgoing,
    PermanentError,
    RateLimitedError,
    ThreadRef,
    TransientError,
)
from klapper.adapters.bluesky import adapter as bluesky_module
from tests.fakes.bluesky import Pages, adapter_case, make_adapter, shared_pds, signed_token

pytestmark = pytest.mark.pds
DUE = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def png(width: int = 4, height: int = 3) -> bytes:
    """A small valid PNG (grey pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def out(text: str, key: str, **kwargs) -> Outgoing:
    return Outgoing(text=text, idempotency_key=key, due=kwargs.pop("due", DUE), **kwargs)


@pytest.fixture(scope="module")
def pds():
    return shared_pds()


@pytest.fixture
def case(tmp_path):
    with adapter_case(tmp_path) as made:
        yield made


def record(pds, uri: str) -> dict:
    did, _, rkey = uri.removeprefix("at://").partition("/app.bsky.feed.post/")
    return pds.http.get(
        "/com.atproto.repo.getRecord",
        params={"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey},
    ).json()


# --- publishing ---------------------------------------------------------------------------


def test_text_post_is_published_once_and_found(case):
    published = case.adapter.publish(
        out("Our advent sale starts today.", "p1|bsky#0", options={"lang": "en"})
    )
    assert published.remote_id.startswith(f"at://{case.account.did}/app.bsky.feed.post/")
    assert published.url == published.remote_id.replace(
        "at://", "https://bsky.app/profile/"
    ).replace("/app.bsky.feed.post/", "/post/")
    assert published.ref["cid"].startswith("bafy")
    assert abs(published.published_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert case.posts() == [
        {"id": published.remote_id, "text": "Our advent sale starts today.", "reply_to": None}
    ]
    assert record(case.pds, published.remote_id)["value"]["langs"] == ["en"]
    assert case.adapter.find(out("", "p1|bsky#0")) == published
    assert case.adapter.find(out("", "p2|bsky#0")) is None


def test_facets_carry_utf8_byte_offsets_and_resolve_mentions(case, pds):
    friend = pds.create_account()
    pages = Pages({"/advent": ("text/html", b"<title>Advent</title>")})
    try:
        text = (
            f"Grüße 🎉👩‍👩‍👧 an @{friend.handle} — #Adventsmärkte! "
            f"läuft 🎄 {pages.url}/advent?ä=1. @nobody.test"
        )
        published = case.adapter.publish(out(text, "facets"))
    finally:
        pages.close()
    value = record(pds, published.remote_id)["value"]
    raw = text.encode()
    got = [
        (raw[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode(), f["features"][0])
        for f in value["facets"]
    ]
    assert [s for s, _ in got] == [f"@{friend.handle}", "#Adventsmärkte", f"{pages.url}/advent?ä=1"]
    assert got[0][1] == {"$type": "app.bsky.richtext.facet#mention", "did": friend.did}
    assert got[1][1]["tag"] == "Adventsmärkte"
    assert got[2][1]["uri"] == f"{pages.url}/advent?ä=1"
    assert value["embed"]["external"]["title"] == "Advent"  # the card for the first link


def test_link_facet_and_card_carry_the_campaign_tags_the_text_does_not(case, pds):
    pages = Pages({"/advent": ("text/html", b"<title>Advent</title>")})
    try:
        text = f"Advent sale: {pages.url}/advent#top."
        published = case.adapter.publish(out(text, "utm", link_tags={"source": "bluesky"}))
    finally:
        pages.close()
    value = record(pds, published.remote_id)["value"]
    assert value["text"] == text
    (facet,) = value["facets"]
    assert (
        text.encode()[facet["index"]["byteStart"] : facet["index"]["byteEnd"]].decode()
        == f"{pages.url}/advent#top"
    )
    assert facet["features"][0]["uri"] == f"{pages.url}/advent?utm_source=bluesky#top"
    assert value["embed"]["external"]["uri"] == f"{pages.url}/advent?utm_source=bluesky#top"
    assert value["embed"]["external"]["title"] == "Advent"


def test_images_with_alt_text(case, tmp_path):
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    first.write_bytes(png(4, 3))
    second.write_bytes(png(2, 2))
    published = case.adapter.publish(
        out(
            "Two pictures",
            "images",
            media=(MediaFile(first, alt="Workbench with four advent candles"), MediaFile(second)),
        )
    )
    images = record(case.pds, published.remote_id)["value"]["embed"]["images"]
    assert [i["alt"] for i in images] == ["Workbench with four advent candles", ""]
    assert [i["image"]["mimeType"] for i in images] == ["image/png", "image/png"]
    assert images[0]["image"]["size"] == len(png(4, 3))


def test_an_image_over_the_limit_is_refused_before_anything_is_posted(case, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(png() + bytes(1_000_001))
    with pytest.raises(
        PermanentError, match="big.png is 1,000,0.. bytes; Bluesky takes at most 1,000,000"
    ):
        case.adapter.publish(out("too big", "big", media=(MediaFile(big, alt="x"),)))
    assert case.posts() == []
    assert not [p for p in case.proxy.seen if p.endswith("uploadBlob")]


def test_thread_is_a_chain_of_replies_with_root_and_parent(case):
    root = case.adapter.publish(out("1/3 the post", "thread#0"))
    second = case.adapter.publish(
        out("2/3", "thread#1", reply_to=ThreadRef(root=root, parent=root), part=1)
    )
    third = case.adapter.publish(
        out("3/3", "thread#2", reply_to=ThreadRef(root=root, parent=second), part=2)
    )
    assert [p["reply_to"] for p in case.posts()] == [None, root.remote_id, second.remote_id]
    reply = record(case.pds, third.remote_id)["value"]["reply"]
    assert (reply["root"]["uri"], reply["root"]["cid"]) == (root.remote_id, root.ref["cid"])
    assert (reply["parent"]["uri"], reply["parent"]["cid"]) == (second.remote_id, second.ref["cid"])


def test_link_card_with_title_description_and_image(case):
    page = (
        b'<html><head><meta property="og:title" content="Workshops">'
        b'<meta property="og:description" content="Four evenings in December">'
        b'<meta property="og:image" content="/thumb.png"></head></html>'
    )
    pages = Pages({"/w": ("text/html", page), "/thumb.png": ("image/png", png(8, 8))})
    try:
        published = case.adapter.publish(out(f"See {pages.url}/w", "card"))
    finally:
        pages.close()
    external = record(case.pds, published.remote_id)["value"]["embed"]["external"]
    assert (external["uri"], external["title"], external["description"]) == (
        f"{pages.url}/w",
        "Workshops",
        "Four evenings in December",
    )
    assert external["thumb"]["mimeType"] == "image/png"


def test_a_slow_link_card_never_fails_the_post(case, monkeypatch):
    monkeypatch.setattr(bluesky_module, "CARD_TIMEOUT", 0.3)
    slow = Pages({"/slow": ("text/html", b"<title>late</title>")}, delay=1.5)
    try:
        started = time.monotonic()
        published = case.adapter.publish(out(f"Read {slow.url}/slow", "slow-card"))
        assert time.monotonic() - started < 1.4
    finally:
        slow.close()
    assert "embed" not in record(case.pds, published.remote_id)["value"]
    without = case.adapter.publish(
        out(f"Again {slow.url}/slow", "no-card", options={"card": False})
    )
    assert "embed" not in record(case.pds, without.remote_id)["value"]


def test_over_long_text_is_permanent_with_the_servers_reason(case):
    with pytest.raises(PermanentError, match="grapheme too big"):
        case.adapter.publish(out("ä" * 301, "long"))
    assert case.posts() == []


# --- idempotency ----------------------------------------------------------------------------


def test_repeating_a_record_key_returns_the_first_post(case):
    first = case.adapter.publish(out("only once", "again#0"))
    second = case.adapter.publish(out("only once", "again#0"))
    assert second == first
    assert len(case.posts()) == 1
    # The PDS refused the second create (500 "already a value at key"); klapper looked it up.
    assert case.proxy.seen.count("/xrpc/com.atproto.repo.createRecord") == 2


def test_a_taken_key_holding_another_post_is_permanent(case):
    case.adapter.publish(out("the first text", "taken"))
    with pytest.raises(PermanentError, match="already holds a different post"):
        case.adapter.publish(out("a different text", "taken"))


def test_timeout_after_accept_is_transient_then_found_and_never_doubled(case):
    case.fail_next("timeout_after_accept")
    started = time.monotonic()
    with pytest.raises(TransientError, match="no answer .* within 2 s"):
        case.adapter.publish(out("slow answer", "slow#0"))
    assert time.monotonic() - started < 3.5
    found = case.adapter.find(out("slow answer", "slow#0"))
    assert found is not None and case.posts()[0]["id"] == found.remote_id
    assert case.adapter.publish(out("slow answer", "slow#0")) == found  # a blind retry is safe too
    assert len(case.posts()) == 1


@pytest.mark.parametrize("kind", ["server_error", "drop"])
def test_server_errors_and_dropped_connections_are_transient_and_then_work(case, kind):
    case.fail_next(kind)
    with pytest.raises(TransientError) as failed:
        case.adapter.publish(out("try me", f"{kind}#0"))
    assert not isinstance(failed.value, RateLimitedError)
    assert case.posts() == []
    assert case.adapter.find(out("try me", f"{kind}#0")) is None
    case.adapter.publish(out("try me", f"{kind}#0"))
    assert [p["text"] for p in case.posts()] == ["try me"]


def test_rate_limit_names_the_reset_time(case):
    case.fail_next("rate_limit")
    with pytest.raises(RateLimitedError) as limited:
        case.adapter.publish(out("hurry", "rl#0"))
    assert 25 <= (limited.value.until - datetime.now(UTC)).total_seconds() <= 31
    assert case.posts() == []


def test_revoked_credentials_are_auth_expired_without_leaking_them(case):
    case.adapter.publish(out("before", "auth#0"))  # a live session exists
    case.fail_next("auth")
    with pytest.raises(AuthExpiredError) as expired:
        case.adapter.publish(out("revoked", "auth#1"))
    message = str(expired.value)
    assert "klapper login bsky" in message
    for secret in (case.account.app_password, *case.saved.values()):
        assert secret not in message
    case.adapter.publish(out("after", "auth#2"))  # a new app password works again
    assert [p["text"] for p in case.posts()] == ["before", "after"]


def test_find_when_the_server_cannot_be_reached_is_transient(pds, tmp_path):
    account = pds.create_account()
    adapter = make_adapter(service="http://127.0.0.1:9", account=account, saved={}, timeout=2)
    with pytest.raises(TransientError, match="connection to the Bluesky server failed"):
        adapter.find(out("", "x"))


# --- the session ------------------------------------------------------------------------


def test_login_with_a_wrong_app_password_is_auth_expired(pds):
    account = pds.create_account()
    adapter = create_adapter(
        name="shop",
        platform="bluesky",
        settings={"service": pds.url, "handle": account.handle},
        secrets={"app_password": "wrong-pass-word-here"},
        repo=pds.data,
        timeout=10,
    )
    with pytest.raises(AuthExpiredError) as refused:
        adapter.publish(out("hello", "wrong"))
    assert "Invalid identifier or password" in str(refused.value)
    assert "klapper login shop" in str(refused.value)
    assert "wrong-pass-word-here" not in str(refused.value)


def test_tokens_are_saved_and_a_kept_session_needs_no_new_login(case, pds):
    case.adapter.publish(out("first", "s#0"))
    assert set(case.saved) == {
        "app_password",
        "access_jwt",
        "refresh_jwt",
        "did",
        "handle",
        "service",
    }
    kept = {k: v for k, v in case.saved.items() if k != "app_password"}  # no app password at all
    again: dict[str, str] = {}
    adapter = make_adapter(
        service=case.proxy.url, account=case.account, saved=again, timeout=10, secrets=kept
    )
    before = len(case.proxy.seen)
    adapter.publish(out("second", "s#1"))
    assert not [p for p in case.proxy.seen[before:] if p.endswith("createSession")]
    assert again == {}  # nothing needed refreshing


def test_an_expired_access_token_is_refreshed_and_the_new_tokens_saved(pds):
    account = pds.create_account()
    session = pds.session(account)
    saved: dict[str, str] = {}
    expired = signed_token(account.did, expires_in=-3600)
    adapter = make_adapter(
        service=pds.url,
        account=account,
        saved=saved,
        timeout=10,
        secrets={"access_jwt": expired, "refresh_jwt": session["refreshJwt"]},
    )
    adapter.publish(out("refreshed", "r#0"))
    assert saved["access_jwt"] != expired
    assert saved["refresh_jwt"] != session["refreshJwt"]


def test_an_unusable_session_falls_back_to_the_app_password_or_asks_for_login(pds):
    account = pds.create_account()
    stale = {"access_jwt": "not-a-token", "refresh_jwt": "not-a-token-either"}
    saved: dict[str, str] = {}
    adapter = make_adapter(
        service=pds.url,
        account=account,
        saved=saved,
        timeout=10,
        secrets={**stale, "app_password": account.app_password},
    )
    adapter.publish(out("via app password", "a#0"))
    assert saved["access_jwt"] != "not-a-token"
    alone = make_adapter(service=pds.url, account=account, saved={}, timeout=10, secrets=stale)
    with pytest.raises(
        AuthExpiredError, match="no app password is stored; run `klapper login bsky`"
    ):
        alone.publish(out("no way", "a#1"))


def test_a_session_that_never_existed_is_not_called_expired(tmp_path):
    adapter = create_adapter(
        name="fresh",
        platform="bluesky",
        settings={"service": "http://127.0.0.1:9", "handle": "fresh.test"},
        secrets={},
        repo=tmp_path,
        timeout=2,
    )
    with pytest.raises(AuthExpiredError) as refused:
        adapter.publish(out("never", "n#0"))
    message = str(refused.value)
    assert "does not exist (never logged in)" in message and "expired" not in message
    assert "run `klapper login fresh`" in message


# --- engagement without an AppView ------------------------------------------------------


def test_metrics_are_batched_by_25_and_unknown_without_an_appview(case, caplog):
    published = case.adapter.publish(out("count me", "m#0"))
    uris = [published.remote_id] + [f"{published.remote_id[:-1]}{i}" for i in range(59)]
    with caplog.at_level(logging.WARNING):
        readings = case.adapter.metrics(uris)
    assert [m.remote_id for m in readings] == uris
    assert all(m.likes is None and m.reposts is None and m.replies is None for m in readings)
    assert "has no AppView" in caplog.text
    assert case.proxy.seen.count("/xrpc/app.bsky.feed.getPosts") == 1  # it stopped asking


def test_interactions_are_empty_without_an_appview(case, caplog):
    with caplog.at_level(logging.WARNING):
        assert case.adapter.interactions(since=DUE, own_ids=[]) == []
    assert "has no AppView" in caplog.text
