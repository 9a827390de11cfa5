"""The Mastodon adapter against the fake Mastodon server, through Mastodon.py over real HTTP."""

from __future__ import annotations

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
from klapper.adapters.mastodon.adapter import MastodonAdapter, cached_rules, idempotency_header
from klapper.adapters.mastodon.http import api_version
from klapper.adapters.mastodon.limits import LimitsCache, html_to_text, local_mentions
from klapper.adapters.matching import same_text
from tests.fakes.mastodon import Case, FakeMastodon, adapter_case, render_html

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture
def case(tmp_path: Path) -> Iterator[Case]:
    with adapter_case(tmp_path) as made:
        yield made


def out(text: str, key: str | None = None, **extra: object) -> Outgoing:
    return Outgoing(
        text=text,
        idempotency_key=key or f"post.yaml||masto#{text}",
        due=extra.pop("due", datetime.now(UTC)),
        **extra,
    )  # type: ignore[arg-type]


def image(tmp_path: Path, name: str, alt: str | None) -> MediaFile:
    path = tmp_path / name
    path.write_bytes(PNG)
    return MediaFile(path=path, alt=alt, mime="image/png")


# --- publish ----------------------------------------------------------------------------------


def test_text_with_options(case: Case) -> None:
    result = case.adapter.publish(
        out(
            "Advent sale: 20% off https://example.com/advent",
            options={"cw": "Sale", "visibility": "unlisted", "lang": "de"},
        )
    )
    status = case.server.state.statuses[result.remote_id]
    assert result.url == f"{case.server.url}/@shop/{result.remote_id}"
    assert result.published_at is not None and result.published_at.tzinfo is not None
    assert (status["spoiler_text"], status["visibility"], status["language"]) == (
        "Sale",
        "unlisted",
        "de",
    )
    assert case.posts() == [
        {
            "id": result.remote_id,
            "reply_to": None,
            "text": "Advent sale: 20% off https://example.com/advent",
        }
    ]


def test_account_visibility_is_the_default(tmp_path: Path) -> None:
    with FakeMastodon() as server:
        adapter = MastodonAdapter(
            name="m",
            settings={"instance": server.url, "visibility": "private"},
            secrets={"access_token": server.state.token},
            repo=tmp_path,
        )
        result = adapter.publish(out("quiet"))
        assert server.state.statuses[result.remote_id]["visibility"] == "private"


def test_images_with_alt_wait_for_async_processing(tmp_path: Path) -> None:
    with adapter_case(tmp_path, media_polls=2) as case:
        media = (
            image(tmp_path, "a.png", "Workbench with four candles"),
            image(tmp_path, "b.png", None),
        )
        result = case.adapter.publish(out("Two pictures", media=media))
        attached = case.server.state.statuses[result.remote_id]["media_attachments"]
        assert [m["description"] for m in attached] == ["Workbench with four candles", None]
        assert case.server.state.count("POST", "/api/v2/media") == 2
        # 2 answers of 206 (processing) and one 200 per image, before the status was posted
        assert (
            sum(
                1
                for m, p, _ in case.server.state.requests
                if m == "GET" and p.startswith("/api/v1/media/")
            )
            == 6
        )


def test_old_servers_get_the_synchronous_v1_upload(tmp_path: Path) -> None:
    with adapter_case(tmp_path, version="3.0.2") as case:
        case.adapter.publish(out("old server", media=(image(tmp_path, "a.png", "alt"),)))
        assert case.server.state.count("POST", "/api/v1/media") == 1
        assert case.server.state.count("POST", "/api/v2/media") == 0


def test_media_still_processing_after_the_timeout_is_transient(tmp_path: Path) -> None:
    with adapter_case(tmp_path, media_polls=10_000) as case:
        with pytest.raises(TransientError, match="still processing a.png"):
            case.adapter.publish(out("slow", media=(image(tmp_path, "a.png", "alt"),)))
        assert case.posts() == []


def test_unreadable_image_is_permanent(case: Case, tmp_path: Path) -> None:
    missing = MediaFile(path=tmp_path / "gone.png", alt="gone")
    with pytest.raises(PermanentError, match="cannot read the image"):
        case.adapter.publish(out("with a missing picture", media=(missing,)))
    assert case.posts() == []


def test_thread_parts_are_replies(case: Case) -> None:
    first = case.adapter.publish(out("1/3 first"))
    second = case.adapter.publish(out("2/3 second", part=1, reply_to=ThreadRef(first, first)))
    third = case.adapter.publish(out("3/3 third", part=2, reply_to=ThreadRef(first, second)))
    assert [(p["id"], p["reply_to"]) for p in case.posts()] == [
        (first.remote_id, None),
        (second.remote_id, first.remote_id),
        (third.remote_id, second.remote_id),
    ]


