"""LinkedIn adapter against the fake LinkedIn: publishing, errors, refresh, find, engagement."""

from __future__ import annotations

import json
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
from klapper.adapters.identity import checked
from klapper.adapters.linkedin import RULES
from klapper.adapters.linkedin.adapter import LinkedInAdapter
from klapper.adapters.linkedin.engagement import BATCH
from klapper.adapters.linkedin.text import from_little, to_little
from klapper.config.expiry import parse_expiry
from tests.fakes.linkedin import (
    PAGE,
    PERSON,
    FakeLinkedIn,
    insecure_transport_allowed,
    make_adapter,
)
from tests.fakes.linkedin_routes import add_comment

PAGE_SCOPES = "openid profile w_organization_social r_organization_social"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def fake():
    with insecure_transport_allowed(), FakeLinkedIn().serve() as server:
        yield server


@pytest.fixture
def adapter(fake, tmp_path):
    # Loopback answers take about a millisecond; a short timeout keeps the timeout tests quick.
    made = make_adapter(fake, tmp_path, timeout=0.5)
    yield made
    made.close()


def out(text: str, *, key: str = "k", **kwargs) -> Outgoing:
    return Outgoing(text=text, idempotency_key=key, **kwargs)


def image(tmp_path: Path, name: str, alt: str | None) -> MediaFile:
    path = tmp_path / name
    path.write_bytes(PNG + name.encode())
    return MediaFile(path=path, alt=alt, mime="image/png")


def follow_up(text: str, root: Published, parent: Published, part: int, **kwargs) -> Outgoing:
    return out(
        text, key=f"k#{part}", reply_to=ThreadRef(root=root, parent=parent), part=part, **kwargs
    )


# --- publishing -------------------------------------------------------------------------------


def test_text_post_goes_out_as_a_versioned_posts_api_call(fake, adapter):
    published = adapter.publish(out("Advent sale (20% off) starts today #advent"))

    post = fake.posts[published.remote_id]
    assert published.remote_id.startswith("urn:li:share:")
    assert published.url == f"https://www.linkedin.com/feed/update/{published.remote_id}/"
    assert post["author"] == PERSON
    assert post["commentary"] == r"Advent sale \(20% off\) starts today #advent"
    assert post["visibility"] == "PUBLIC"
    assert post["distribution"]["feedDistribution"] == "MAIN_FEED"
    assert post["lifecycleState"] == "PUBLISHED"
    call = fake.calls("/rest/posts", "POST")[0]
    assert call.headers["x-restli-protocol-version"] == "2.0.0"
    assert len(call.headers["linkedin-version"]) == 6


def test_little_text_escapes_markup_but_keeps_hashtags():
    text = r"Mail me @ shop (10-12) [sic] {x} <b> *bold* _u_ ~s~ | a\b #tag #1 C# 50#"
    little = to_little(text)
    assert "#tag" in little and "#1" in little and r"C\#" in little and r"50\#" in little
    assert from_little(little) == text
    assert from_little(r"Future of {hashtag|\#|Technology}") == "Future of #Technology"


def test_one_image_carries_its_alt_text(fake, adapter, tmp_path):
    media = image(tmp_path, "a.png", "Workbench with four advent candles")
    published = adapter.publish(out("With a picture", media=(media,)))

    content = fake.posts[published.remote_id]["content"]
    assert content["media"]["altText"] == "Workbench with four advent candles"
    uploaded = fake.images[content["media"]["id"]]
    assert uploaded["status"] == "AVAILABLE" and uploaded["data"] == media.path.read_bytes()
    assert uploaded["owner"] == PERSON


def test_several_images_become_a_multi_image_post(fake, adapter, tmp_path):
    media = (
        image(tmp_path, "a.png", "first"),
        image(tmp_path, "b.png", None),
        image(tmp_path, "c.png", "third"),
    )
    published = adapter.publish(out("Three pictures", media=media))

    assert published.remote_id.startswith("urn:li:ugcPost:")
    images = fake.posts[published.remote_id]["content"]["multiImage"]["images"]
    assert [i.get("altText") for i in images] == ["first", None, "third"]
    assert [fake.images[i["id"]]["data"] for i in images] == [m.path.read_bytes() for m in media]


