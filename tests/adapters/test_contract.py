"""One contract suite over every platform in the registry, each against its local server.

The platforms come from ``klapper.config.platforms.registry()``: the built-in ones, the outbox
and installed plugins (the webhook). Each one's case is found by convention (see
``klapper.testing``): ``tests.fakes.<name>:adapter_case`` for a built-in platform,
``<plugin package>.testing:adapter_case`` for a plugin; a fake that imitates several servers
names them in ``CONTRACT_MODES`` and the suite runs once per mode. A platform without a case
fails here; a case says what it lacks and why (``lacks``), and only those tests skip, saying so.
What is special to one platform lives in tests/adapters/test_<platform>.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import struct
import typing
import uuid
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from klapper import testing as faults
from klapper.adapters.base import (
    Adapter,
    AuthExpiredError,
    Interaction,
    MediaFile,
    Metrics,
    Outgoing,
    PermanentError,
    Published,
    RateLimitedError,
    ThreadRef,
    TransientError,
)
from klapper.config.platforms import BUILT_IN, Platform, platform, registry


def case_module(description: Platform) -> str:
    """Where a platform's contract case lives, by convention."""
    if description.name in BUILT_IN:
        return f"tests.fakes.{description.name.replace('-', '_')}"  # google-business
    return description.adapter.split(":")[0].split(".")[0] + ".testing"


def _modes() -> list[Any]:
    """(platform, case module, fake server arguments) per mode, named by the mode."""
    found = []
    for name, description in registry().items():
        where = case_module(description)
        try:
            fake = importlib.import_module(where)
        except ImportError as exc:  # reported by the fixture: a platform without a case fails
            found.append(pytest.param((name, where, exc), id=name))
            continue
        for mode, arguments in getattr(fake, "CONTRACT_MODES", {name: {}}).items():
            found.append(pytest.param((name, where, arguments), id=mode))
    return found


def _declared_lacks(where: str) -> Mapping[str, str]:
    """What the case class of module ``where`` lacks, read without starting its server."""
    made = typing.get_type_hints(importlib.import_module(where).adapter_case)["return"]
    (case_class,) = typing.get_args(made)  # Iterator[Case]
    if dataclasses.is_dataclass(case_class):
        field = {f.name: f for f in dataclasses.fields(case_class)}.get("lacks")
        if field is not None and field.default_factory is not dataclasses.MISSING:
            return field.default_factory()
    return getattr(case_class, "lacks", {})


def _modes_lacking(capability: str) -> list[Any]:
    """The modes whose case declares it lacks ``capability``: tests of how it says so."""
    return [
        param
        for param in _modes()
        if not isinstance(param.values[0][2], ImportError)
        and capability in _declared_lacks(param.values[0][1])
    ]


@pytest.fixture(params=_modes())
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    name, where, arguments = request.param
    if isinstance(arguments, ImportError):
        pytest.fail(
            f"platform {name!r} has no contract case: {where} ({arguments}); add"
            f" {where}:adapter_case (see klapper.testing)"
        )
    fake = importlib.import_module(where)
    with fake.adapter_case(tmp_path, **arguments) as made:
        made.platform = name
        yield made


def needs(case: Any, capability: str) -> None:
    """Skip, with the case's own reason, a test of what the case declares it lacks."""
    why = getattr(case, "lacks", {}).get(capability)
    if why:
        pytest.skip(f"{case.platform} lacks {capability}: {why}")


def test_every_platform_in_the_registry_has_a_case() -> None:
    names = {param.values[0][0] for param in _modes()}
    assert names == set(registry())
    assert {"outbox", *BUILT_IN} <= names


