"""LinkedIn: posts to a person or an organization page through the versioned Posts API.

Getting a token: create an app at https://www.linkedin.com/developers/apps, add the products
"Share on LinkedIn" and "Sign In with LinkedIn using OpenID Connect" (and, for a page, the
Community Management API), register ``http://127.0.0.1:8914/callback`` as redirect URL, then run
``klapper login <account>``. Tokens live about 60 days; refresh tokens only exist for apps that
LinkedIn grants them to, so ``klapper status`` warns 7 days before a token runs out.

Account settings: ``author`` (``urn:li:person:...`` or ``urn:li:organization:...``),
``visibility`` (PUBLIC, CONNECTIONS or LOGGED_IN; default PUBLIC), ``api_base`` and
``oauth_base`` (tests point them at a fake server), ``api_version`` (LinkedIn-Version, YYYYMM).

Threads: LinkedIn posts have no replies, so follow-ups go out as comments on the first post, in
order, written by the author (with at most one image each; comments carry no alt text).
Reading back (``find``, ``metrics``, ``interactions``) needs r_member_social for a person, which
LinkedIn grants only to selected apps, or r_organization_social for a page.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from klapper.adapters.base import (
    Adapter,
    AuthExpiredError,
    Interaction,
    MediaFile,
    Metrics,
    Outgoing,
    PermanentError,
    Published,
    ThreadRef,
    TransientError,
)
from klapper.adapters.identity import carried, checked, is_checked, mismatch_error
from klapper.adapters.linkedin import PLATFORM, engagement
from klapper.adapters.linkedin.engagement import (
    comment_url,
    comment_urn,
    comments,
    from_millis,
    post_url,
)
from klapper.adapters.linkedin.http import (
    API_BASE,
    API_VERSION,
    OAUTH_BASE,
    LinkedInClient,
    encode,
)
from klapper.adapters.linkedin.text import from_little, to_little
from klapper.adapters.matching import find_since, same_text

VISIBILITIES = {"public": "PUBLIC", "connections": "CONNECTIONS", "logged_in": "LOGGED_IN"}
#: how many of the author's latest posts `find` reads per page, and pages at most.
FIND_PAGE, FIND_PAGES = 20, 5


class LinkedInAdapter(Adapter):
    """One LinkedIn author (a member or an organization page)."""

    platform: ClassVar[str] = "linkedin"
    # Rules.threads is True: follow-ups become comments on the first post (see module docs).
    rules = PLATFORM.rules

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.author = str(self.settings.get("author") or self.secrets.get("author") or "")
        if not self.author.startswith(("urn:li:person:", "urn:li:organization:")):
            raise PermanentError(
                f"LinkedIn account {self.name!r} needs `author: urn:li:person:<id>` or"
                f" `author: urn:li:organization:<id>` in klapper.yaml (`klapper login {self.name}`"
                " prints the person URN)"
            )
        self.is_page = self.author.startswith("urn:li:organization:")
        self._client: LinkedInClient | None = None
        self._identity_ok = False  # checked once per adapter, before the first post

    # --- plumbing ---------------------------------------------------------------------------

    @property
    def client(self) -> LinkedInClient:
        if self._client is None:
            if not self.secrets.get("access_token"):
                raise AuthExpiredError(
                    f"LinkedIn account {self.name!r} has no access token;"
                    f" run `klapper login {self.name}`"
                )
            self._client = LinkedInClient(
                account=self.name,
                secrets=self.secrets,
                api_base=str(self.settings.get("api_base") or API_BASE),
                oauth_base=str(self.settings.get("oauth_base") or OAUTH_BASE),
                version=str(self.settings.get("api_version") or API_VERSION),
                timeout=self.timeout,
                on_token=lambda changed: self.update_secrets(
                    **carried(self.secrets, changed, credential="access_token")
                ),
            )
        return self._client

    def _permission(self, access: str) -> str:
        """The OAuth scope this author needs: ``access`` is "w" (write) or "r" (read)."""
        return f"{access}_{'organization' if self.is_page else 'member'}_social"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- publish ----------------------------------------------------------------------------

    def check_identity(self) -> None:
        """Post as a person only with that person's token (see ``adapters.identity``).

        An unchecked token costs one /v2/userinfo call (the login's openid scope), whose
        answer is recorded. A page is posted to by any of its admins, so only the person
        who logged in is recorded; a token without openid cannot tell, and LinkedIn itself
        refuses a post for another author.
        """
        if self._identity_ok:
            return
        if not is_checked(self.secrets, credential="access_token"):
            try:
                sub = (
                    self.client.call(
                        "GET", "/v2/userinfo", permission="openid", what="read whose the token is"
                    )
                    .json()
                    .get("sub")
                )
            except AuthExpiredError as exc:
                if not exc.missing_access:
                    raise
                sub = None  # no openid scope: LinkedIn's own author check has to do
            if sub:
                self.update_secrets(
                    **checked(self.secrets, credential="access_token", user_id=str(sub))
                )
        user = self.secrets.get("user_id")
        if not self.is_page and user and self.author != f"urn:li:person:{user}":
            raise mismatch_error(
                account=self.name,
                platform="LinkedIn",
                stored=f"urn:li:person:{user}",
                named=self.author,
            )
        self._identity_ok = True

    def publish(self, post: Outgoing) -> Published:
        self.check_identity()
        if post.reply_to is not None:
            return self._comment(post)
        body: dict[str, Any] = {
            "author": self.author,
            "commentary": to_little(post.text),
            "visibility": self._visibility(post.options),
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        images = [(self._upload(media), media.alt) for media in post.media]
        if len(images) == 1:
            body["content"] = {"media": self._image(*images[0])}
        elif images:
            body["content"] = {"multiImage": {"images": [self._image(*i) for i in images]}}
        response = self.client.call(
            "POST",
            "/rest/posts",
            body=body,
            permission=self._permission("w"),
            what="publish the post",
        )
        urn = response.headers.get("x-restli-id")
        if not urn:
            # Accepted, but without an id we cannot point to it: let `find` settle it.
            raise TransientError("LinkedIn accepted the post but returned no x-restli-id")
        return Published(remote_id=urn, url=post_url(urn), published_at=datetime.now(UTC))

    def _comment(self, post: Outgoing) -> Published:
        assert post.reply_to is not None
        root = post.reply_to.root.remote_id
        if len(post.media) > 1:
            raise PermanentError(
                f"a LinkedIn thread follow-up is a comment and takes one image, not"
                f" {len(post.media)}; move the others into the first part or split the follow-up"
            )
        body: dict[str, Any] = {
            # Comment text is plain (mentions go in attributes), unlike a post's commentary.
            "actor": self.author,
            "object": root,
            "message": {"text": post.text},
        }
        if post.media:
            body["content"] = [{"entity": {"image": self._upload(post.media[0])}}]
        response = self.client.call(
            "POST",
            f"/rest/socialActions/{encode(root)}/comments",
            body=body,
            permission=self._permission("w"),
            what="publish the thread follow-up as a comment",
        )
        urn = comment_urn(response.json() if response.content else {})
        if not urn:
            raise TransientError("LinkedIn accepted the comment but returned no comment URN")
        return Published(
            remote_id=urn,
            url=comment_url(root, urn),
            published_at=datetime.now(UTC),
            ref={"root": root},
        )

    # --- answering comments ----------------------------------------------------------------

    def reply_target(self, item: Interaction) -> ThreadRef:
        """A comment's post as root (``urn:li:comment:(<post>,<id>)``), the comment as parent."""
        parent = Published(remote_id=item.remote_id, url=item.url)
        post = _post_of_comment(item.remote_id)
        return ThreadRef(root=Published(remote_id=post) if post else parent, parent=parent)

    def reply(self, answer: Outgoing) -> Published:
        """A nested comment under the comment answered; a comment on a post answered."""
        self.check_identity()
        assert answer.reply_to is not None, "an answer answers something"
        post, parent = answer.reply_to.root.remote_id, answer.reply_to.parent.remote_id
        if post == parent:
            return self._comment(answer)
        response = self.client.call(
            "POST",
            f"/rest/socialActions/{encode(parent)}/comments",
            body={
                "actor": self.author,
                "object": post,
                "parentComment": parent,
                "message": {"text": answer.text},
            },
            permission=self._permission("w"),
            what="answer the comment",
        )
        urn = comment_urn(response.json() if response.content else {})
        if not urn:
            raise TransientError("LinkedIn accepted the answer but returned no comment URN")
        return Published(remote_id=urn, url=comment_url(post, urn), published_at=datetime.now(UTC))

    def find_reply(self, answer: Outgoing) -> Published | None:
        assert answer.reply_to is not None, "an answer answers something"
        post, parent = answer.reply_to.root.remote_id, answer.reply_to.parent.remote_id
        if post == parent:
            return self.find(answer)
        for comment in self._comments(post, since=find_since(answer.due)):
            said = str((comment.get("message") or {}).get("text", ""))
            if (
                comment.get("actor") == self.author
                and comment.get("parentComment") == parent
                and same_text(said, answer.text)
            ):
                urn = comment_urn(comment)
                return Published(
                    remote_id=urn,
                    url=comment_url(post, urn),
                    published_at=from_millis((comment.get("created") or {}).get("time")),
                )
        return None

    def _visibility(self, options: Mapping[str, Any]) -> str:
        wanted = str(options.get("visibility") or self.settings.get("visibility") or "public")
        try:
            return VISIBILITIES[wanted.lower()]
        except KeyError:
            raise PermanentError(
                f"LinkedIn has no visibility {wanted!r}; use one of"
                f" {', '.join(VISIBILITIES)} (per: linkedin: {{visibility: ...}})"
            ) from None

    @staticmethod
    def _image(urn: str, alt: str | None) -> dict[str, str]:
        return {"id": urn, "altText": alt} if alt else {"id": urn}

    def _upload(self, media: MediaFile) -> str:
        """Register an image with LinkedIn, send its bytes; returns the image URN."""
        try:
            data = Path(media.path).read_bytes()
        except OSError as exc:
            raise PermanentError(f"cannot read image {media.path}: {exc.strerror}") from exc
        answer = self.client.call(
            "POST",
            "/rest/images",
            query=[("action", "initializeUpload")],
            body={"initializeUploadRequest": {"owner": self.author}},
            permission=self._permission("w"),
            what=f"register image {media.path.name}",
        ).json()["value"]
        self.client.call(
            "PUT",
            answer["uploadUrl"],
            data=data,
            absolute=True,
            permission=self._permission("w"),
            what=f"upload image {media.path.name}",
        )
        return str(answer["image"])

    # --- find -------------------------------------------------------------------------------

    def find(self, post: Outgoing) -> Published | None:
        since = find_since(post.due)
        if post.reply_to is not None:
            root = post.reply_to.root.remote_id
            for comment in self._comments(root, since=since):
                said = str((comment.get("message") or {}).get("text", ""))
                if comment.get("actor") == self.author and same_text(said, post.text):
                    urn = comment_urn(comment)
                    return Published(
                        remote_id=urn,
                        url=comment_url(root, urn),
                        published_at=from_millis((comment.get("created") or {}).get("time")),
                        ref={"root": root},
                    )
            return None
        for element in self._recent_posts(since=since):
            if same_text(from_little(element.get("commentary", "")), post.text):
                urn = element["id"]
                at = from_millis(element.get("publishedAt") or element.get("createdAt"))
                return Published(remote_id=urn, url=post_url(urn), published_at=at)
        return None

    def _recent_posts(self, *, since: datetime | None) -> Iterator[dict[str, Any]]:
        """The author's posts, newest first, back to ``since``; TransientError when unsure."""
        for page in range(FIND_PAGES):
            answer = self.client.call(
                "GET",
                "/rest/posts",
                query=[
                    ("q", "author"),
                    ("author", self.author),
                    ("count", str(FIND_PAGE)),
                    ("start", str(page * FIND_PAGE)),
                    ("sortBy", "CREATED"),
                ],
                permission=self._permission("r"),
                what="list the author's recent posts",
            ).json()
            elements = answer.get("elements") or []
            for element in elements:
                created = from_millis(element.get("createdAt"))
                if since is None or created is None or created >= since:
                    yield element
            if len(elements) < FIND_PAGE:
                return  # the author has no older posts: absence is proven
            oldest = from_millis(elements[-1].get("createdAt"))
            if since is not None and oldest is not None and oldest < since:
                return  # we read back past the due time
        raise TransientError(
            f"could not tell whether LinkedIn holds the post: more than"
            f" {FIND_PAGE * FIND_PAGES} posts since it was due"
        )

    # --- engagement (linkedin.engagement) ---------------------------------------------------

    def _comments(self, urn: str, *, since: datetime | None) -> Iterator[dict[str, Any]]:
        return comments(
            client=lambda: self.client, urn=urn, since=since, permission=self._permission("r")
        )

    def metrics(self, remote_ids: Sequence[str]) -> list[Metrics]:
        return engagement.metrics(
            client=lambda: self.client,
            author=self.author,
            is_page=self.is_page,
            permission=self._permission("r"),
            remote_ids=remote_ids,
        )

    def interactions(self, *, since: datetime, own_ids: Sequence[str]) -> list[Interaction]:
        return engagement.interactions(
            client=lambda: self.client,
            author=self.author,
            permission=self._permission("r"),
            since=since,
            own_ids=own_ids,
        )


def _post_of_comment(urn: str) -> str | None:
    """The post a comment URN names (``urn:li:comment:(<post>,<id>)``); None for no comment."""
    if not urn.startswith("urn:li:comment:(") or "," not in urn:
        return None
    return urn.removeprefix("urn:li:comment:(").rsplit(",", 1)[0]