def test_thread_follow_ups_are_comments_on_the_first_post_in_order(fake, adapter, tmp_path):
    assert RULES.threads  # follow-ups are published (as comments)
    root = adapter.publish(out("Workshops this week"))
    second = adapter.publish(follow_up("Monday: woodwork (2h)", root, root, 1))
    third = adapter.publish(
        follow_up("Tuesday: candles", root, second, 2, media=(image(tmp_path, "t.png", "candles"),))
    )

    assert [p["text"] for p in fake.posts_and_comments()] == [
        "Workshops this week",
        "Monday: woodwork (2h)",
        "Tuesday: candles",
    ]
    assert [p["reply_to"] for p in fake.posts_and_comments()] == [
        None,
        root.remote_id,
        root.remote_id,
    ]
    assert second.remote_id.startswith("urn:li:comment:(")
    assert "commentUrn=urn%3Ali%3Acomment" in (third.url or "")
    stored = fake.comments[root.remote_id][1]
    assert stored["actor"] == PERSON and stored["content"][0]["entity"]["image"] in fake.images
    assert fake.comments[root.remote_id][0]["message"]["text"] == "Monday: woodwork (2h)"


def test_a_follow_up_with_two_images_is_refused_before_any_call(fake, adapter, tmp_path):
    root = adapter.publish(out("Root"))
    before = len(fake.requests)
    two = (image(tmp_path, "a.png", "a"), image(tmp_path, "b.png", "b"))
    with pytest.raises(PermanentError, match="one image"):
        adapter.publish(follow_up("Too many", root, root, 1, media=two))
    assert len(fake.requests) == before


def test_visibility_option_and_account_default(fake, tmp_path):
    adapter = make_adapter(fake, tmp_path)
    adapter.settings["visibility"] = "connections"
    assert fake.posts[adapter.publish(out("a")).remote_id]["visibility"] == "CONNECTIONS"
    chosen = adapter.publish(out("b", options={"visibility": "LOGGED_IN"}))
    assert fake.posts[chosen.remote_id]["visibility"] == "LOGGED_IN"
    before = len(fake.requests)
    with pytest.raises(PermanentError, match="no visibility 'unlisted'"):
        adapter.publish(out("c", options={"visibility": "unlisted"}))
    assert len(fake.requests) == before


def test_an_organization_page_posts_as_the_page(fake, tmp_path):
    adapter = make_adapter(fake, tmp_path, author=PAGE, token=fake.issue_token(scopes=PAGE_SCOPES))
    published = adapter.publish(out("From the page", media=(image(tmp_path, "p.png", "logo"),)))
    assert fake.posts[published.remote_id]["author"] == PAGE


def test_an_author_that_is_no_urn_is_refused_with_what_to_write(fake, tmp_path):
    with pytest.raises(PermanentError, match="urn:li:person:<id>"):
        make_adapter(fake, tmp_path, author="ada-example")


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error", "text"),
    [
        ("server_error", TransientError, "Internal Server Error"),
        ("bad_gateway", TransientError, "HTTP 502"),
        ("drop", TransientError, "connection to LinkedIn failed"),
        ("rate_limit", RateLimitedError, "APPLICATION DAY limit"),
        ("auth", AuthExpiredError, "run `klapper login linkedin` again"),
        ("invalid", PermanentError, "Field Value validation failed"),
    ],
)
def test_each_failure_maps_to_one_error_class_and_the_next_call_works(
    fake, adapter, kind, error, text
):
    fake.fail_next(kind)
    with pytest.raises(error, match=text) as caught:
        adapter.publish(out("Will fail once"))
    assert type(caught.value) is error
    assert fake.posts_and_comments() == []
    assert adapter.publish(out("Works again")).remote_id in fake.posts


def test_rate_limit_lasts_until_the_next_utc_midnight(fake, adapter):
    fake.fail_next("rate_limit")
    with pytest.raises(RateLimitedError) as caught:
        adapter.publish(out("x"))
    until = caught.value.until
    now = datetime.now(UTC)
    assert until is not None and until.tzinfo is not None
    assert (until.hour, until.minute, until.second) == (0, 0, 0)
    assert timedelta(0) < until - now <= timedelta(days=1)


@pytest.mark.parametrize(
    ("author", "scopes", "permission"),
    [
        (PERSON, "openid profile", "w_member_social"),
        (PAGE, "openid profile r_organization_social", "w_organization_social"),
    ],
)
def test_a_missing_permission_names_it(fake, tmp_path, author, scopes, permission):
    adapter = make_adapter(fake, tmp_path, author=author, token=fake.issue_token(scopes=scopes))
    with pytest.raises(AuthExpiredError, match=permission) as caught:
        adapter.publish(out("Not allowed"))
    assert caught.value.missing_access == permission


def test_a_duplicate_is_refused_for_good_with_linkedins_reason(fake, adapter):
    first = adapter.publish(out("Same words"))
    with pytest.raises(PermanentError, match=f"duplicate of {first.remote_id}"):
        adapter.publish(out("Same words"))


# --- find: reconciling after a timeout --------------------------------------------------------


