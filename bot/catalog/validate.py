"""Validate a dataset's documents and cross-check them against each other.

Why one module: a pull request check, ``catalog-bot validate`` and the
publish steps must agree on what "valid" means.  Every finding is a
:class:`bot.errors.Problem` with a stable kebab-case ``code``, the
catalog-relative file, a JSON pointer and (when we can map it) the line, so
the same list becomes terminal output, PR annotations and JSON.

Layers, each usable alone:

* document validators -- :func:`validate_collection`, :func:`validate_item`,
  :func:`validate_catalog` (STAC core by ``stac_version`` + every
  ``stac_extensions`` schema, offline), :func:`validate_datapackage`
  (``frictionless`` + the catalog profile), :func:`validate_tableschema`,
  :func:`validate_gridschema`;
* :func:`cross_check` -- rules no single schema can express (ids, licence,
  bbox order/range, time order, links, extension usage, coordinates);
* :func:`validate_dataset` -- both, for one dataset's :class:`DatasetDocs`;
* :func:`load_and_validate_dataset` -- read + render + validate, turning every
  broken input (missing file, bad JSON, non-UTF-8, render error) into a
  Problem rather than an exception;
* :func:`validate_many` -- a whole catalog on a process pool;
* :func:`validate_file` -- any JSON file outside a catalog, by detected type.

Pure: no network.  ``frictionless`` is run with an HTTP session that refuses
every request, so a remote ``profile`` can never trigger a download.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from jsonschema.exceptions import ValidationError, best_match
from referencing.exceptions import Unresolvable

from bot.catalog.layout import (
    COLLECTION,
    DATAPACKAGE,
    DATASETS_DIR,
    GRIDSCHEMA,
    PIPELINE,
    PROFILES_DIR,
    TABLESCHEMA,
    Catalog,
    Dataset,
    PipelineSpec,
    load_pipeline,
)
from bot.catalog.locate import json_line, jsonnet_line, make_pointer
from bot.catalog.schemas import STAC_VERSIONS, SchemaRegistry, schema_errors, stac_core_url
from bot.errors import CatalogError, Problem, SchemaNotFound, Severity

PROFILE_DATAPACKAGE = "catalog-datapackage.json"
PROFILE_GRIDSCHEMA = "gridschema.json"
TABLESCHEMA_PROFILE_URL = "https://datapackage.org/profiles/2.0/tableschema.json"
MAX_SCHEMA_PROBLEMS = 25
# The example catalog's profiles are the bundled defaults (one copy; shipped in wheels
# through the bot/resources/catalog_templates link).
_BUNDLED = Path(__file__).resolve().parents[1] / "resources" / "catalog_templates" / "example" / "profiles"

LineOf = Callable[[str], int | None]


class RendererLike(Protocol):
    """What we need from :class:`bot.catalog.render.Renderer`."""

    def render_file(self, path: Path) -> Any:
        """Render a Jsonnet file to JSON data (raises ``RenderError``)."""
        ...


# --------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class Profiles:
    """The catalog's own JSON schemas: the data-package profile and the grid schema.

    They live in the catalog (``profiles/``) so that a catalog can tighten
    its rules in a pull request; the copies bundled with the bot are the
    fallback (and what ``catalog-bot init`` starts from).
    """

    datapackage: dict[str, Any]
    gridschema: dict[str, Any]
    datapackage_file: str = f"{PROFILES_DIR}/{PROFILE_DATAPACKAGE}"
    gridschema_file: str = f"{PROFILES_DIR}/{PROFILE_GRIDSCHEMA}"

    @classmethod
    def bundled(cls) -> Profiles:
        """The profiles shipped with the bot."""
        return cls(
            datapackage=json.loads((_BUNDLED / PROFILE_DATAPACKAGE).read_text(encoding="utf-8")),
            gridschema=json.loads((_BUNDLED / PROFILE_GRIDSCHEMA).read_text(encoding="utf-8")),
        )

    @classmethod
    def load(cls, root: Path) -> Profiles:
        """The profiles of the catalog at ``root`` (bundled ones where a file is absent).

        Raises :class:`CatalogError` naming the file when a profile is not
        valid JSON or not a valid JSON Schema.
        """
        bundled = cls.bundled()
        found: dict[str, dict[str, Any]] = {}
        for name in (PROFILE_DATAPACKAGE, PROFILE_GRIDSCHEMA):
            path = root / PROFILES_DIR / name
            rel = f"{PROFILES_DIR}/{name}"
            if not path.is_file():
                continue
            doc, _text, problems = read_json(path, rel)
            if problems:
                raise CatalogError(problems[0].message, file=rel, line=problems[0].line, hint=problems[0].hint)
            if not isinstance(doc, dict):
                raise CatalogError("a profile must be a JSON Schema object", file=rel, hint="start it with {")
            _check_schema(doc, rel)
            found[name] = doc
        return cls(
            datapackage=found.get(PROFILE_DATAPACKAGE, bundled.datapackage),
            gridschema=found.get(PROFILE_GRIDSCHEMA, bundled.gridschema),
            datapackage_file=f"{PROFILES_DIR}/{PROFILE_DATAPACKAGE}",
            gridschema_file=f"{PROFILES_DIR}/{PROFILE_GRIDSCHEMA}",
        )


def _check_schema(schema: dict[str, Any], rel: str) -> None:
    from jsonschema import validators
    from jsonschema.exceptions import SchemaError

    cls = validators.validator_for(schema, default=validators.Draft7Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise CatalogError(
            f"not a valid JSON Schema: {exc.message}",
            file=rel,
            field=".".join(str(p) for p in exc.absolute_path) or None,
            hint="fix the profile (catalog_templates/example/profiles has a working one)",
        ) from None


@dataclass
class DatasetDocs:
    """Everything known about one dataset, as loaded (``None`` = absent or unreadable).

    ``files`` maps a kind (``collection``, ``datapackage``, ``tableschema``,
    ``gridschema``, ``pipeline``) to its catalog-relative path, ``sources``
    the kind to its source text (used only to map pointers to lines).
    """

    dataset_id: str
    collection: dict[str, Any] | None = None
    datapackage: dict[str, Any] | None = None
    tableschema: dict[str, Any] | None = None
    gridschema: dict[str, Any] | None = None
    pipeline: PipelineSpec | None = None
    files: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def file(self, kind: str) -> str:
        """Catalog-relative path of a document (a sensible default when unknown)."""
        default = {
            "collection": COLLECTION,
            "datapackage": DATAPACKAGE,
            "tableschema": TABLESCHEMA,
            "gridschema": GRIDSCHEMA,
            "pipeline": PIPELINE,
        }[kind]
        return self.files.get(kind, f"{DATASETS_DIR}/{self.dataset_id}/{default}")

    def line_of(self, kind: str) -> LineOf:
        """Pointer -> line function for one document (Jsonnet search for the collection)."""
        text = self.sources.get(kind)
        if kind == "collection":
            return lambda pointer: jsonnet_line(text, pointer)
        return lambda pointer: json_line(text, pointer)


# --------------------------------------------------------------------------
# Reading files


def read_text(path: Path, rel: str, dataset: str | None = None) -> tuple[str | None, list[Problem]]:
    """UTF-8 text of a file, or a Problem (missing, unreadable, not UTF-8 with its line)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, [
            Problem(
                "file-missing",
                "required file is missing",
                file=rel,
                hint=f"add {path.name} (see catalog_templates/example)",
                dataset=dataset,
            )
        ]
    except OSError as exc:
        return None, [Problem("file-unreadable", f"cannot read file: {exc.strerror}", file=rel, dataset=dataset)]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [
            Problem(
                "encoding",
                f"not UTF-8: invalid byte 0x{data[exc.start]:02x} at byte {exc.start}",
                file=rel,
                line=line,
                column=col,
                hint="save the file as UTF-8",
                dataset=dataset,
            )
        ]


