"""Graph API error codes into klapper's errors (adapters/meta/errors.py), one place for three
platforms."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from klapper.adapters.base import (
    AuthExpiredError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from klapper.adapters.meta.errors import graph_error

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def translate(
    code: int, *, status: int = 400, headers: dict[str, str] | None = None, **extra: object
) -> Exception:
    body = {
        "error": {
            "message": f"(#{code}) something",
            "type": "OAuthException",
            "code": code,
            **extra,
        }
    }
    return graph_error(
        platform="Facebook",
        status=status,
        action="publish the post",
        relogin="run `klapper login shop`",
        headers=headers,
        body=json.dumps(body),
        now=NOW,
    )


def test_code_190_is_an_expired_token_whatever_the_status() -> None:
    error = translate(190, error_subcode=463)
    assert isinstance(error, AuthExpiredError)
    assert "klapper login shop" in str(error) and "code 190, subcode 463" in str(error)


def test_a_missing_permission_asks_for_it() -> None:
    error = translate(200, status=403)
    assert isinstance(error, AuthExpiredError) and error.missing_access == "publish the post"


@pytest.mark.parametrize("code", [4, 17, 32, 613])
def test_rate_limits_wait_as_long_as_the_usage_header_says(code: int) -> None:
    usage = {
        "2222": [
            {"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 25},
            {"type": "pages", "call_count": 90, "estimated_time_to_regain_access": 40},
        ]
    }
    error = translate(code, headers={"X-Business-Use-Case-Usage": json.dumps(usage)})
    assert isinstance(error, RateLimitedError) and error.until == NOW + timedelta(minutes=40)


def test_a_rate_limit_without_an_estimate_waits_an_hour() -> None:
    error = translate(4, headers={"X-App-Usage": '{"call_count": 100, "total_time": 3}'})
    assert isinstance(error, RateLimitedError) and error.until == NOW + timedelta(hours=1)


def test_368_is_a_temporary_block_of_a_day() -> None:
    error = translate(368)
    assert isinstance(error, RateLimitedError) and error.until == NOW + timedelta(days=1)
    assert "temporarily blocked" in str(error)


def test_100_is_permanent_with_metas_own_words() -> None:
    body = {
        "error": {
            "message": "(#100) Invalid parameter",
            "code": 100,
            "error_user_msg": "The link you shared is not valid.",
        }
    }
    error = graph_error(
        platform="Facebook",
        status=400,
        action="publish the post",
        relogin="-",
        body=json.dumps(body),
        now=NOW,
    )
    assert isinstance(error, PermanentError)
    assert "The link you shared is not valid. (code 100)" in str(error)


def test_transient_answers_and_unknown_codes_fall_back_to_the_status() -> None:
    assert type(translate(2, status=503)) is TransientError
    assert type(translate(9999, is_transient=True)) is TransientError
    assert type(translate(9999, status=502)) is TransientError
    assert type(translate(9999, status=400)) is PermanentError
    html = graph_error(
        platform="Facebook",
        status=502,
        action="publish the post",
        relogin="-",
        body=b"<html><title>Bad Gateway</title></html>",
        now=NOW,
    )
    assert type(html) is TransientError and "Bad Gateway" in str(html)
