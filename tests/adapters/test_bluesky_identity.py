"""Whose session the Bluesky adapter uses, against the real reference PDS.

A session kept for one handle is never used to publish for another: klapper logs in with the app
password of the handle klapper.yaml names (or pauses, naming both accounts); a session the PDS no
longer knows gives way to the app password too; and none of it costs a login on every run.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from klapper.adapters.base import Outgoing
from klapper.adapters.identity import IdentityMismatchError
from tests.fakes.bluesky import adapter_case, make_adapter, shared_pds, signed_token

pytestmark = pytest.mark.pds
CREATE = "/xrpc/com.atproto.server.createSession"


@pytest.fixture(scope="module")
def pds():
    return shared_pds()


@pytest.fixture
def other(tmp_path, pds):
    """Another account's case: its adapter has logged in and kept its session (with identity)."""
    with adapter_case(tmp_path, pds=pds) as made:
        made.adapter.publish(out("from the other handle", "other#0"))
        yield made


def out(text: str, key: str) -> Outgoing:
    return Outgoing(text=text, idempotency_key=key, due=datetime.now(UTC))


def texts(pds, did: str) -> list[str]:
    return [r["value"]["text"] for r in pds.records(did)]


def kept_session(saved: dict[str, str], *, identity: bool = True) -> dict[str, str]:
    keys = ("access_jwt", "refresh_jwt", *(("did", "handle", "service") if identity else ()))
    return {key: saved[key] for key in keys}


@pytest.mark.parametrize("identity", [True, False], ids=["recorded", "kept-before-identities"])
def test_a_session_kept_for_another_handle_gives_way_to_the_named_handles_login(
    other, pds, identity
):
    shop = pds.create_account()
    saved: dict[str, str] = {}
    secrets = {**kept_session(other.saved, identity=identity), "app_password": shop.app_password}
    adapter = make_adapter(
        service=other.proxy.url, account=shop, saved=saved, timeout=10, secrets=secrets
    )
    published = adapter.publish(out("the shop's post", "shop#0"))
    assert published.remote_id.startswith(f"at://{shop.did}/")
    assert texts(pds, shop.did) == ["the shop's post"]
    assert texts(pds, other.account.did) == ["from the other handle"]
    assert (saved["did"], saved["handle"]) == (shop.did, shop.handle)
    assert saved["access_jwt"] != other.saved["access_jwt"]
    adapter.close()


def test_without_an_app_password_the_account_pauses_naming_both_identities(other, pds):
    shop = pds.create_account()
    adapter = make_adapter(
        service=other.proxy.url,
        account=shop,
        saved={},
        timeout=10,
        secrets=kept_session(other.saved, identity=False),
    )
    with pytest.raises(IdentityMismatchError) as paused:
        adapter.publish(out("never on the other handle", "shop#1"))
    message = str(paused.value)
    assert f"@{other.account.handle} ({other.account.did})" in message
    assert f"@{shop.handle} on {other.proxy.url}" in message
    assert "klapper login bsky" in message and "KLAPPER_SECRETS" in message
    assert other.saved["access_jwt"] not in message
    assert texts(pds, other.account.did) == ["from the other handle"]
    assert texts(pds, shop.did) == []


def test_a_session_of_another_service_is_never_sent_there(other, pds):
    secrets = {**kept_session(other.saved), "service": "https://elsewhere.example"}
    adapter = make_adapter(
        service=other.proxy.url, account=other.account, saved={}, timeout=10, secrets=secrets
    )
    before = len(other.proxy.seen)
    with pytest.raises(IdentityMismatchError, match="on https://elsewhere.example"):
        adapter.publish(out("not with a foreign session", "svc#0"))
    assert other.proxy.seen[before:] == []  # the tokens went nowhere


def test_a_session_the_pds_no_longer_knows_falls_back_to_the_app_password(pds):
    shop = pds.create_account()
    gone = "did:plc:" + "a" * 24  # a valid token for an account this PDS does not hold
    stale = {"access_jwt": signed_token(gone), "refresh_jwt": signed_token(gone, kind="refresh")}
    saved: dict[str, str] = {}
    adapter = make_adapter(
        service=pds.url,
        account=shop,
        saved=saved,
        timeout=10,
        secrets={**stale, "app_password": shop.app_password},
    )
    adapter.publish(out("after the PDS forgot the session", "gone#0"))
    assert texts(pds, shop.did) == ["after the PDS forgot the session"]
    assert saved["did"] == shop.did


def test_a_kept_session_is_checked_without_a_new_login_and_its_owner_recorded(other, pds):
    saved: dict[str, str] = {}
    before = len(other.proxy.seen)
    adapter = make_adapter(
        service=other.proxy.url,
        account=other.account,
        saved=saved,
        timeout=10,
        secrets={
            **kept_session(other.saved, identity=False),
            "app_password": other.account.app_password,
        },
    )
    adapter.publish(out("second post, same session", "other#1"))
    assert CREATE not in other.proxy.seen[before:]  # createSession is rate limited
    identity = {
        "did": other.account.did,
        "handle": other.account.handle,
        "service": other.proxy.url,
    }
    assert saved == {
        **kept_session(other.saved, identity=False),
        **identity,
        "app_password": other.account.app_password,
    }  # the same tokens, and whose
    adapter.close()
    again: dict[str, str] = {}
    adapter = make_adapter(
        service=other.proxy.url, account=other.account, saved=again, timeout=10, secrets=saved
    )
    adapter.publish(out("third post, nothing to record", "other#2"))
    assert again == {}
    adapter.close()