def read_json(path: Path, rel: str, dataset: str | None = None) -> tuple[Any, str | None, list[Problem]]:
    """Parse a JSON file: ``(data, text, problems)``; bad JSON is a Problem with line/column."""
    text, problems = read_text(path, rel, dataset)
    if text is None:
        return None, None, problems
    try:
        return json.loads(text), text, []
    except json.JSONDecodeError as exc:
        return (
            None,
            text,
            [
                Problem(
                    "json-invalid",
                    f"invalid JSON: {exc.msg}",
                    file=rel,
                    line=exc.lineno,
                    column=exc.colno,
                    hint="fix the JSON syntax (a missing comma or quote, or a trailing comma?)",
                    dataset=dataset,
                )
            ],
        )


# --------------------------------------------------------------------------
# JSON Schema errors -> Problems


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _hint(err: ValidationError, schema_name: str) -> str:
    kind, expected = err.validator, err.validator_value
    if kind == "required":
        missing = re.findall(r"'([^']+)' is a required property", err.message)
        return f"add `{missing[0]}`" if missing else "add the missing field"
    if kind == "enum":
        return "use one of: " + ", ".join(_short(v, 30) for v in expected)
    if kind in {"oneOf", "anyOf"} and _allowed_types(err):
        return "use one of the allowed types: " + ", ".join(_allowed_types(err))
    if kind == "const":
        return f"use {_short(expected)}"
    if kind == "pattern":
        return f"match the pattern {expected}"
    if kind == "type":
        return f"use a value of type {expected}"
    if kind == "format":
        example = {"date-time": " such as 2024-01-31T00:00:00Z", "email": " such as name@example.org"}.get(expected, "")
        return f"use a valid {expected}{example}"
    if kind in {"additionalProperties", "unevaluatedProperties"}:
        return "remove the unknown field or check its spelling"
    if kind in {"minItems", "maxItems"}:
        return f"the list needs {'at least' if kind == 'minItems' else 'at most'} {expected} items"
    if kind == "uniqueItems":
        return "remove the duplicate items"
    if kind == "minLength":
        return "use a non-empty value"
    return f"see {schema_name}"


def _discriminator_reject(err: ValidationError, base: int) -> bool:
    """Whether ``err`` says "this branch is for another ``type``" (Item vs Collection, field types)."""
    return err.validator in {"const", "enum"} and list(err.absolute_path)[base:] == ["type"]


def pick_error(err: ValidationError) -> ValidationError:
    """The most useful error to show for ``err``.

    ``best_match`` alone often explains a ``oneOf`` with the wrong branch
    (a STAC extension's Item branch, "'Feature' was expected", for a
    Collection).  Branches rejected by a ``type`` discriminator are dropped
    first; if every branch is rejected that way, the ``oneOf`` error itself
    is returned (its message is then rewritten by :func:`_message`).
    """
    if not err.context:
        return err
    if err.validator not in {"oneOf", "anyOf"}:
        return pick_error(best_match([err]))
    base = len(err.absolute_path)
    branches: dict[Any, list[ValidationError]] = {}
    for sub in err.context:
        branches.setdefault(sub.relative_schema_path[0] if sub.relative_schema_path else None, []).append(sub)
    live = [errs for errs in branches.values() if not any(_discriminator_reject(e, base) for e in errs)]
    if not live:
        return err
    best = best_match([e for errs in live for e in errs])
    return pick_error(best) if best.context else best


def _allowed_types(err: ValidationError) -> list[str]:
    base = len(err.absolute_path)
    allowed: list[str] = []
    for sub in err.context:
        if _discriminator_reject(sub, base):
            values = sub.validator_value if sub.validator == "enum" else [sub.validator_value]
            allowed += [str(v) for v in values if str(v) not in allowed]
    return allowed


def _message(err: ValidationError) -> str:
    if err.validator in {"oneOf", "anyOf"} and isinstance(err.instance, dict) and _allowed_types(err):
        return f"type {_short(err.instance.get('type'))} is not one of: {', '.join(_allowed_types(err))}"
    if len(err.message) <= 200:
        return err.message
    if err.validator in {"oneOf", "anyOf"}:
        return f"value {_short(err.instance)} does not match any allowed form"
    return f"value {_short(err.instance)} fails `{err.validator}`: {_short(err.validator_value)}"


def schema_problems(
    validator: Any,
    doc: Any,
    *,
    code: str,
    schema_name: str,
    file: str | None,
    line_of: LineOf | None = None,
    dataset: str | None = None,
    limit: int = MAX_SCHEMA_PROBLEMS,
) -> list[Problem]:
    """Run a compiled validator and turn its errors into located Problems.

    One problem per top-level error, reported at the most relevant nested
    cause (``best_match``), sorted by document position; at most ``limit``.
    A ``$ref`` that cannot be resolved offline becomes one
    ``schema-not-found`` problem naming the URL.
    """
    try:
        errors = schema_errors(validator, doc)
    except Unresolvable as exc:
        ref = getattr(exc, "ref", None) or str(exc)
        return [
            Problem(
                "schema-not-found",
                f"{schema_name} references {ref}, which is not available offline",
                file=file,
                hint="add the referenced schema to the mirror (CATALOG_BOT_SCHEMAS) at its derived path",
                dataset=dataset,
            )
        ]
    out: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for top in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        err = pick_error(top)
        pointer = make_pointer(list(err.absolute_path))
        # One problem per location (a bad date-time also fails its pattern),
        # except that every missing required field is worth its own line.
        key = (pointer, err.message if err.validator == "required" else "")
        if key in seen:
            continue
        seen.add(key)
        out.append(
            Problem(
                code,
                _message(err),
                file=file,
                pointer=pointer or None,
                line=line_of(pointer) if line_of else None,
                hint=_hint(err, schema_name),
                dataset=dataset,
            )
        )
        if len(out) >= limit:
            out.append(
                Problem(
                    code,
                    f"more than {limit} errors against {schema_name}; showing the first {limit}",
                    file=file,
                    severity=Severity.NOTICE,
                    dataset=dataset,
                )
            )
            break
    return out


