"""Google Business Profile: local posts for one location through the Business Profile API (v4).

A post is a LocalPost in ``{location}/localPosts``: STANDARD ("what's new"), EVENT or OFFER
(``post.local_post`` builds it from the post's options), with an optional button and one photo,
which Google fetches from its public address (``media_url`` + its path in the repository). Google
reviews posts after accepting them: a post it rejected reads back with state REJECTED, and
``find`` (which reads the location's posts since the due time, as there is no idempotency key)
reports it as failed for good. Local posts have no comments; views come from
``localPosts:reportInsights`` and are left unknown where Google gives none. The inbox holds the
place's reviews (stars, text, reviewer), and the owner's replies settle them.

Account settings: ``location``, ``media_url``; in tests ``api_base`` and ``oauth_base``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
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
    TransientError,
    review_text,
)
from klapper.adapters.google_business import PLATFORM
from klapper.adapters.google_business.http import API_BASE, OAUTH_BASE, GoogleClient
from klapper.adapters.google_business.post import local_post, option_problems
from klapper.adapters.identity import carried
from klapper.adapters.matching import FIND_WINDOW, find_since, same_text
from klapper.adapters.public_media import NotServed, media_base, public_url

#: posts read per page by `find`, and pages at most
FIND_PAGE, FIND_PAGES = 100, 5
#: reviews read per page (Google's maximum) and pages at most per reading
REVIEW_PAGE, REVIEW_PAGES = 50, 20
STARS = {"ONE": 1, "TWO": 2, "THREE": 3, "FOUR": 4, "FIVE": 5}
#: how far back post insights reach (Google keeps them about 18 months)
INSIGHTS_SPAN = timedelta(days=540)
REJECTED = (
    "Google rejected the post after its review (state REJECTED); Google names the reason"
    " on the profile's Posts tab and by email, most often its content policy (phone numbers in"
    " the summary, links or offers it does not accept): change the post and publish it again"
)


def google_time(value: Any) -> datetime | None:
    """A Google timestamp ("2026-12-01T12:00:00.123456Z") as aware UTC."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


