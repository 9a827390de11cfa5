"""What is special to Facebook Pages (the contract suite covers the rest), against the fake."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from klapper.adapters.base import (
    MediaFile,
    Outgoing,
    PermanentError,
    RateLimitedError,
    ThreadRef,
)
from klapper.adapters.identity import IdentityMismatchError, checked, is_checked
from tests.adapters.test_contract import png
from tests.fakes.facebook import PAGE, PAGE_NAME, FakeFacebook, make_adapter


@pytest.fixture
def fake():
    with FakeFacebook().serve() as server:
        yield server


def post(text: str, **extra) -> Outgoing:
    return Outgoing(
        text=text, idempotency_key="k", due=datetime.now(UTC) - timedelta(seconds=1), **extra
    )


def test_a_link_goes_as_link_so_facebook_shows_its_preview(fake, tmp_path):
    adapter = make_adapter(fake, tmp_path)
    adapter.publish(post("Neue Werkbank: https://example.com/werkbank. Schaut rein!"))
    sent = fake.calls(rf"{PAGE}/feed")[-1].params
    assert sent["link"] == "https://example.com/werkbank"
    assert sent["message"].startswith("Neue Werkbank")


def test_several_photos_are_uploaded_unpublished_and_attached_with_alt_text(fake, tmp_path):
    images = tuple(
        MediaFile(path=png(tmp_path / f"{n}.png"), alt=f"Bild {n}", mime="image/png")
        for n in range(3)
    )
    published = make_adapter(fake, tmp_path).publish(post("Drei Bilder", media=images))
    uploads = fake.calls(rf"{PAGE}/photos")
    assert [u.params["published"] for u in uploads] == ["false"] * 3
    assert [u.params["alt_text_custom"] for u in uploads] == ["Bild 0", "Bild 1", "Bild 2"]
    held = fake.posts[published.remote_id]
    assert [p["alt"] for p in held["photos"]] == ["Bild 0", "Bild 1", "Bild 2"]
    assert held["message"] == "Drei Bilder"


def test_a_follow_up_is_a_comment_and_find_sees_it(fake, tmp_path):
    adapter = make_adapter(fake, tmp_path)
    first = adapter.publish(post("Erster Teil"))
    follow = post("Zweiter Teil", part=1, reply_to=ThreadRef(root=first, parent=first))
    comment = adapter.publish(follow)
    assert fake.comments[comment.remote_id]["on"] == first.remote_id
    assert adapter.find(follow).remote_id == comment.remote_id
    later = post("Noch nicht da", part=2, reply_to=ThreadRef(root=first, parent=comment))
    assert adapter.find(later) is None


def test_find_reads_every_page_of_the_recent_posts(fake, tmp_path):
    adapter = make_adapter(fake, tmp_path)
    wanted = post("Der gesuchte Beitrag")
    fake.add_post(wanted.text)
    for n in range(60):  # newer posts push it to the third page
        fake.add_post(f"Anderer Beitrag {n}", created=time.time() + n + 1)
    found = adapter.find(wanted)
    assert found is not None and fake.posts[found.remote_id]["message"] == wanted.text
    listed = fake.calls(rf"{PAGE}/posts")
    assert len(listed) == 3
    # Pages follow the cursor on klapper's own URL; the token never rides in a URL.
    assert listed[1].params["after"] and "access_token" not in listed[1].params


def test_a_post_from_before_the_due_time_is_not_ours(fake, tmp_path):
    adapter = make_adapter(fake, tmp_path)
    fake.add_post("Jeden Montag dasselbe", created=time.time() - 7 * 86400)
    assert adapter.find(post("Jeden Montag dasselbe")) is None


@pytest.mark.parametrize(
    ("kind", "wait"),
    [
        ("rate_limit", timedelta(minutes=30)),
        ("app_rate_limit", timedelta(hours=1)),
        ("blocked", timedelta(days=1)),
    ],
)
def test_limits_and_blocks_wait_as_meta_says(fake, tmp_path, kind, wait):
    fake.fail_next(kind)
    with pytest.raises(RateLimitedError) as raised:
        make_adapter(fake, tmp_path).publish(post("Zu viel"))
    left = raised.value.until - datetime.now(UTC)
    assert wait - timedelta(minutes=1) < left <= wait


def test_an_invalid_parameter_is_permanent_with_metas_words(fake, tmp_path):
    fake.fail_next("invalid")
    with pytest.raises(PermanentError, match="The link you shared is not valid"):
        make_adapter(fake, tmp_path).publish(post("Kaputter Link"))


def test_a_token_without_permission_to_post_pauses_the_account(fake, tmp_path):
    from klapper.adapters.base import AuthExpiredError

    token = fake.page_token(("pages_show_list", "pages_read_engagement"))
    with pytest.raises(AuthExpiredError, match="permission is missing"):
        make_adapter(fake, tmp_path, token=token).publish(post("Darf nicht"))


def test_metrics_are_batched_fifty_ids_a_request_and_absent_is_not_zero(fake, tmp_path):
    ids = [fake.add_post(f"Beitrag {n}") for n in range(120)]
    fake.posts[ids[0]].update(reactions=7, shares=2)
    fake.add_comment(ids[0], "Schön!", by={"id": "555", "name": "Kundin"})
    adapter = make_adapter(fake, tmp_path)
    readings = {m.remote_id: m for m in adapter.metrics(ids)}
    assert len(fake.calls("")) == 3 and adapter.requests_sent() == 3
    assert max(len(c.params["ids"].split(",")) for c in fake.calls("")) == 50
    first = readings[ids[0]]
    assert (first.likes, first.replies, first.reposts) == (7, 1, 2)
    assert readings[ids[1]].views is None and readings[ids[1]].bookmarks is None


def test_a_deleted_post_leaves_the_others_of_its_batch_readable(fake, tmp_path):
    """Meta refuses a whole ?ids= request (code 100) when one id no longer exists."""
    ids = [fake.add_post(f"Beitrag {n}") for n in range(60)]
    del fake.posts[ids[3]], fake.posts[ids[55]]
    adapter = make_adapter(fake, tmp_path)
    readings = {m.remote_id for m in adapter.metrics(ids)}
    assert readings == set(ids) - {ids[3], ids[55]}
    assert adapter.requests_sent() == 4  # each refused batch is asked again once, without them


def test_comments_reach_the_inbox_and_our_own_are_marked(fake, tmp_path):
    adapter = make_adapter(fake, tmp_path)
    first = adapter.publish(post("Fragen?"))
    question = fake.add_comment(
        first.remote_id, "Wann habt ihr offen?", by={"id": "555", "name": "Kundin"}
    )
    answer = fake.add_comment(question, "Ab 8 Uhr.", by={"id": PAGE, "name": "Tischlerei"})
    old = fake.add_comment(
        first.remote_id, "Alt", by={"id": "556", "name": "Jemand"}, created=time.time() - 7200
    )
    found = {
        i.remote_id: i
        for i in adapter.interactions(
            since=datetime.now(UTC) - timedelta(hours=1), own_ids=[first.remote_id]
        )
    }
    assert set(found) == {question, answer} and old not in found
    assert found[question].author == "Kundin" and found[question].in_reply_to == first.remote_id
    assert found[answer].by_self and found[answer].in_reply_to == question


def test_settings_need_a_numeric_page(tmp_path: Path):
    from klapper.adapters import create_adapter

    with pytest.raises(PermanentError, match="page: PAGE_ID"):
        create_adapter(
            name="shop",
            platform="facebook",
            settings={"page": "my-shop"},
            secrets={"access_token": "x"},
            repo=tmp_path,
        )


def test_the_graph_version_of_the_account_is_used(fake, tmp_path):
    fake.version = "v21.0"
    make_adapter(fake, tmp_path, graph_version="v21.0").publish(post("Alte Version"))
    assert [p["message"] for p in fake.posts.values()] == ["Alte Version"]
    assert json.dumps(fake.calls(rf"{PAGE}/feed")[-1].params)


# --- whose the token is (adapters.identity) -----------------------------------------------------

OTHER_PAGE = "9999888877776"


def test_the_fakes_me_says_whose_a_token_is(fake):
    import requests

    person = fake.issue(kind="user", subject=fake.user, scopes=("pages_show_list",))
    for token, expected in (
        (fake.page_token(), {"id": PAGE, "name": PAGE_NAME}),
        (person, {"id": fake.user, "name": "Klara Klapper"}),
    ):
        answer = requests.get(
            f"{fake.url}/{fake.version}/me",
            params={"fields": "id,name"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        assert answer.json() == expected


def test_a_token_of_another_page_pauses_the_account_before_anything_is_sent(fake, tmp_path):
    adapter = make_adapter(fake, tmp_path, token=fake.page_token(page=OTHER_PAGE))
    with pytest.raises(
        IdentityMismatchError,
        match=rf"belong to Page {OTHER_PAGE} \(id {OTHER_PAGE}\), but klapper.yaml names Page"
        rf" {PAGE}; nothing was sent",
    ):
        adapter.publish(post("Auf die falsche Seite"))
    assert fake.posts == {} and fake.photos == {}
    assert adapter.secrets["page_id"] == OTHER_PAGE  # recorded: not asked again


def test_a_recorded_identity_of_another_page_is_refused_without_a_request(fake, tmp_path):
    adapter = make_adapter(fake, tmp_path)
    adapter.update_secrets(
        **checked(adapter.secrets, credential="access_token", page_id=OTHER_PAGE, page_name="X")
    )
    with pytest.raises(IdentityMismatchError, match=f"X \\(id {OTHER_PAGE}\\)"):
        adapter.find(post("Suchen"))
    assert fake.requests == []


def test_the_right_page_is_asked_once_and_recorded(fake, tmp_path):
    adapter = make_adapter(fake, tmp_path)
    adapter.publish(post("Eins"))
    adapter.publish(post("Zwei"))
    assert len(fake.calls("me")) == 1
    assert (adapter.secrets["page_id"], adapter.secrets["page_name"]) == (PAGE, PAGE_NAME)
    assert is_checked(adapter.secrets, credential="access_token")