# --------------------------------------------------------------------------
# STAC


def _validate_stac(
    doc: Any,
    kind: str,
    registry: SchemaRegistry,
    *,
    file: str | None,
    line_of: LineOf | None,
    dataset: str | None,
) -> list[Problem]:
    def problem(code: str, message: str, pointer: str | None = None, hint: str | None = None) -> Problem:
        line = line_of(pointer) if (line_of and pointer) else None
        return Problem(code, message, file=file, pointer=pointer, line=line, hint=hint, dataset=dataset)

    if not isinstance(doc, dict):
        return [problem("stac-schema", f"a STAC {kind} must be a JSON object", hint="start the document with {")]
    version = doc.get("stac_version")
    if version not in STAC_VERSIONS:
        return [
            problem(
                "stac-version",
                f"STAC version {version!r} is not supported (supported: {', '.join(STAC_VERSIONS)})",
                "/stac_version" if "stac_version" in doc else "",
                f"set stac_version to {STAC_VERSIONS[-1]!r} and update the document to that version",
            )
        ]
    core = stac_core_url(version, kind)
    problems: list[Problem] = []
    try:
        validator = registry.validator(core)
    except SchemaNotFound as exc:
        problems.append(problem("schema-not-found", exc.message, "/stac_version", exc.hint))
    else:
        problems += schema_problems(
            validator,
            doc,
            code="stac-schema",
            schema_name=f"STAC {version} {kind} schema",
            file=file,
            line_of=line_of,
            dataset=dataset,
        )
    extensions = doc.get("stac_extensions") or []
    if not isinstance(extensions, list):
        return problems  # the core schema already reported it
    for index, url in enumerate(extensions):
        if not isinstance(url, str):
            continue
        pointer = f"/stac_extensions/{index}"
        try:
            ext_validator = registry.validator(url)
        except SchemaNotFound as exc:
            problems.append(problem("schema-not-found", exc.message, pointer, exc.hint))
            continue
        problems += schema_problems(
            ext_validator,
            doc,
            code="stac-extension",
            schema_name=url,
            file=file,
            line_of=line_of,
            dataset=dataset,
        )
    return problems


def validate_collection(
    doc: Any,
    registry: SchemaRegistry,
    *,
    file: str | None = None,
    line_of: LineOf | None = None,
    dataset: str | None = None,
) -> list[Problem]:
    """A STAC Collection against its core schema (1.0.0/1.1.0) and every declared extension."""
    return _validate_stac(doc, "collection", registry, file=file, line_of=line_of, dataset=dataset)


def validate_item(
    doc: Any,
    registry: SchemaRegistry,
    *,
    file: str | None = None,
    line_of: LineOf | None = None,
    dataset: str | None = None,
) -> list[Problem]:
    """A STAC Item against its core schema (1.0.0/1.1.0) and every declared extension."""
    return _validate_stac(doc, "item", registry, file=file, line_of=line_of, dataset=dataset)


def validate_catalog(
    doc: Any,
    registry: SchemaRegistry,
    *,
    file: str | None = None,
    line_of: LineOf | None = None,
    dataset: str | None = None,
) -> list[Problem]:
    """A STAC Catalog against its core schema (1.0.0/1.1.0) and every declared extension."""
    return _validate_stac(doc, "catalog", registry, file=file, line_of=line_of, dataset=dataset)


# --------------------------------------------------------------------------
# Frictionless


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


def _frictionless_problems(
    report_errors: Iterable[Any], *, file: str | None, line_of: LineOf | None, dataset: str | None, hint: str
) -> list[Problem]:
    out: list[Problem] = []
    for error in report_errors:
        note = str(getattr(error, "note", "") or getattr(error, "message", ""))
        match = _AT_PROPERTY.search(note)
        pointer = ("/" + match.group(1)) if match and match.group(1) else None
        message = _AT_PROPERTY.sub("", note) if match else note
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
    registry: SchemaRegistry | None = None,
    file: str | None = None,
    line_of: LineOf | None = None,
    dataset: str | None = None,
    basepath: Path | None = None,
) -> list[Problem]:
    """A Frictionless Data Package: the ``frictionless`` library plus the catalog profile.

    ``profile_schema`` is the catalog's data-package profile (JSON Schema);
    ``None`` checks Frictionless rules only (a package outside a catalog).
    A remote ``profile`` URL in the descriptor is resolved through the offline
    registry, never fetched.
    """
    from frictionless import Package

    registry = registry or default_registry()
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
    report = _offline_frictionless(
        lambda: Package.validate_descriptor(descriptor, basepath=str(basepath) if basepath else None)
    )
    problems += _frictionless_problems(
        report.errors,
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
    registry: SchemaRegistry | None = None,
    file: str | None = None,
    line_of: LineOf | None = None,
    dataset: str | None = None,
) -> list[Problem]:
    """A Frictionless Table Schema (``frictionless`` + the Table Schema v2 JSON Schema).

    The library stops at the first error; when it finds one, the JSON Schema
    (slow: a ``oneOf`` over all field types per field) lists all of them,
    deduplicated by location.  A schema the library accepts skips that pass.
    """
    from frictionless import Schema

    registry = registry or default_registry()
    if not isinstance(doc, dict):
        return [Problem("tableschema", "a table schema must be a JSON object", file=file, dataset=dataset)]
    report = _offline_frictionless(lambda: Schema.validate_descriptor(doc))
    problems = _frictionless_problems(
        report.errors,
        file=file,
        line_of=line_of,
        dataset=dataset,
        hint="see https://datapackage.org/standard/table-schema/",
    )
    seen = {p.pointer for p in problems}
    validator = None
    if problems:
        with contextlib.suppress(SchemaNotFound):  # frictionless alone still checked it
            validator = registry.validator(TABLESCHEMA_PROFILE_URL)
    if validator is not None:
        problems += [
            p
            for p in schema_problems(
                validator,
                doc,
                code="tableschema",
                schema_name="Table Schema v2",
                file=file,
                line_of=line_of,
                dataset=dataset,
            )
            if p.pointer not in seen
        ]
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


