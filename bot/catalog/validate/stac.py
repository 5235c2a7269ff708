"""STAC documents: the core schema by ``stac_version`` plus every declared extension, offline."""

from __future__ import annotations

from typing import Any

from bot.catalog.schemas import STAC_VERSIONS, SchemaRegistry, stac_core_url
from bot.catalog.validate.inputs import LineOf
from bot.catalog.validate.schema import schema_problems
from bot.errors import Problem, SchemaNotFound


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
