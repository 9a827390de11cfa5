"""Credentials are used only for the identity klapper.yaml names (fake Mastodon, X, LinkedIn).

Stored credentials remember whose they are (adapters/identity.py). An identity recorded for the
very token in use is believed without a request; an unchecked token (from before identities were
kept, or from the environment) is asked once and its answer recorded; another identity than
klapper.yaml names pauses the account (AuthExpiredError) naming both, and nothing is posted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from klapper.adapters.base import Outgoing
from klapper.adapters.identity import CHECKED_KEY, IdentityMismatchError, checked
from klapper.adapters.mastodon.adapter import MastodonAdapter
from klapper.adapters.x.adapter import XAdapter
from klapper.config.secrets import fingerprint, secret_values
from tests.fakes.linkedin import PERSON, FakeLinkedIn, insecure_transport_allowed, make_adapter
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.x import ME_ID, ME_USERNAME, FakeX


def out(text: str) -> Outgoing:
    return Outgoing(text=text, idempotency_key=f"id-{text}", due=datetime.now(UTC))


# --- Mastodon: instance and account id ------------------------------------------------------


def mastodon(
    server: FakeMastodon,
    tmp_path: Path,
    secrets: dict[str, str],
    saved: list[dict[str, str]] | None = None,
    **settings: str,
) -> MastodonAdapter:
    return MastodonAdapter(
        name="mastodon",
        settings={"instance": server.url, "cache_dir": str(tmp_path), **settings},
        secrets=secrets,
        repo=tmp_path,
        timeout=2.0,
        save_secrets=saved.append if saved is not None else None,
    )


def test_mastodon_credentials_of_another_instance_are_never_sent_to_the_named_one(tmp_path):
    with FakeMastodon() as other, FakeMastodon() as named:
        token = {"access_token": other.state.token}
        stored = {
            **token,
            **checked(
                token, credential="access_token", instance=other.url, account_id="1", acct="shop"
            ),
        }
        adapter = mastodon(named, tmp_path, stored)
        with pytest.raises(IdentityMismatchError) as paused:
            adapter.publish(out("for the named instance"))
        assert f"belong to @shop on {other.url}, but klapper.yaml names {named.url}" in str(
            paused.value
        )
        assert "klapper login mastodon" in str(paused.value)
        assert named.state.requests == [] and other.state.requests == []
        assert other.state.token not in str(paused.value)


def test_mastodon_token_without_identity_is_checked_once_and_recorded(tmp_path):
    with FakeMastodon() as server:
        saved: list[dict[str, str]] = []
        adapter = mastodon(server, tmp_path, {"access_token": server.state.token}, saved)
        adapter.publish(out("first post after the upgrade"))
        recorded = saved[-1]
        assert (recorded["instance"], recorded["account_id"], recorded["acct"]) == (
            server.url,
            "1",
            "shop",
        )
        assert recorded[CHECKED_KEY] == fingerprint(server.state.token)
        before = len(server.state.requests)
        again = mastodon(server, tmp_path, recorded)
        again.publish(out("second post"))
        paths = [path for _, path, _ in server.state.requests[before:]]
        assert "/api/v1/accounts/verify_credentials" not in paths  # believed, not asked again


def test_mastodon_token_of_another_handle_pauses_the_account(tmp_path):
    with FakeMastodon() as server:
        adapter = mastodon(
            server, tmp_path, {"access_token": server.state.token}, handle="@cafe@example.social"
        )
        with pytest.raises(IdentityMismatchError, match="belong to @shop on .* names @cafe"):
            adapter.publish(out("not as the shop"))
        assert server.state.posts() == []


# --- X: user id ------------------------------------------------------------------------------


def x_adapter(
    fake: FakeX, tmp_path: Path, secrets: dict[str, str], saved: list[dict[str, str]] | None = None
) -> XAdapter:
    return fake.connect(
        XAdapter(
            name="x",
            settings={"handle": ME_USERNAME},
            secrets=secrets,
            repo=tmp_path,
            timeout=2.0,
            save_secrets=saved.append if saved is not None else None,
        )
    )


def test_x_token_of_another_user_pauses_the_account_naming_both(tmp_path):
    with FakeX() as fake:
        fake.add_user("2000", "other_shop")
        adapter = x_adapter(fake, tmp_path, fake.oauth2_secrets(user_id="2000"))
        with pytest.raises(IdentityMismatchError) as paused:
            adapter.publish(out("not on the other account"))
        assert f"belong to @other_shop (user id 2000), but klapper.yaml names @{ME_USERNAME}" in (
            str(paused.value)
        )
        assert fake.posts() == []


def test_x_identity_is_recorded_once_and_renamed_accounts_are_asked_again(tmp_path):
    with FakeX() as fake:
        saved: list[dict[str, str]] = []
        adapter = x_adapter(fake, tmp_path, fake.oauth2_secrets(), saved)
        adapter.publish(out("first"))
        assert (saved[-1]["user_id"], saved[-1]["username"]) == (ME_ID, ME_USERNAME)
        x_adapter(fake, tmp_path, saved[-1]).publish(out("second"))
        assert fake.count("me") == 1  # the recorded identity of this token is believed
        # The username stored at login is old: X is asked, and the new name is recorded.
        renamed: list[dict[str, str]] = []
        x_adapter(fake, tmp_path, {**saved[-1], "username": "old_name"}, renamed).publish(
            out("third")
        )
        assert fake.count("me") == 2 and renamed[-1]["username"] == ME_USERNAME


# --- LinkedIn: member id ---------------------------------------------------------------------


def test_linkedin_token_of_another_member_pauses_before_posting(tmp_path):
    fake = FakeLinkedIn()
    with insecure_transport_allowed(), fake.serve():
        token = fake.issue_token()
        fake.tokens[token["access_token"]].member = "urn:li:person:zzz999"
        adapter = make_adapter(fake, tmp_path, token=token)
        with pytest.raises(IdentityMismatchError) as paused:
            adapter.publish(out("not as Ada"))
        assert f"belong to urn:li:person:zzz999, but klapper.yaml names {PERSON}" in str(
            paused.value
        )
        assert fake.posts == {} and not fake.calls("/rest/posts", "POST")


def test_linkedin_identity_is_recorded_and_kept_across_a_refresh(tmp_path):
    fake = FakeLinkedIn()
    with insecure_transport_allowed(), fake.serve():
        saved: list[dict[str, str]] = []
        token = fake.issue_token(refresh=True)
        adapter = make_adapter(fake, tmp_path, token=token, saved=saved)
        adapter.publish(out("first"))
        assert saved[-1]["user_id"] == PERSON.rsplit(":", 1)[1]
        fake.expire(token["access_token"])
        adapter.publish(out("after a refresh"))
        assert saved[-1]["access_token"] != token["access_token"]
        assert saved[-1][CHECKED_KEY] == fingerprint(saved[-1]["access_token"])
        assert len(fake.calls("/v2/userinfo")) == 1


# --- `klapper accounts` shows whose Meta's credentials are ------------------------------------


def test_accounts_describes_a_facebook_page_and_an_instagram_account() -> None:
    from klapper.adapters.identity import describe

    page = {"access_token": "t"}
    page |= checked(page, credential="access_token", page_id="2222", page_name="Tischlerei")
    assert describe(page) == "Tischlerei (Page 2222)"
    assert secret_values(page) == ["t"]  # whose it is is public: never redacted from messages
    ig = {"access_token": "u"}
    ig |= checked(ig, credential="access_token", user_id="1784", username="tischlerei.klapper")
    assert describe(ig) == "@tischlerei.klapper (user id 1784)"