def validate_gridschema(
    doc: Any,
    schema: dict[str, Any] | None = None,
    *,
    registry: SchemaRegistry | None = None,
    file: str | None = None,
    line_of: LineOf | None = None,
    dataset: str | None = None,
) -> list[Problem]:
    """A grid schema against the catalog's gridschema JSON Schema, plus consistency.

    Checks beyond the schema: names are unique, and every dimension a
    variable uses is a declared dimension.
    """
    registry = registry or default_registry()
    schema = schema if schema is not None else Profiles.bundled().gridschema
    problems = schema_problems(
        registry.validator_for_schema(schema, "gridschema"),
        doc,
        code="gridschema",
        schema_name="the grid schema (profiles/gridschema.json)",
        file=file,
        line_of=line_of,
        dataset=dataset,
    )
    if not isinstance(doc, dict):
        return problems

    def add(code: str, message: str, pointer: str, hint: str) -> None:
        line = line_of(pointer) if line_of else None
        problems.append(Problem(code, message, file=file, pointer=pointer, line=line, hint=hint, dataset=dataset))

    dims = (
        [d for d in doc.get("dimensions") or [] if isinstance(d, dict)]
        if isinstance(doc.get("dimensions"), list)
        else []
    )
    variables = doc.get("variables") if isinstance(doc.get("variables"), list) else []
    declared = [d.get("name") for d in dims]
    for section, items in (("dimensions", dims), ("variables", variables)):
        names = [v.get("name") if isinstance(v, dict) else None for v in items]
        for index, name in enumerate(names):
            if name is not None and name in names[:index]:
                add(
                    "duplicate-name",
                    f"{section[:-1]} {name!r} is declared twice",
                    f"/{section}/{index}/name",
                    "rename or remove one",
                )
    for vindex, var in enumerate(variables):
        if not isinstance(var, dict) or not isinstance(var.get("dimensions"), list):
            continue
        for dindex, dim in enumerate(var["dimensions"]):
            if isinstance(dim, str) and dim not in declared:
                add(
                    "grid-dimension-undeclared",
                    f"variable {var.get('name')!r} uses dimension {dim!r}, which is not declared",
                    f"/variables/{vindex}/dimensions/{dindex}",
                    f"declare {dim!r} under dimensions, or use one of: {', '.join(map(str, declared)) or 'none'}",
                )
    return problems


# --------------------------------------------------------------------------
# Cross-checks


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        from datetime import UTC

        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_bbox(bbox: Any, pointer: str) -> Iterator[tuple[str, str, str, str]]:
    """Yield ``(code, message, pointer, hint)`` for a ``[w, s, e, n]`` (or 3D) bbox.

    ``w > e`` is a legal antimeridian crossing only when ``w`` is in the
    eastern and ``e`` in the western hemisphere (e.g. ``[170, ..., -170, ...]``);
    anything else with ``w > e`` is taken as swapped coordinates.
    """
    if not isinstance(bbox, list) or len(bbox) not in (4, 6) or not all(_is_number(v) for v in bbox):
        return  # the schemas report the shape
    if len(bbox) == 4:
        west, south, east, north = bbox
        iw, is_, ie, in_ = 0, 1, 2, 3
    else:
        west, south, _zmin, east, north, _zmax = bbox
        iw, is_, ie, in_ = 0, 1, 3, 4
    for value, index, low, high, what in (
        (west, iw, -180, 180, "west longitude"),
        (east, ie, -180, 180, "east longitude"),
        (south, is_, -90, 90, "south latitude"),
        (north, in_, -90, 90, "north latitude"),
    ):
        if not low <= value <= high:
            yield (
                "bbox-range",
                f"{what} {value} is outside {low}..{high}",
                f"{pointer}/{index}",
                "use WGS 84 degrees in the order [west, south, east, north]",
            )
    if south > north:
        yield (
            "bbox-order",
            f"south {south} is greater than north {north}",
            f"{pointer}/{is_}",
            "swap south and north: bbox is [west, south, east, north]",
        )
    if west > east and not (west > 0 > east):
        yield (
            "bbox-order",
            f"west {west} is greater than east {east} (and this is not an antimeridian crossing)",
            f"{pointer}/{iw}",
            "swap west and east: bbox is [west, south, east, north]",
        )


def check_interval(
    start: Any, end: Any, pointer: str, start_key: str, end_key: str
) -> Iterator[tuple[str, str, str, str]]:
    """Yield problems for a time interval: unparsable ends, or start after end."""
    parsed: dict[str, datetime | None] = {}
    for key, value in ((start_key, start), (end_key, end)):
        if value is None:
            parsed[key] = None
            continue
        parsed[key] = _parse_time(value)
        if parsed[key] is None:
            yield (
                "temporal-format",
                f"{value!r} is not an ISO 8601 date-time",
                f"{pointer}/{key}",
                "use a date-time such as 2024-01-31T00:00:00Z (or null for open-ended)",
            )
    first, last = parsed[start_key], parsed[end_key]
    if first is not None and last is not None and first > last:
        yield (
            "temporal-order",
            f"start {start} is after end {end}",
            f"{pointer}/{start_key}",
            "swap start and end, or correct the dates",
        )


_ABS_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def check_href(href: Any) -> str | None:
    """Why ``href`` is not a usable link target, or ``None`` if it is."""
    if not isinstance(href, str) or not href.strip():
        return "href is missing or empty"
    if href != href.strip() or re.search(r"\s", href):
        return f"href {href!r} contains whitespace"
    if _ABS_URL.match(href):
        parts = urlsplit(href)
        scheme = parts.scheme.lower()
        if scheme in {"http", "https", "s3", "gs", "ftp"} and not parts.netloc:
            return f"href {href!r} has no host"
        if scheme in {"http", "https"}:
            host = parts.hostname or ""
            if not re.fullmatch(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]", host) or host.startswith(".") or ".." in host:
                return f"href {href!r} has an invalid host {host!r}"
            try:
                _ = parts.port
            except ValueError:
                return f"href {href!r} has an invalid port"
    return None


def _used_prefixes(doc: Any) -> set[str]:
    """Every ``prefix`` of a ``prefix:name`` key anywhere in a document."""
    found: set[str] = set()
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and ":" in key:
                    found.add(key.split(":", 1)[0])
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return found


