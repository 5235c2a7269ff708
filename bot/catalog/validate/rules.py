"""Rules no single schema can express (bbox, intervals, links, extension use), one function each."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import msgspec

from bot.catalog.layout import (
    GRIDSCHEMA,
    PIPELINE,
    TABLESCHEMA,
)
from bot.catalog.schemas import SchemaRegistry
from bot.catalog.validate.inputs import DatasetDocs
from bot.errors import Problem, Severity


class Finding(NamedTuple):
    """One rule's finding, located in one document by a JSON pointer (``None``: the whole file)."""

    code: str
    message: str
    pointer: str | None
    hint: str
    severity: Severity = Severity.ERROR


def _dict(value: Any) -> dict[str, Any]:
    """``value`` if it is an object, else ``{}`` (the schemas report wrong shapes)."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    """``value`` if it is an array, else ``[]`` (the schemas report wrong shapes)."""
    return value if isinstance(value, list) else []


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


def check_bbox(bbox: Any, pointer: str) -> Iterator[Finding]:
    """Yield findings for a ``[w, s, e, n]`` (or 3D) bbox.

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
            yield Finding(
                "bbox-range",
                f"{what} {value} is outside {low}..{high}",
                f"{pointer}/{index}",
                "use WGS 84 degrees in the order [west, south, east, north]",
            )
    if south > north:
        yield Finding(
            "bbox-order",
            f"south {south} is greater than north {north}",
            f"{pointer}/{is_}",
            "swap south and north: bbox is [west, south, east, north]",
        )
    if west > east and not (west > 0 > east):
        yield Finding(
            "bbox-order",
            f"west {west} is greater than east {east} (and this is not an antimeridian crossing)",
            f"{pointer}/{iw}",
            "swap west and east: bbox is [west, south, east, north]",
        )


