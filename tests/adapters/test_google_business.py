"""Google Business Profile local posts against the fake API: what only this platform does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from klapper.adapters.base import (
    AuthExpiredError,
    MediaFile,
    Outgoing,
    PermanentError,
    RateLimitedError,
)
from klapper.adapters.google_business.login import login
from klapper.adapters.google_business.post import option_problems
from klapper.config.platforms import account_settings
from tests.fakes.google_business import (
    AUTHORIZE_PATH,
    CLIENT_ID,
    CLIENT_SECRET,
    LOCATION,
    FakeGoogleBusiness,
    make_adapter,
)
from tests.fakes.linkedin import insecure_transport_allowed


@pytest.fixture
def fake():
    with insecure_transport_allowed(), FakeGoogleBusiness().serve() as server:
        yield server


@pytest.fixture
def adapter(fake, tmp_path):
    made = make_adapter(fake, tmp_path)
    yield made
    made.close()


def post(text: str = "Fresh Stollen from today", **options) -> Outgoing:
    return Outgoing(
        text=text,
        idempotency_key=f"k-{text}",
        options=options,
        due=datetime.now(UTC) - timedelta(seconds=1),
    )


EVENT = {"title": "Christmas market", "start": "2026-12-20 10:00", "end": "2026-12-23"}


def test_an_event_with_a_button_and_a_photo_goes_out_as_google_takes_it(fake, adapter, tmp_path):
    (tmp_path / "media").mkdir()
    image = MediaFile(path=tmp_path / "media" / "stand 1.jpg", alt="Our stand")
    image.path.write_bytes(b"\xff\xd8\xff" + b"0" * 20)
    published = adapter.publish(
        Outgoing(
            **{
                **vars(post(event=EVENT, action="BOOK", action_url="https://ex.de/book")),
                "media": (image,),
            }
        )
    )
    held = fake.posts[published.remote_id]
    assert published.remote_id.startswith(f"{LOCATION}/localPosts/")
    assert published.url == held["searchUrl"]
    assert held["topicType"] == "EVENT"
    assert held["event"] == {
        "title": "Christmas market",
        "schedule": {
            "startDate": {"year": 2026, "month": 12, "day": 20},
            "startTime": {"hours": 10, "minutes": 0},
            "endDate": {"year": 2026, "month": 12, "day": 23},
        },
    }
    assert held["callToAction"] == {"actionType": "BOOK", "url": "https://ex.de/book"}
    # Google fetches the photo itself, from the repository's public address.
    assert held["media"] == [
        {"mediaFormat": "PHOTO", "sourceUrl": "https://media.example.com/shop/media/stand%201.jpg"}
    ]


def test_an_offer_carries_its_coupon_terms_and_link_and_call_needs_no_url(fake, adapter):
    offer = {"coupon": "STOLLEN10", "terms": "One per person", "link": "https://ex.de/shop"}
    published = adapter.publish(post(event=EVENT, offer=offer, action="CALL"))
    held = fake.posts[published.remote_id]
    assert held["topicType"] == "OFFER"
    assert held["offer"] == {
        "couponCode": "STOLLEN10",
        "termsConditions": "One per person",
        "redeemOnlineUrl": "https://ex.de/shop",
    }
    assert held["callToAction"] == {"actionType": "CALL"}


def test_a_standard_post_without_options_is_whats_new(fake, adapter):
    held = fake.posts[adapter.publish(post()).remote_id]
    assert held["topicType"] == "STANDARD" and "callToAction" not in held


def test_options_google_would_refuse_are_named_before_any_call(fake, adapter):
    assert option_problems({"offer": {"coupon": "X"}}) == [
        "a Google offer needs `event:` with its title, start and end"
    ]
    assert option_problems({"action": "SHOP"}) == [
        "the Google button SHOP needs `action_url:` (only CALL takes none)"
    ]
    with pytest.raises(PermanentError, match="action_url"):
        adapter.publish(post(action="ORDER"))
    assert fake.posts == {}


def test_a_photo_without_media_url_says_what_to_set(fake, tmp_path):
    adapter = make_adapter(fake, tmp_path, media_url=None)
    image = MediaFile(path=tmp_path / "a.png")
    with pytest.raises(PermanentError, match="set `media_url` of account 'bakery'"):
        adapter.publish(Outgoing(**{**vars(post()), "media": (image,)}))


def test_a_post_google_rejects_after_review_comes_back_failed(fake, adapter):
    sent = post("Call us at 0151 1234567 for 50% off")
    published = adapter.publish(sent)
    assert published.ref["state"] == "PROCESSING"
    fake.review(published.remote_id, state="REJECTED")
    with pytest.raises(
        PermanentError,
        match=r"Google rejected the post after its review"
        r" \(state REJECTED\)",
    ):
        adapter.find(sent)
    fake.review(published.remote_id, state="LIVE")
    assert adapter.find(sent).remote_id == published.remote_id


def test_find_reads_every_page_and_ignores_older_posts(fake, adapter):
    fake.page_size_cap = 2
    fake.add_post("Fresh Stollen from today", created=datetime.now(UTC).timestamp() - 3600)
    for number in range(5):
        fake.add_post(f"other {number}")
    assert adapter.find(post()) is None
    name = fake.add_post("Fresh Stollen from today")
    assert adapter.find(post()).remote_id == name


def test_an_expired_access_token_is_refreshed_and_the_refresh_token_kept(fake, tmp_path):
    saved: list[dict[str, str]] = []
    token = fake.issue()
    adapter = make_adapter(fake, tmp_path, token=token, saved=saved)
    fake.expire(token["access_token"])  # Google ended it before its expires_at
    adapter.publish(post())
    assert saved and saved[-1]["access_token"] != token["access_token"]
    assert saved[-1]["refresh_token"] == token["refresh_token"]
    assert len(fake.posts) == 1


def test_a_project_without_approved_access_pauses_the_account_saying_so(fake, adapter):
    fake.approved = False
    with pytest.raises(
        AuthExpiredError, match="has not approved this Cloud project's Business Profile API access"
    ) as raised:
        adapter.publish(post())
    assert raised.value.missing_access == "Business Profile API access"


def test_resource_exhausted_is_a_rate_limit(fake, adapter):
    fake.fail_next("rate_limit")
    with pytest.raises(RateLimitedError, match="RESOURCE_EXHAUSTED"):
        adapter.publish(post())


def test_views_where_google_reports_them_and_unknown_where_not(fake, adapter):
    first, second = adapter.publish(post("one")), adapter.publish(post("two"))
    fake.views[first.remote_id] = 37
    names = [first.remote_id, second.remote_id] + [fake.add_post(f"p{i}") for i in range(10)]
    fake.views.update({name: 0 for name in names[2:]})
    read = {m.remote_id: m for m in adapter.metrics(names)}
    assert read[first.remote_id].views == 37
    assert read[second.remote_id].views is None  # absent is unknown, not 0
    assert read[names[-1]].views == 0
    assert read[first.remote_id].likes is None
    insight_calls = [s for s in fake.seen if s[1].endswith(":reportInsights")]
    assert len(insight_calls) == 2  # 12 posts in batches of 10


def test_login_asks_for_offline_access_and_keeps_the_refresh_token(fake, tmp_path):
    shown: list[str] = []

    class Browser:
        def prompt(self, text: str, *, secret: bool = False) -> str:
            return {
                "Google OAuth Client ID": CLIENT_ID,
                "Google OAuth Client Secret": CLIENT_SECRET,
            }[text]

        def show(self, text: str) -> None:
            shown.append(text)

        def open_url(self, url: str) -> bool:
            requests.get(url, timeout=5)
            return True

    settings = account_settings(platform="google-business", location=LOCATION)
    credentials = login(
        name="bakery",
        account=settings,
        existing={},
        ui=Browser(),
        authorize_url=fake.url + AUTHORIZE_PATH,
        oauth_base=fake.url,
        port=0,
        timeout=5,
    )
    assert credentials["refresh_token"] in fake.refresh_tokens
    assert credentials["client_secret"] == CLIENT_SECRET
    assert not any(credentials["access_token"] in line for line in shown)


def test_klapper_check_names_google_options_and_the_1500_characters(tmp_path):
    from klapper.queue import check_posts, load_repository
    from tests.queue.repo_helpers import CONFIG, make_repo

    config = CONFIG.replace(
        "defaults:", f"  gbp: {{platform: google-business, location: {LOCATION}}}\ndefaults:"
    )
    root = make_repo(
        tmp_path,
        {
            "posts/offer.yaml": "text: Stollen\nto: [gbp, masto]\noffer: {coupon: X}\n"
            "per:\n  gbp: {action: SHOP}\n",
            "posts/long.yaml": f"text: {'a' * 1501}\nto: [gbp]\n",
            "posts/ok.yaml": "text: Stollen\nto: [gbp]\naction: SHOP\nevent: {title: Market, "
            "start: 2026-12-20, end: 2026-12-21}\nper:\n  gbp: {action_url: "
            "'https://ex.de'}\n",
        },
        config=config,
    )
    repo = load_repository(root)
    assert repo.problems == []
    found = sorted(
        (str(p.source).split(":")[0], p.message)
        for p in check_posts(repo, now=datetime(2026, 6, 1, tzinfo=UTC))
    )
    assert found == [
        (
            "posts/long.yaml",
            "text is 1501 characters as google-business counts them; the limit"
            " is 1500 (account gbp)",
        ),
        (
            "posts/offer.yaml",
            "a Google offer needs `event:` with its title, start and end (account gbp)",
        ),
        (
            "posts/offer.yaml",
            "the Google button SHOP needs `action_url:` (only CALL takes none) (account gbp)",
        ),
    ]


def test_an_event_that_ends_before_it_starts_is_refused_where_it_is_written(tmp_path):
    from klapper.queue import load_repository
    from tests.queue.repo_helpers import make_repo

    root = make_repo(
        tmp_path,
        {"posts/e.yaml": "text: x\nevent: {title: M, start: 2026-12-20, end: 2026-12-19}\n"},
    )
    problems = [p.message for p in load_repository(root).problems]
    assert any("ends (2026-12-19) before it starts (2026-12-20)" in m for m in problems), problems


def test_reviews_come_to_the_inbox_with_stars_and_the_owners_reply_as_ours(fake, adapter):
    hour = 3600
    now = datetime.now(UTC)
    old = fake.add_review(5, "Best bread in town", created=now.timestamp() - 48 * hour)
    fake.answer_review(old, "Thank you!")  # an older review answered today: the answer counts
    bad = fake.add_review(2, "Cold coffee, slow service", by="Tom K.")
    silent = fake.add_review(4, None)
    for number in range(60):  # a second page
        fake.add_review(5, f"great {number}", created=now.timestamp() - 30 * 24 * hour)
    found = adapter.interactions(since=now - timedelta(hours=1), own_ids=[])
    by_id = {item.remote_id: item for item in found}
    assert set(by_id) == {bad, silent, f"{old}/reply"}
    assert (by_id[bad].kind, by_id[bad].rating, by_id[bad].author, by_id[bad].text) == (
        "review",
        2,
        "Tom K.",
        "★★☆☆☆ Cold coffee, slow service",
    )
    assert by_id[silent].text == "★★★★☆" and by_id[silent].rating == 4
    reply = by_id[f"{old}/reply"]
    assert reply.by_self and reply.in_reply_to == old and reply.text == "Thank you!"
    # Newest change first: one page was enough, the month-old reviews were not read.
    assert len([s for s in fake.seen if s[1].endswith("/reviews")]) == 1


def test_a_review_of_three_stars_or_fewer_needs_attention_whatever_its_words():
    from klapper.engagement.attention import attention

    assert attention("Lovely staff", rating=3) == "complaint"
    assert attention("", rating=1) == "complaint"
    assert attention("Lovely staff", rating=4) is None
    assert attention("Open on Sunday?", rating=5) == "question"