def collection_rules(coll: dict[str, Any], registry: SchemaRegistry) -> Iterator[tuple[str, str, str, str]]:
    """Rules for a STAC collection alone: bbox order/range, interval order, links, extension use.

    Yields ``(code, message, pointer, hint)``; used for catalog datasets and
    for ``validate FILE``.
    """
    extent = coll.get("extent") if isinstance(coll.get("extent"), dict) else {}
    spatial = extent.get("spatial") if isinstance(extent.get("spatial"), dict) else {}
    bboxes = spatial.get("bbox") if isinstance(spatial.get("bbox"), list) else []
    for index, bbox in enumerate(bboxes):
        yield from check_bbox(bbox, f"/extent/spatial/bbox/{index}")
    temporal = extent.get("temporal") if isinstance(extent.get("temporal"), dict) else {}
    intervals = temporal.get("interval") if isinstance(temporal.get("interval"), list) else []
    for index, interval in enumerate(intervals):
        if isinstance(interval, list) and len(interval) == 2:
            yield from check_interval(interval[0], interval[1], f"/extent/temporal/interval/{index}", "0", "1")
    links = coll.get("links") if isinstance(coll.get("links"), list) else []
    for index, link in enumerate(links):
        pointer = f"/links/{index}"
        if not isinstance(link, dict):
            continue
        rel = link.get("rel")
        if not isinstance(rel, str) or not rel.strip():
            yield ("link-invalid", f"link {index} has no rel", pointer, "add a rel such as 'about' or 'license'")
        reason = check_href(link.get("href"))
        if reason:
            yield (
                "link-invalid",
                f"link {index} ({rel}): {reason}",
                pointer + "/href",
                "use an absolute https:// URL or a relative path",
            )
    extensions = coll.get("stac_extensions") if isinstance(coll.get("stac_extensions"), list) else []
    used = _used_prefixes(coll) if extensions else set()
    for index, url in enumerate(extensions):
        if not isinstance(url, str) or not registry.has(url):
            continue  # the schema step reports unknown extensions
        prefixes = registry.extension_prefixes(url)
        if prefixes and not prefixes & used:
            fields = ", ".join(sorted(p + ":*" for p in prefixes))
            yield (
                "extension-unused",
                f"extension {url} is declared but no {fields} field is used",
                f"/stac_extensions/{index}",
                "add the extension's fields, or remove it from stac_extensions",
            )


def cross_check(docs: DatasetDocs, registry: SchemaRegistry) -> list[Problem]:
    """Rules that span documents or that JSON Schema cannot express."""
    problems: list[Problem] = []
    ds = docs.dataset_id

    def add(
        kind: str, code: str, message: str, pointer: str | None, hint: str, severity: Severity = Severity.ERROR
    ) -> None:
        line = docs.line_of(kind)(pointer) if pointer is not None else None
        problems.append(
            Problem(
                code,
                message,
                file=docs.file(kind),
                pointer=pointer,
                line=line,
                hint=hint,
                severity=severity,
                dataset=ds,
            )
        )

    coll = docs.collection if isinstance(docs.collection, dict) else None
    pkg = docs.datapackage if isinstance(docs.datapackage, dict) else None

    # ids
    if coll is not None and "id" in coll and coll.get("id") != ds:
        add(
            "collection",
            "id-mismatch",
            f"collection id {coll.get('id')!r} differs from the folder name {ds!r}",
            "/id",
            f"set id to {ds!r}",
        )
    if pkg is not None and "name" in pkg and pkg.get("name") != ds:
        add(
            "datapackage",
            "id-mismatch",
            f"datapackage name {pkg.get('name')!r} differs from the folder name {ds!r}",
            "/name",
            f"set name to {ds!r}",
        )
    if pkg is not None and isinstance(pkg.get("resources"), list):
        names = [r.get("name") for r in pkg["resources"] if isinstance(r, dict)]
        if ds not in names:
            add(
                "datapackage",
                "resource-name",
                f"no resource is named like the dataset ({ds!r}); found {', '.join(map(repr, names)) or 'none'}",
                "/resources",
                f"name the dataset's resource {ds!r}",
            )

    # licence
    if coll is not None and pkg is not None:
        licence = coll.get("license")
        licences = pkg.get("licenses")
        first = (
            licences[0].get("name")
            if isinstance(licences, list) and licences and isinstance(licences[0], dict)
            else None
        )
        if (
            isinstance(licence, str)
            and licence not in {"other", "various", "proprietary"}
            and first is not None
            and first != licence
        ):
            add(
                "datapackage",
                "licence-mismatch",
                f"licenses[0].name {first!r} differs from the collection's license {licence!r}",
                "/licenses/0/name",
                f"use the same SPDX id in both files (collection: {licence!r})",
            )

    # collection-only rules (extents, links, extensions)
    if coll is not None:
        for code, message, pointer, hint in collection_rules(coll, registry):
            add("collection", code, message, pointer, hint)

    if pkg is not None:
        spatial = pkg.get("spatial") if isinstance(pkg.get("spatial"), dict) else {}
        for code, message, pointer, hint in check_bbox(spatial.get("bbox"), "/spatial/bbox"):
            add("datapackage", code, message, pointer, hint)
        temporal = pkg.get("temporal") if isinstance(pkg.get("temporal"), dict) else {}
        if temporal:
            for code, message, pointer, hint in check_interval(
                temporal.get("start"), temporal.get("end"), "/temporal", "start", "end"
            ):
                add("datapackage", code, message, pointer, hint)

    if pkg is not None and isinstance(pkg.get("licenses"), list):
        for index, lic in enumerate(pkg["licenses"]):
            path = lic.get("path") if isinstance(lic, dict) else None
            if isinstance(path, str) and _ABS_URL.match(path):
                reason = check_href(path)
                if reason:
                    add(
                        "datapackage",
                        "link-invalid",
                        f"licence path: {reason}",
                        f"/licenses/{index}/path",
                        "use the licence's https:// URL",
                    )

    # pipeline vs schemas and datapackage
    pipe = docs.pipeline
    if pipe is not None:
        coords = {k: v for k, v in pipe.coordinates.model_dump().items() if v}
        if pipe.kind == "tabular":
            if docs.tableschema is None and docs.gridschema is not None:
                add(
                    "gridschema",
                    "schema-kind-mismatch",
                    "output is parquet (tabular) but the dataset has a grid schema",
                    None,
                    f"replace {GRIDSCHEMA} with a {TABLESCHEMA}, or set output: zarr",
                )
            if isinstance(docs.tableschema, dict) and isinstance(docs.tableschema.get("fields"), list):
                names = {f.get("name") for f in docs.tableschema["fields"] if isinstance(f, dict)}
                for axis, name in coords.items():
                    if name not in names:
                        add(
                            "tableschema",
                            "coordinates-missing",
                            f"pipeline coordinate {axis}={name!r} is not a field of the table schema",
                            "/fields",
                            f"add a field named {name!r}, or fix coordinates.{axis} in {PIPELINE}",
                        )
        else:
            if docs.gridschema is None and docs.tableschema is not None:
                add(
                    "tableschema",
                    "schema-kind-mismatch",
                    "output is zarr (gridded) but the dataset has a table schema",
                    None,
                    f"replace {TABLESCHEMA} with a {GRIDSCHEMA}, or set output: parquet",
                )
            if isinstance(docs.gridschema, dict) and isinstance(docs.gridschema.get("dimensions"), list):
                dims = {d.get("name"): d for d in docs.gridschema["dimensions"] if isinstance(d, dict)}
                for axis, name in coords.items():
                    if axis == "geometry":
                        continue
                    if name not in dims:
                        add(
                            "gridschema",
                            "coordinates-missing",
                            f"pipeline coordinate {axis}={name!r} is not a dimension of the grid schema",
                            "/dimensions",
                            f"declare a dimension {name!r}, or fix coordinates.{axis} in {PIPELINE}",
                        )
                    elif dims[name].get("axis") not in (None, axis):
                        index = list(dims).index(name)
                        add(
                            "gridschema",
                            "coordinates-axis",
                            f"dimension {name!r} has axis {dims[name].get('axis')!r} but {PIPELINE} uses it as {axis}",
                            f"/dimensions/{index}/axis",
                            f"set axis to {axis!r}, or fix coordinates in {PIPELINE}",
                        )
        if pkg is not None and pkg.get("access") in {"public", "limited"} and pkg.get("access") != pipe.access:
            add(
                "datapackage",
                "access-mismatch",
                f"access {pkg.get('access')!r} differs from {PIPELINE} access {pipe.access!r}",
                "/access",
                "use the same access level in both files",
            )
    return problems


