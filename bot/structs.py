"""Strict records (msgspec) and their validation errors, located by field path.

Why msgspec and not pydantic: every ``catalog-bot step`` (one Argo pod per
step) reads ``catalog-bot.yaml`` and ``pipeline.yaml`` before doing anything.
Importing pydantic and building its validators cost more than the whole rest
of that start-up (issue #16); msgspec imports in a fraction of it and builds
a type's decoder on first use, in microseconds.

The records are :class:`Record` subclasses: unknown keys are errors (a typo
is never silently ignored), instances are frozen, and fields are keyword-only.
Constraints are ``Annotated[..., msgspec.Meta(...)]``; checks a type cannot
express live in ``__post_init__``, which runs on construction, on
:func:`load` and on ``msgspec.structs.replace``.  A check about one field
raises :class:`FieldError` so that the error names that field.

:func:`load` is the one way to validate data into a record: it turns
msgspec's ``ValidationError`` (``"... - at `$.a[...].b`"``) into a
:class:`Located` field path, message and fix, naming dictionary keys (which
msgspec leaves as ``[...]``), the allowed values of a choice and the value
that was given.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

DOCS_HINT = "see docs/catalog.md for the allowed values"


class Record(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Base of the configuration and pipeline records: unknown keys are errors.

    Each record class says ``frozen=True, kw_only=True`` again: msgspec
    applies ``kw_only`` to the fields a class defines, and type checkers take
    a subclass without ``frozen=True`` for a mutable one.
    """


class FieldError(ValueError):
    """A ``__post_init__`` check failed on one field: the error is located at ``field`` of that record."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@contextmanager
def at_field(field: str) -> Iterator[None]:
    """A ``ValueError`` from a check run inside (a URI or cron parser) becomes a :class:`FieldError` at ``field``."""
    try:
        yield
    except ValueError as exc:
        raise FieldError(field, str(exc)) from None


class Located(msgspec.Struct, frozen=True):
    """A validation error as the user needs it: dotted ``field`` path, ``message`` and ``hint`` (the fix)."""

    field: str
    message: str
    hint: str


class InvalidData(ValueError):
    """Data did not validate; ``located`` says where and how to fix it (callers add the file)."""

    def __init__(self, located: Located) -> None:
        self.located = located
        super().__init__(f"{located.field or '(document)'}: {located.message}")


def load(data: Any, type_: type[T]) -> T:
    """Validate ``data`` (parsed YAML/JSON) into ``type_``; raises :class:`InvalidData` with a located error.

    Lax like a hand-written YAML file deserves: ``"8"`` is accepted for an
    integer (a ``${VAR:-8}`` placeholder expands to text).
    """
    try:
        return msgspec.convert(data, type_, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidData(locate(exc, type_, data)) from None


# msgspec's messages; patterns as text (compiled by `re` on the first error, not by every start-up).
_AT = r"(?s)^(?P<msg>.*) - at `(?P<key>key` in `)?(?P<path>\$[^`]*)`$"
_SEGMENT = r"\.([^.\[]+)|\[(\d+|\.\.\.)\]"
_MISSING = r"^Object missing required field `(?P<name>[^`]+)`$"
_UNKNOWN = r"^Object contains unknown field `(?P<name>[^`]+)`$"
_TYPES = {"int": "an integer", "float": "a number", "str": "text", "bool": "true or false", "object": "a mapping"}
_TYPES |= {"array": "a list", "null": "nothing (null)", "date": "a date (YYYY-MM-DD)"}


def locate(exc: msgspec.ValidationError, type_: Any, data: Any) -> Located:
    """The field path, message and fix of msgspec's error ``exc`` raised converting ``data`` to ``type_``."""
    match = re.match(_AT, str(exc))
    message = match.group("msg") if match else str(exc)  # no "at": the document itself
    path: list[str | int] = []
    cur_type, cur = type_, data
    for name, index in re.findall(_SEGMENT, match.group("path")[1:] if match else ""):
        if index == "...":  # a dictionary value: find which key (msgspec does not say)
            return _in_mapping(path, cur_type, cur, exc)
        step: str | int = name or int(index)
        path.append(step)
        cur_type, cur = _child(cur_type, cur, step)
    if match and match.group("key"):
        got = next((k for k in cur if not isinstance(k, str)), None) if isinstance(cur, Mapping) else None
        return Located(_dotted(path), f"keys must be text, got {got!r}", "quote the key or write it as a name")
    return _explain(path, message, cur_type, cur, exc.__cause__)


