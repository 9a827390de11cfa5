"""What is special to Threads (the contract suite covers the rest), against the fake."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

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
from tests.adapters.test_instagram import images
from tests.fakes.instagram import serve_media
from tests.fakes.meta import DAY
from tests.fakes.threads import SCOPES, USER, USERNAME, FakeThreads, make_adapter


@pytest.fixture
def fake():
    with FakeThreads().serve() as server:
        yield server


def created(fake: FakeThreads) -> list:
    """The containers klapper asked for (POST /{user}/threads)."""
    return [c for c in fake.calls(rf"{USER}/threads") if c.method == "POST"]


def post(text: str, media: tuple[MediaFile, ...] = (), *, key: str = "k", **extra) -> Outgoing:
    return Outgoing(
        text=text,
        idempotency_key=key,
        media=media,
        due=datetime.now(UTC) - timedelta(seconds=1),
        **extra,
    )


def test_a_text_post_names_its_first_link_as_the_link_attachment(fake, tmp_path):
    text = "Tag der offenen Werkstatt: https://tischlerei-klapper.de/tage und https://b.de"
    published = make_adapter(fake, tmp_path).publish(post(text))
    (made,) = created(fake)
    assert made.params["media_type"] == "TEXT"
    assert made.params["link_attachment"] == "https://tischlerei-klapper.de/tage"
    assert fake.posts[published.remote_id]["text"] == text
    assert published.url and published.url.endswith(published.remote_id)


def test_a_carousel_is_item_containers_then_one_carousel_with_the_text(fake, tmp_path):
    with serve_media(tmp_path) as media_url:
        published = make_adapter(fake, tmp_path, media_url=media_url).publish(
            post("Drei Bretter", images(tmp_path, 3))
        )
    made = created(fake)
    assert [c.params.get("is_carousel_item") for c in made] == ["true", "true", "true", None]
    assert [c.params.get("alt_text") for c in made[:3]] == ["Bild 0", "Bild 1", "Bild 2"]
    assert made[3].params["media_type"] == "CAROUSEL" and made[3].params["text"] == "Drei Bretter"
    assert fake.posts[published.remote_id]["media"] == [
        f"{media_url}/media/{n}.png" for n in range(3)
    ]


def test_a_follow_up_is_a_reply_to_the_part_before_and_found_among_replies(fake, tmp_path):
    adapter = make_adapter(fake, tmp_path)
    first = adapter.publish(post("Teil 1", key="k0"))
    second = post("Teil 2", key="k1", part=1, reply_to=ThreadRef(root=first, parent=first))
    published = adapter.publish(second)
    assert fake.posts[published.remote_id]["reply_to"] == first.remote_id
    assert created(fake)[1].params["reply_to_id"] == first.remote_id
    # GET /{user}/threads does not list replies: find reads /{user}/replies for a follow-up.
    assert adapter.find(second).remote_id == published.remote_id


def test_find_follows_the_cursor_past_newer_posts_and_proves_absence(fake, tmp_path):
    adapter = make_adapter(fake, tmp_path)
    wanted = post("Der gesuchte Beitrag")
    mine = fake.add_post(wanted.text, created=time.time() - 60)
    for n in range(30):  # newer posts push it onto the second page of 25
        fake.add_post(f"neuer {n}", created=time.time() - 30 + n)
    assert adapter.find(wanted).remote_id == mine
    pages = [c for c in fake.calls(rf"{USER}/threads") if c.method == "GET"]
    assert len(pages) == 2 and pages[1].params["after"]
    assert adapter.find(post("nie gesendet")) is None


def test_a_container_made_before_a_crash_is_published_not_made_again(fake, tmp_path):
    fake.finish_after = 50  # still IN_PROGRESS when the adapter gives up waiting
    adapter = make_adapter(fake, tmp_path, timeout=0.5, cache_dir=str(tmp_path / "state"))
    with pytest.raises(TransientError, match="still preparing"):
        adapter.publish(post("Geduld"))
    fake.finish_after = 0
    with fake.lock:
        for container in fake.containers.values():
            container["reads_left"] = 0
    again = make_adapter(fake, tmp_path, cache_dir=str(tmp_path / "state"))  # a new process
    published = again.publish(post("Geduld"))
    assert len(created(fake)) == 1 and fake.held()[0]["id"] == published.remote_id


def test_a_used_up_quota_waits_until_the_oldest_post_leaves_the_window(fake, tmp_path):
    fake.quota_total = 2
    oldest = time.time() - 20 * 3600
    fake.add_post("vor 20 Stunden", created=oldest)
    fake.add_post("vor 1 Stunde", created=time.time() - 3600)
    with pytest.raises(RateLimitedError) as raised:
        make_adapter(fake, tmp_path).publish(post("Zu viel"))
    expected = datetime.fromtimestamp(int(oldest) + DAY, tz=UTC)
    assert abs((raised.value.until - expected).total_seconds()) <= 1
    assert "2 of 2" in str(raised.value)
    assert created(fake) == []  # no container made while the quota is used up


def test_replies_have_their_own_quota(fake, tmp_path):
    fake.quota_total = 1
    first = fake.add_post("schon da")  # the posts' quota is used up, the replies' is not
    root = Published(remote_id=first)
    adapter = make_adapter(fake, tmp_path)
    adapter.publish(post("Antwort", part=1, reply_to=ThreadRef(root=root, parent=root)))
    fake.reply_quota_total = 1
    with pytest.raises(RateLimitedError, match="reply quota"):
        adapter.publish(
            post("Noch eine", key="k2", part=1, reply_to=ThreadRef(root=root, parent=root))
        )


def test_the_quota_error_itself_is_a_rate_limit(fake, tmp_path):
    fake.quota_total = 1
    fake.add_post("schon da")
    adapter = make_adapter(fake, tmp_path)
    adapter.respect_quota = lambda reply=False: None  # two processes raced for the last slot
    with pytest.raises(RateLimitedError, match="publishing limit"):
        adapter.publish(post("Zu viel"))


def test_metrics_leave_out_what_meta_does_not_answer_and_posts_that_are_gone(fake, tmp_path):
    fake.shown = ("likes", "replies", "reposts", "quotes")  # views: "in development"
    ours = fake.add_post("Werkbank")
    fake.add_post("Schön!", reply_to=ours, username="anna")
    adapter = make_adapter(fake, tmp_path)
    (read,) = adapter.metrics([ours, "99999999"])
    assert (read.likes, read.replies, read.reposts, read.quotes) == (3, 1, 1, 0)
    assert read.views is None and read.bookmarks is None
    assert adapter.requests_sent() == 2  # one /{id}/insights per post: no batch in Threads


def test_nested_replies_and_mentions_reach_the_inbox(fake, tmp_path):
    since = datetime.now(UTC) - timedelta(seconds=5)
    ours = fake.add_post("Werkbank")
    question = fake.add_post("Preis?", reply_to=ours, username="anna")
    answer = fake.add_post("Schreib uns!", reply_to=question)
    fake.add_post(f"Schaut mal bei @{USERNAME} vorbei", username="ben")
    token = fake.user_token((*SCOPES, "threads_manage_mentions"))
    found = make_adapter(fake, tmp_path, token=token).interactions(since=since, own_ids=[ours])
    assert sorted((i.kind, i.author, i.text, i.in_reply_to, i.by_self) for i in found) == [
        ("mention", "ben", f"Schaut mal bei @{USERNAME} vorbei", None, False),
        ("reply", "anna", "Preis?", ours, False),
        ("reply", USERNAME, "Schreib uns!", question, True),
    ]
    assert answer in {i.remote_id for i in found}


def test_without_the_mentions_permission_replies_still_come(fake, tmp_path):
    ours = fake.add_post("Werkbank")
    fake.add_post("Preis?", reply_to=ours, username="anna")
    found = make_adapter(fake, tmp_path).interactions(
        since=datetime.now(UTC) - timedelta(seconds=5), own_ids=[ours]
    )
    assert [i.text for i in found] == ["Preis?"]


# --- the token ----------------------------------------------------------------------------------


def secrets_for(token: str, *, age: timedelta, fake: FakeThreads) -> dict[str, str]:
    made = datetime.now(UTC) - age
    return {
        "access_token": token,
        "issued_at": made.isoformat(),
        "expires_at": (made + timedelta(days=60)).isoformat(),
        "user_id": fake.user,
        "app_id": "1",
        "app_secret": "s",
    }


def storing(fake: FakeThreads, tmp_path, secrets: dict[str, str], stored: list) -> Any:
    """An adapter whose refreshed secrets land in ``stored`` (the secrets store's part)."""
    from klapper.adapters import create_adapter

    return create_adapter(
        name="shop-threads",
        platform="threads",
        repo=tmp_path,
        timeout=2,
        settings={"media_url": "https://m.example", "api_base": fake.url},
        secrets=secrets,
        save_secrets=lambda values: stored.append(dict(values)),
    )


def test_a_day_old_token_is_refreshed_and_stored_before_it_is_used(fake, tmp_path):
    old = fake.user_token(age=DAY + 60)
    stored: list[dict[str, str]] = []
    secrets = secrets_for(old, age=timedelta(days=1, minutes=1), fake=fake)
    adapter = storing(fake, tmp_path, secrets, stored)
    published = adapter.publish(post("Frisch"))
    assert len(fake.calls("\x00refresh_access_token")) == 1
    (kept,) = stored
    assert kept["access_token"] != old and kept["access_token"] == adapter.secrets["access_token"]
    assert datetime.fromisoformat(kept["expires_at"]) > datetime.now(UTC) + timedelta(days=59)
    assert datetime.fromisoformat(kept["issued_at"]) > datetime.now(UTC) - timedelta(minutes=1)
    # the post went out with the new token
    publish = fake.calls(rf"{USER}/threads_publish")[-1]
    assert publish.headers["authorization"] == f"Bearer {kept['access_token']}"
    assert fake.posts[published.remote_id]["text"] == "Frisch"


def test_a_fresh_token_is_not_refreshed(fake, tmp_path):
    token = fake.user_token(age=3600)
    stored: list[dict[str, str]] = []
    adapter = storing(fake, tmp_path, secrets_for(token, age=timedelta(hours=1), fake=fake), stored)
    adapter.publish(post("Noch gut"))
    assert fake.calls("\x00refresh_access_token") == [] and stored == []


def test_a_refresh_that_fails_keeps_the_old_token_working(fake, tmp_path):
    old = fake.user_token(age=2 * DAY)
    fake.fail_next("server_error", route="refresh")
    adapter = make_adapter(fake, tmp_path, secrets=secrets_for(old, age=timedelta(2), fake=fake))
    adapter.publish(post("Trotzdem"))
    assert adapter.secrets["access_token"] == old
    # tried once, not before each of the publish's calls
    assert len(fake.calls("\x00refresh_access_token")) == 1


def test_a_token_klapper_could_not_refresh_is_warned_seven_days_ahead():
    from klapper.config.expiry import expiring_credentials
    from klapper.config.platforms import account_settings

    now = datetime.now(UTC)
    accounts = {
        name: account_settings(platform="threads", media_url="https://m.example")
        for name in ("th-soon", "th-refreshed")
    }
    stored = {
        "th-soon": {"access_token": "t", "expires_at": (now + timedelta(days=6)).isoformat()},
        # a refresh stored a new expiry 60 days out: nothing to warn about
        "th-refreshed": {"access_token": "t", "expires_at": (now + timedelta(days=60)).isoformat()},
    }
    found = expiring_credentials(accounts=accounts, secrets=stored.__getitem__, now=now)
    assert [(f.account, f.key) for f in found] == [("th-soon", "access_token")]
    assert "klapper login th-soon" in found[0].message(tz=UTC, now=now)


@pytest.mark.parametrize(
    ("kind", "error", "said"),
    [
        ("blocked", RateLimitedError, "temporarily blocked"),
        ("invalid", PermanentError, "The link you shared is not valid."),
        ("auth", AuthExpiredError, "klapper login shop-threads"),
        ("app_rate_limit", RateLimitedError, "rate limit"),
    ],
)
def test_graph_error_codes_map_as_for_facebook_and_instagram(fake, tmp_path, kind, error, said):
    fake.fail_next(kind, route="create")
    with pytest.raises(error, match=said) as raised:
        make_adapter(fake, tmp_path).publish(post("Fehler"))
    if kind == "blocked":  # 368 gives no duration: a day
        wait = raised.value.until - datetime.now(UTC)
        assert timedelta(hours=23) < wait <= timedelta(days=1)
