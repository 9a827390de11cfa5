"""The X adapter against the fake X API, through tweepy and requests over real HTTP."""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from klapper.adapters.base import (
    AuthExpiredError,
    MediaFile,
    Outgoing,
    PermanentError,
    Published,
    RateLimitedError,
    ThreadRef,
    TransientError,
)
from klapper.adapters.x import media as x_media
from klapper.adapters.x.adapter import XAdapter, comparable_text
from klapper.adapters.x.http import rate_limit_until
from tests.fakes.x import ME_ID, ME_USERNAME, Case, FakeX, adapter_case
from tests.fakes.x_oauth import Reply, problem


@pytest.fixture
def case(tmp_path: Path) -> Iterator[Case]:
    with adapter_case(tmp_path) as made:
        yield made


def _out(text: str, **kwargs: object) -> Outgoing:
    return Outgoing(text=text, idempotency_key=f"k-{text[:20]}", **kwargs)  # type: ignore[arg-type]


def _published(remote_id: str) -> Published:
    return Published(remote_id=remote_id)


def _png(path: Path, *, padding: int = 0) -> Path:
    """A valid 1x1 PNG, optionally with a large ancillary chunk to make it big."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    body = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    if padding:
        body += chunk(b"zzZz", b"\0" * padding)
    body += chunk(b"IDAT", zlib.compress(b"\0\0")) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


# --- publishing ---------------------------------------------------------------------------


def test_publish_text_returns_id_and_url(case: Case) -> None:
    published = case.adapter.publish(
        _out("Our advent sale starts today https://example.com/advent")
    )
    assert published.url == f"https://x.com/{ME_USERNAME}/status/{published.remote_id}"
    assert published.published_at and published.published_at.tzinfo is UTC
    assert case.posts() == [
        {
            "id": published.remote_id,
            "reply_to": None,
            "media": [],
            "text": "Our advent sale starts today https://example.com/advent",
        }
    ]


def test_handle_comes_from_the_account_when_not_configured(tmp_path: Path) -> None:
    with adapter_case(tmp_path, handle=None) as made:
        published = made.adapter.publish(_out("no handle configured"))
        assert published.url == f"https://x.com/{ME_USERNAME}/status/{published.remote_id}"
        assert made.fake.count("me") == 1


def test_media_with_alt_text_go_through_the_v2_media_endpoint(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(x_media, "CHUNK_BYTES", 64 * 1024)  # small chunks keep the test quick
    big = _png(tmp_path / "big.png", padding=x_media.CHUNK_BYTES + 1000)  # needs two appends
    gif = tmp_path / "wave.gif"
    gif.write_bytes(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")
    case.fake.processing_check_after = 0  # GIFs are processed asynchronously; don't wait a second
    published = case.adapter.publish(
        _out(
            "Two pictures",
            media=(
                MediaFile(path=big, alt="A workbench with four advent candles"),
                MediaFile(path=gif, alt="A waving hand"),
            ),
        )
    )
    [post] = case.posts()
    assert post["id"] == published.remote_id
    assert [m["alt"] for m in post["media"]] == [
        "A workbench with four advent candles",
        "A waving hand",
    ]
    assert case.fake.count("media_append") == 3
    assert case.fake.count("media_status") == 2  # pending -> in_progress -> succeeded


def test_failed_media_processing_is_permanent(case: Case, tmp_path: Path) -> None:
    gif = tmp_path / "broken.gif"
    gif.write_bytes(b"GIF89a")
    case.fake.processing_check_after = 0
    failed = Reply(
        200,
        {
            "data": {
                "id": "1",
                "processing_info": {
                    "state": "failed",
                    "error": {"code": 1, "name": "InvalidMedia", "message": "Unsupported GIF"},
                },
            }
        },
    )
    case.fake.fail_next("reply", route="media_status", reply=failed)
    with pytest.raises(PermanentError, match="could not process broken.gif: Unsupported GIF"):
        case.adapter.publish(_out("gif", media=(MediaFile(path=gif, alt="x"),)))
    assert case.posts() == []


def test_thread_parts_are_replies_and_reply_settings_pass_through(case: Case) -> None:
    root = case.adapter.publish(
        _out("1/2 The thread starts", options={"reply_settings": "following"})
    )
    ref = ThreadRef(root=root, parent=root)
    second = case.adapter.publish(_out("2/2 and ends", reply_to=ref, part=1))
    posts = {p["id"]: p for p in case.posts()}
    assert posts[second.remote_id]["reply_to"] == root.remote_id
    assert case.fake.tweets[root.remote_id]["reply_settings"] == "following"


def test_oauth1_user_keys_publish_with_media(tmp_path: Path) -> None:
    with FakeX() as fake:
        adapter = fake.connect(
            XAdapter(
                name="x1",
                settings={"handle": ME_USERNAME},
                secrets=fake.oauth.set_oauth1(),
                repo=tmp_path,
            )
        )
        image = _png(tmp_path / "a.png")
        published = adapter.publish(
            _out("signed with OAuth 1.0a", media=(MediaFile(path=image, alt="dot"),))
        )
        assert fake.posts()[0]["id"] == published.remote_id
        assert fake.posts()[0]["media"][0]["alt"] == "dot"


def test_wrong_oauth1_secret_is_auth_expired(tmp_path: Path) -> None:
    with FakeX() as fake:
        keys = {**fake.oauth.set_oauth1(), "access_token_secret": "wrong-secret"}
        adapter = fake.connect(
            XAdapter(name="x1", settings={"handle": ME_USERNAME}, secrets=keys, repo=tmp_path)
        )
        with pytest.raises(AuthExpiredError, match="klapper login x1"):
            adapter.publish(_out("never"))


def test_missing_credentials_name_the_keys_and_the_command(tmp_path: Path) -> None:
    adapter = XAdapter(name="shop_x", settings={}, secrets={"consumer_key": "k"}, repo=tmp_path)
    with pytest.raises(AuthExpiredError) as caught:
        adapter.publish(_out("never"))
    assert "consumer_secret" in str(caught.value)
    assert "klapper login shop_x" in str(caught.value)


# --- errors -------------------------------------------------------------------------------


def test_rate_limit_carries_the_reset_time(case: Case) -> None:
    case.fake.fail_next("rate_limit")
    before = int(time.time())
    with pytest.raises(RateLimitedError) as caught:
        case.adapter.publish(_out("limited"))
    assert caught.value.until is not None
    assert before + 25 <= caught.value.until.timestamp() <= before + 35
    assert case.posts() == []


def test_spent_daily_cap_wins_over_the_15_minute_reset() -> None:
    now = int(time.time())
    headers = {
        "x-rate-limit-reset": str(now + 60),
        "x-rate-limit-remaining": "5",
        "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": str(now + 50_000),
        "x-app-limit-24hour-remaining": "12",
        "x-app-limit-24hour-reset": str(now + 80_000),
    }
    assert rate_limit_until(headers) == datetime.fromtimestamp(now + 50_000, UTC)
    assert rate_limit_until({}) is None


def test_the_fakes_own_limit_counts_down_to_429(case: Case) -> None:
    case.fake.limits["create_tweet"] = 1
    case.adapter.publish(_out("first"))
    with pytest.raises(RateLimitedError):
        case.adapter.publish(_out("second"))


def test_duplicate_content_is_permanent(case: Case) -> None:
    case.adapter.publish(_out("same words"))
    with pytest.raises(PermanentError, match="duplicate content"):
        case.adapter.publish(_out("same words"))


def test_bad_request_is_permanent_with_xs_message(case: Case) -> None:
    with pytest.raises(PermanentError, match="Your Tweet text is too long"):
        case.adapter.publish(_out("x" * 281))


def test_reply_to_a_deleted_post_is_permanent(case: Case) -> None:
    gone = ThreadRef(root=_published("1"), parent=_published("1"))
    with pytest.raises(PermanentError, match="deleted or not visible"):
        case.adapter.publish(_out("answer", reply_to=gone))


@pytest.mark.parametrize("kind", ["server_error", "drop", "timeout_after_accept"])
def test_server_trouble_is_transient(case: Case, kind: str) -> None:
    case.fake.fail_next(kind)
    with pytest.raises(TransientError) as caught:
        case.adapter.publish(_out(f"trouble {kind}"))
    assert not isinstance(caught.value, RateLimitedError)


def test_revoked_token_is_auth_expired_after_one_refresh(case: Case) -> None:
    case.fail_next("auth")
    with pytest.raises(AuthExpiredError, match="run `klapper login x`"):
        case.adapter.publish(_out("revoked"))
    assert [r["grant_type"] for r in case.fake.oauth.token_requests] == ["refresh_token"]


def test_tier_without_search_says_which_endpoint(case: Case) -> None:
    case.fake.lacks.add("search")
    with pytest.raises(AuthExpiredError) as caught:
        case.adapter.interactions(since=datetime.now(UTC) - timedelta(hours=1), own_ids=["1"])
    assert caught.value.missing_access == "search replies"
    assert "tier lacks search replies (client-not-enrolled" in str(caught.value)


def test_token_without_permission_is_auth_expired(case: Case) -> None:
    refusal = problem(
        403,
        "Unsupported Authentication",
        "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.",
        "https://api.twitter.com/2/problems/unsupported-authentication",
    )
    case.fake.fail_next("reply", reply=refusal)
    with pytest.raises(AuthExpiredError, match="Application-Only is forbidden") as caught:
        case.adapter.publish(_out("no permission"))
    assert caught.value.missing_access is None


# --- reconciling after a timeout ----------------------------------------------------------


def test_retry_after_timeout_finds_the_post_instead_of_duplicating(
    case: Case, tmp_path: Path
) -> None:
    image = _png(tmp_path / "p.png")
    post = _out(
        "Sale: 20% off & free coffee at example.com/advent https://example.com/x?a=1",
        media=(MediaFile(path=image, alt="cup"),),
        due=datetime.now(UTC),
    )
    case.fake.fail_next("timeout_after_accept")
    with pytest.raises(TransientError):
        case.adapter.publish(post)
    found = case.adapter.find(post)  # X returns t.co links, &amp; and a media link
    [stored] = case.posts()
    assert found is not None and found.remote_id == stored["id"]
    assert found.url == f"https://x.com/{ME_USERNAME}/status/{stored['id']}"


def test_find_matches_the_thread_parent_and_proves_absence(case: Case) -> None:
    root = case.adapter.publish(_out("root"))
    other = case.adapter.publish(_out("other root"))
    answer = case.adapter.publish(_out("same answer", reply_to=ThreadRef(root=root, parent=root)))
    elsewhere = _out(
        "same answer", reply_to=ThreadRef(root=other, parent=other), due=datetime.now(UTC)
    )
    assert case.adapter.find(elsewhere) is None
    here = _out("same answer", reply_to=ThreadRef(root=root, parent=root), due=datetime.now(UTC))
    assert case.adapter.find(here) == case.adapter.find(here)
    assert (found := case.adapter.find(here)) and found.remote_id == answer.remote_id


def test_find_ignores_posts_from_before_the_due_time(case: Case) -> None:
    case.fake.add_tweet(
        author_id=ME_ID, text="weekly tip", created_at=datetime.now(UTC) - timedelta(days=7)
    )
    assert case.adapter.find(_out("weekly tip", due=datetime.now(UTC))) is None


def test_find_without_an_answer_is_transient_not_absent(case: Case) -> None:
    case.fake.fail_next("server_error", route="timeline")
    with pytest.raises(TransientError):
        case.adapter.find(_out("unknown", due=datetime.now(UTC)))


def test_comparable_text_ignores_links_escaping_and_spacing() -> None:
    ours = "Tea & cake at shop.example.com/menu\nhttps://example.com/a?b=c"
    theirs = "Tea &amp; cake at https://t.co/abc\nhttps://t.co/def https://t.co/media"
    assert comparable_text(ours) == comparable_text(theirs) == "Tea & cake at"


# --- tokens -------------------------------------------------------------------------------


def test_token_about_to_expire_is_refreshed_before_publishing(tmp_path: Path) -> None:
    with FakeX() as fake:
        secrets = fake.oauth2_secrets(lifetime=60)  # runs out within the refresh margin
        saved: list[dict[str, str]] = []
        adapter = fake.connect(
            XAdapter(
                name="x",
                settings={"handle": ME_USERNAME},
                secrets=secrets,
                repo=tmp_path,
                save_secrets=saved.append,
            )
        )
        adapter.publish(_out("fresh token"))
        assert [r["grant_type"] for r in fake.oauth.token_requests] == ["refresh_token"]
        new = saved[-1]  # the refreshed token, then whose it is (checked once with it)
        assert (new["user_id"], new["username"]) == (ME_ID, ME_USERNAME)
        assert new["access_token"] != secrets["access_token"]
        assert new["refresh_token"] != secrets["refresh_token"]  # X rotates refresh tokens
        assert int(new["expires_at"]) >= time.time() + 7000
        assert secrets["refresh_token"] not in fake.oauth.refresh  # the old one is spent


def test_token_revoked_early_is_refreshed_on_401_and_the_call_retried(case: Case) -> None:
    case.fake.oauth.expire_access_tokens()  # X says 401 although expires_at is hours away
    published = case.adapter.publish(_out("after a 401"))
    assert case.posts()[0]["id"] == published.remote_id
    assert len(case.fake.oauth.token_requests) == 1
    # The first call (users/me, whose token this is) met the 401 and was retried after it.
    assert (case.fake.count("me"), case.fake.count("create_tweet")) == (2, 1)


def test_confidential_client_refreshes_with_basic_auth(tmp_path: Path) -> None:
    with FakeX() as fake:
        fake.oauth.register_client(
            "conf", redirect_uri="http://127.0.0.1:8914/callback", secret="conf-secret-value"
        )
        issued = fake.oauth.issue(scopes=("tweet.write", "offline.access"), lifetime=10)
        secrets = {
            "access_token": issued["access_token"],
            "refresh_token": issued["refresh_token"],
            "expires_at": issued["expires_at"],
            "client_id": "conf",
            "client_secret": "conf-secret-value",
        }
        adapter = fake.connect(
            XAdapter(name="x", settings={"handle": ME_USERNAME}, secrets=secrets, repo=tmp_path)
        )
        adapter.publish(_out("confidential"))
        assert adapter.secrets["access_token"] != issued["access_token"]


# --- metrics and interactions -------------------------------------------------------------


def test_metrics_for_1000_posts_take_10_requests(case: Case) -> None:
    ids = [
        case.fake.add_tweet(author_id=ME_ID, text=f"post {n}", metrics={"like_count": n})
        for n in range(1000)
    ]
    readings = case.adapter.metrics(ids)
    assert case.fake.count("lookup") == 10
    assert len(readings) == 1000
    assert readings[7].likes == 7 and readings[7].views == 0 and readings[7].bookmarks == 0


def test_missing_fields_are_none_and_deleted_posts_are_skipped(case: Case) -> None:
    ours = case.fake.add_tweet(author_id=ME_ID, text="ours", metrics={"impression_count": 40})
    del case.fake.tweets[ours]["metrics"]["bookmark_count"]
    [reading] = case.adapter.metrics([ours, "1234"])
    assert reading.remote_id == ours
    assert reading.bookmarks is None and reading.views == 40


def test_private_metrics_refused_falls_back_to_public(case: Case) -> None:
    ours = case.fake.add_tweet(author_id=ME_ID, text="ours", metrics={"like_count": 3})
    refusal = problem(
        403,
        "Forbidden",
        "Sorry, you are not authorized to access non_public_metrics.",
        "https://api.twitter.com/2/problems/oauth1-permissions",
    )
    case.fake.fail_next("reply", route="lookup", reply=refusal)
    assert case.adapter.metrics([ours])[0].likes == 3
    assert case.adapter.metrics([ours])[0].likes == 3
    fields = [q["tweet.fields"] for _, route, q in case.fake.requests if route == "lookup"]
    assert fields == [
        "public_metrics,non_public_metrics,organic_metrics",
        "public_metrics",
        "public_metrics",
    ]


def test_interactions_read_replies_and_mentions(case: Case) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    root = case.adapter.publish(_out("Ask me anything"))
    case.fake.add_user("2000", "alice")
    reply = case.fake.add_tweet(
        author_id="2000", text="@klapper_shop Is it 20% off &amp; more?", reply_to=root.remote_id
    )
    ours = case.adapter.publish(
        _out("@alice yes!", reply_to=ThreadRef(root=root, parent=_published(reply)))
    )
    mention = case.fake.add_tweet(author_id="2000", text="Love @klapper_shop")
    found = {
        i.remote_id: i for i in case.adapter.interactions(since=since, own_ids=[root.remote_id])
    }
    assert set(found) == {reply, ours.remote_id, mention}
    assert found[reply].kind == "reply" and found[reply].author == "alice"
    assert found[reply].in_reply_to == root.remote_id
    assert found[reply].url == f"https://x.com/alice/status/{reply}"
    assert found[ours.remote_id].by_self and not found[reply].by_self
    assert found[mention].kind == "mention" and found[mention].in_reply_to is None


def test_interaction_search_is_batched_within_the_query_limit(case: Case) -> None:
    own = [case.fake.add_tweet(author_id=ME_ID, text=f"own {n}") for n in range(40)]
    for n, tweet in enumerate(own):
        case.fake.add_tweet(author_id="3000", text=f"reply {n}", reply_to=tweet)
    found = case.adapter.interactions(since=datetime.now(UTC) - timedelta(days=30), own_ids=own)
    assert len([i for i in found if i.kind == "reply"]) == 40
    queries = [q["query"] for _, route, q in case.fake.requests if route == "search"]
    assert 1 < len(queries) < 10
    assert all(len(q) <= 512 for q in queries)


def test_old_mentions_are_read_although_search_reaches_back_only_7_days(case: Case) -> None:
    case.fake.add_user("2000", "alice")
    old = case.fake.add_tweet(
        author_id="2000",
        text="@klapper_shop hello",
        created_at=datetime.now(UTC) - timedelta(days=9),
    )
    mine = case.fake.add_tweet(author_id=ME_ID, text="mine")
    found = case.adapter.interactions(since=datetime.now(UTC) - timedelta(days=10), own_ids=[mine])
    assert [i.remote_id for i in found] == [old]
