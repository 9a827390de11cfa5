"""klapper.yaml as pydantic models: the one source for validation and `klapper schema`."""

from __future__ import annotations

import re
import string
from datetime import time, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)
from pydantic.json_schema import GenerateJsonSchema

from klapper.config.analytics import Analytics
from klapper.config.platforms import AccountSettings, registry

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """'90s', '30m', '2h', '1d', '1w' (or a number of seconds) -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30m, 2h or 1d")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration; write e.g. 90s, 30m, 2h, 1d or 1w")
    return timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]])


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    Field(json_schema_extra={"type": "string", "pattern": _DURATION.pattern}),
]


def _parse_clock(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 09:30 as the sexagesimal number 570.
        hours, minutes = divmod(value, 60)
        if 0 <= hours < 24:
            return time(hours, minutes)
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value).strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f'{value!r} is not a time of day; write HH:MM, e.g. "09:30"')
    return time(int(match[1]), int(match[2]))


Clock = Annotated[
    time,
    BeforeValidator(_parse_clock),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    Field(json_schema_extra={"type": "string", "pattern": r"^\d{1,2}:\d{2}$"}),
]


class Strict(BaseModel):
    """Unknown keys are errors (reported with a "did you mean" suggestion)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _account_settings() -> Any:
    """Each account's settings model, chosen by its `platform:` from the registry's platforms."""
    models = tuple(described.settings for described in registry().values())
    return Annotated[Union[models], Field(discriminator="platform")]  # noqa: UP007


if TYPE_CHECKING:
    Account = AccountSettings
else:
    Account = _account_settings()


class Defaults(Strict):
    to: tuple[str, ...] = Field((), description="Accounts a post goes to when it has no `to`.")
    lang: str | None = Field(None, description="Default language (ISO 639-1, e.g. en, de).")
    catch_up: Duration = Field(
        timedelta(hours=2),
        description="After downtime, publish a delivery at most this late; older ones are missed.",
    )
    alt_required: bool = Field(True, description="Every image needs alt text.")


class Paths(Strict):
    posts: str = Field("posts", description="Folder of post files, relative to the repository.")
    log: str | None = Field(
        None,
        description="Event log (JSONL); default <state>/events.jsonl. A relative path is "
        "in the state folder; an absolute one must be inside the repository.",
    )


class Publishing(Strict):
    retries: int = Field(5, ge=0, description="Retries of a transient failure before giving up.")
    backoff: Duration = Field(timedelta(seconds=30), description="First retry delay; doubles.")
    max_backoff: Duration = Field(timedelta(hours=1), description="Longest retry delay.")
    timeout: Duration = Field(timedelta(seconds=30), description="One platform call's timeout.")
    lease: Duration = Field(
        timedelta(seconds=30),
        description="A shared (PostgreSQL) ledger: how long a daemon's claim holds unrenewed"
        " before another daemon takes its delivery over (docs/scale.md).",
    )


class Engagement(Strict):
    schedule: tuple[Duration, ...] = Field(
        (
            timedelta(hours=1),
            timedelta(hours=6),
            timedelta(days=1),
            timedelta(days=3),
            timedelta(days=7),
            timedelta(days=30),
        ),
        description="Read reactions this long after publishing; then stop.",
    )
    budget: int = Field(
        10,
        ge=1,
        description="Reaction requests per account per polling round, at most.",
    )
    min_gap: Duration = Field(
        timedelta(minutes=5),
        description="Polling rounds are at least this far apart (readings due close together "
        "share requests; a round cut short by the budget continues after it).",
    )
    inbox_every: Duration = Field(
        timedelta(minutes=15),
        description="How often replies and mentions are read.",
    )


#: what `{name}` in a campaign tag stands for (filled per delivery by queue.campaign)
UTM_PLACEHOLDERS: tuple[str, ...] = ("platform", "account", "post", "date")


def _placeholders_known(value: str | None) -> str | None:
    """A tag's text may hold only the known placeholders, written plainly as ``{name}``."""
    if value is None:
        return value
    try:
        fields = [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(value)
            if name is not None
        ]
    except ValueError as exc:
        raise ValueError(f"{value!r}: {exc}; write {{{{ and }}}} for a literal brace") from None
    for name, spec, conversion in fields:
        if name not in UTM_PLACEHOLDERS:
            known = ", ".join(f"{{{p}}}" for p in UTM_PLACEHOLDERS)
            raise ValueError(f"unknown placeholder {{{name}}} in {value!r}; use {known}")
        if spec or conversion:
            raise ValueError(f"{value!r}: write the placeholder as {{{name}}}, without a format")
    return value