def check_interval(start: Any, end: Any, pointer: str, start_key: str, end_key: str) -> Iterator[Finding]:
    """Yield findings for a time interval: unparsable ends, or start after end."""
    parsed: dict[str, datetime | None] = {}
    for key, value in ((start_key, start), (end_key, end)):
        if value is None:
            parsed[key] = None
            continue
        parsed[key] = _parse_time(value)
        if parsed[key] is None:
            yield Finding(
                "temporal-format",
                f"{value!r} is not an ISO 8601 date-time",
                f"{pointer}/{key}",
                "use a date-time such as 2024-01-31T00:00:00Z (or null for open-ended)",
            )
    first, last = parsed[start_key], parsed[end_key]
    if first is not None and last is not None and first > last:
        yield Finding(
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


def collection_rules(coll: dict[str, Any], registry: SchemaRegistry) -> Iterator[Finding]:
    """Rules for a STAC collection alone: bbox order/range, interval order, links, extension use.

    Used for catalog datasets and for ``validate FILE``.
    """
    extent = _dict(coll.get("extent"))
    for index, bbox in enumerate(_list(_dict(extent.get("spatial")).get("bbox"))):
        yield from check_bbox(bbox, f"/extent/spatial/bbox/{index}")
    for index, interval in enumerate(_list(_dict(extent.get("temporal")).get("interval"))):
        if isinstance(interval, list) and len(interval) == 2:
            yield from check_interval(interval[0], interval[1], f"/extent/temporal/interval/{index}", "0", "1")
    yield from link_rules(coll)
    yield from extension_use(coll, registry)


def link_rules(doc: dict[str, Any]) -> Iterator[Finding]:
    """Every link has a rel and a usable href."""
    for index, link in enumerate(_list(doc.get("links"))):
        pointer = f"/links/{index}"
        if not isinstance(link, dict):
            continue
        rel = link.get("rel")
        if not isinstance(rel, str) or not rel.strip():
            yield Finding("link-invalid", f"link {index} has no rel", pointer, "add a rel such as 'about' or 'license'")
        reason = check_href(link.get("href"))
        if reason:
            yield Finding(
                "link-invalid",
                f"link {index} ({rel}): {reason}",
                pointer + "/href",
                "use an absolute https:// URL or a relative path",
            )


def extension_use(doc: dict[str, Any], registry: SchemaRegistry) -> Iterator[Finding]:
    """A declared extension none of whose ``prefix:*`` fields is used: a warning.

    Why not an error: STAC allows it (the official examples declare
    extensions they only use in items or assets), it is only likely clutter.
    """
    extensions = _list(doc.get("stac_extensions"))
    used = _used_prefixes(doc) if extensions else set()
    for index, url in enumerate(extensions):
        if not isinstance(url, str) or not registry.has(url):
            continue  # the schema step reports unknown extensions
        prefixes = registry.extension_prefixes(url)
        if prefixes and not prefixes & used:
            fields = ", ".join(sorted(p + ":*" for p in prefixes))
            yield Finding(
                "extension-unused",
                f"extension {url} is declared but no {fields} field is used",
                f"/stac_extensions/{index}",
                "add the extension's fields, or remove it from stac_extensions",
                Severity.WARNING,
            )


# --------------------------------------------------------------------------
# Cross-document rules: each takes the dataset's documents, yields (kind, Finding)

Located = tuple[str, Finding]
"""``(document kind, finding)``: the kind names the file the finding points into."""


def _collection(docs: DatasetDocs) -> dict[str, Any] | None:
    return docs.collection if isinstance(docs.collection, dict) else None


def _package(docs: DatasetDocs) -> dict[str, Any] | None:
    return docs.datapackage if isinstance(docs.datapackage, dict) else None


def ids_match_folder(docs: DatasetDocs, registry: SchemaRegistry) -> Iterator[Located]:
    """The collection id and the datapackage name are the folder name."""
    ds, coll, pkg = docs.dataset_id, _collection(docs), _package(docs)
    if coll is not None and "id" in coll and coll.get("id") != ds:
        yield (
            "collection",
            Finding(
                "id-mismatch",
                f"collection id {coll.get('id')!r} differs from the folder name {ds!r}",
                "/id",
                f"set id to {ds!r}",
            ),
        )
    if pkg is not None and "name" in pkg and pkg.get("name") != ds:
        yield (
            "datapackage",
            Finding(
                "id-mismatch",
                f"datapackage name {pkg.get('name')!r} differs from the folder name {ds!r}",
                "/name",
                f"set name to {ds!r}",
            ),
        )


def resource_named_like_dataset(docs: DatasetDocs, registry: SchemaRegistry) -> Iterator[Located]:
    """One resource carries the dataset's id (the publish steps look it up by that name)."""
    ds, pkg = docs.dataset_id, _package(docs)
    if pkg is None or not isinstance(pkg.get("resources"), list):
        return
    names = [r.get("name") for r in pkg["resources"] if isinstance(r, dict)]
    if ds not in names:
        yield (
            "datapackage",
            Finding(
                "resource-name",
                f"no resource is named like the dataset ({ds!r}); found {', '.join(map(repr, names)) or 'none'}",
                "/resources",
                f"name the dataset's resource {ds!r}",
            ),
        )


def licence_matches(docs: DatasetDocs, registry: SchemaRegistry) -> Iterator[Located]:
    """The datapackage's first licence is the collection's SPDX ``license``."""
    coll, pkg = _collection(docs), _package(docs)
    if coll is None or pkg is None:
        return
    licence = coll.get("license")
    licences = _list(pkg.get("licenses"))
    first = licences[0].get("name") if licences and isinstance(licences[0], dict) else None
    if (
        isinstance(licence, str)
        and licence not in {"other", "various", "proprietary"}
        and first is not None
        and first != licence
    ):
        yield (
            "datapackage",
            Finding(
                "licence-mismatch",
                f"licenses[0].name {first!r} differs from the collection's license {licence!r}",
                "/licenses/0/name",
                f"use the same SPDX id in both files (collection: {licence!r})",
            ),
        )


def collection_alone(docs: DatasetDocs, registry: SchemaRegistry) -> Iterator[Located]:
    """:func:`collection_rules` on the rendered collection."""
    coll = _collection(docs)
    if coll is not None:
        for finding in collection_rules(coll, registry):
            yield "collection", finding


def package_extents(docs: DatasetDocs, registry: SchemaRegistry) -> Iterator[Located]:
    """The datapackage's ``spatial.bbox`` and ``temporal`` are in range and in order."""
    pkg = _package(docs)
    if pkg is None:
        return
    for finding in check_bbox(_dict(pkg.get("spatial")).get("bbox"), "/spatial/bbox"):
        yield "datapackage", finding
    temporal = _dict(pkg.get("temporal"))
    if temporal:
        for finding in check_interval(temporal.get("start"), temporal.get("end"), "/temporal", "start", "end"):
            yield "datapackage", finding


def licence_paths(docs: DatasetDocs, registry: SchemaRegistry) -> Iterator[Located]:
    """An absolute licence ``path`` is a usable URL."""
    pkg = _package(docs)
    for index, lic in enumerate(_list(pkg.get("licenses")) if pkg else []):
        path = lic.get("path") if isinstance(lic, dict) else None
        if isinstance(path, str) and _ABS_URL.match(path):
            reason = check_href(path)
            if reason:
                yield (
                    "datapackage",
                    Finding(
                        "link-invalid",
                        f"licence path: {reason}",
                        f"/licenses/{index}/path",
                        "use the licence's https:// URL",
                    ),
                )


def schema_kind_matches_output(docs: DatasetDocs, registry: SchemaRegistry) -> Iterator[Located]:
    """Parquet output has a table schema, Zarr output a grid schema."""
    pipe = docs.pipeline
    if pipe is None:
        return
    if pipe.kind == "tabular" and docs.tableschema is None and docs.gridschema is not None:
        yield (
            "gridschema",
            Finding(
                "schema-kind-mismatch",
                "output is parquet (tabular) but the dataset has a grid schema",
                None,
                f"replace {GRIDSCHEMA} with a {TABLESCHEMA}, or set output: zarr",
            ),
        )
    if pipe.kind != "tabular" and docs.gridschema is None and docs.tableschema is not None:
        yield (
            "tableschema",
            Finding(
                "schema-kind-mismatch",
                "output is zarr (gridded) but the dataset has a table schema",
                None,
                f"replace {TABLESCHEMA} with a {GRIDSCHEMA}, or set output: parquet",
            ),
        )


def table_coordinates(docs: DatasetDocs, registry: SchemaRegistry) -> Iterator[Located]:
    """Tabular: every pipeline coordinate is a field of the table schema."""
    pipe = docs.pipeline
    if pipe is None or pipe.kind != "tabular" or not isinstance(docs.tableschema, dict):
        return
    fields = docs.tableschema.get("fields")
    if not isinstance(fields, list):
        return
    names = {f.get("name") for f in fields if isinstance(f, dict)}
    for axis, name in msgspec.structs.asdict(pipe.coordinates).items():
        if name and name not in names:
            yield (
                "tableschema",
                Finding(
                    "coordinates-missing",
                    f"pipeline coordinate {axis}={name!r} is not a field of the table schema",
                    "/fields",
                    f"add a field named {name!r}, or fix coordinates.{axis} in {PIPELINE}",
                ),
            )


def grid_coordinates(docs: DatasetDocs, registry: SchemaRegistry) -> Iterator[Located]:
    """Gridded: every pipeline coordinate (but geometry) is a dimension, with a matching ``axis``."""
    pipe = docs.pipeline
    if pipe is None or pipe.kind == "tabular" or not isinstance(docs.gridschema, dict):
        return
    declared = docs.gridschema.get("dimensions")
    if not isinstance(declared, list):
        return
    dims = {d.get("name"): d for d in declared if isinstance(d, dict)}
    for axis, name in msgspec.structs.asdict(pipe.coordinates).items():
        if not name or axis == "geometry":
            continue
        if name not in dims:
            yield (
                "gridschema",
                Finding(
                    "coordinates-missing",
                    f"pipeline coordinate {axis}={name!r} is not a dimension of the grid schema",
                    "/dimensions",
                    f"declare a dimension {name!r}, or fix coordinates.{axis} in {PIPELINE}",
                ),
            )
        elif dims[name].get("axis") not in (None, axis):
            yield (
                "gridschema",
                Finding(
                    "coordinates-axis",
                    f"dimension {name!r} has axis {dims[name].get('axis')!r} but {PIPELINE} uses it as {axis}",
                    f"/dimensions/{list(dims).index(name)}/axis",
                    f"set axis to {axis!r}, or fix coordinates in {PIPELINE}",
                ),
            )


def access_matches(docs: DatasetDocs, registry: SchemaRegistry) -> Iterator[Located]:
    """The datapackage's ``access`` is the pipeline's (publishing follows the pipeline)."""
    pipe, pkg = docs.pipeline, _package(docs)
    if pipe is None or pkg is None:
        return
    access = pkg.get("access")
    if access in {"public", "limited"} and access != pipe.access:
        yield (
            "datapackage",
            Finding(
                "access-mismatch",
                f"access {access!r} differs from {PIPELINE} access {pipe.access!r}",
                "/access",
                "use the same access level in both files",
            ),
        )


Rule = Callable[[DatasetDocs, SchemaRegistry], Iterable[Located]]

CROSS_RULES: tuple[Rule, ...] = (
    ids_match_folder,
    resource_named_like_dataset,
    licence_matches,
    collection_alone,
    package_extents,
    licence_paths,
    schema_kind_matches_output,
    table_coordinates,
    grid_coordinates,
    access_matches,
)
"""Every cross-document rule, in report order."""


def cross_check(docs: DatasetDocs, registry: SchemaRegistry) -> list[Problem]:
    """Run :data:`CROSS_RULES`; each finding becomes a Problem located in its document."""
    problems: list[Problem] = []
    for rule in CROSS_RULES:
        for kind, finding in rule(docs, registry):
            pointer = finding.pointer
            problems.append(
                Problem(
                    finding.code,
                    finding.message,
                    file=docs.file(kind),
                    pointer=pointer,
                    line=docs.line_of(kind)(pointer) if pointer is not None else None,
                    hint=finding.hint,
                    severity=finding.severity,
                    dataset=docs.dataset_id,
                )
            )
    return problems
