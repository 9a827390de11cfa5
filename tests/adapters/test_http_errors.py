"""The one translation from HTTP answers to klapper's errors, and the renew-once loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from klapper.adapters.base import (
    AuthExpiredError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from klapper.adapters.http_errors import error_for, reason_of, renew_once, retry_after

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def translate(
    status: int, *, headers: dict[str, str] | None = None, body: object = None, **extra: object
) -> Exception:
    return error_for(
        platform="Example",
        status=status,
        action="publish a post",
        relogin="run `klapper login shop`",
        headers=headers,
        body=body,  # type: ignore[arg-type]
        now=NOW,
        **extra,
    )  # type: ignore[arg-type]


def test_retry_after_takes_seconds_and_http_dates() -> None:
    assert retry_after("120", now=NOW) == 120
    assert retry_after("Tue, 01 Dec 2026 12:05:00 GMT", now=NOW) == 300
    assert retry_after("Tue, 01 Dec 2026 11:00:00 GMT", now=NOW) == 0  # already past
    assert retry_after("soon", now=NOW) is None
    assert retry_after(None, now=NOW) is None


@pytest.mark.parametrize("status", [408, 425, 500, 502, 503, 504])
def test_timeouts_too_early_and_server_errors_are_transient(status: int) -> None:
    error = translate(status, headers={"Retry-After": "30"})
    assert type(error) is TransientError and error.retry_after == 30


def test_429_always_says_when_to_try_again() -> None:
    seconds = translate(429, headers={"retry-after": "90"})
    date = translate(429, headers={"Retry-After": "Tue, 01 Dec 2026 13:00:00 GMT"})
    neither = translate(429)
    platform_reset = translate(429, rate_reset=NOW + timedelta(hours=3))
    assert isinstance(seconds, RateLimitedError) and seconds.until == NOW + timedelta(seconds=90)
    assert isinstance(date, RateLimitedError) and date.until == NOW + timedelta(hours=1)
    assert isinstance(neither, RateLimitedError) and neither.until == NOW + timedelta(minutes=1)
    assert isinstance(platform_reset, RateLimitedError)
    assert platform_reset.until == NOW + timedelta(hours=3)
    assert "13:00:00 UTC" in str(date)


def test_413_is_permanent_and_says_too_large() -> None:
    error = translate(413, body="<html><title>413 Request Entity Too Large</title></html>")
    assert type(error) is PermanentError
    assert "too large" in str(error) and "Request Entity Too Large" in str(error)


def test_a_refused_token_pauses_whatever_the_status() -> None:
    html_400 = translate(400, body="<html><body><h1>Invalid Bearer token</h1></body></html>")
    oauth_400 = translate(400, body='{"error": "invalid_token"}')
    plain_401 = translate(401, body="")
    for error in (html_400, oauth_400, plain_401):
        assert isinstance(error, AuthExpiredError)
        assert "klapper login shop" in str(error)


def test_other_client_errors_are_permanent_with_the_platforms_words() -> None:
    error = translate(422, body={"error": "Validation failed: Text is too long"})
    assert type(error) is PermanentError and "Text is too long" in str(error)


def test_an_html_error_page_gives_its_title_not_the_page() -> None:
    page = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>" + "x" * 5000
    error = translate(502, body=page)
    assert "502 Bad Gateway" in str(error) and len(str(error)) < 300


def test_reasons_from_json_bodies() -> None:
    assert reason_of(b'{"detail": "Not allowed"}', status=403) == "Not allowed"
    assert reason_of({"error": {"message": "Bad media"}}, status=400) == "Bad media"
    assert reason_of(None, status=500) == "HTTP 500"


def test_renew_once_retries_once_after_a_refused_token() -> None:
    calls: list[str] = []

    def call() -> str:
        calls.append("call")
        if len(calls) == 1:
            raise AuthExpiredError("refused")
        return "ok"

    def renew() -> bool:
        calls.append("renew")
        return True

    assert renew_once(call, renew=renew, refused=lambda e: isinstance(e, AuthExpiredError)) == "ok"
    assert calls == ["call", "renew", "call"]


def test_renew_once_gives_up_when_refused_again_or_not_renewable() -> None:
    def refused_call() -> str:
        raise AuthExpiredError("refused")

    renewals: list[int] = []

    def renew() -> bool:
        renewals.append(1)
        return True

    with pytest.raises(AuthExpiredError):
        renew_once(refused_call, renew=renew, refused=lambda e: isinstance(e, AuthExpiredError))
    assert renewals == [1]
    with pytest.raises(AuthExpiredError):
        renew_once(
            refused_call, renew=lambda: False, refused=lambda e: isinstance(e, AuthExpiredError)
        )


def test_renew_once_lets_other_errors_through_unrenewed() -> None:
    def broken() -> str:
        raise TransientError("down")

    with pytest.raises(TransientError):
        renew_once(
            broken,
            renew=lambda: pytest.fail("renewed"),  # type: ignore[arg-type, return-value]
            refused=lambda e: isinstance(e, AuthExpiredError),
        )


def test_a_rate_limit_cannot_be_raised_without_when_it_ends() -> None:
    with pytest.raises(TypeError):
        RateLimitedError("limited")  # type: ignore[call-arg]