def test_idempotency_key_is_derived_and_stable() -> None:
    key = idempotency_header("posts/advent.yaml||masto#0")
    assert key == idempotency_header("posts/advent.yaml||masto#0")
    assert key != idempotency_header("posts/advent.yaml||masto#1")
    assert key.isascii() and len(key) < 64


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("server_error", TransientError),
        ("rate_limit", RateLimitedError),
        ("timeout_after_accept", TransientError),
        ("drop", TransientError),
        ("auth", AuthExpiredError),
    ],
)
def test_failures_map_to_the_error_tree(case: Case, kind: str, error: type[Exception]) -> None:
    case.fail_next(kind)
    with pytest.raises(error) as info:
        case.adapter.publish(out(f"fails with {kind}"))
    assert type(info.value) is error
    assert case.server.state.token not in str(info.value)
    case.adapter.publish(out("works again"))  # the failure was for one call only


def test_rate_limit_carries_the_reset_time(case: Case) -> None:
    case.fail_next("rate_limit")
    with pytest.raises(RateLimitedError) as info:
        case.adapter.publish(out("limited"))
    until = info.value.until
    assert until is not None
    assert timedelta(seconds=4) < until - datetime.now(UTC) < timedelta(seconds=10)


@pytest.mark.parametrize(("flavor", "status"), [("mastodon", 422), ("gotosocial", 400)])
def test_too_long_is_permanent_with_the_servers_words(
    tmp_path: Path, flavor: str, status: int
) -> None:
    with (
        adapter_case(tmp_path, flavor=flavor) as case,
        pytest.raises(PermanentError, match=f"HTTP {status}: .*character limit of 500"),
    ):
        case.adapter.publish(out("x" * 501))


def test_forbidden_token_and_missing_token_are_auth_errors(tmp_path: Path) -> None:
    with FakeMastodon() as server:
        settings = {"instance": server.url}
        wrong = MastodonAdapter(
            name="m", settings=settings, secrets={"access_token": "nope-1234"}, repo=tmp_path
        )
        with pytest.raises(AuthExpiredError, match="klapper login m"):
            wrong.publish(out("hello"))
        missing = MastodonAdapter(name="m", settings=settings, secrets={}, repo=tmp_path)
        with pytest.raises(AuthExpiredError, match="no access_token"):
            missing.publish(out("hello"))


def test_reply_to_a_deleted_post_is_permanent(case: Case) -> None:
    gone = Published(remote_id="999")
    with pytest.raises(PermanentError, match="404"):
        case.adapter.publish(out("answer", part=1, reply_to=ThreadRef(gone, gone)))


def test_account_without_instance_is_told_what_to_write(tmp_path: Path) -> None:
    adapter = MastodonAdapter(name="m", settings={}, secrets={"access_token": "t"}, repo=tmp_path)
    with pytest.raises(PermanentError, match="instance: https://"):
        adapter.publish(out("hello"))
    by_handle = MastodonAdapter(
        name="m", settings={"handle": "@shop@example.social"}, secrets={}, repo=tmp_path
    )
    assert by_handle.instance_url == "https://example.social"


# --- retries that do not duplicate ------------------------------------------------------------


def test_retry_after_timeout_reuses_the_idempotency_key(case: Case) -> None:
    post = out("Sent once, answered late")
    case.fail_next("timeout_after_accept")
    with pytest.raises(TransientError):
        case.adapter.publish(post)
    again = case.adapter.publish(post)  # Mastodon answers the same key with the same status
    assert [p["id"] for p in case.posts()] == [again.remote_id]


def test_without_key_support_find_prevents_the_duplicate(tmp_path: Path) -> None:
    with adapter_case(tmp_path, flavor="gotosocial") as case:
        post = out("GoToSocial ignores Idempotency-Key")
        case.fail_next("timeout_after_accept")
        with pytest.raises(TransientError):
            case.adapter.publish(post)
        found = case.adapter.find(post)
        assert found is not None and [p["id"] for p in case.posts()] == [found.remote_id]
        dropped = out("Dropped before the server saw it")
        case.fail_next("drop")
        with pytest.raises(TransientError):
            case.adapter.publish(dropped)
        assert case.adapter.find(dropped) is None  # proven absent: safe to publish again


# --- find -------------------------------------------------------------------------------------


def test_find_matches_rendered_html_near_the_due_time(case: Case) -> None:
    text = "Advent sale!\nhttps://example.com/advent?x=1&y=2\n\nAsk @anna@other.social <3"
    due = datetime.now(UTC)
    published = case.adapter.publish(out(text))
    assert case.adapter.find(out(text, due=due)) == published
    assert case.adapter.find(out("Advent sale! other text", due=due)) is None
    # The same text a day later is another occurrence of a repeating post, not this one.
    assert case.adapter.find(out(text, due=due + timedelta(days=1))) is None


