"""Reading YAML safely and fast (libyaml), keeping the node tree to point at lines and columns."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import yaml

# The C loader parses ~10x faster; the pure-Python one is only a fallback when libyaml is absent.
_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_STR, _MAP, _SEQ = (f"tag:yaml.org,2002:{kind}" for kind in ("str", "map", "seq"))


@functools.lru_cache(maxsize=4096)  # keys, booleans, numbers and times repeat across files
def _plain_tag(value: str) -> str:
    return str(_RESOLVER.resolve(yaml.ScalarNode, value, (True, False)))  # type: ignore[no-untyped-call]


class Loader(_BaseLoader):  # type: ignore[misc]
    """The safe loader with the resolver's per-node work cut to what safe loading uses.

    libyaml's composer calls these three Python methods for every node. The safe loader has no
    path resolvers, so descending and ascending do nothing, and a plain scalar's tag depends on
    its value alone (cached); quoted and block scalars are strings. The tags are PyYAML's own.
    """

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode:
            return _plain_tag(value) if implicit[0] else _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP


MAX_BYTES = 1024 * 1024  # a post file larger than this is a mistake, not a post
MAX_NODES = 100_000  # expanded size after aliases: stops "billion laughs" documents


class YamlError(ValueError):
    """A YAML file could not be read; ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, *, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.line, self.column = line, column


@dataclass(frozen=True)
class Document:
    """One YAML document: the plain data and the node tree it came from (for positions)."""

    data: Any
    node: yaml.Node


def _text(raw: bytes) -> str:
    """The text of a file for error hints (errors replaced: it may not be valid UTF-8)."""
    return raw.decode("utf-8-sig", errors="replace")


def _reader_error(exc: yaml.reader.ReaderError, raw: bytes) -> YamlError:
    line = raw[: exc.position].count(b"\n") + 1
    character = exc.character
    if (
        isinstance(character, bytes)
        or not isinstance(character, int)
        or character < 0
        or "UTF" in str(exc.reason)
    ):
        return YamlError("file is not UTF-8 text; save it as UTF-8", line=line)
    return YamlError(f"YAML does not allow the control character #x{character:04x} here", line=line)


def _hint(problem: str, text: str, line: int) -> str:
    lines = text.splitlines()
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    indent = here[: len(here) - len(here.lstrip())]
    if "\t" in problem or "'\\t'" in problem or "\t" in indent:
        return "; YAML indents with spaces, not tabs"
    if ("alias" in problem or "alphabetic or numeric" in problem) and "*" in here:
        return '; a value starting with * (a cron expression?) must be quoted: "*/5 * * * *"'
    if "mapping values are not allowed" in problem and ": " in here.split(":", 1)[-1]:
        return '; a value containing ": " must be quoted'
    return ""


def _syntax_error(exc: yaml.YAMLError, raw: bytes) -> YamlError:
    if isinstance(exc, yaml.reader.ReaderError):
        return _reader_error(exc, raw)
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    message = f"YAML syntax: {problem}" + (f" ({context})" if context else "")
    return YamlError(message + _hint(problem, _text(raw), line), line=line, column=column)


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_: set[int]) -> int:
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        mark = node.start_mark
        raise YamlError(
            "an alias refers to itself (recursive anchor)",
            line=mark.line + 1,
            column=mark.column + 1,
        )
    open_.add(key)
    if isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        children = []
    size = 1 + sum(_expanded_size(child, sizes, open_) for child in children)
    open_.discard(key)
    sizes[key] = size
    if size > MAX_NODES:
        raise YamlError(
            "aliases expand this document beyond reason (more than "
            f"{MAX_NODES:,} values); write it out"
        )
    return size


def _bad_scalar(node: yaml.Node, loader: Any) -> yaml.Node:
    """The first scalar that fails to construct (e.g. the date 2026-13-45 10:00:00)."""
    stack = [node]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.ScalarNode):
            try:
                loader.construct_object(current, deep=True)
            except Exception:  # noqa: BLE001 - any constructor failure is the user's value
                return current
        elif isinstance(current, yaml.MappingNode):
            stack.extend(n for pair in reversed(current.value) for n in pair)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(reversed(current.value))
    return node