# --------------------------------------------------------------------------
# One dataset


def validate_dataset(
    dataset_id: str,
    docs: DatasetDocs,
    registry: SchemaRegistry,
    profiles: Profiles | None = None,
) -> list[Problem]:
    """Validate every loaded document of a dataset, then cross-check them."""
    profiles = profiles or Profiles.bundled()
    problems: list[Problem] = []
    if docs.collection is not None:
        problems += validate_collection(
            docs.collection,
            registry,
            file=docs.file("collection"),
            line_of=docs.line_of("collection"),
            dataset=dataset_id,
        )
    if docs.datapackage is not None:
        problems += validate_datapackage(
            docs.datapackage,
            profiles.datapackage,
            registry=registry,
            file=docs.file("datapackage"),
            line_of=docs.line_of("datapackage"),
            dataset=dataset_id,
        )
    if docs.tableschema is not None:
        problems += validate_tableschema(
            docs.tableschema,
            registry=registry,
            file=docs.file("tableschema"),
            line_of=docs.line_of("tableschema"),
            dataset=dataset_id,
        )
    if docs.gridschema is not None:
        problems += validate_gridschema(
            docs.gridschema,
            profiles.gridschema,
            registry=registry,
            file=docs.file("gridschema"),
            line_of=docs.line_of("gridschema"),
            dataset=dataset_id,
        )
    problems += cross_check(docs, registry)
    return problems


def load_and_validate_dataset(
    catalog: Catalog,
    dataset: Dataset,
    renderer: RendererLike,
    registry: SchemaRegistry,
    profiles: Profiles | None = None,
    known_ids: Collection[str] | None = None,
) -> tuple[DatasetDocs, list[Problem]]:
    """Read, render and validate one dataset; broken inputs become Problems, not exceptions.

    ``known_ids``: every dataset id of the catalog (default: the folders under
    ``catalog.root``); ``check`` passes the ids at the head revision because
    its tree holds only the touched datasets.

    Used by ``catalog-bot validate`` and by ``check`` (which also needs the
    loaded :class:`DatasetDocs` to diff them).
    """
    from bot.errors import RenderError

    ds = dataset.id
    docs = DatasetDocs(dataset_id=ds)
    problems: list[Problem] = []
    if profiles is None:
        try:
            profiles = load_profiles(catalog.root)
        except CatalogError as exc:
            problems.append(exc.to_problem("profile-invalid", dataset=ds))
            profiles = Profiles.bundled()

    for kind, name in (("datapackage", DATAPACKAGE), ("tableschema", TABLESCHEMA), ("gridschema", GRIDSCHEMA)):
        path, rel = dataset.path(name), dataset.rel(name)
        docs.files[kind] = rel
        if kind != "datapackage" and not path.exists():
            continue
        data, text, found = read_json(path, rel, ds)
        problems += found
        if text is not None:
            docs.sources[kind] = text
        if data is not None and not isinstance(data, dict):
            problems.append(
                Problem(
                    "json-type", "must be a JSON object", file=rel, line=1, hint="start the file with {", dataset=ds
                )
            )
        elif data is not None:
            setattr(docs, kind, data)
    if not dataset.path(TABLESCHEMA).exists() and not dataset.path(GRIDSCHEMA).exists():
        problems.append(
            Problem(
                "file-missing",
                f"required file is missing: {TABLESCHEMA} (tabular) or {GRIDSCHEMA} (gridded)",
                file=dataset.rel(TABLESCHEMA),
                hint="add the curated table or grid schema",
                dataset=ds,
            )
        )

    docs.files["pipeline"] = dataset.rel(PIPELINE)
    if not dataset.path(PIPELINE).exists():
        problems.append(
            Problem(
                "file-missing",
                "required file is missing",
                file=dataset.rel(PIPELINE),
                hint="add a pipeline.yaml (see catalog-bot init)",
                dataset=ds,
            )
        )
    else:
        try:
            docs.pipeline = load_pipeline(dataset.path(PIPELINE), dataset.rel(PIPELINE))
        except CatalogError as exc:
            problems.append(exc.to_problem("pipeline", dataset=ds))

    coll_path, coll_rel = dataset.path(COLLECTION), dataset.rel(COLLECTION)
    docs.files["collection"] = coll_rel
    source, found = read_text(coll_path, coll_rel, ds)
    problems += found
    if source is not None:
        docs.sources["collection"] = source
        try:
            rendered = renderer.render_file(coll_path)
        except RenderError as exc:
            problems.append(_relative_problem(exc.to_problem("render", dataset=ds), catalog.root, coll_rel))
        else:
            if isinstance(rendered, dict):
                docs.collection = rendered
            else:
                problems.append(
                    Problem(
                        "render",
                        "collection.jsonnet must render to a JSON object",
                        file=coll_rel,
                        hint="return lib.collection(...)",
                        dataset=ds,
                    )
                )

    problems += validate_dataset(ds, docs, registry, profiles)
    problems += duplicate_id_problems(docs, catalog.id_set if known_ids is None else known_ids)
    return docs, problems


