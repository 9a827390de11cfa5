"""`klapper check --online`: every media address a platform will fetch serves the very file.

Instagram, Threads and Google Business fetch a post's images from the account's ``media_url``
(``adapters.public_media`` builds the address, as the adapters do). A file that was never
uploaded, a web page served in its place or an older copy makes the post fail at its time;
asked here, a pull request finds out before the merge. Each address is asked once (HEAD; a
ranged GET when HEAD is refused or gives no size), a few at a time, each within ``timeout``
and at most ``MAX_REDIRECTS`` redirects; it must answer 200 with the type the file's first
bytes show and its size. Nothing here runs unless asked: `klapper check` alone sends nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import requests

from klapper.adapters.public_media import NotServed, media_base, public_url
from klapper.queue.load import Repository
from klapper.queue.media import inspect_media
from klapper.queue.model import Post, Problem, Source

#: addresses asked at the same time: enough for a week of posts, gentle on a small web server
WORKERS = 8
#: seconds each address has to answer (connecting, then the headers)
TIMEOUT = 10.0
#: redirects followed before giving up (Meta's fetcher follows a few, not a loop)
MAX_REDIRECTS = 5
#: HEAD answers that mean "ask with GET" (method not allowed, not implemented)
HEAD_REFUSED = frozenset({405, 501})


@dataclass(frozen=True)
class Address:
    """One public address and what it must serve: the file's type (from its bytes) and size."""

    url: str
    file: str  # the repository path, e.g. media/a.jpg
    mime: str
    size: int


@dataclass(frozen=True)
class Use:
    """Where a post sends a media file to an account that fetches it by address."""

    source: Source
    post: Post
    account: str


def addresses(
    repository: Repository,
    *,
    published: Callable[[str], bool] | None = None,
    now: datetime | None = None,
) -> dict[Address, list[Use]]:
    """Each address the accounts with ``media_url`` will fetch, with the posts that use it.

    Files that are missing or no image are left out: `klapper check` reports them already.
    Posts already published (when the ledger says so) and posts past their time and the
    catch-up window (CI has no ledger) need their images no more.
    """
    found: dict[Address, list[Use]] = {}
    gone = (now or datetime.now(UTC)) - repository.config.defaults.catch_up
    for post in repository.posts:
        if (published is not None and published(post.id)) or _over(post, gone=gone):
            continue
        for account, address, source in _uses(repository, post):
            found.setdefault(address, []).append(Use(source, post, account))
    return found


def _over(post: Post, *, gone: datetime) -> bool:
    """True when no occurrence of ``post`` can go out any more (its time is before ``gone``)."""
    if post.every is None:
        return post.at is not None and post.at < gone
    return post.until is not None and post.until < gone


def _uses(repository: Repository, post: Post) -> Iterator[tuple[str, Address, Source]]:
    for account in post.to:
        settings = repository.config.accounts.get(account)
        base = media_base(settings) if settings is not None else None
        if base is None or settings is None:
            continue
        for part in post.parts_for(account, settings.platform):
            for media in part.media:
                try:
                    info = inspect_media(media.path)
                    url = public_url(base=base, repo=repository.root, path=media.path)
                except (OSError, NotServed):
                    continue
                if info.mime is None:
                    continue
                file = Path(media.path).resolve().relative_to(repository.root.resolve()).as_posix()
                yield account, Address(url, file, info.mime, info.size), media.source or post.source


def ask(session: requests.Session, address: Address, *, timeout: float) -> str | None:
    """What is wrong with what ``address.url`` serves, as the second half of a sentence; None."""
    url = address.url
    if urlsplit(url).scheme not in ("http", "https"):
        return "is no http(s) address; set media_url to where the files are served on the web"
    try:
        answer = _head_or_get(session, url, timeout=timeout)
    except requests.TooManyRedirects:
        return (
            f"redirects more than {MAX_REDIRECTS} times (a loop?); serve the file at that"
            " address directly"
        )
    except requests.Timeout:
        return f"did not answer within {timeout:g} s; the platform would give up too"
    except requests.exceptions.InvalidSchema:
        return "redirects to an address that is not http(s); the platform cannot follow it"
    except requests.RequestException as exc:
        return f"cannot be reached ({type(exc).__name__}); check media_url and the web server"
    return _judge(answer, address)