def test_a_retry_after_a_timeout_finds_the_post_instead_of_posting_twice(fake, adapter):
    due = datetime.now(UTC)
    part = out("Accepted, but the answer came too late", due=due)
    fake.fail_next("timeout_after_accept")
    with pytest.raises(TransientError, match="did not answer"):
        adapter.publish(part)

    found = adapter.find(part)
    assert found is not None and found.remote_id in fake.posts
    assert found.url == f"https://www.linkedin.com/feed/update/{found.remote_id}/"
    assert len(fake.posts_and_comments()) == 1


def test_find_proves_absence_and_ignores_an_older_post_with_the_same_words(fake, adapter):
    old = adapter.publish(out("Weekly tip: back up your files"))
    fake.posts[old.remote_id]["createdAt"] -= 7 * 86_400_000  # last week's occurrence
    next_week = out("Weekly tip: back up your files", due=datetime.now(UTC))
    assert adapter.find(next_week) is None
    assert adapter.find(out("Never sent", due=datetime.now(UTC))) is None


def test_find_is_unsure_when_linkedin_does_not_answer(fake, adapter):
    fake.fail_next("server_error", route="posts.list")
    with pytest.raises(TransientError):
        adapter.find(out("Anything", due=datetime.now(UTC)))


def test_find_reads_back_pages_until_the_due_time(fake, adapter):
    due = datetime.now(UTC)
    target = adapter.publish(out("Mine", due=due))
    for n in range(45):  # many newer posts push it to the third page
        adapter.publish(out(f"Later post {n}"))
    assert adapter.find(out("Mine", due=due)).remote_id == target.remote_id
    assert len(fake.calls("/rest/posts")) == 3


def test_find_locates_a_follow_up_comment(fake, adapter):
    root = adapter.publish(out("Root post"))
    part = follow_up("The follow-up", root, root, 1, due=datetime.now(UTC))
    fake.fail_next("timeout_after_accept")
    with pytest.raises(TransientError):
        adapter.publish(part)
    found = adapter.find(part)
    assert found is not None and found.remote_id == fake.comments[root.remote_id][0]["$URN"]
    assert adapter.find(follow_up("Not there", root, root, 2, due=datetime.now(UTC))) is None


# --- token refresh ----------------------------------------------------------------------------


def known_owner(token: dict) -> dict[str, str]:
    """The identity `klapper login` records for ``token`` (so no /v2/userinfo call is made)."""
    return checked(token, credential="access_token", user_id=PERSON.rsplit(":", 1)[1])


def test_a_401_during_publish_refreshes_once_and_retries(fake, tmp_path):
    saved: list[dict[str, str]] = []
    token = fake.issue_token(refresh=True)
    adapter = make_adapter(fake, tmp_path, token=token, saved=saved, **known_owner(token))
    fake.expire(token["access_token"])  # LinkedIn ends it before the stored expires_at

    published = adapter.publish(out("After a refresh"))

    assert list(fake.posts) == [published.remote_id]
    assert len(fake.calls("/oauth/v2/accessToken", "POST")) == 1
    assert len(fake.calls("/rest/posts", "POST")) == 2  # the 401, then the retry
    assert saved and saved[-1]["access_token"] != token["access_token"]
    assert saved[-1]["refresh_token"] == token["refresh_token"]
    assert parse_expiry(saved[-1]["expires_at"]) > datetime.now(UTC) + timedelta(days=59)
    assert adapter.secrets["access_token"] == saved[-1]["access_token"]


def test_a_token_past_its_expires_at_is_refreshed_before_the_call(fake, tmp_path):
    saved: list[dict[str, str]] = []
    token = fake.issue_token(refresh=True)
    adapter = make_adapter(
        fake,
        tmp_path,
        token=token,
        saved=saved,
        expires_at="2020-01-01T00:00:00+00:00",
        **known_owner(token),
    )
    adapter.publish(out("Refreshed up front"))
    assert len(fake.calls("/rest/posts", "POST")) == 1  # no 401 was needed
    assert len(saved) == 1


def test_a_refused_refresh_pauses_the_account(fake, tmp_path):
    token = fake.issue_token(refresh=True)
    adapter = make_adapter(fake, tmp_path, token=token)
    fake.expire(token["access_token"])
    fake.refresh.clear()  # the member revoked the app
    with pytest.raises(AuthExpiredError, match="refused to refresh"):
        adapter.publish(out("x"))
    assert fake.posts == {}


def test_an_expired_token_without_refresh_fails_before_calling(fake, tmp_path):
    adapter = make_adapter(fake, tmp_path, expires_at="2020-01-01T00:00:00+00:00")
    with pytest.raises(AuthExpiredError, match="has expired"):
        adapter.publish(out("x"))
    assert fake.requests == []


