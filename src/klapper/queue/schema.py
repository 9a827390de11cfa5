"""What users write in a post file, as pydantic models: the shape `klapper schema post` prints.

These models check shape and types only; meaning that needs klapper.yaml (times in its zone,
account names, media paths) is checked when a post is built (queue.build).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    model_validator,
)

from klapper.config.model import Utm

_TIME_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}(:\d{2})?"},
        {"type": "string", "format": "date-time"},
    ],
    "description": "Local time in klapper.yaml's timezone (2026-06-02 09:00) or ISO 8601 "
    "with offset (2026-06-02T09:00+02:00).",
}


def _list_of(shorthand_key: str | None) -> Any:
    """Accept one item for a list of one; a bare string for {shorthand_key: string}."""

    def coerce(value: Any) -> Any:
        if isinstance(value, str | dict) or (value is not None and not isinstance(value, list)):
            value = [value]
        if shorthand_key and isinstance(value, list):
            value = [{shorthand_key: v} if isinstance(v, str) else v for v in value]
        return value

    return BeforeValidator(coerce)


def _not_bool_text(value: Any) -> Any:
    if isinstance(value, bool):  # `lang: no` is Norwegian, but YAML reads it as false
        raise ValueError(
            f"got {str(value).lower()}: YAML reads yes/no/on/off as true/false; "
            "put the value in quotes"
        )
    return value


def _utm_or_off(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """`utm: false` as is; anything else is tags (one error for them, not one per alternative)."""
    return value if value is False or value is None else Utm.model_validate(value)


TimeValue = Annotated[Any, WithJsonSchema(_TIME_SCHEMA)]
Text = Annotated[str, BeforeValidator(_not_bool_text)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class MediaEntry(_Model):
    """An image attached to a post."""

    file: str = Field(description="Image path, relative to this post file, inside the repository.")
    alt: Text | None = Field(
        None, description="Alt text: what the image shows, for screen readers."
    )


MediaList = Annotated[list[MediaEntry], _list_of("file")]


class ThreadEntry(_Model):
    """A follow-up, published as a reply to the part before it."""

    text: Text = Field("", description="The follow-up's text.")
    media: MediaList = Field(default_factory=list, description="Images of this follow-up.")


ThreadList = Annotated[list[ThreadEntry], _list_of("text")]


_CIVIL = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2})?$"


def _civil(value: Any) -> Any:
    """YAML reads 2026-12-24 (and 2026-12-24 10:00:00) as a date: keep it as written."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat() if isinstance(value, date) else value


Civil = Annotated[str, BeforeValidator(_civil)]
Action = Literal["BOOK", "ORDER", "SHOP", "LEARN_MORE", "SIGN_UP", "CALL"]


class EventOption(_Model):
    """Google Business: an event (or an offer's title and validity), in the business's time."""

    title: Text = Field(description="The event's or offer's title.")
    start: Civil = Field(
        pattern=_CIVIL,
        description="First day (2026-12-24) or moment "
        "(2026-12-24 10:00), in the business's local time.",
    )
    end: Civil = Field(pattern=_CIVIL, description="Last day or moment, local time.")

    @model_validator(mode="after")
    def _in_order(self) -> EventOption:
        try:
            start, end = datetime.fromisoformat(self.start), datetime.fromisoformat(self.end)
        except ValueError as exc:
            raise ValueError(f"not a date or time: {exc}") from None
        if end < start:
            raise ValueError(f"the event ends ({self.end}) before it starts ({self.start})")
        return self


class OfferOption(_Model):
    """Google Business: what an offer gives (its title and dates are in `event:`)."""

    coupon: Text | None = Field(None, description="Coupon code to show in store or online.")
    terms: Text | None = Field(None, description="Terms and conditions.")
    link: Text | None = Field(None, pattern=r"^https?://", description="Where to redeem online.")


def _upper(value: Any) -> Any:
    return value.upper().replace("-", "_") if isinstance(value, str) else value