class GoogleBusinessAdapter(Adapter):
    """One Google Business Profile location."""

    platform: ClassVar[str] = "google-business"
    rules = PLATFORM.rules

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.location = str(self.settings.get("location") or "")
        if not self.location.startswith("accounts/") or "/locations/" not in self.location:
            raise PermanentError(
                f"Google Business account {self.name!r} needs `location:"
                f" accounts/ACCOUNT_ID/locations/LOCATION_ID` in klapper.yaml"
                " (docs/google-business.md says where to find both ids)"
            )
        self._client: GoogleClient | None = None

    @property
    def client(self) -> GoogleClient:
        if self._client is None:
            if not self.secrets.get("access_token") and not self.secrets.get("refresh_token"):
                raise AuthExpiredError(
                    f"Google Business account {self.name!r} has no token;"
                    f" run `klapper login {self.name}`"
                )
            self._client = GoogleClient(
                account=self.name,
                secrets=self.secrets,
                timeout=self.timeout,
                api_base=str(self.settings.get("api_base") or API_BASE),
                oauth_base=str(self.settings.get("oauth_base") or OAUTH_BASE),
                on_token=lambda changed: self.update_secrets(
                    **carried(self.secrets, changed, credential="access_token")
                ),
            )
        return self._client

    def requests_sent(self) -> int | None:
        return self._client.sent if self._client is not None else 0

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- publish ----------------------------------------------------------------------------

    def publish(self, post: Outgoing) -> Published:
        problems = option_problems(post.options)
        if problems:
            raise PermanentError("; ".join(problems))
        if len(post.media) > 1:
            raise PermanentError(f"a Google local post takes one photo, not {len(post.media)}")
        body = local_post(
            summary=post.text,
            options=post.options,
            photo_url=self._photo_url(post.media[0]) if post.media else None,
        )
        answer = self.client.call(
            "POST", f"{self.location}/localPosts", body=body, what="publish the local post"
        )
        if not answer.get("name"):
            raise TransientError("Google accepted the local post but returned no name")
        return self._published(answer)

    def _photo_url(self, media: MediaFile) -> str:
        base = media_base(self.settings)
        if not base:
            raise PermanentError(
                f"Google takes a post's photo only from a public address: set `media_url` of"
                f" account {self.name!r} to where the repository's files are served (https)"
            )
        try:
            return public_url(base=base, repo=self.repo, path=media.path)
        except NotServed as exc:
            raise PermanentError(str(exc)) from None

    def _published(self, item: Mapping[str, Any]) -> Published:
        if item.get("state") == "REJECTED":
            raise PermanentError(REJECTED)
        return Published(
            remote_id=str(item["name"]),
            url=item.get("searchUrl"),
            published_at=google_time(item.get("createTime")) or datetime.now(UTC),
            ref={"state": str(item.get("state") or "")},
        )

    # --- answering reviews -----------------------------------------------------------------

    def reply(self, answer: Outgoing) -> Published:
        """The owner's reply to a review (``PUT {review}/reply``); it replaces an earlier one."""
        review = self._review_of(answer)
        replied = self.client.call(
            "PUT", f"{review}/reply", body={"comment": answer.text}, what="answer the review"
        )
        return Published(
            remote_id=f"{review}/reply",
            published_at=google_time(replied.get("updateTime")) or datetime.now(UTC),
        )

    def find_reply(self, answer: Outgoing) -> Published | None:
        """The review's reply if it is this answer's text; None when it has another or none."""
        review = self._review_of(answer)
        found = self.client.call("GET", review, what="read the review")
        reply = found.get("reviewReply") or {}
        if not same_text(str(reply.get("comment") or ""), answer.text):
            return None
        return Published(
            remote_id=f"{review}/reply", published_at=google_time(reply.get("updateTime"))
        )

    def _review_of(self, answer: Outgoing) -> str:
        review = answer.reply_to.parent.remote_id if answer.reply_to else ""
        if "/reviews/" not in review:
            raise PermanentError(
                "on Google Business klapper answers reviews only (local posts take no comments)"
            )
        return review

    # --- find -------------------------------------------------------------------------------

    def find(self, post: Outgoing) -> Published | None:
        since = find_since(post.due) or datetime.now(UTC) - FIND_WINDOW
        for item in self._posts():
            created = google_time(item.get("createTime"))
            if created is not None and created < since:
                continue  # Google documents no order: read them all
            if same_text(str(item.get("summary") or ""), post.text):
                return self._published(item)
        return None

    def _posts(self) -> Iterator[dict[str, Any]]:
        token = ""
        for _ in range(FIND_PAGES):
            params = {"pageSize": str(FIND_PAGE), **({"pageToken": token} if token else {})}
            answer = self.client.call(
                "GET",
                f"{self.location}/localPosts",
                params=params,
                what="read the profile's local posts",
            )
            yield from answer.get("localPosts") or []
            token = str(answer.get("nextPageToken") or "")
            if not token:
                return
        raise TransientError(
            f"the profile has more than {FIND_PAGE * FIND_PAGES} local posts;"
            " cannot prove the post absent"
        )

    # --- engagement -------------------------------------------------------------------------

    def metrics(self, remote_ids: Sequence[str]) -> list[Metrics]:
        ours = [i for i in remote_ids if i.startswith(f"{self.location}/localPosts/")]
        found: list[Metrics] = []
        batch = PLATFORM.lookup_batch
        now = datetime.now(UTC)
        for start in range(0, len(ours), batch):
            names = ours[start : start + batch]
            answer = self.client.call(
                "POST",
                f"{self.location}/localPosts:reportInsights",
                what="read post views",
                body={
                    "localPostNames": names,
                    "basicRequest": {
                        "metricRequests": [{"metric": "LOCAL_POST_VIEWS_SEARCH"}],
                        "timeRange": {
                            "startTime": _stamp(now - INSIGHTS_SPAN),
                            "endTime": _stamp(now),
                        },
                    },
                },
            )
            views = {
                str(m.get("localPostName")): _views(m) for m in answer.get("localPostMetrics") or []
            }
            found += [Metrics(remote_id=name, views=views.get(name)) for name in names]
        return found

    def metrics_per_request(self) -> int | None:
        return PLATFORM.lookup_batch

    def interactions(self, *, since: datetime, own_ids: Sequence[str]) -> list[Interaction]:
        """Reviews of the place since ``since`` and the owner's replies to them (as ours).

        Reviews are read newest change first, so a new reply to an older review is seen too;
        an owner's reply is an answer of ours (``in_reply_to`` the review), which marks the
        review answered in the inbox.
        """
        found: list[Interaction] = []
        token = ""
        for _ in range(REVIEW_PAGES):
            params = {
                "pageSize": str(REVIEW_PAGE),
                "orderBy": "updateTime desc",
                **({"pageToken": token} if token else {}),
            }
            answer = self.client.call(
                "GET", f"{self.location}/reviews", params=params, what="read the profile's reviews"
            )
            reviews = answer.get("reviews") or []
            for review in reviews:
                found += _review(review, since=since)
            token = str(answer.get("nextPageToken") or "")
            changed = google_time(reviews[-1].get("updateTime")) if reviews else None
            if not token or changed is None or changed < since:
                break  # newest change first: the rest is older
        return found


def _review(review: Mapping[str, Any], *, since: datetime) -> list[Interaction]:
    """A review (when new since ``since``) and the owner's reply to it (when new), as items."""
    name = str(review.get("name") or "")
    out = []
    created = google_time(review.get("createTime"))
    if name and created is not None and created >= since:
        reviewer = review.get("reviewer") or {}
        out.append(
            Interaction(
                remote_id=name,
                kind="review",
                rating=STARS.get(str(review.get("starRating"))),
                author="Anonymous"
                if reviewer.get("isAnonymous")
                else str(reviewer.get("displayName") or "A Google user"),
                text=review_text(
                    rating=STARS.get(str(review.get("starRating"))),
                    comment=str(review.get("comment") or ""),
                ),
                url=None,
                created_at=created,
            )
        )
    reply = review.get("reviewReply") or {}
    answered = google_time(reply.get("updateTime"))
    if name and answered is not None and answered >= since:
        out.append(
            Interaction(
                remote_id=f"{name}/reply",
                kind="reply",
                author="the owner",
                text=str(reply.get("comment") or ""),
                url=None,
                created_at=answered,
                in_reply_to=name,
                by_self=True,
            )
        )
    return out


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _views(item: Mapping[str, Any]) -> int | None:
    """The search views Google reported for one post; None when it gave no figure."""
    for value in item.get("metricValues") or []:
        total = (value.get("totalValue") or {}).get("value")
        if value.get("metric") == "LOCAL_POST_VIEWS_SEARCH" and total is not None:
            return int(total)
    return None