def duplicate_id_problems(docs: DatasetDocs, known_ids: Collection[str]) -> list[Problem]:
    """A dataset that claims the id of *another* dataset folder: two datasets cannot share one id.

    Cheap on purpose (a set lookup per document): ``known_ids`` are the folder
    names, from a directory listing or one ``git ls-tree``.
    """
    ds = docs.dataset_id
    claims = []
    if isinstance(docs.collection, dict):
        claims.append(("collection", "/id", docs.collection.get("id")))
    if isinstance(docs.datapackage, dict):
        claims.append(("datapackage", "/name", docs.datapackage.get("name")))
    problems = []
    for kind, pointer, claimed in claims:
        if isinstance(claimed, str) and claimed != ds and claimed in known_ids:
            problems.append(
                Problem(
                    "duplicate-id",
                    f"{kind} claims id {claimed!r}, which is the id of datasets/{claimed}/: two datasets cannot share one id",
                    file=docs.file(kind),
                    pointer=pointer,
                    line=docs.line_of(kind)(pointer),
                    hint=f"set it to {ds!r} (the folder name), or merge the two datasets",
                    dataset=ds,
                )
            )
    return problems


def _relative_problem(problem: Problem, root: Path, default_file: str) -> Problem:
    """The same problem naming a catalog-relative file (renderers may report absolute paths)."""
    file = problem.file
    if not file:
        file = default_file
    elif os.path.isabs(file):
        with contextlib.suppress(ValueError):
            file = Path(file).resolve().relative_to(root.resolve()).as_posix()
    if file == problem.file:
        return problem
    return dataclasses.replace(problem, file=file)


# --------------------------------------------------------------------------
# Many datasets


@lru_cache(maxsize=8)
def _profiles_cached(root: str, stamp: tuple[float, ...]) -> Profiles:
    return Profiles.load(Path(root))


def load_profiles(root: Path) -> Profiles:
    """:meth:`Profiles.load`, cached per catalog while the profile files are unchanged."""
    stamp = tuple(
        (root / PROFILES_DIR / n).stat().st_mtime if (root / PROFILES_DIR / n).exists() else 0.0
        for n in (PROFILE_DATAPACKAGE, PROFILE_GRIDSCHEMA)
    )
    return _profiles_cached(str(root), stamp)


@lru_cache(maxsize=1)
def default_registry() -> SchemaRegistry:
    """The registry configured by the environment (``CATALOG_BOT_SCHEMAS``, ``CATALOG_BOT_CACHE``)."""
    from bot.config import Settings

    return SchemaRegistry.from_settings(Settings.from_env())


def make_renderer(catalog: Catalog, environment: str | None = None, engine: str = "auto") -> RendererLike:
    """The catalog's Jsonnet renderer for ``environment`` (its ext vars come from catalog-bot.yaml)."""
    from bot.catalog.render import Renderer, ext_vars_for

    env = environment or catalog.config.default_environment
    return Renderer(
        catalog.root, catalog.lib_dirs(), ext_vars_for(catalog.config, env), engine, limits=catalog.config.render
    )


@dataclass(frozen=True)
class _Job:
    root: str
    environment: str | None
    engine: str
    mirror_dir: str | None
    cache_dir: str | None


_WORKER: dict[str, Any] = {}
CHUNK = 64  # datasets per task: one batched render call, then validation


class _Prerendered:
    """A renderer that answers from a batch already rendered with ``render_many``.

    Why: one engine call for 64 collections is much cheaper than 64 calls;
    paths outside the batch fall through to the real renderer.
    """

    def __init__(self, renderer: Any, paths: list[Path]) -> None:
        self.renderer = renderer
        self.results: dict[str, Any] = {}
        render_many = getattr(renderer, "render_many", None)
        if render_many is not None:
            existing = [p for p in paths if p.is_file()]
            self.results = {r.path: r for r in render_many(existing, jobs=1)}

    def render_file(self, path: Path) -> Any:
        """The batch result for ``path`` (raising its RenderError), else a fresh render."""
        rel = self.renderer.rel(path) if self.results else None
        result = self.results.get(rel) if rel else None
        if result is None:
            return self.renderer.render_file(path)
        if result.error is not None:
            raise result.error
        return result.value


def _validate_chunk(
    catalog: Catalog, ids: list[str], renderer: Any, registry: SchemaRegistry, profiles: Profiles
) -> list[tuple[str, list[Problem]]]:
    datasets = [Dataset(i, catalog.root / DATASETS_DIR / i, catalog.root) for i in ids]
    batch = _Prerendered(renderer, [d.path(COLLECTION) for d in datasets])
    return [(d.id, load_and_validate_dataset(catalog, d, batch, registry, profiles)[1]) for d in datasets]


def _worker_init(job: _Job) -> None:
    catalog = Catalog.open(job.root)
    _WORKER["catalog"] = catalog
    _WORKER["renderer"] = make_renderer(catalog, job.environment, job.engine)
    _WORKER["registry"] = SchemaRegistry(
        Path(job.mirror_dir) if job.mirror_dir else None, Path(job.cache_dir) if job.cache_dir else None
    )
    try:
        _WORKER["profiles"] = load_profiles(catalog.root)
    except CatalogError:
        _WORKER["profiles"] = Profiles.bundled()  # the parent reports it once


def _worker_run(ids: list[str]) -> list[tuple[str, list[Problem]]]:
    return _validate_chunk(_WORKER["catalog"], ids, _WORKER["renderer"], _WORKER["registry"], _WORKER["profiles"])


