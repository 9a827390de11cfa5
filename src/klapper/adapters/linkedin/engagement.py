"""Reading back from LinkedIn: the comments on a post, metrics and interactions.

Reading needs r_member_social for a person (LinkedIn grants it only to selected apps) or
r_organization_social for a page; ``permission`` names the one the author needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from klapper.adapters.base import Interaction, Metrics, TransientError
from klapper.adapters.linkedin.http import LinkedInClient, encode

#: the client, made when first needed (an adapter without a token fails only when it calls)
Client = Callable[[], LinkedInClient]

#: ids per socialMetadata / share-statistics request; LinkedIn documents no maximum, and 50
#: escaped URNs keep the URL well under the 8 KB its gateway accepts.
BATCH = 50
#: comments read per page, and at most this many per post by `interactions` and `find`.
COMMENT_PAGE, COMMENT_MAX = 100, 1000


def post_url(urn: str) -> str:
    """The address a person opens for a post (or, with ``comment``, one of its comments)."""
    return f"https://www.linkedin.com/feed/update/{urn}/"


def comment_url(post: str, comment: str) -> str:
    return f"{post_url(post)}?commentUrn={encode(comment)}"


def from_millis(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC) if value else None


def comment_urn(comment: Mapping[str, Any]) -> str:
    """A comment's URN (urn:li:comment:(<post>,<id>)); "" when LinkedIn left it out."""
    return str(comment.get("$URN") or comment.get("commentUrn") or "")


def comments(
    *, client: Client, urn: str, since: datetime | None, permission: str
) -> Iterator[dict[str, Any]]:
    """Comments on ``urn`` (all pages up to COMMENT_MAX), newer than ``since`` when given."""
    for start in range(0, COMMENT_MAX, COMMENT_PAGE):
        answer = (
            client()
            .call(
                "GET",
                f"/rest/socialActions/{encode(urn)}/comments",
                query=[("start", str(start)), ("count", str(COMMENT_PAGE))],
                permission=permission,
                what="read the comments on a post",
            )
            .json()
        )
        elements = answer.get("elements") or []
        for comment in elements:
            created = from_millis((comment.get("created") or {}).get("time"))
            if since is None or created is None or created >= since:
                yield comment
        if len(elements) < COMMENT_PAGE:
            return
    raise TransientError(f"more than {COMMENT_MAX} comments on {urn}; not all were read")


def metrics(
    *, client: Client, author: str, is_page: bool, permission: str, remote_ids: Sequence[str]
) -> list[Metrics]:
    """Reactions and comment counts of our posts; shares and views too for a page."""
    # Posts only: thread follow-ups are comments, which LinkedIn keeps no statistics for.
    ids = [i for i in dict.fromkeys(remote_ids) if not i.startswith("urn:li:comment:")]

    def social_metadata(batch: list[str]) -> dict[str, dict[str, Any]]:
        answer = (
            client()
            .call(
                "GET",
                "/rest/socialMetadata",
                query=[("ids", batch)],
                permission=permission,
                what="read reactions and comment counts",
            )
            .json()
        )
        return dict(answer.get("results") or {})

    social = _batched(ids, social_metadata)
    stats = (
        _batched(ids, lambda batch: _share_statistics(client=client, author=author, ids=batch))
        if is_page
        else {}
    )
    out = []
    for urn in ids:
        meta, stat = social.get(urn), stats.get(urn)
        if meta is None and stat is None:
            continue  # LinkedIn said nothing about it (deleted, or not ours)
        reactions = (meta or {}).get("reactionSummaries")
        counted = (meta or {}).get("commentSummary")
        out.append(
            Metrics(
                remote_id=urn,
                likes=sum(int(r.get("count", 0)) for r in reactions.values())
                if reactions is not None
                else None,
                replies=int(counted["count"]) if counted and "count" in counted else None,
                reposts=_int((stat or {}).get("shareCount")),
                views=_int((stat or {}).get("impressionCount")),
            )
        )
    return out


def _batched(
    ids: list[str], fetch: Callable[[list[str]], dict[str, dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), BATCH):
        found.update(fetch(ids[start : start + BATCH]))
    return found


def _share_statistics(*, client: Client, author: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    query: list[tuple[str, str | Sequence[str]]] = [
        ("q", "organizationalEntity"),
        ("organizationalEntity", author),
    ]
    shares = [i for i in ids if i.startswith("urn:li:share:")]
    ugc = [i for i in ids if i.startswith("urn:li:ugcPost:")]
    if shares:
        query.append(("shares", shares))
    if ugc:
        query.append(("ugcPosts", ugc))
    if not (shares or ugc):
        return {}
    answer = (
        client()
        .call(
            "GET",
            "/rest/organizationalEntityShareStatistics",
            query=query,
            permission="r_organization_social",
            what="read the page's share statistics",
        )
        .json()
    )
    return {
        element.get("share") or element.get("ugcPost"): element.get("totalShareStatistics", {})
        for element in answer.get("elements") or []
    }


def interactions(
    *, client: Client, author: str, permission: str, since: datetime, own_ids: Sequence[str]
) -> list[Interaction]:
    """Comments on our posts since ``since``; LinkedIn offers no mention search to apps."""
    own = set(own_ids)
    found = []
    for urn in own_ids:
        if urn.startswith("urn:li:comment:"):
            continue  # our own follow-ups; their answers arrive as comments on the post
        for comment in comments(client=client, urn=urn, since=since, permission=permission):
            urn_of_comment = comment_urn(comment)
            if urn_of_comment in own:
                continue
            created = from_millis((comment.get("created") or {}).get("time"))
            found.append(
                Interaction(
                    remote_id=urn_of_comment,
                    kind="reply",
                    author=str(comment.get("actor", "")),
                    text=str((comment.get("message") or {}).get("text", "")),
                    url=comment_url(urn, urn_of_comment),
                    created_at=created or datetime.now(UTC),
                    in_reply_to=comment.get("parentComment") or urn,
                    by_self=comment.get("actor") == author,
                )
            )
    return found


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None