def _head_or_get(session: requests.Session, url: str, *, timeout: float) -> requests.Response:
    with session.head(url, timeout=timeout, allow_redirects=True) as answer:
        if answer.status_code not in HEAD_REFUSED and (
            not answer.ok or "Content-Length" in answer.headers
        ):
            return answer
    # One byte is enough: the headers tell the type, Content-Range the whole size.
    with session.get(
        url, timeout=timeout, allow_redirects=True, stream=True, headers={"Range": "bytes=0-0"}
    ) as answer:
        return answer


def _judge(answer: requests.Response, address: Address) -> str | None:
    status = answer.status_code
    if status in (404, 410):
        return f"not found ({status}); upload {address.file} to {address.url}"
    if status not in (200, 206):
        return (
            f"answers {status} {answer.reason}, not 200; make {address.file} publicly readable"
            " there"
        )
    served = answer.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if served != address.mime:
        return (
            f"served as {served or 'no type'}, expected {address.mime}; serve {address.file} there"
        )
    size = _size(answer)
    if size is None:
        return f"gives no size (Content-Length); the file has {address.size} bytes"
    if size != address.size:
        return (
            f"size {size} bytes, the file has {address.size}; upload {address.file} again"
            " (the served copy is another one)"
        )
    return None


def _size(answer: requests.Response) -> int | None:
    """The whole size: Content-Range's total for a ranged answer, else Content-Length."""
    header = (
        answer.headers.get("Content-Range", "").rpartition("/")[2]
        if answer.status_code == 206
        else answer.headers.get("Content-Length", "")
    )
    return int(header) if header.strip().isdigit() else None


def check_online(
    repository: Repository,
    *,
    published: Callable[[str], bool] | None = None,
    timeout: float = TIMEOUT,
    workers: int = WORKERS,
    progress: Callable[[int, int], None] | None = None,
    now: datetime | None = None,
) -> list[Problem]:
    """Ask every address (see the module docstring); one problem per post entry and address.

    ``progress(done, total)`` hears each answer (a progress bar). A draft's finding is a
    warning, as in `klapper check`.
    """
    found = addresses(repository, published=published, now=now)
    local = threading.local()
    sessions: list[requests.Session] = []
    done = [0]
    lock = threading.Lock()

    def one(address: Address) -> str | None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.max_redirects = MAX_REDIRECTS
            sessions.append(local.session)
        try:
            return ask(local.session, address, timeout=timeout)
        finally:
            if progress is not None:
                with lock:
                    done[0] += 1
                    progress(done[0], len(found))

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(found)))) as pool:
            wrong = dict(zip(found, pool.map(one, found), strict=True))
    finally:
        for session in sessions:
            session.close()
    return [
        problem
        for address, what in wrong.items()
        if what is not None
        for problem in _problems(address, what, found[address])
    ]


def _problems(address: Address, what: str, uses: list[Use]) -> Iterator[Problem]:
    """One problem per place in the posts, naming every account that fetches it from there."""
    by_place: dict[tuple[Source, str], list[Use]] = {}
    for use in uses:
        by_place.setdefault((use.source, use.post.id), []).append(use)
    for (source, post_id), place in by_place.items():
        draft = place[0].post.draft
        accounts = ", ".join(dict.fromkeys(use.account for use in place))
        yield Problem(
            source,
            "warning" if draft else "error",
            f"{'(draft) ' * draft}{address.url} {what}",
            post=post_id,
            account=accounts,
        )