def validate_many(
    catalog: Catalog,
    dataset_ids: Iterable[str] | None = None,
    *,
    registry: SchemaRegistry | None = None,
    environment: str | None = None,
    engine: str = "auto",
    processes: int | None = None,
) -> dict[str, list[Problem]]:
    """Validate many datasets of a catalog; ``processes > 1`` uses a process pool.

    Why processes: validation is CPU-bound Python (jsonschema, frictionless),
    so threads would not help.  Workers are *spawned* (the Go Jsonnet
    runtime does not survive ``fork()``); each opens the catalog and builds
    its renderer, registry and validators once, then takes chunks of
    :data:`CHUNK` datasets (one batched render each).  Results come back in
    dataset order, keyed by id; catalog-level problems (bad folder names, a
    broken profile) under the key ``""``.  ``processes=None`` means all cores.
    """
    import multiprocessing

    registry = registry or default_registry()
    ids = [d.id for d in catalog.select(list(dataset_ids or []))]
    result: dict[str, list[Problem]] = {}
    catalog_problems: list[Problem] = []
    for name in catalog.invalid_dataset_dirs():
        catalog_problems.append(
            Problem(
                "dataset-id",
                f"folder name {name!r} is not a valid dataset id",
                file=f"{DATASETS_DIR}/{name}",
                hint="rename it: 2-63 characters of a-z, 0-9 and '-', starting with a letter or digit",
            )
        )
    try:
        profiles = load_profiles(catalog.root)
    except CatalogError as exc:
        catalog_problems.append(exc.to_problem("profile-invalid"))
        profiles = Profiles.bundled()
    chunks = [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
    workers = min(processes or os.cpu_count() or 1, len(chunks))
    if len(chunks) > 1 and workers > 1 and len(chunks) < workers * 4:
        # smaller chunks so that every worker gets several (load balance)
        size = max(1, -(-len(ids) // (workers * 4)))
        chunks = [ids[i : i + size] for i in range(0, len(ids), size)]
    if workers <= 1:
        renderer = make_renderer(catalog, environment, engine)
        for chunk in chunks:
            result.update(_validate_chunk(catalog, chunk, renderer, registry, profiles))
    else:
        job = _Job(
            str(catalog.root),
            environment,
            engine,
            str(registry.mirror_dir) if registry.mirror_dir else None,
            str(registry.cache_dir) if registry.cache_dir else None,
        )
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init, initargs=(job,)) as pool:
            for done in pool.map(_worker_run, chunks):
                result.update(done)
    if catalog_problems:
        result[""] = catalog_problems
    return result


# --------------------------------------------------------------------------
# Any file


def detect_type(doc: Any) -> str | None:
    """``stac-item`` / ``stac-collection`` / ``stac-catalog`` / ``datapackage`` /
    ``tableschema`` / ``gridschema``, or ``None`` when unrecognised."""
    if not isinstance(doc, dict):
        return None
    stac_type = doc.get("type")
    if "stac_version" in doc:
        if stac_type == "Feature":
            return "stac-item"
        if stac_type == "Collection" or (stac_type is None and "extent" in doc and "license" in doc):
            return "stac-collection"
        if stac_type == "Catalog" or (stac_type is None and "links" in doc and "description" in doc):
            return "stac-catalog"
        return "stac-unknown"
    if "resources" in doc:
        return "datapackage"
    if "variables" in doc and "dimensions" in doc:
        return "gridschema"
    if "fields" in doc:
        return "tableschema"
    return None


def _find_catalog_root(path: Path) -> Path | None:
    """The catalog a file sits in (``<root>/datasets/<id>/<file>`` with a ``profiles/`` folder)."""
    parent = path.resolve().parent
    if parent.parent.name == DATASETS_DIR and (parent.parent.parent / PROFILES_DIR).is_dir():
        return parent.parent.parent
    return None


def validate_file(path: Path, registry: SchemaRegistry | None = None) -> list[Problem]:
    """Validate one JSON file of any supported type, detected from its content.

    STAC item/collection/catalog (1.0.0, 1.1.0), Frictionless data package,
    table schema, grid schema; YAML files as ``pipeline.yaml`` (or
    ``catalog-bot.yaml`` by name).  A data package or
    grid schema inside a catalog folder is checked against that catalog's
    profiles; elsewhere a data package gets Frictionless rules only and a
    grid schema the bundled grid schema.
    """
    registry = registry or default_registry()
    rel = str(path)
    if path.suffix in {".yaml", ".yml"}:
        from bot.config import CONFIG_FILE, load_catalog_config

        try:
            if path.name == CONFIG_FILE:
                load_catalog_config(path.parent)
            else:
                load_pipeline(path, rel)
        except CatalogError as exc:
            return [exc.to_problem("config" if path.name == CONFIG_FILE else "pipeline")]
        return []
    doc, text, problems = read_json(path, rel)
    if problems:
        return problems

    def line_of(pointer: str) -> int | None:
        return json_line(text, pointer)

    kind = detect_type(doc)
    root = _find_catalog_root(path)
    profiles: Profiles | None = None
    if root is not None and kind in {"datapackage", "gridschema"}:
        try:
            profiles = load_profiles(root)
        except CatalogError as exc:
            return [exc.to_problem("profile-invalid")]
    if kind == "stac-item":
        return validate_item(doc, registry, file=rel, line_of=line_of)
    if kind == "stac-collection":
        problems = validate_collection(doc, registry, file=rel, line_of=line_of)
        for code, message, pointer, hint in collection_rules(doc, registry):
            problems.append(Problem(code, message, file=rel, pointer=pointer, line=line_of(pointer), hint=hint))
        return problems
    if kind == "stac-catalog":
        return validate_catalog(doc, registry, file=rel, line_of=line_of)
    if kind == "stac-unknown":
        version = doc.get("stac_version")
        if version not in STAC_VERSIONS:
            return [
                Problem(
                    "stac-version",
                    f"STAC version {version!r} is not supported (supported: {', '.join(STAC_VERSIONS)})",
                    file=rel,
                    pointer="/stac_version",
                    line=line_of("/stac_version"),
                    hint=f"update the document to STAC {STAC_VERSIONS[-1]}",
                )
            ]
        return [
            Problem(
                "unknown-type",
                f"STAC document with unknown type {doc.get('type')!r}",
                file=rel,
                pointer="/type",
                line=line_of("/type"),
                hint="set type to Feature, Collection or Catalog",
            )
        ]
    if kind == "datapackage":
        return validate_datapackage(
            doc,
            profiles.datapackage if profiles else None,
            registry=registry,
            file=rel,
            line_of=line_of,
            basepath=path.parent,
        )
    if kind == "tableschema":
        return validate_tableschema(doc, registry=registry, file=rel, line_of=line_of)
    if kind == "gridschema":
        return validate_gridschema(
            doc, profiles.gridschema if profiles else None, registry=registry, file=rel, line_of=line_of
        )
    return [
        Problem(
            "unknown-type",
            "cannot tell what this file is",
            file=rel,
            line=1,
            hint="expected a STAC item/collection/catalog (stac_version + type), a data package (resources), "
            "a table schema (fields) or a grid schema (dimensions + variables)",
        )
    ]


def has_errors(problems: Iterable[Problem]) -> bool:
    """Whether any problem is an error (warnings and notices do not fail)."""
    return any(p.severity is Severity.ERROR for p in problems)