def test_find_thread_part_checks_its_parent(case: Case) -> None:
    first = case.adapter.publish(out("start"))
    part = case.adapter.publish(out("more", part=1, reply_to=ThreadRef(first, first)))
    other = Published(remote_id="42")
    assert case.adapter.find(out("more", part=1, reply_to=ThreadRef(first, first))) == part
    assert case.adapter.find(out("more", part=1, reply_to=ThreadRef(other, other))) is None


def test_find_reads_back_over_pages(case: Case) -> None:
    state = case.server.state
    start = datetime.now(UTC) - timedelta(hours=2)
    target = state.add_status(text="the one", created_at=start)
    for minute in range(1, 60):
        state.add_status(text=f"later {minute}", created_at=start + timedelta(minutes=minute))
    found = case.adapter.find(out("the one", due=start))
    assert found is not None and found.remote_id == target["id"]
    assert case.server.state.count("GET", "/api/v1/accounts/1/statuses") == 2


def test_find_reads_to_the_accounts_first_post_on_a_short_last_page(case: Case) -> None:
    """166 statuses: the fifth page holds the last 6, so the account has no more to read."""
    state = case.server.state
    start = datetime.now(UTC) - timedelta(days=1)
    for minute in range(166):
        state.add_status(text=f"busy {minute}", created_at=start + timedelta(minutes=minute))
    assert case.adapter.find(out("not there", due=start - timedelta(hours=1))) is None


def test_find_cannot_tell_beyond_its_reach(case: Case) -> None:
    state = case.server.state
    start = datetime.now(UTC) - timedelta(days=1)
    for minute in range(210):
        state.add_status(text=f"busy {minute}", created_at=start + timedelta(minutes=minute))
    with pytest.raises(TransientError, match="cannot tell"):
        case.adapter.find(out("not there", due=start))


def test_find_without_an_answer_is_transient(case: Case) -> None:
    case.server.state.fail_next("server_error", method="GET", path="/api/v1/accounts/1/statuses")
    with pytest.raises(TransientError):
        case.adapter.find(out("anything"))


def test_html_to_text_and_same_text() -> None:
    text = "Line one\nhttps://example.com/a-very/long/path?q=1\n\nParagraph & <b>"
    assert html_to_text(render_html(text)) == text
    assert same_text("Hi @anna", "Hi @anna@other.social", shown_as=local_mentions)
    assert not same_text("Hi there", "Hi here", shown_as=local_mentions)


# --- metrics ----------------------------------------------------------------------------------


def test_metrics_are_batched_twenty_per_request(case: Case) -> None:
    ids = [case.server.state.add_status(text=f"s{i}")["id"] for i in range(45)]
    case.server.state.statuses[ids[0]].update(favourites_count=7, reblogs_count=2, quotes_count=1)
    result = case.adapter.metrics([*ids, "404404"])
    assert len(result) == 45
    assert (result[0].likes, result[0].reposts, result[0].quotes, result[0].views) == (
        7,
        2,
        1,
        None,
    )
    assert case.server.state.count("GET", "/api/v1/statuses") == 3


def test_metrics_one_by_one_before_mastodon_4_3(tmp_path: Path) -> None:
    with adapter_case(tmp_path, version="4.2.10") as case:
        case.adapter.effective_rules()  # the version is known (publishing reads it)
        ids = [case.server.state.add_status(text=f"s{i}")["id"] for i in range(3)]
        result = case.adapter.metrics([*ids, "404404"])
        assert [m.remote_id for m in result] == ids
        assert case.server.state.count("GET", "/api/v1/statuses") == 0
        assert (
            sum(1 for m, p, _ in case.server.state.requests if p.startswith("/api/v1/statuses/"))
            == 4
        )


# --- interactions -----------------------------------------------------------------------------


def test_interactions_replies_mentions_and_own_answers(case: Case) -> None:
    state = case.server.state
    since = datetime.now(UTC) - timedelta(minutes=5)
    old = state.add_mention(text="long ago", by="carol")
    state.notifications[-1]["created_at"] = "2020-01-01T00:00:00.000Z"
    state.statuses[old["id"]]["created_at"] = "2020-01-01T00:00:00.000Z"
    ours = case.adapter.publish(out("our post"))
    reply = state.add_reply(to=ours.remote_id, text="Love it", by="alice")
    mention = state.add_mention(text="have you seen", by="bob")
    answer = case.adapter.publish(
        out("@alice thanks!", part=1, reply_to=ThreadRef(ours, Published(reply["id"])))
    )
    found = {
        i.remote_id: i for i in case.adapter.interactions(since=since, own_ids=[ours.remote_id])
    }
    assert set(found) == {reply["id"], mention["id"], answer.remote_id}
    assert (found[reply["id"]].kind, found[reply["id"]].author, found[reply["id"]].in_reply_to) == (
        "reply",
        "@alice",
        ours.remote_id,
    )
    assert found[reply["id"]].text == "@shop Love it"
    assert (found[mention["id"]].kind, found[mention["id"]].by_self) == ("mention", False)
    assert (found[answer.remote_id].by_self, found[answer.remote_id].in_reply_to) == (
        True,
        reply["id"],
    )