Tag = Annotated[str | None, AfterValidator(_placeholders_known)]


class Utm(Strict):
    """Campaign tags added to every link as utm_<key>=value; placeholders {platform},
    {account}, {post} (the post's id) and {date} (the delivery's local date)."""

    source: Tag = Field(None, description='utm_source, e.g. "{platform}".')
    medium: Tag = Field(None, description="utm_medium, e.g. social.")
    campaign: Tag = Field(None, description='utm_campaign, e.g. "{post}".')
    term: Tag = Field(None, description="utm_term.")
    content: Tag = Field(None, description='utm_content, e.g. "{account}".')

    def tags(self) -> dict[str, str]:
        """The tags that are set, in the order above."""
        return {key: value for key, value in self if value is not None}


class Links(Strict):
    utm: Utm | None = Field(
        None,
        description="Campaign tags for every link klapper publishes (a post's `utm:` "
        "overrides them, `utm: false` turns them off). Default: none.",
    )


class Feed(Strict):
    """A blog's RSS or Atom feed whose new entries become post files (as `klapper import feed`)."""

    url: str = Field(description="The feed's http(s) URL.")
    to: tuple[str, ...] = Field((), description="Accounts; default `defaults.to`.")
    template: str | None = Field(
        None,
        description="A post file (relative to the repository) with {title}, {link}, "
        "{summary}, {hashtags}; default: title, link and hashtags.",
    )
    draft: bool = Field(False, description="Write the posts as drafts, to be released by hand.")
    git_branch: str | None = Field(
        None,
        description="Commit the new files on this branch of the content repository (never "
        "pushed) instead of writing them into the working tree.",
    )
    every: Duration = Field(timedelta(hours=1), description="How often the feed is read.")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r}: give the feed's http(s) URL")
        return value

    @field_validator("every")
    @classmethod
    def _not_too_often(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=5):
            raise ValueError("a feed is read at most every 5m; write e.g. every: 1h")
        return value


class Evergreen(Strict):
    per_day: int = Field(
        1,
        ge=1,
        description="Evergreen posts that come round again, at most this many per account "
        "per local day.",
    )


class Config(Strict):
    """klapper.yaml."""

    timezone: str = Field("UTC", description="IANA time zone for times without an offset.")
    accounts: dict[str, Account] = Field(
        default_factory=lambda: {"outbox": _default_outbox()},
        description="Account name -> platform and non-secret settings.",
    )
    defaults: Defaults = Field(default_factory=Defaults)
    slots: dict[Weekday, tuple[Clock, ...]] = Field(
        default_factory=dict, description="Posting times per weekday for posts with no time."
    )
    paths: Paths = Field(default_factory=Paths)
    publishing: Publishing = Field(default_factory=Publishing)
    engagement: Engagement = Field(default_factory=Engagement)
    links: Links = Field(default_factory=Links)
    feeds: tuple[Feed, ...] = Field(
        (), description="Blog feeds whose new entries become post files (docs/import.md)."
    )
    evergreen: Evergreen = Field(
        default_factory=Evergreen, description="Posts with `evergreen:` (docs/content.md)."
    )
    analytics: Analytics | None = Field(
        None,
        description="The website's analytics to read visits and goals from: matomo: {url, "
        "site_id} or plausible: {url, site_id}; the token is the secret analytics › token.",
    )
    notify: str | None = Field(
        None, description="Command run with a short message when something needs you."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin"
            ) from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def default_accounts(self) -> tuple[str, ...]:
        return self.defaults.to or tuple(self.accounts)[:1]


def _default_outbox() -> AccountSettings:
    """Without accounts, posts go to the local outbox (the quick start needs no account)."""
    return registry()["outbox"].settings.model_validate({"platform": "outbox", "path": "outbox"})


class _ConfigSchema(GenerateJsonSchema):
    """Writes defaults as users write them (2h, not pydantic's ISO 8601 PT2H)."""

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return format_duration(dft)
        if isinstance(dft, tuple | list):
            return [self.encode_default(item) for item in dft]
        return super().encode_default(dft)


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of klapper.yaml, from the same models that validate it."""
    return Config.model_json_schema(schema_generator=_ConfigSchema)