def test_a_case_says_what_it_lacks_and_why(case: Any) -> None:
    lacks = getattr(case, "lacks", {})
    assert set(lacks) <= set(faults.CAPABILITIES), lacks
    assert all(isinstance(why, str) and len(why) > 10 for why in lacks.values()), lacks
    # Which cases the refusal test runs for is read from the class: the case made agrees.
    declared = _declared_lacks(case_module(platform(case.platform)))
    assert ("answers" in lacks) == ("answers" in declared), (lacks, declared)
    # A platform without reactions or replies says so rather than answering "none".
    for capability in ("metrics", "interactions"):
        if getattr(type(case.adapter), capability) is getattr(Adapter, capability):
            assert capability in lacks, f"{case.platform} has no {capability}: say so in lacks"


def outgoing(
    text: str | None = None,
    *,
    part: int = 0,
    reply_to: ThreadRef | None = None,
    key: str | None = None,
) -> Outgoing:
    """A post with a fresh idempotency key, due now (adapters' `find` matches near `due`)."""
    unique = uuid.uuid4().hex[:10]
    return Outgoing(
        text=text or f"Contract test post {unique}",
        idempotency_key=key or f"contract-{unique}-{part}",
        post_id=f"posts/contract-{unique}.yaml",
        part=part,
        reply_to=reply_to,
        due=datetime.now(UTC) - timedelta(seconds=1),
    )


def publish(case: Any, post: Outgoing) -> Published:
    """Publish ``post``; with an image (named by its key, so a retry sends the same) where the
    platform takes no post without one."""
    if post.media or "text" not in getattr(case, "lacks", {}):
        return case.adapter.publish(post)  # type: ignore[no-any-return]
    image = png(Path(case.adapter.repo) / f"{post.idempotency_key}.png")
    media = (MediaFile(path=image, alt="A workbench", mime="image/png"),)
    return case.adapter.publish(replace(post, media=media))  # type: ignore[no-any-return]


def texts(case: Any) -> list[str]:
    return [post["text"] for post in case.posts()]


def test_rules_are_the_published_data(case: Any) -> None:
    adapter_cls = type(case.adapter)
    assert platform(case.platform).adapter.endswith(adapter_cls.__name__)
    assert adapter_cls.rules == platform(case.platform).rules


def test_effective_rules_carry_the_servers_text_limit(case: Any) -> None:
    announced = getattr(case, "text_limit", platform(case.platform).rules.text_limit)
    assert case.adapter.effective_rules().text_limit == announced