# --- the instance's limits --------------------------------------------------------------------


def test_instance_limits_become_rules_and_are_cached(tmp_path: Path) -> None:
    with adapter_case(tmp_path, max_characters=5000, max_media=8, description_limit=2000) as case:
        rules = case.adapter.effective_rules()
        assert (rules.text_limit, rules.max_media, rules.alt_limit) == (5000, 8, 2000)
        assert "video/mp4" not in rules.media_types
        requests_made = len(case.server.state.requests)
        assert case.adapter.effective_rules() == rules
        assert len(case.server.state.requests) == requests_made  # remembered
        url = case.server.url
    assert cached_rules(cache_dir=tmp_path, instance=url) == rules  # no server needed
    lowered = MastodonAdapter(
        name="m",
        settings={"instance": url, "cache_dir": str(tmp_path), "text_limit": 400},
        secrets={},
        repo=tmp_path,
    )
    assert lowered.effective_rules().text_limit == 400


def test_unknown_instance_limits_fall_back_to_the_published_ones(tmp_path: Path) -> None:
    adapter = MastodonAdapter(
        name="m",
        settings={"instance": "http://127.0.0.1:9"},
        secrets={"access_token": "t"},
        repo=tmp_path,
        timeout=0.5,
    )
    assert adapter.effective_rules() == MastodonAdapter.rules
    assert cached_rules(cache_dir=tmp_path, instance="http://127.0.0.1:9") is None


# --- servers that differ from Mastodon (Takahē) -----------------------------------------------


def test_api_version_told_to_mastodon_py() -> None:
    assert api_version("4.3.2") == "4.3.2"
    assert api_version("4.2.0+glitch") == "4.2.0"
    assert api_version("2.7.2 (compatible; Pleroma 2.5.0)") == "2.7.2"
    assert api_version("takahe/0.11.0") == api_version("0.17.3 git-1a2b") == "4.0.0"
    assert api_version(None) == "4.0.0"


def test_takahe_image_goes_out_with_alt_text_in_few_requests(tmp_path: Path) -> None:
    with adapter_case(tmp_path, flavor="takahe") as case:
        result = case.adapter.publish(out("A picture", media=(image(tmp_path, "a.png", "Bench"),)))
        attached = case.server.state.statuses[result.remote_id]["media_attachments"]
        assert [m["description"] for m in attached] == ["Bench"]
        assert not any(p.endswith("/") for _, p, _ in case.server.state.requests)
        assert len(case.server.state.requests) <= 5  # instance, upload, media poll, status


def test_takahe_limits_are_read_and_kept_for_klapper_check(tmp_path: Path) -> None:
    with adapter_case(tmp_path, flavor="takahe", max_characters=300) as case:
        case.adapter.publish(out("short"))
        assert case.server.state.count("GET", "/api/v2/instance") == 1
        url = case.server.url
    rules = cached_rules(cache_dir=tmp_path, instance=url)
    assert rules is not None and rules.text_limit == 300


def test_a_token_refused_with_400_html_asks_for_a_login(tmp_path: Path) -> None:
    with adapter_case(tmp_path, flavor="takahe") as case:
        case.adapter.secrets["access_token"] = "revoked-0123456789"
        with pytest.raises(
            AuthExpiredError,
            match=r"HTTP 400: Invalid Bearer token.*"
            r"klapper login masto",
        ):
            case.adapter.publish(out("hello"))


def test_a_missing_batch_lookup_is_remembered_until_the_server_is_upgraded(tmp_path: Path) -> None:
    with adapter_case(tmp_path, batch_lookup=False) as case:  # says 4.3.2, answers 405
        ids = [case.server.state.add_status(text=f"s{i}")["id"] for i in range(2)]
        assert case.adapter.metrics_per_request() == 20
        with pytest.raises(TransientError, match="no batch lookup"):
            case.adapter.metrics(ids)
        assert case.adapter.metrics_per_request() == 1
        assert [m.remote_id for m in case.adapter.metrics(ids)] == ids
        cache = LimitsCache(instance=case.server.url, folder=tmp_path)
        cache.store({"version": "4.3.2"})  # read again a day later: still learnt
        assert cache.load()["batch_lookup"] is False
        cache.store({"version": "4.4.0"})  # upgraded: its promise counts again
        assert cache.load()["batch_lookup"] is True and "learnt" not in cache.load()