def test_a_second_401_after_a_refresh_is_not_retried_again(fake, tmp_path):
    adapter = make_adapter(fake, tmp_path, token=fake.issue_token(refresh=True))
    fake.fail_next("auth")
    fake.fail_next("auth")
    with pytest.raises(AuthExpiredError):
        adapter.publish(out("x"))
    assert len(fake.calls("/rest/posts", "POST")) == 2


# --- metrics ----------------------------------------------------------------------------------


def test_metrics_are_batched_and_absent_numbers_stay_none(fake, adapter):
    ids = [adapter.publish(out(f"post {n}")).remote_id for n in range(2 * BATCH + 20)]
    fake.reactions[ids[0]] = {"LIKE": 3, "PRAISE": 2}
    add_comment(fake, ids[0], actor="urn:li:person:zz", text="Nice")

    metrics = adapter.metrics([*ids, "urn:li:share:999"])

    assert len(fake.calls("/rest/socialMetadata")) == 3
    assert [m.remote_id for m in metrics] == ids  # the unknown post is left out
    first = metrics[0]
    assert (first.likes, first.replies) == (5, 1)
    assert (first.views, first.reposts) == (None, None)  # a person's post: LinkedIn won't say
    assert (metrics[1].likes, metrics[1].replies) == (0, 0)
    ids_sent = fake.calls("/rest/socialMetadata")[0].query
    assert ids_sent.startswith("ids=List(urn%3Ali%3Ashare%3A") and ids_sent.count(",") == 49


def test_a_page_gets_impressions_and_shares_from_share_statistics(
    fake,
    tmp_path,
):
    adapter = make_adapter(fake, tmp_path, author=PAGE, token=fake.issue_token(scopes=PAGE_SCOPES))
    share = adapter.publish(out("text")).remote_id
    ugc = adapter.publish(
        out("pics", media=(image(tmp_path, "a.png", "a"), image(tmp_path, "b.png", "b")))
    ).remote_id
    fake.share_stats[share] = {"impressionCount": 321, "shareCount": 4}
    fake.reactions[ugc] = {"LIKE": 1}

    metrics = {m.remote_id: m for m in adapter.metrics([share, ugc])}

    assert (metrics[share].views, metrics[share].reposts) == (321, 4)
    assert (metrics[ugc].views, metrics[ugc].likes) == (0, 1)
    call = fake.calls("/rest/organizationalEntityShareStatistics")
    assert len(call) == 1 and "shares=List(" in call[0].query and "ugcPosts=List(" in call[0].query


# --- interactions -----------------------------------------------------------------------------


def test_interactions_are_comments_on_our_posts_since_t(fake, adapter):
    root = adapter.publish(out("Ask me anything"))
    ours = adapter.publish(follow_up("Our own follow-up", root, root, 1))
    since = datetime.now(UTC) - timedelta(hours=1)
    old_ms = int((since - timedelta(days=1)).timestamp() * 1000)
    add_comment(fake, root.remote_id, actor="urn:li:person:old", text="Too old", at_ms=old_ms)
    theirs = add_comment(fake, root.remote_id, actor="urn:li:person:bob", text="Great (really)")
    answer = add_comment(
        fake, root.remote_id, actor=PERSON, text="Thanks Bob", parent=theirs["$URN"]
    )

    found = adapter.interactions(since=since, own_ids=[root.remote_id, ours.remote_id])

    assert [(i.remote_id, i.text, i.by_self) for i in found] == [
        (theirs["$URN"], "Great (really)", False),
        (answer["$URN"], "Thanks Bob", True),
    ]
    assert found[0].kind == "reply" and found[0].author == "urn:li:person:bob"
    assert found[0].in_reply_to == root.remote_id and found[1].in_reply_to == theirs["$URN"]
    assert found[0].created_at.tzinfo is not None
    assert found[0].url.startswith(f"https://www.linkedin.com/feed/update/{root.remote_id}/")


def test_every_rest_call_sends_urns_encoded(fake, adapter):
    root = adapter.publish(out("Encoded"))
    adapter.interactions(since=datetime.now(UTC) - timedelta(days=1), own_ids=[root.remote_id])
    adapter.find(out("Encoded", due=datetime.now(UTC)))
    for call in fake.requests:
        assert ":" not in call.path and ":" not in call.query, call
    body = json.loads(fake.calls("/rest/posts", "POST")[0].body)
    assert body["author"] == PERSON
    assert isinstance(adapter, LinkedInAdapter)


def test_find_for_a_person_without_r_member_social_says_what_to_check(fake, tmp_path):
    adapter = make_adapter(fake, tmp_path, token=fake.issue_token(scopes="openid w_member_social"))
    with pytest.raises(AuthExpiredError, match="look at the profile") as caught:
        adapter.find(out("Did it go out?", due=datetime.now(UTC)))
    assert caught.value.missing_access == "r_member_social"
