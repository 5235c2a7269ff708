"""Frictionless documents: data packages (library + catalog profile) and table schemas.

Pure: ``frictionless`` runs with an HTTP session that refuses every request,
so a remote ``profile`` can never trigger a download.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from bot.catalog.schemas import SchemaRegistry
from bot.catalog.validate.inputs import LineOf
from bot.catalog.validate.schema import schema_problems
from bot.errors import Problem, SchemaNotFound

TABLESCHEMA_PROFILE_URL = "https://datapackage.org/profiles/2.0/tableschema.json"
DATAPACKAGE_PROFILE_URL = "https://datapackage.org/profiles/2.0/datapackage.json"


class _OfflineSession:
    """Stands in for ``requests.Session`` inside frictionless: every request fails.

    Why: frictionless fetches a remote ``profile`` URL with its HTTP session;
    the bot is offline by design, so the attempt must fail fast and clearly.
    """

    headers: dict[str, str] = {}

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        url = args[1] if len(args) > 1 else kwargs.get("url", args[0] if args else "?")
        raise ConnectionError(f"offline: catalog-bot does not download {url}")

    def get(self, *args: Any, **kwargs: Any) -> Any:
        """Refuse (offline)."""
        return self._refuse("GET", *args, **kwargs)

    def request(self, *args: Any, **kwargs: Any) -> Any:
        """Refuse (offline)."""
        return self._refuse(*args, **kwargs)

    def post(self, *args: Any, **kwargs: Any) -> Any:
        """Refuse (offline)."""
        return self._refuse("POST", *args, **kwargs)


_AT_PROPERTY = re.compile(r" at property '([^']*)'")
_FIELD_TYPE = re.compile(r'field type "([^"]*)" is not supported')
_TRAILING_OBJECT = re.compile(r"(\{.*\})\s*$")


def _objects(node: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """Every object and array element of a document with its JSON pointer, depth first."""
    yield pointer, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _objects(value, f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _objects(value, f"{pointer}/{index}")


def locate_library_error(doc: Any, note: str) -> str | None:
    """The JSON pointer a ``frictionless`` error note is about, or ``None``.

    Why: the library names *what* is wrong but rarely *where*: "at property
    'x'", a field type it does not support (pointed at that field's ``type``
    key, the line to edit), or the offending object printed as a Python dict
    ("license requires "path" or "name": {'title': ...}"), found by value.
    """
    match = _AT_PROPERTY.search(note)
    if match and match.group(1):
        return "/" + match.group(1)
    typed = _FIELD_TYPE.search(note)
    if typed:
        for pointer, node in _objects(doc):
            if (
                isinstance(node, dict)
                and node.get("type") == typed.group(1)
                and "name" in node
                and pointer.rsplit("/", 2)[-2] == "fields"
            ):
                return pointer + "/type"
    shown = _TRAILING_OBJECT.search(note)
    if shown:
        for pointer, node in _objects(doc):
            if isinstance(node, dict) and repr(node) == shown.group(1):
                return pointer or None
    return None


def _overlaps(pointer: str, reported: Iterable[str | None]) -> bool:
    """Whether ``pointer`` is, contains or lies inside an already reported location."""
    return any(
        q is not None and (q == pointer or q.startswith(pointer + "/") or pointer.startswith(q + "/")) for q in reported
    )


def _library_problems(
    doc: Any,
    report_errors: Iterable[Any],
    reported: list[Problem],
    *,
    file: str | None,
    line_of: LineOf | None,
    dataset: str | None,
    hint: str,
) -> list[Problem]:
    """The ``frictionless`` library's errors that the JSON Schema pass did not already report.

    The library stops at its first error, which is usually one the schema
    pass located precisely: one mistake gives one error.  A library error we
    cannot locate is kept only when the schema pass found nothing (then it is
    the library's own rule, e.g. an unsafe resource path).
    """
    out: list[Problem] = []
    for error in report_errors:
        note = str(getattr(error, "note", "") or getattr(error, "message", ""))
        pointer = locate_library_error(doc, note)
        if (pointer is None and reported) or (
            pointer is not None and _overlaps(pointer, (p.pointer for p in reported))
        ):
            continue
        message = _AT_PROPERTY.sub("", note)
        title = getattr(error, "title", "") or getattr(error, "type", "")
        out.append(
            Problem(
                "frictionless",
                f"{title}: {message}" if title else message,
                file=file,
                pointer=pointer,
                line=line_of(pointer) if (line_of and pointer) else None,
                hint=hint,
                dataset=dataset,
            )
        )
    return out


def _offline_frictionless(call: Callable[[], Any]) -> Any:
    from frictionless import system

    with system.use_context(http_session=_OfflineSession(), trusted=False):
        return call()


def validate_datapackage(
    doc: Any,
    profile_schema: dict[str, Any] | None,
    *,
    registry: SchemaRegistry,
    file: str | None = None,
    line_of: LineOf | None = None,
    dataset: str | None = None,
    basepath: Path | None = None,
) -> list[Problem]:
    """A Frictionless Data Package: the Data Package v2 JSON Schema, the ``frictionless`` library, the catalog profile.

    The JSON Schema pass reports *every* error, each at its key (every bad
    licence, a bad field ``type`` on its ``type`` line); the library adds
    the rules only it knows, deduplicated by location (one mistake, one
    error).  ``profile_schema`` is the catalog's data-package profile (JSON Schema);
    ``None`` checks Frictionless rules only (a package outside a catalog).
    A remote ``profile`` URL in the descriptor is resolved through the offline
    registry, never fetched.
    """
    from frictionless import Package

    if not isinstance(doc, dict):
        return [Problem("frictionless", "a data package must be a JSON object", file=file, dataset=dataset)]
    problems: list[Problem] = []
    descriptor = dict(doc)
    custom_profile = descriptor.get("profile")
    if isinstance(custom_profile, str) and re.match(r"^https?://", custom_profile):
        descriptor.pop("profile")
        try:
            problems += schema_problems(
                registry.validator(custom_profile),
                doc,
                code="profile",
                schema_name=custom_profile,
                file=file,
                line_of=line_of,
                dataset=dataset,
            )
        except SchemaNotFound as exc:
            line = line_of("/profile") if line_of else None
            problems.append(
                Problem(
                    "schema-not-found",
                    exc.message,
                    file=file,
                    pointer="/profile",
                    line=line,
                    hint=exc.hint,
                    dataset=dataset,
                )
            )
    spec: list[Problem] = []
    with contextlib.suppress(SchemaNotFound):  # without the mirror the library alone still checks it
        spec = schema_problems(
            registry.validator(DATAPACKAGE_PROFILE_URL),
            descriptor,
            code="frictionless",
            schema_name="Data Package v2",
            file=file,
            line_of=line_of,
            dataset=dataset,
        )
    problems += spec
    report = _offline_frictionless(
        lambda: Package.validate_descriptor(descriptor, basepath=str(basepath) if basepath else None)
    )
    problems += _library_problems(
        doc,
        report.errors,
        spec,
        file=file,
        line_of=line_of,
        dataset=dataset,
        hint="see https://datapackage.org/standard/data-package/",
    )
    if profile_schema is not None:
        try:
            validator = registry.validator_for_schema(profile_schema, "catalog-datapackage")
        except Exception as exc:  # a broken profile is the catalog's problem, not a crash
            return [*problems, Problem("profile-invalid", f"the catalog profile is not usable: {exc}", file=file)]
        seen = {p.pointer for p in problems}
        problems += [
            p
            for p in schema_problems(
                validator,
                doc,
                code="profile",
                schema_name="the catalog data-package profile (profiles/catalog-datapackage.json)",
                file=file,
                line_of=line_of,
                dataset=dataset,
            )
            if p.pointer not in seen or p.code == "schema-not-found"
        ]
    return problems


def validate_tableschema(
    doc: Any,
    *,
    registry: SchemaRegistry,
    file: str | None = None,
    line_of: LineOf | None = None,
    dataset: str | None = None,
) -> list[Problem]:
    """A Frictionless Table Schema (``frictionless`` + the Table Schema v2 JSON Schema).

    The library stops at the first error; when it finds one, the JSON Schema
    (slow: a ``oneOf`` over all field types per field) lists all of them, each
    at its key, and the library's own finding is kept only where it adds one
    (one mistake, one error).  A schema the library accepts skips that pass.
    """
    from frictionless import Schema

    if not isinstance(doc, dict):
        return [Problem("tableschema", "a table schema must be a JSON object", file=file, dataset=dataset)]
    report = _offline_frictionless(lambda: Schema.validate_descriptor(doc))
    problems: list[Problem] = []
    if report.errors:
        with contextlib.suppress(SchemaNotFound):  # frictionless alone still checked it
            problems = schema_problems(
                registry.validator(TABLESCHEMA_PROFILE_URL),
                doc,
                code="tableschema",
                schema_name="Table Schema v2",
                file=file,
                line_of=line_of,
                dataset=dataset,
            )
    problems += _library_problems(
        doc,
        report.errors,
        problems,
        file=file,
        line_of=line_of,
        dataset=dataset,
        hint="see https://datapackage.org/standard/table-schema/",
    )
    names = [f.get("name") for f in doc.get("fields", []) if isinstance(f, dict)]
    for index, name in enumerate(names):
        if name is not None and name in names[:index]:
            pointer = f"/fields/{index}/name"
            problems.append(
                Problem(
                    "duplicate-name",
                    f"field {name!r} is declared twice",
                    file=file,
                    pointer=pointer,
                    line=line_of(pointer) if line_of else None,
                    hint="rename or remove one of the fields",
                    dataset=dataset,
                )
            )
    return problems