def _in_mapping(path: list[str | int], map_type: Any, mapping: Any, exc: msgspec.ValidationError) -> Located:
    """Locate an error inside one value of a ``dict[str, X]`` field by converting its values one by one."""
    value_type = _args(_unwrap(map_type))[-1] if _args(_unwrap(map_type)) else Any
    if isinstance(mapping, Mapping):
        for key, value in mapping.items():
            try:
                msgspec.convert(value, value_type, strict=False)
            except msgspec.ValidationError as inner:
                found = locate(inner, value_type, value)
                field = ".".join(str(p) for p in (*path, key)) + (f".{found.field}" if found.field else "")
                return Located(field, found.message, found.hint)
    return Located(_dotted(path), str(exc).split(" - at ", 1)[0], DOCS_HINT)


def _explain(path: list[str | int], message: str, type_: Any, value: Any, cause: BaseException | None) -> Located:
    """Message and fix for one located msgspec message (``value``: what the document had there)."""
    if isinstance(cause, FieldError):
        return Located(_dotted([*path, cause.field]), str(cause), DOCS_HINT)
    if cause is not None:  # a record-wide check of __post_init__: its message says what to do
        return Located(_dotted(path), str(cause), DOCS_HINT)
    if found := re.match(_UNKNOWN, message):
        name = found.group("name")
        known = [f.name for f in msgspec.structs.fields(_unwrap(type_))] if _is_record(type_) else []
        return Located(_dotted([*path, name]), "unknown field", _spelling(name, known))
    if found := re.match(_MISSING, message):
        name = found.group("name")
        return Located(_dotted([*path, name]), "missing required field", f"add `{name}`")
    if message.startswith("Invalid enum value"):
        choices = ", ".join(repr(c) for c in _choices(type_))
        return Located(_dotted(path), f"{value!r} is not an allowed value", f"use one of {choices}")
    wanted = re.sub(r"`([\w |]+)`", lambda m: _type_words(m.group(1)), message)
    wanted = wanted.replace("Expected", "expected", 1)
    if value is not _ABSENT:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        wanted += f" ({shown})" if "got" in wanted else f", got {shown}"
    return Located(_dotted(path), wanted, DOCS_HINT)


def _type_words(names: str) -> str:
    """msgspec's ``str | null`` as the user's words: ``text`` (that a field may be left out is no news)."""
    parts = [p.strip() for p in names.split("|")]
    words = [_TYPES.get(p, p) for p in parts if p != "null" or len(parts) == 1]
    return " or ".join(words)


def _spelling(name: str, known: list[str]) -> str:
    """Remove the field, or the closest known name (a typo)."""
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    return f"remove `{name}` or check its spelling" + (f" (did you mean `{close[0]}`?)" if close else "")


_ABSENT = object()


def _dotted(path: list[str | int]) -> str:
    return ".".join(str(p) for p in path)


def _unwrap(type_: Any) -> Any:
    """``X`` of ``X | None`` and of ``Annotated[X, ...]``."""
    while True:
        if typing.get_origin(type_) is typing.Annotated:
            type_ = typing.get_args(type_)[0]
            continue
        args = typing.get_args(type_)
        if args and type(None) in args and typing.get_origin(type_) is not typing.Literal:
            rest = [a for a in args if a is not type(None)]
            if len(rest) == 1:
                type_ = rest[0]
                continue
        return type_


def _args(type_: Any) -> tuple[Any, ...]:
    return typing.get_args(type_)


def _is_record(type_: Any) -> bool:
    return isinstance(_unwrap(type_), type) and issubclass(_unwrap(type_), msgspec.Struct)


def _choices(type_: Any) -> tuple[Any, ...]:
    inner = _unwrap(type_)
    return _args(inner) if typing.get_origin(inner) is typing.Literal else ()


def _child(type_: Any, data: Any, step: str | int) -> tuple[Any, Any]:
    """Type and value one step down the path (``_ABSENT`` once the document has no such member)."""
    inner = _unwrap(type_)
    if isinstance(step, str):
        fields = {f.name: f.type for f in msgspec.structs.fields(inner)} if _is_record(inner) else {}
        child_type = fields.get(step, Any)
        value = data.get(step, _ABSENT) if isinstance(data, Mapping) else _ABSENT
        return child_type, value
    args = _args(inner)
    child_type = (args[step] if len(args) > step and args[-1] is not Ellipsis else args[0]) if args else Any
    value = data[step] if isinstance(data, list | tuple) and step < len(data) else _ABSENT
    return child_type, value
