"""Pydantic validation errors turned into messages for people, with "did you mean" for keys."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError


@dataclass(frozen=True)
class FieldError:
    """One wrong value: where (path of keys and list indexes), what, and whether the key is bad."""

    loc: tuple[str | int, ...]
    message: str
    at_key: bool = False  # point at the key (unknown key) rather than its value


def _unwrap(tp: Any) -> list[Any]:
    """The concrete types behind Annotated / Optional / Union."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(tp) for t in _unwrap(arg)]
    return [tp]


def _step(candidates: list[Any], step: str | int) -> list[Any]:
    found: list[Any] = []
    for tp in candidates:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(step, str):
            for name, field in tp.model_fields.items():
                if step in (name, field.alias):
                    found.extend(_unwrap(field.annotation))
        elif origin in (dict, typing.Mapping) or (origin and origin.__name__ == "Mapping"):
            found.extend(_unwrap(args[1]))
        elif origin in (list, tuple, set, frozenset) and isinstance(step, int) and args:
            found.extend(_unwrap(args[0]))
    return found


def _tagged(candidates: list[Any], step: str | int) -> Any | None:
    """The member of a tagged union (accounts by `platform`) that ``step`` names, if any.

    Pydantic puts the tag into an error's location (accounts › shop › mastodon › instance);
    people wrote no such key, so it is dropped from what they see.
    """
    models = [tp for tp in candidates if isinstance(tp, type) and issubclass(tp, BaseModel)]
    if len(models) < 2 or not isinstance(step, str):
        return None
    for tp in models:
        for field in tp.model_fields.values():
            if typing.get_origin(field.annotation) is typing.Literal and typing.get_args(
                field.annotation
            ) == (step,):
                return tp
    return None


def _untagged(model: type[BaseModel], loc: Sequence[str | int]) -> tuple[str | int, ...]:
    """``loc`` without the tags pydantic adds for tagged unions."""
    kept: list[str | int] = []
    candidates: list[Any] = [model]
    for step in loc:
        member = _tagged(candidates, step)
        if member is not None:
            candidates = [member]
            continue
        kept.append(step)
        candidates = _step(candidates, step)
    return tuple(kept)


def tag_choices(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The tags a tagged union at ``loc`` takes (the known platforms at an account)."""
    candidates: list[Any] = [model]
    for step in loc:
        candidates = _step(candidates, step)
    tags: list[str] = []
    for tp in candidates:
        if isinstance(tp, type) and issubclass(tp, BaseModel) and "platform" in tp.model_fields:
            annotation = tp.model_fields["platform"].annotation
            if typing.get_origin(annotation) is typing.Literal:
                tags.extend(str(tag) for tag in typing.get_args(annotation))
    return tags


def allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys a mapping at ``loc`` may have (by their YAML names), following the models."""
    candidates: list[Any] = [model]
    for step in loc:
        member = _tagged(candidates, step)
        candidates = [member] if member is not None else _step(candidates, step)
    keys: list[str] = []
    for tp in candidates:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            keys.extend(field.alias or name for name, field in tp.model_fields.items())
    return keys


def path_text(loc: Sequence[str | int]) -> str:
    """('media', 1, 'alt') -> 'media #2 › alt' (list positions count from 1, as people do)."""
    return " › ".join(f"#{step + 1}" if isinstance(step, int) else str(step) for step in loc)


def describe(value: Any) -> str:
    """A short, readable description of a YAML value for an error message."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (YAML reads yes/no/on/off as true/false; quote it)"
    if isinstance(value, int | float):
        return f"the number {value} (quote it to make it text)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping (key: value)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "float_type": "a number",
    "float_parsing": "a number",
}


def _message(error: Any, model: type[BaseModel]) -> tuple[str, bool]:
    kind, loc, value = error["type"], _untagged(model, error["loc"]), error.get("input")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        known = tag_choices(model, loc)
        tag = error.get("ctx", {}).get("tag")
        close = difflib.get_close_matches(str(tag), known, n=1, cutoff=0.6) if tag else []
        hint = f"did you mean '{close[0]}'? " if close else ""
        said = f"unknown platform '{tag}'" if tag else "'platform' is required here"
        return f"{said}; {hint}known: {', '.join(known)}", False
    if kind == "extra_forbidden":
        key = str(loc[-1])
        choices = allowed_keys(model, loc[:-1])
        close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
        if " " in key:  # "Note: text" in a list reads as a mapping; the user meant text
            return (
                f"unknown key '{key}': a text containing ': ' must be quoted, e.g. \"{key}: ...\""
            ), True
        if close:
            return f"unknown key '{key}'; did you mean '{close[0]}'?", True
        return f"unknown key '{key}'; allowed here: {', '.join(choices) or 'none'}", True
    if kind == "missing":
        return f"'{loc[-1]}' is required here", True
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {describe(value)}", False
    if kind == "literal_error":
        return f"expected one of {error['ctx']['expected']}, got {describe(value)}", False
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message, False


def field_errors(exc: ValidationError, *, model: type[BaseModel]) -> list[FieldError]:
    """Each error of ``exc`` (raised by ``model``) as a FieldError with a readable message."""
    result: list[FieldError] = []
    for error in exc.errors(include_url=False):
        loc = _untagged(model, [s for s in error["loc"] if isinstance(s, str | int)])
        message, at_key = _message(error, model)
        if error["type"] == "union_tag_invalid":
            loc = (*loc, "platform")  # point at the value the user wrote
        if loc and loc[-1] == "[key]":  # pydantic's marker for a bad mapping key
            loc, at_key = loc[:-1], True
            message = f"key {str(loc[-1])!r}: {message}"
        where = path_text(loc[:-1] if at_key else loc)
        result.append(FieldError(loc, f"{where}: {message}" if where else message, at_key))
    return result