def png(path: Path) -> Path:
    """A valid 1x1 grey PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit grey
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )
    return path


def test_an_image_with_alt_text_goes_out(case: Any, tmp_path: Path) -> None:
    image = MediaFile(path=png(tmp_path / "bench.png"), alt="A workbench", mime="image/png")
    post = outgoing()
    published = publish(case, Outgoing(**{**vars(post), "media": (image,)}))
    assert published.remote_id and texts(case).count(post.text) == 1


def test_publish_returns_id_and_url_and_the_server_holds_it(case: Any) -> None:
    post = outgoing()
    published = publish(case, post)
    assert isinstance(published, Published) and published.remote_id
    # An address a person can open: the post's page (the outbox: its file).
    assert published.url and urlsplit(published.url).scheme in ("http", "https", "file")
    assert texts(case).count(post.text) == 1


def test_a_thread_part_answers_the_part_before(case: Any) -> None:
    needs(case, "replies")
    first = publish(case, outgoing())
    reply = outgoing(part=1, reply_to=ThreadRef(root=first, parent=first))
    second = publish(case, reply)
    held = {post["text"]: post for post in case.posts()}
    assert held[reply.text]["reply_to"] == first.remote_id
    assert second.remote_id != first.remote_id


def test_find_sees_what_was_published_and_proves_absence(case: Any) -> None:
    needs(case, "find")
    post = outgoing()
    published = publish(case, post)
    found = case.adapter.find(post)
    assert found is not None and found.remote_id == published.remote_id
    assert case.adapter.find(outgoing()) is None


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("server_error", TransientError),
        ("drop", TransientError),
        ("rate_limit", RateLimitedError),
        ("auth", AuthExpiredError),
    ],
)
def test_failures_map_to_the_error_tree(case: Any, kind: str, error: type[Exception]) -> None:
    needs(case, "faults")
    post = outgoing()
    case.fail_next(kind)
    with pytest.raises(error) as raised:
        publish(case, post)
    if kind == "rate_limit":
        assert raised.value.until is not None and raised.value.until > datetime.now(UTC)
    if kind != "auth":
        assert post.text not in texts(case)
        # After the failure the same post goes through, once.
        publish(case, post)
        assert texts(case).count(post.text) == 1


# What every platform's answers mean, whatever the platform: one status, one error class.
_TRANSIENT_FAULTS = {  # fault -> words of the answer the error must carry
    "request_timeout": "408 Request Time-out",
    "too_early": "Too Early",
    "html_error": "502 Bad Gateway",
}
_RATE_LIMITS = {
    "rate_limit_seconds": faults.RETRY_SECONDS,
    "rate_limit_date": faults.RETRY_DATE_SECONDS,
}


@pytest.mark.parametrize("kind", sorted(_TRANSIENT_FAULTS))
def test_408_425_and_an_html_5xx_page_are_transient(case: Any, kind: str) -> None:
    needs(case, "faults")
    post = outgoing()
    case.fail_next(kind)
    with pytest.raises(TransientError) as raised:
        publish(case, post)
    message = str(raised.value)
    assert type(raised.value) is TransientError, message
    assert _TRANSIENT_FAULTS[kind] in message and "<" not in message, message
    publish(case, post)
    assert texts(case).count(post.text) == 1


@pytest.mark.parametrize("kind", sorted(_RATE_LIMITS))
def test_429_waits_as_long_as_retry_after_says_in_both_forms(case: Any, kind: str) -> None:
    needs(case, "faults")
    post = outgoing()
    case.fail_next(kind)
    with pytest.raises(RateLimitedError) as raised:
        publish(case, post)
    wait = (raised.value.until - datetime.now(UTC)).total_seconds()
    assert _RATE_LIMITS[kind] - 10 <= wait <= _RATE_LIMITS[kind] + 1, raised.value
    assert post.text not in texts(case)


def test_413_with_a_proxys_html_page_is_permanent_and_says_too_large(case: Any) -> None:
    needs(case, "faults")
    case.fail_next("too_large")
    with pytest.raises(PermanentError) as raised:
        publish(case, outgoing())
    message = str(raised.value)
    assert "too large" in message.lower() and "<" not in message, message


def test_a_timeout_after_the_server_accepted_is_found_not_posted_twice(case: Any) -> None:
    needs(case, "faults")
    needs(case, "find")
    post = outgoing()
    case.fail_next("timeout_after_accept")
    with pytest.raises(TransientError):
        publish(case, post)
    found = None
    with contextlib.suppress(TransientError):  # the server may still be finishing the slow answer
        found = case.adapter.find(post)
    if found is None:
        found = _find_when_settled(case, post)
    assert found is not None, "a post the server accepted must be found, never re-posted"
    assert texts(case).count(post.text) == 1


def _find_when_settled(case: Any, post: Outgoing) -> Published | None:
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with contextlib.suppress(TransientError):
            found = case.adapter.find(post)
            if found is not None:
                return found
        time.sleep(0.2)
    return None


def test_errors_carry_no_secret(case: Any) -> None:
    needs(case, "faults")
    case.fail_next("auth")
    with pytest.raises(AuthExpiredError) as raised:
        publish(case, outgoing())
    message = str(raised.value)
    for value in case.adapter.secrets.values():
        if isinstance(value, str) and len(value) >= 8:
            assert value not in message


# --- reactions and replies ------------------------------------------------------------------


def test_metrics_read_what_was_published_and_never_invent_zero(case: Any) -> None:
    needs(case, "metrics")
    first, second = publish(case, outgoing()), publish(case, outgoing())
    read = case.adapter.metrics([first.remote_id, second.remote_id])
    assert all(isinstance(m, Metrics) for m in read)
    assert {m.remote_id for m in read} == {first.remote_id, second.remote_id}
    for metrics in read:  # a figure is a count or unknown (None), never negative
        counts = [v for k, v in vars(metrics).items() if k != "remote_id"]
        assert all(v is None or (isinstance(v, int) and v >= 0) for v in counts), metrics
    assert case.adapter.metrics([]) == []


def test_interactions_bring_a_reply_to_our_post_and_nothing_older(case: Any) -> None:
    needs(case, "interactions")
    since = datetime.now(UTC) - timedelta(seconds=5)
    ours = publish(case, outgoing())
    text = f"Is the sale on Sunday too? {uuid.uuid4().hex[:6]}"
    case.reply(to=ours.remote_id, text=text)
    found = case.adapter.interactions(since=since, own_ids=[ours.remote_id])
    replies = [i for i in found if text in i.text]
    assert len(replies) == 1, found
    assert replies[0].kind == "reply" and replies[0].in_reply_to == ours.remote_id
    assert not replies[0].by_self and replies[0].created_at >= since
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert not [
        i
        for i in case.adapter.interactions(since=later, own_ids=[ours.remote_id])
        if text in i.text
    ]


# --- answering the inbox --------------------------------------------------------------------


def incoming(case: Any, text: str) -> Interaction:
    """Something someone else said to the account, as the inbox holds it: the case's own
    (``incoming``), else an answer to a post of ours read through ``interactions``."""
    if hasattr(case, "incoming"):
        return case.incoming(text)  # type: ignore[no-any-return]
    needs(case, "interactions")
    since = datetime.now(UTC) - timedelta(seconds=5)
    ours = publish(case, outgoing())
    case.reply(to=ours.remote_id, text=text)
    found = case.adapter.interactions(since=since, own_ids=[ours.remote_id])
    [item] = [i for i in found if text in i.text]
    return item  # type: ignore[no-any-return]


def test_an_answer_lands_under_the_item_it_answers_and_is_found(case: Any) -> None:
    """Fails for an adapter that silently lacks answers (its publish ignoring ``reply_to``)."""
    needs(case, "answers")
    item = incoming(case, f"Do you open on Sunday? {uuid.uuid4().hex[:6]}")
    answer = outgoing(f"Yes, from 10 to 4. {uuid.uuid4().hex[:6]}")
    answer = replace(answer, reply_to=case.adapter.reply_target(item))
    sent = case.adapter.reply(answer)
    held = [post for post in case.posts() if post["text"] == answer.text]
    assert len(held) == 1, case.posts()
    assert held[0]["reply_to"] == item.remote_id and held[0]["id"] == sent.remote_id
    if "find" not in getattr(case, "lacks", {}):
        found = case.adapter.find_reply(answer)
        assert found is not None and found.remote_id == sent.remote_id
        other = replace(outgoing(f"Not sent {uuid.uuid4().hex[:6]}"), reply_to=answer.reply_to)
        assert case.adapter.find_reply(other) is None


def test_the_platforms_that_cannot_answer_are_found() -> None:
    assert "webhook" in {param.id for param in _modes_lacking("answers")}


@pytest.mark.parametrize("case", _modes_lacking("answers"), indirect=True)
def test_a_platform_that_cannot_answer_says_so_in_one_line(case: Any) -> None:
    item = Interaction(
        remote_id="1",
        kind="mention",
        author="@anna",
        text="Hi",
        url=None,
        created_at=datetime.now(UTC),
    )
    answer = replace(outgoing("Hello"), reply_to=case.adapter.reply_target(item))
    with pytest.raises(PermanentError) as refused:
        case.adapter.reply(answer)
    assert "\n" not in str(refused.value) and "answer" in str(refused.value)
    assert "Hello" not in texts(case)
