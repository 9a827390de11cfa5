"""What users write in a post file, as pydantic models: the shape `klapper schema post` prints.

These models check shape and types only; meaning that needs klapper.yaml (times in its zone,
account names, media paths) is checked when a post is built (queue.build).
"""

from __future__ import annotations

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
        raise ValueError(f"got {str(value).lower()}: YAML reads yes/no/on/off as true/false; "
                         "put the value in quotes")
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
    alt: Text | None = Field(None, description="Alt text: what the image shows, for screen readers.")


MediaList = Annotated[list[MediaEntry], _list_of("file")]


class ThreadEntry(_Model):
    """A follow-up, published as a reply to the part before it."""

    text: Text = Field("", description="The follow-up's text.")
    media: MediaList = Field(default_factory=list, description="Images of this follow-up.")


ThreadList = Annotated[list[ThreadEntry], _list_of("text")]


class Options(_Model):
    """Per-platform settings a post, or one `per:` entry, may set."""

    lang: Text | None = Field(None, description="Language, ISO 639-1 (en, de ...).")
    cw: Text | None = Field(None, description="Mastodon: content warning shown before the text.")
    visibility: Literal["public", "unlisted", "private", "direct", "connections"] | None = Field(
        None, description="Mastodon: public/unlisted/private/direct; LinkedIn: public/connections."
    )
    sensitive: bool | None = Field(None, description="Mastodon: hide the images behind a warning.")
    reply_settings: Literal["everyone", "following", "mentionedUsers", "subscribers",
                            "verified"] | None = Field(None, description="X: who may reply.")
    first_comment: Text | None = Field(
        None, description="Instagram: a comment posted right after the post (hashtags go here)."
    )


OPTION_KEYS: tuple[str, ...] = tuple(Options.model_fields)


class PerEntry(Options):
    """Overrides for one account name or one platform (the account name wins)."""

    text: Text | None = Field(None, description="Replaces the text for this account/platform.")
    media: MediaList | None = Field(None, description="Replaces the images.")
    thread: ThreadList | None = Field(None, description="Replaces the follow-ups.")


class PostFile(Options):
    """One post as written in a post file."""

    id: Text | None = Field(
        None, description="Stable id; default: the file's path (plus #N in a list). Keep it "
        "when renaming the file."
    )
    text: Text = Field("", description="The post's text.")
    at: TimeValue | None = Field(None, description="When to publish (once).")
    every: Text | None = Field(
        None, description='Repeat on a cron schedule in local time, e.g. "0 9 * * MON".'
    )
    start: TimeValue | None = Field(None, description="every: the first occurrence is at or "
                                    "after this time, or from the start of this date "
                                    "(needed with count).")
    until: TimeValue | None = Field(None, description="every: the last occurrence is at or "
                                    "before this time, or through the end of this date.")
    count: int | None = Field(None, ge=1, description="every: publish this many occurrences.")
    draft: bool = Field(False, description="Keep this post out of publishing for now.")
    to: Annotated[list[Text], _list_of(None)] | None = Field(
        None, description="Account names from klapper.yaml; default: defaults.to."
    )
    media: MediaList = Field(default_factory=list, description="Images, each with alt text.")
    thread: ThreadList = Field(default_factory=list, description="Follow-ups, as replies.")
    per: dict[str, PerEntry] = Field(
        default_factory=dict, description="Overrides per account name or per platform."
    )
    utm: Annotated[Utm | Literal[False] | None, WrapValidator(_utm_or_off)] = Field(
        None, description="Campaign tags for this post's links, over klapper.yaml's "
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
