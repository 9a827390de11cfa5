"""A real Bluesky PDS for tests: start and stop it, make accounts, act as them, and adapter cases.

The PDS is the reference one (@atproto/dev-env from npm) that .ci/pds-setup installs into
.pds/; without an AppView it runs once per test process, bound to 127.0.0.1 (the network with
Bluesky's AppView is tests/fakes/bluesky_appview.py's, started only by tests that read
reactions). Adapter cases reach it through the fault proxy of tests/fakes/bluesky_proxy.py.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import hmac
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from klapper.adapters.base import Interaction, Outgoing
from klapper.adapters.bluesky.adapter import BlueskyAdapter
from tests.fakes.bluesky_proxy import POLL, FaultProxy

REPO = Path(__file__).resolve().parents[2]
HOME = Path(os.environ.get("KLAPPER_PDS_HOME") or REPO / ".pds")
START_SCRIPT = REPO / "tests" / "pds" / "start.mjs"
MISSING = "the local Bluesky PDS is not installed in .pds/ (run .ci/pds-setup)"
START_TIMEOUT = 60.0  # seconds; it takes about 3 on this machine (6 with the AppView)
SYNC_TIMEOUT = 30.0  # seconds for the AppView to index what the PDS holds (milliseconds here)
CASE_TIMEOUT = 2.0  # the contract case adapter's call timeout, so a slow answer is quick to test


def stamp(moment: datetime) -> str:
    """A record's createdAt as Bluesky's apps write it: UTC, milliseconds, "Z"."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def signed_token(did: str, *, kind: str = "access", expires_in: int = 3600) -> str:
    """A session token signed like the dev PDS's own (dev-env's JWT secret) for any ``did``.

    ``kind`` is "access" or "refresh"; a negative ``expires_in`` gives an expired token, a DID
    the PDS does not hold one it answers "Could not find user info for account".
    """

    def part(data: dict[str, Any]) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")

    now = int(time.time())
    typ = "at+jwt" if kind == "access" else "refresh+jwt"
    claims = {
        "scope": f"com.atproto.{kind}",
        "aud": "did:web:localhost",
        "sub": did,
        "iat": now - 60,
        "exp": now + expires_in,
        "jti": uuid.uuid4().hex,
    }
    head = part({"typ": typ, "alg": "HS256"}) + b"." + part(claims)
    signature = hmac.new(b"jwt-secret", head, hashlib.sha256).digest()
    return (head + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


def installed() -> bool:
    return (HOME / "node" / "bin" / "node").exists() and (HOME / "app" / "node_modules").is_dir()


@dataclass(frozen=True)
class Account:
    """An account on the local PDS: its password is the main one, ``app_password`` an app one."""

    handle: str
    did: str
    password: str
    app_password: str


class LocalPds:
    """One PLC + PDS process; ``url`` is the PDS on 127.0.0.1.

    With ``appview=True`` the process runs Bluesky's AppView too (``env`` must name its
    PostgreSQL and Redis, see bluesky_appview) and the PDS proxies app.bsky.* reads to it.
    """

    def __init__(self, *, appview: bool = False, env: dict[str, str] | None = None) -> None:
        if not installed():
            raise RuntimeError(MISSING)
        self.data = Path(tempfile.mkdtemp(prefix="klapper-pds-"))
        self.log = self.data / "pds.log"
        env = {**os.environ, **(env or {}), "TMPDIR": str(self.data), "NODE_ENV": "development"}
        with open(self.log, "wb") as log:
            # Unbuffered, so select() sees every line the script writes, not only the first.
            self.process = subprocess.Popen(
                [
                    str(HOME / "node" / "bin" / "node"),
                    str(START_SCRIPT),
                    *(["appview"] if appview else []),
                ],
                cwd=HOME / "app",
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                bufsize=0,
            )
        try:
            ready = self._answer("pds", timeout=START_TIMEOUT, doing="start")
        except RuntimeError:
            self.stop()
            raise
        self.url: str = str(ready["pds"])
        self.http = httpx.Client(base_url=self.url + "/xrpc", timeout=30)
        # Access tokens of the accounts made here (a login costs ~0.3 s of password hashing).
        self.tokens: dict[str, str] = {}

    def sync(self) -> None:
        """Wait until the AppView has indexed everything the PDS holds (likes, replies, accounts)."""
        self.process.stdin.write(b"sync\n")
        self.process.stdin.flush()
        self._answer("synced", timeout=SYNC_TIMEOUT, doing="sync the AppView")

    def _answer(self, key: str, *, timeout: float, doing: str) -> dict[str, Any]:
        """The start script's next JSON line holding ``key`` (log lines in between are skipped)."""
        deadline = time.monotonic() + timeout
        failed = f"no answer within {timeout:g} s"
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.process.stdout], [], [], left)
            line = self.process.stdout.readline() if ready else b""
            if not line:
                break
            with contextlib.suppress(ValueError):
                said = json.loads(line)
                if isinstance(said, dict) and key in said:
                    return said
                if isinstance(said, dict) and "error" in said:
                    failed = str(said["error"])
                    break
        log = self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the local PDS could not {doing}: {failed}; its log ends: {log}")

    def create_account(self, handle: str | None = None) -> Account:
        """A new account with a unique ``*.test`` handle and an app password."""
        handle = handle or f"k{uuid.uuid4().hex[:12]}.test"
        password = uuid.uuid4().hex
        made = self.http.post(
            "/com.atproto.server.createAccount",
            json={"handle": handle, "email": f"{handle}@example.com", "password": password},
        )
        made.raise_for_status()
        body = made.json()
        app = self.http.post(
            "/com.atproto.server.createAppPassword",
            json={"name": "klapper"},
            headers={"Authorization": f"Bearer {body['accessJwt']}"},
        )
        app.raise_for_status()
        self.tokens[body["did"]] = body["accessJwt"]
        return Account(handle, body["did"], password, app.json()["password"])

    def session(self, account: Account) -> dict[str, Any]:
        made = self.http.post(
            "/com.atproto.server.createSession",
            json={"identifier": account.handle, "password": account.password},
        )
        made.raise_for_status()
        return made.json()

    def post_as(
        self, account: Account, record: dict[str, Any], *, collection: str = "app.bsky.feed.post"
    ) -> dict[str, Any]:
        """Create a record (a post by default) as ``account``: someone answering us."""
        token = self.tokens.get(account.did) or self.session(account)["accessJwt"]
        made = self.http.post(
            "/com.atproto.repo.createRecord",
            json={"repo": account.did, "collection": collection, "record": record},
            headers={"Authorization": f"Bearer {token}"},
        )
        made.raise_for_status()
        return made.json()

    def react_as(self, account: Account, kind: str, subject: dict[str, str]) -> dict[str, Any]:
        """A "like" or "repost" by ``account`` of ``subject`` ({"uri", "cid"})."""
        collection = f"app.bsky.feed.{kind}"
        return self.post_as(
            account,
            {"$type": collection, "subject": subject, "createdAt": stamp(datetime.now(UTC))},
            collection=collection,
        )

    def records(self, did: str) -> list[dict[str, Any]]:
        """Every post record in ``did``'s repo, oldest first."""
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.http.get(
                "/com.atproto.repo.listRecords",
                params={
                    "repo": did,
                    "collection": "app.bsky.feed.post",
                    "limit": 100,
                    **({"cursor": cursor} if cursor else {}),
                },
            ).json()
            found += page["records"]
            cursor = page.get("cursor")
            if not cursor or not page["records"]:
                return sorted(found, key=lambda r: r["value"]["createdAt"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()  # the start script closes the servers when stdin ends
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.data, ignore_errors=True)


_shared: LocalPds | None = None
_shared_lock = threading.Lock()


def shared_pds() -> LocalPds:
    """The test process's PDS, started on first use and stopped at exit; skips if not installed."""
    global _shared
    if not installed():
        pytest.skip(MISSING)
    with _shared_lock:
        if _shared is None:
            _shared = LocalPds()
            atexit.register(_shared.stop)
        return _shared


# --- the shared adapter contract suite's case ---------------------------------------------


@dataclass
class Case:
    """One Bluesky account on the local PDS, reached through a fault proxy."""

    adapter: BlueskyAdapter
    pds: LocalPds
    account: Account
    proxy: FaultProxy
    saved: dict[str, str]
    lacks: dict[str, str] = field(
        default_factory=lambda: {
            "interactions": "replies are AppView reads and the local PDS has none (with a real"
            " AppView: tests/engagement/test_bluesky.py)",
        }
    )

    def posts(self) -> list[dict[str, Any]]:
        """What the PDS holds for the account: id (at:// uri), text, reply_to (parent uri)."""
        return [
            {
                "id": r["uri"],
                "text": r["value"].get("text", ""),
                "reply_to": (r["value"].get("reply") or {}).get("parent", {}).get("uri"),
            }
            for r in self.pds.records(self.account.did)
        ]

    def fail_next(self, kind: str) -> None:
        self.proxy.fail_next(kind)

    def incoming(self, text: str) -> Interaction:
        """Another account on the PDS answers a post of ours (the AppView would notify it)."""
        ours = self.adapter.publish(
            Outgoing(text=f"Our post {uuid.uuid4().hex[:8]}", idempotency_key=uuid.uuid4().hex)
        )
        friend = self.pds.create_account()
        strong = {"uri": ours.remote_id, "cid": ours.ref["cid"]}
        made = self.pds.post_as(
            friend,
            {
                "$type": "app.bsky.feed.post",
                "text": text,
                "createdAt": stamp(datetime.now(UTC)),
                "reply": {"root": strong, "parent": strong},
            },
        )
        return Interaction(
            remote_id=made["uri"],
            kind="reply",
            author=friend.handle,
            text=text,
            url=None,
            created_at=datetime.now(UTC),
            in_reply_to=ours.remote_id,
        )


def make_adapter(
    *,
    service: str,
    account: Account,
    saved: dict[str, str],
    timeout: float,
    secrets: dict[str, str] | None = None,
    repo: Path | None = None,
) -> BlueskyAdapter:
    """An adapter for ``account`` that logs in with its app password and saves into ``saved``."""
    return BlueskyAdapter(
        name="bsky",
        settings={"service": service, "handle": account.handle},
        secrets=secrets if secrets is not None else {"app_password": account.app_password},
        repo=repo or REPO,
        timeout=timeout,
        save_secrets=saved.update,
    )


@contextlib.contextmanager
def adapter_case(tmp_path: Path, *, pds: LocalPds | None = None) -> Iterator[Case]:
    """A fresh account on ``pds`` (the shared one by default) and its adapter behind a proxy."""
    pds = pds or shared_pds()
    account = pds.create_account()
    proxy = FaultProxy(upstream=pds.url, delay=CASE_TIMEOUT + 1.0)
    saved: dict[str, str] = {}
    adapter = make_adapter(
        service=proxy.url, account=account, saved=saved, timeout=CASE_TIMEOUT, repo=tmp_path
    )
    try:
        yield Case(adapter=adapter, pds=pds, account=account, proxy=proxy, saved=saved)
    finally:
        adapter.close()
        proxy.close()


class Pages:
    """A tiny web server on 127.0.0.1 serving fixed pages (for link cards): path -> (type, body)."""

    def __init__(self, routes: dict[str, tuple[str, bytes]], *, delay: float = 0.0) -> None:
        self.hits: list[str] = []
        pages = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                pages.hits.append(path)
                if delay:
                    time.sleep(delay)  # a slow page: the card must give up, not the post
                kind, body = routes.get(path, ("text/plain", b"not found"))
                self.send_response(200 if path in routes else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": POLL}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