_Scalar = yaml.ScalarNode
_MERGE, _TIMESTAMP = "tag:yaml.org,2002:merge", "tag:yaml.org,2002:timestamp"
# The timestamps people write, which datetime.fromisoformat reads as PyYAML does (5x faster).
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)?)?\Z")


def _fast_construct(node: yaml.Node, loader: Any, memo: dict[int, Any]) -> Any:
    """Plain data from a node tree, like SafeConstructor but ~3x faster on what posts use.

    Strings, mappings, sequences and plain ISO times are built here; every other tag (int,
    bool, other timestamps, merge keys, sets ...) goes to the loader's own constructor, so the
    result is the same.
    """
    tag = node.tag
    if tag == _STR and isinstance(node, yaml.ScalarNode):
        return node.value
    if tag == _TIMESTAMP and isinstance(node, yaml.ScalarNode) and _ISO_TIME.match(node.value):
        text = node.value
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    key = id(node)
    if key in memo:  # an alias: the same object, as PyYAML gives
        return memo[key]
    if (
        tag == _MAP
        and isinstance(node, yaml.MappingNode)
        and not any(k.tag == _MERGE for k, _ in node.value)
    ):
        mapping: dict[Any, Any] = {}
        memo[key] = mapping
        for key_node, value_node in node.value:  # most keys and values are strings: no call
            mapping[
                key_node.value
                if key_node.tag == _STR and type(key_node) is _Scalar
                else _fast_construct(key_node, loader, memo)
            ] = (
                value_node.value
                if value_node.tag == _STR and type(value_node) is _Scalar
                else _fast_construct(value_node, loader, memo)
            )
        return mapping
    if tag == _SEQ and isinstance(node, yaml.SequenceNode):
        sequence: list[Any] = []
        memo[key] = sequence
        sequence.extend(
            item.value
            if item.tag == _STR and type(item) is _Scalar
            else _fast_construct(item, loader, memo)
            for item in node.value
        )
        return sequence
    memo[key] = value = loader.construct_object(node, deep=True)
    return value


def _construct(node: yaml.Node, loader: Any) -> Any:
    try:
        return _fast_construct(node, loader, {})
    except Exception:  # noqa: BLE001 - PyYAML's own constructor gives the proper error
        # Start PyYAML's constructor afresh: the failed attempt may have left state behind.
        loader.constructed_objects, loader.recursive_objects = {}, {}
        loader.state_generators = []
        return loader.construct_document(node)


def read_documents(raw: bytes) -> list[Document]:
    """All non-empty documents of a file's bytes; YamlError with line and column on any fault.

    libyaml gets the bytes themselves: it decodes UTF-8 (or UTF-16 with a BOM) much faster
    than it reads a Python str.
    """
    if len(raw) > MAX_BYTES:
        raise YamlError(f"file is {len(raw):,} bytes; klapper reads YAML files up to {MAX_BYTES:,}")
    loader = Loader(raw)
    documents: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if b"&" in raw:  # only anchors can make aliases, which can expand or recurse
                _expanded_size(node, {}, set())
            try:
                data = _construct(node, loader)
            except yaml.YAMLError as exc:
                raise _syntax_error(exc, raw) from None
            except (ValueError, TypeError, OverflowError, RecursionError) as exc:
                bad = _bad_scalar(node, loader).start_mark
                raise YamlError(
                    f"cannot read value: {exc}", line=bad.line + 1, column=bad.column + 1
                ) from None
            if data is not None:
                documents.append(Document(data, node))
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, raw) from None
    finally:
        loader.dispose()
    return documents


def locate(node: yaml.Node, loc: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
    """1-based (line, column) of the value at ``loc`` (or of its key, with ``key=True``).

    Walks as far as the path exists; a missing step (a missing key, a value that came through
    a merge key) stops at the nearest enclosing node, which is still the right neighbourhood.
    """
    current, mark = node, node.start_mark
    for step_index, step in enumerate(loc):
        last = step_index == len(loc) - 1
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(step):
                    mark = key_node.start_mark if (last and key) else value_node.start_mark
                    current = value_node
                    break
            else:
                break
        elif isinstance(current, yaml.SequenceNode) and isinstance(step, int):
            if not 0 <= step < len(current.value):
                break
            current = current.value[step]
            mark = current.start_mark
        else:
            break
    return mark.line + 1, mark.column + 1
