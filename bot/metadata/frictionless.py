"""Complete Frictionless metadata and the schema gate.

Why this module: the catalog holds the *curated* data package (title,
licences, contributors, descriptions) and the curated table/grid schema; the
data holds the facts (columns and their types, extents, size, checksum).
Publishing combines the two -- facts from the data win where the data can
compute them, prose from the curator wins everywhere else -- and checks the
result offline with the ``frictionless`` library before anything is uploaded.

The schema gate protects consumers: when the converted data's columns or
variables differ from the curated schema (added, removed or retyped) the
publish stops with :class:`~bot.errors.SchemaChanged` listing every
difference, because downstream users code against that schema and a change
needs a human review in a pull request.

Pure apart from the ``frictionless`` import (no network: descriptors are
validated as metadata, profile URLs are never fetched).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from bot.catalog.schemas import schema_errors
from bot.errors import Problem, SchemaChanged
from bot.metadata.datamodel import DataEntryPoint

Kind = Literal["tabular", "gridded"]


MEDIATYPES = {"parquet": "application/vnd.apache.parquet", "zarr": "application/vnd+zarr"}
GRIDSCHEMA_PROPERTY = "gridschema"

# Table Schema types that name the same thing in different tools: a GeoParquet
# WKB column is "geojson" to Frictionless and "geometry" to some readers.
_TYPE_ALIASES = {"geometry": "geojson", "wkb": "geojson", "float": "number", "int": "integer", "bool": "boolean"}


COVERING_DESCRIPTION = "GeoParquet 1.1 covering: per-row bounding box (xmin, ymin, xmax, ymax) of the geometry"


def _norm_type(value: Any) -> Any:
    return _TYPE_ALIASES.get(value, value) if isinstance(value, str) else value


def complete_datapackage(
    curated: Mapping[str, Any],
    *,
    kind: Kind,
    data_format: Literal["parquet", "zarr"],
    data_path: str,
    size: int,
    sha256: str,
    schema: Mapping[str, Any] | None = None,
    schema_path: str | None = None,
    bbox: Sequence[float] | None = None,
    temporal: Mapping[str, Any] | None = None,
    rows: int | None = None,
    entry_point: DataEntryPoint | None = None,
) -> dict[str, Any]:
    """The published ``datapackage.json``: curated fields + facts from the data.

    The curated resource named like the package (or the first one) becomes the
    data resource: ``path`` points at the published ARCO data (relative to the
    datapackage, which is published beside it), ``format``/``mediatype``,
    ``bytes`` and ``hash`` describe it.  Tabular data gets the complete table
    schema inline; gridded data references the grid schema by path
    (``gridschema``), because a Table Schema cannot describe a cube.  ``bbox``
    and ``temporal`` from the data replace the curated extents when given.

    What ``frictionless validate`` can check decides two details.  Parquet:
    ``bytes`` is left out, because Frictionless reads Parquet through pyarrow,
    not its byte loader, so it always counts ``None`` bytes and would report
    a byte-count error; ``hash`` stays (exact, and not miscounted).  Zarr: a
    store is a directory, which Frictionless cannot open, so ``path`` names
    the store's metadata document (``entry_point``: ``.zmetadata`` or
    ``zarr.json``, whose parent is the store a reader opens) with that
    document's ``bytes``/``hash``, which Frictionless verifies; the whole
    store's size and tree hash are under ``zarr``.
    """
    package = copy.deepcopy(dict(curated))
    name = str(package.get("name") or "")
    resources = [dict(r) for r in package.get("resources") or [] if isinstance(r, Mapping)]
    index = next((i for i, r in enumerate(resources) if r.get("name") == name), 0 if resources else None)
    resource: dict[str, Any] = resources[index] if index is not None else {"name": name or "data"}
    facts: dict[str, Any] = {"path": data_path, "format": data_format, "mediatype": MEDIATYPES[data_format]}
    if entry_point is not None:
        facts.update(
            path=f"{data_path}/{entry_point.name}",
            bytes=entry_point.bytes,
            hash=f"sha256:{entry_point.sha256}",
            zarr={"store": data_path, "bytes": int(size), "hash": f"sha256:{sha256}"},
        )
    else:
        facts["hash"] = f"sha256:{sha256}"
    resource.pop("bytes", None)
    resource.update(facts)
    resource.pop("schema", None)
    resource.pop(GRIDSCHEMA_PROPERTY, None)
    if kind == "tabular":
        if schema is not None:
            resource["schema"] = copy.deepcopy(dict(schema))
        elif schema_path:
            resource["schema"] = schema_path
    elif schema_path:
        resource[GRIDSCHEMA_PROPERTY] = schema_path
    if rows is not None and kind == "tabular":
        resource["rows"] = int(rows)
    if index is None:
        resources.append(resource)
    else:
        resources[index] = resource
    package["resources"] = resources
    if bbox is not None:
        package["spatial"] = {**(package.get("spatial") or {}), "bbox": [float(v) for v in bbox]}
    if temporal is not None and (temporal.get("start") or temporal.get("end")):
        package["temporal"] = {**(package.get("temporal") or {}), **{k: temporal.get(k) for k in ("start", "end")}}
    return package


def merge_schema(curated: Mapping[str, Any], generated: Mapping[str, Any], kind: Kind) -> dict[str, Any]:
    """The published schema: curated entries (descriptions, constraints) completed by generated keys.

    Only called after the gate passed, so names and types agree; keys the
    curator did not write (unit, data_type, format from the data) are added.
    A table schema is then made true to the file, so ``frictionless
    validate`` reads the data against it: fields in the file's column order,
    columns the format added (GeoParquet's covering ``bbox``) declared as
    ``object``, and geometry declared as what Frictionless reads from
    GeoParquet -- WKB bytes, type ``any`` with format ``wkb`` -- because the
    ``geojson`` type would reject every cell.
    """
    out = copy.deepcopy(dict(curated))
    if kind == "tabular":
        out["fields"] = _physical_fields(out.get("fields") or [], generated.get("fields") or [])
        return out
    for section in ("dimensions", "variables"):
        generated_by_name = {e.get("name"): e for e in generated.get(section) or [] if isinstance(e, Mapping)}
        merged = []
        for entry in out.get(section) or []:
            extra = generated_by_name.get(entry.get("name"), {})
            merged.append({**{k: v for k, v in extra.items() if k not in entry}, **entry})
        out[section] = merged
    return out


def _physical_fields(curated: Sequence[Any], generated: Sequence[Any]) -> list[dict[str, Any]]:
    by_name = {f.get("name"): f for f in curated if isinstance(f, Mapping)}
    fields: list[dict[str, Any]] = []
    for gen in generated:
        if not isinstance(gen, Mapping):
            continue
        role = gen.get("role")
        cur = by_name.pop(gen.get("name"), None)
        if cur is None and role != "covering":
            continue  # not in the curated contract (the gate reports it)
        extra = {k: v for k, v in gen.items() if k != "role"}
        entry = {**{k: v for k, v in extra.items() if k not in (cur or {})}, **(cur or {})}
        if role == "geometry":
            entry.update(type="any", format="wkb")
            entry.setdefault("description", "geometry (ISO WKB, GeoParquet 1.1)")
        elif role == "covering":
            entry.update(type="object")
            entry.pop("format", None)
            entry.setdefault("description", COVERING_DESCRIPTION)
        fields.append(entry)
    # Curated fields the file does not have (only possible if the gate was bypassed) keep their place at the end.
    fields.extend(dict(f) for f in by_name.values())
    return fields


def schema_differences(curated: Mapping[str, Any], generated: Mapping[str, Any], kind: Kind) -> list[str]:
    """Every column/variable/dimension added, removed or retyped, in a stable order.

    Tabular: fields by name, compared on ``type``; columns the format adds
    (``role: covering``) are neither required nor refused.  Gridded: variables
    by name, compared on ``type`` (the decoded type for CF-packed variables),
    ``data_type`` (storage, or the decoded one) and ``dimensions``; dimensions
    by name.  A side that does not state a key is not compared on it.
    """
    if kind == "tabular":
        return _section_diff(curated, generated, "fields", "column", ("type",))
    return _section_diff(curated, generated, "dimensions", "dimension", ()) + _section_diff(
        curated, generated, "variables", "variable", ("type", "data_type", "dimensions")
    )


def _section_diff(
    curated: Mapping[str, Any], generated: Mapping[str, Any], section: str, noun: str, keys: tuple[str, ...]
) -> list[str]:
    old = {e.get("name"): e for e in curated.get(section) or [] if isinstance(e, Mapping)}
    new = {e.get("name"): e for e in generated.get(section) or [] if isinstance(e, Mapping)}
    # Columns the file format adds (GeoParquet's covering bbox) are not the curator's to list.
    derived = {name for name, e in new.items() if e.get("role") == "covering"}
    diffs = [
        f"{noun} {name!r} added ({_describe(new[name], keys)})"
        for name in new
        if name not in old and name not in derived
    ]
    diffs += [f"{noun} {name!r} removed" for name in old if name not in new]
    for name in old:
        if name not in new or name in derived:
            continue
        for key in keys:
            a, b = old[name].get(key), new[name].get(key)
            if a is None or b is None:
                continue
            decoded = (new[name].get("packing") or {}).get("decoded_data_type") if key == "data_type" else None
            if _norm_type(a) != _norm_type(b) and a != decoded:
                diffs.append(f"{noun} {name!r} {key} changed from {a!r} to {b!r}")
    return diffs


def _describe(entry: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    parts = [f"{k} {entry[k]!r}" for k in keys if entry.get(k) is not None]
    return ", ".join(parts) or "no type"


def schema_gate(dataset: str, curated: Mapping[str, Any], generated: Mapping[str, Any], kind: Kind) -> None:
    """Raise :class:`SchemaChanged` naming every difference; return quietly when there is none."""
    differences = schema_differences(curated, generated, kind)
    if differences:
        raise SchemaChanged(dataset, differences)


def validate_datapackage(
    descriptor: Mapping[str, Any],
    *,
    file: str = "datapackage.json",
    dataset: str | None = None,
    profile: Mapping[str, Any] | None = None,
    registry: Any = None,
) -> list[Problem]:
    """Validate a data package as metadata with ``frictionless`` (offline) and the catalog profile.

    The data itself is not read (Frictionless cannot read Zarr, and the data
    was checked by the converter); ``$schema``/``profile`` URLs are removed
    before the library sees them so it never tries to download a profile.
    ``profile``, the catalog's own JSON schema, is applied with jsonschema
    through ``registry`` (a :class:`bot.catalog.schemas.SchemaRegistry`) so
    that its ``$ref`` to published profiles resolve from the offline mirror.
    """
    from frictionless import FrictionlessException, Package

    problems: list[Problem] = []
    plain = copy.deepcopy(dict(descriptor))
    for key in ("$schema", "profile"):
        plain.pop(key, None)
    for resource in plain.get("resources") or []:
        if isinstance(resource, dict):
            resource.pop("$schema", None)
            resource.pop("profile", None)
            resource.pop(GRIDSCHEMA_PROPERTY, None)
    try:
        for error in Package.metadata_validate(plain):
            problems.append(
                Problem(
                    code="frictionless",
                    message=error.message,
                    file=file,
                    dataset=dataset,
                    hint="fix the curated datapackage.json or the table schema",
                )
            )
    except FrictionlessException as exc:
        problems.append(Problem(code="frictionless", message=str(exc.error.message), file=file, dataset=dataset))
    if profile is not None:
        problems.extend(_profile_problems(descriptor, profile, file=file, dataset=dataset, registry=registry))
    return problems


def _profile_problems(
    descriptor: Mapping[str, Any], profile: Mapping[str, Any], *, file: str, dataset: str | None, registry: Any
) -> list[Problem]:
    """JSON-schema errors of the descriptor against the catalog profile (no remote refs followed)."""
    if registry is not None:
        validator = registry.validator_for_schema(profile, "catalog-datapackage")
    else:
        import jsonschema
        from jsonschema.validators import validator_for

        cls = validator_for(profile, default=jsonschema.Draft202012Validator)
        validator = cls(profile)
    problems = []
    for error in sorted(schema_errors(validator, descriptor), key=lambda e: list(e.absolute_path)):
        pointer = "/" + "/".join(str(p) for p in error.absolute_path)
        problems.append(
            Problem(
                code="profile",
                message=error.message,
                file=file,
                pointer=pointer,
                dataset=dataset,
                hint="the catalog profile (profiles/) requires this",
            )
        )
    return problems