class Options(_Model):
    """Per-platform settings a post, or one `per:` entry, may set."""

    lang: Text | None = Field(None, description="Language, ISO 639-1 (en, de ...).")
    cw: Text | None = Field(None, description="Mastodon: content warning shown before the text.")
    visibility: Literal["public", "unlisted", "private", "direct", "connections"] | None = Field(
        None, description="Mastodon: public/unlisted/private/direct; LinkedIn: public/connections."
    )
    sensitive: bool | None = Field(None, description="Mastodon: hide the images behind a warning.")
    reply_settings: (
        Literal["everyone", "following", "mentionedUsers", "subscribers", "verified"] | None
    ) = Field(None, description="X: who may reply.")
    first_comment: Text | None = Field(
        None, description="Instagram: a comment posted right after the post (hashtags go here)."
    )
    event: EventOption | None = Field(
        None, description="Google Business: makes the post an EVENT (title, start, end)."
    )
    offer: OfferOption | None = Field(
        None,
        description="Google Business: makes the post an OFFER (with `event:` for its "
        "title and dates).",
    )
    action: Annotated[Action, BeforeValidator(_upper)] | None = Field(
        None,
        description="Google Business: the button, BOOK, ORDER, SHOP, LEARN_MORE, "
        "SIGN_UP or CALL (which calls the profile's phone number).",
    )
    action_url: Text | None = Field(
        None, pattern=r"^https?://", description="Google Business: where the button leads."
    )


OPTION_KEYS: tuple[str, ...] = tuple(Options.model_fields)


class PerEntry(Options):
    """Overrides for one account name or one platform (the account name wins)."""

    text: Text | None = Field(None, description="Replaces the text for this account/platform.")
    media: MediaList | None = Field(None, description="Replaces the images.")
    thread: ThreadList | None = Field(None, description="Replaces the follow-ups.")
    utm: Annotated[Utm | Literal[False] | None, WrapValidator(_utm_or_off)] = Field(
        None,
        description="Campaign tags for this account/platform, over the post's (each key "
        "given replaces that key); false: no tags.",
    )


class EvergreenEntry(_Model):
    """A post that comes round again in the posting slots after it was published."""

    every: Text = Field(
        description="At least this long between two times to one account, e.g. 8w or 60d."
    )


class PostFile(Options):
    """One post as written in a post file."""

    id: Text | None = Field(
        None,
        description="Stable id; default: the file's path (plus #N in a list). Keep it "
        "when renaming the file.",
    )
    text: Text = Field("", description="The post's text.")
    at: TimeValue | None = Field(None, description="When to publish (once).")
    every: Text | None = Field(
        None, description='Repeat on a cron schedule in local time, e.g. "0 9 * * MON".'
    )
    start: TimeValue | None = Field(
        None,
        description="every: the first occurrence is at or "
        "after this time, or from the start of this date "
        "(needed with count).",
    )
    until: TimeValue | None = Field(
        None,
        description="every: the last occurrence is at or "
        "before this time, or through the end of this date.",
    )
    count: int | None = Field(None, ge=1, description="every: publish this many occurrences.")
    draft: bool = Field(False, description="Keep this post out of publishing for now.")
    evergreen: EvergreenEntry | None = Field(
        None,
        description="Put the post back into the slot queue after it was published "
        "(docs/content.md, evergreen posts).",
    )
    to: Annotated[list[Text], _list_of(None)] | None = Field(
        None, description="Account names from klapper.yaml; default: defaults.to."
    )
    media: MediaList = Field(default_factory=list, description="Images, each with alt text.")
    thread: ThreadList = Field(default_factory=list, description="Follow-ups, as replies.")
    per: dict[str, PerEntry] = Field(
        default_factory=dict, description="Overrides per account name or per platform."
    )
    utm: Annotated[Utm | Literal[False] | None, WrapValidator(_utm_or_off)] = Field(
        None,
        description="Campaign tags for this post's links, over klapper.yaml's "
        "links › utm (each key given replaces that key); false: no tags.",
    )


_SHORTHANDS = ("media", "thread", "to")  # lists that also take one item, items that take a string


def _accept_shorthands(schema: dict[str, Any]) -> None:
    """Let editors accept what the validators accept: `media: a.png`, `thread: [Some text]`."""
    for definition in schema.get("$defs", {}).values():
        for name in _SHORTHANDS:
            field = definition.get("properties", {}).get(name)
            if field is None:
                continue
            for option in field.get("anyOf", [field]):
                if option.get("type") == "array":
                    item = option["items"]
                    forms = [item] if item.get("type") == "string" else [item, {"type": "string"}]
                    option["items"] = forms[0] if len(forms) == 1 else {"anyOf": forms}
                    array = dict(option)
                    option.clear()
                    option["anyOf"] = [array, *forms]


def post_file_schema() -> dict[str, Any]:
    """JSON Schema of a post file: one post, or a list of posts."""
    schema = TypeAdapter(PostFile | list[PostFile]).json_schema()
    _accept_shorthands(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "klapper post file",
        "description": "One post, or a list of posts (several YAML documents work too).",
        **schema,
    }
