"""What is special to Instagram (the contract suite covers the rest), against the fake."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from klapper.adapters.base import (
    MediaFile,
    Outgoing,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from klapper.adapters.identity import IdentityMismatchError, checked, is_checked
from tests.adapters.test_contract import png
from tests.fakes.instagram import SCOPES, USER, USERNAME, FakeInstagram, make_adapter, serve_media
from tests.fakes.meta import DAY


@pytest.fixture
def fake():
    with FakeInstagram().serve() as server:
        yield server


@pytest.fixture
def media_url(tmp_path):
    with serve_media(tmp_path) as url:
        yield url


def images(tmp_path, count: int) -> tuple[MediaFile, ...]:
    (tmp_path / "media").mkdir(exist_ok=True)
    return tuple(
        MediaFile(path=png(tmp_path / "media" / f"{n}.png"), alt=f"Bild {n}", mime="image/png")
        for n in range(count)
    )


def created(fake: FakeInstagram) -> list:
    """The containers klapper asked for (POST /{user}/media)."""
    return [c for c in fake.calls(rf"{USER}/media") if c.method == "POST"]


def post(text: str, media: tuple[MediaFile, ...], *, key: str = "k", **extra) -> Outgoing:
    return Outgoing(
        text=text,
        idempotency_key=key,
        media=media,
        due=datetime.now(UTC) - timedelta(seconds=1),
        **extra,
    )


def test_a_carousel_is_item_containers_then_one_carousel_with_the_caption(
    fake, tmp_path, media_url
):
    published = make_adapter(fake, tmp_path, media_url=media_url).publish(
        post("Drei Bilder", images(tmp_path, 3))
    )
    sent = [c.params for c in created(fake)]
    assert [c.get("is_carousel_item") for c in sent] == ["true", "true", "true", None]
    assert [c.get("alt_text") for c in sent[:3]] == ["Bild 0", "Bild 1", "Bild 2"]
    assert sent[0]["image_url"] == f"{media_url}/media/0.png"
    assert sent[3]["media_type"] == "CAROUSEL" and sent[3]["caption"] == "Drei Bilder"
    assert len(fake.media[published.remote_id]["children"]) == 3
    assert published.url == f"https://www.instagram.com/p/{published.remote_id}/"


def test_the_container_is_polled_until_finished_then_published(fake, tmp_path, media_url):
    fake.finish_after = 3
    make_adapter(fake, tmp_path, media_url=media_url).publish(post("Eins", images(tmp_path, 1)))
    skipped = {f"{USER}/content_publishing_limit", USER}  # the quota; whose the token is
    order = [c.path for c in fake.requests if c.path not in skipped]
    container = created(fake)[0]
    assert order[:1] == [container.path]
    statuses = [c for c in fake.requests if c.params.get("fields", "").find("status_code") >= 0]
    assert len(statuses) == 4  # IN_PROGRESS three times, then FINISHED
    assert fake.requests.index(statuses[-1]) < fake.requests.index(
        fake.calls(rf"{USER}/media_publish")[0]
    )


def test_a_container_still_in_progress_after_the_timeout_is_reused_next_time(
    fake, tmp_path, media_url
):
    fake.finish_after = 10_000
    adapter = make_adapter(fake, tmp_path, media_url=media_url, timeout=0.5)
    outgoing = post("Langsam", images(tmp_path, 1))
    with pytest.raises(TransientError, match="still preparing"):
        adapter.publish(outgoing)
    fake.finish_after = 0
    for container in fake.containers.values():
        container["reads_left"] = 0
    adapter.publish(outgoing)
    assert len(created(fake)) == 1 and len(fake.media) == 1


def test_a_container_created_but_not_published_is_reused_after_a_restart(fake, tmp_path, media_url):
    state = tmp_path / "state"
    outgoing = post("Nach dem Absturz", images(tmp_path, 2))
    fake.fail_next("server_error", route="publish")
    with pytest.raises(TransientError):
        make_adapter(fake, tmp_path, media_url=media_url, cache_dir=str(state)).publish(outgoing)
    assert len(created(fake)) == 3  # two items and the carousel
    # A new process (the first one crashed) finds the container by the idempotency key.
    again = make_adapter(fake, tmp_path, media_url=media_url, cache_dir=str(state))
    assert again.find(outgoing) is None
    published = again.publish(outgoing)
    assert len(created(fake)) == 3
    assert fake.media[published.remote_id]["caption"] == "Nach dem Absturz"
    # Another delivery with the same caption gets its own container, never this one.
    again.publish(post("Nach dem Absturz", outgoing.media, key="other"))
    assert len(created(fake)) == 6 and len(fake.media) == 2


def test_an_edited_caption_is_not_published_from_the_old_container(fake, tmp_path, media_url):
    adapter = make_adapter(fake, tmp_path, media_url=media_url)
    media = images(tmp_path, 1)
    fake.fail_next("server_error", route="publish")
    with pytest.raises(TransientError):
        adapter.publish(post("Alter Text", media))
    published = adapter.publish(post("Neuer Text", media))
    assert fake.media[published.remote_id]["caption"] == "Neuer Text"
    assert len(created(fake)) == 2


def test_a_container_published_by_a_lost_answer_is_found_not_posted_again(
    fake, tmp_path, media_url
):
    adapter = make_adapter(fake, tmp_path, media_url=media_url, timeout=0.5)
    outgoing = post("Verlorene Antwort", images(tmp_path, 1))
    fake.fail_next("timeout_after_accept", route="publish")
    with pytest.raises(TransientError):
        adapter.publish(outgoing)
    fake.release.set()
    published = adapter.publish(outgoing)  # the engine would call find first; publish copes too
    assert len(fake.media) == 1 and published.remote_id in fake.media


def test_an_image_instagram_cannot_fetch_is_a_permanent_error(fake, tmp_path, media_url):
    adapter = make_adapter(fake, tmp_path, media_url=media_url + "/gone")
    with pytest.raises(PermanentError, match="media_url"):
        adapter.publish(post("Kein Bild", images(tmp_path, 1)))
    assert fake.media == {}


def test_the_first_comment_follows_the_post(fake, tmp_path, media_url):
    adapter = make_adapter(fake, tmp_path, media_url=media_url)
    published = adapter.publish(
        post("Neu", images(tmp_path, 1), options={"first_comment": "#holz #werkbank"})
    )
    comments = [c for c in fake.comments.values() if c["on"] == published.remote_id]
    assert [c["text"] for c in comments] == ["#holz #werkbank"]
    assert fake.media[published.remote_id]["caption"] == "Neu"


def test_a_used_up_quota_waits_until_the_oldest_post_leaves_the_window(fake, tmp_path, media_url):
    fake.quota_total = 2
    oldest = time.time() - 20 * 3600
    fake.add_media("vor 20 Stunden", created=oldest)
    fake.add_media("vor 1 Stunde", created=time.time() - 3600)
    with pytest.raises(RateLimitedError) as raised:
        make_adapter(fake, tmp_path, media_url=media_url).publish(
            post("Zu viel", images(tmp_path, 1))
        )
    expected = datetime.fromtimestamp(int(oldest) + DAY, tz=UTC)
    assert abs((raised.value.until - expected).total_seconds()) <= 1
    assert "2 of 2" in str(raised.value)
    assert created(fake) == []  # no container made while the quota is used up


def test_the_quota_error_itself_is_a_rate_limit(fake, tmp_path, media_url):
    fake.quota_total = 1
    fake.add_media("schon da")
    adapter = make_adapter(fake, tmp_path, media_url=media_url)
    adapter.respect_quota = lambda: None  # as if two processes raced for the last slot
    with pytest.raises(RateLimitedError, match="maximum number of posts"):
        adapter.publish(post("Zu viel", images(tmp_path, 1)))


def test_metrics_are_read_fifty_per_request(fake, tmp_path, media_url):
    ids = [fake.add_media(f"Bild {n}") for n in range(60)]
    fake.media[ids[0]]["likes"] = 7
    adapter = make_adapter(fake, tmp_path, media_url=media_url)
    read = {m.remote_id: m for m in adapter.metrics(ids)}
    assert len(read) == 60 and adapter.requests_sent() == 2
    assert (read[ids[0]].likes, read[ids[0]].replies, read[ids[0]].views) == (7, 0, None)


def test_comments_and_their_replies_reach_the_inbox(fake, tmp_path, media_url):
    media_id = fake.add_media("Werkbank")
    since = datetime.now(UTC) - timedelta(seconds=5)
    question = fake.add_comment(media_id, "Preis?", username="anna", user_id="4242")
    fake.add_comment(question, "Schreib uns!", username="tischlerei.klapper", user_id=USER)
    found = make_adapter(fake, tmp_path, media_url=media_url).interactions(
        since=since, own_ids=[media_id]
    )
    assert [(i.author, i.text, i.in_reply_to, i.by_self) for i in found] == [
        ("anna", "Preis?", media_id, False),
        ("tischlerei.klapper", "Schreib uns!", question, True),
    ]


# --- whose the token is (adapters.identity) -----------------------------------------------------


def test_a_token_of_a_person_without_the_account_pauses_it_before_anything_is_sent(
    fake, tmp_path, media_url
):
    stranger = fake.issue(kind="user", subject="20002", scopes=SCOPES, lifetime=DAY)
    adapter = make_adapter(fake, tmp_path, media_url=media_url, token=stranger)
    with pytest.raises(
        IdentityMismatchError,
        match=r"belong to Facebook user Max Mitbewerber \(20002\), who cannot reach Instagram"
        rf" account {USER}, but klapper.yaml names Instagram account {USER}",
    ):
        adapter.publish(post("Fremd", images(tmp_path, 1)))
    assert created(fake) == []


def test_a_recorded_identity_of_another_account_is_refused_without_a_request(
    fake, tmp_path, media_url
):
    adapter = make_adapter(fake, tmp_path, media_url=media_url)
    adapter.update_secrets(
        **checked(
            adapter.secrets, credential="access_token", user_id="17841499999999999", username="x"
        )
    )
    with pytest.raises(IdentityMismatchError, match=r"@x \(user id 17841499999999999\)"):
        adapter.publish(post("Andere", images(tmp_path, 1)))
    assert fake.requests == []


def test_the_named_account_is_asked_once_and_recorded(fake, tmp_path, media_url):
    adapter = make_adapter(fake, tmp_path, media_url=media_url)
    adapter.publish(post("Eins", images(tmp_path, 1), key="a"))
    adapter.publish(post("Zwei", images(tmp_path, 1), key="b"))
    assert len([c for c in fake.calls(USER) if c.params.get("fields") == "id,username"]) == 1
    assert (adapter.secrets["user_id"], adapter.secrets["username"]) == (USER, USERNAME)
    assert is_checked(adapter.secrets, credential="access_token")
