"""Arrow types for tabular sources: the curated table schema and timestamps.

Why a module of its own: every tabular reader (CSV, GeoJSON, vector files,
Parquet) maps Frictionless types to Arrow the same way and parses timestamps
by the same explicit rule (see :mod:`bot.convert.tabular`), and the errors
name the same row and value whichever reader met them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from bot.errors import DataError

UTC_US = pa.timestamp("us", tz="UTC")

FRICTIONLESS_TO_ARROW: dict[str, pa.DataType] = {
    "string": pa.string(),
    "number": pa.float64(),
    "integer": pa.int64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": UTC_US,
    "time": pa.time64("us"),
    "year": pa.int32(),
}
# Columns we derive (never read from the source, never in the generated table schema).
GEOMETRY_TYPES = ("geojson", "geopoint")
NULLS = ["", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None"]


# ---------------------------------------------------------------------------
# schema handling


def schema_types(schema: dict[str, Any] | None) -> tuple[dict[str, pa.DataType], dict[str, str]]:
    """Arrow types and descriptions for the fields of a Frictionless table schema.

    Geometry-typed fields (``geojson``/``geopoint``) are skipped: the
    converter builds the geometry column itself.
    """
    types: dict[str, pa.DataType] = {}
    descriptions: dict[str, str] = {}
    for i, fld in enumerate((schema or {}).get("fields", [])):
        name = fld.get("name")
        if not isinstance(name, str):
            raise DataError(
                "field without a name", file="tableschema.json", field=f"fields/{i}", hint="give every field a name"
            )
        ftype = fld.get("type", "string")
        if fld.get("description"):
            descriptions[name] = str(fld["description"])
        if ftype in GEOMETRY_TYPES:
            continue
        types[name] = FRICTIONLESS_TO_ARROW.get(ftype, pa.string())
    return types, descriptions


# ---------------------------------------------------------------------------
# timestamps


def _first_failure(values: pa.Array, convert: Callable[[pa.Array], pa.Array]) -> int:
    """Index of the first value ``convert`` rejects (binary search on prefixes)."""
    lo, hi = 0, len(values) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            convert(values.slice(0, mid + 1))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            hi = mid
        else:
            lo = mid + 1
    return lo


def timestamp_converter(fmt: str | None) -> Callable[[pa.Array], pa.Array]:
    """String array -> ``timestamp[us, tz=UTC]`` following the explicit rule above."""

    def convert(values: pa.Array) -> pa.Array:
        values = pc.if_else(pc.is_in(values, pa.array(NULLS)), pa.scalar(None, pa.string()), values)
        if fmt is None:
            return pc.cast(values, UTC_US)
        parsed = pc.strptime(values, format=fmt, unit="us")
        return parsed if parsed.type.tz else pc.cast(parsed, UTC_US)

    return convert


def parse_timestamps(values: pa.Array, fmt: str | None, *, file: str, column: str, first_row: int) -> pa.Array:
    """Convert a string column, naming the first bad row and value on failure."""
    convert = timestamp_converter(fmt)
    try:
        return convert(values)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        i = _first_failure(values, convert)
        expected = (
            f"the format {fmt!r} (source.timestamp_format)"
            if fmt
            else "ISO 8601 with a zone offset, e.g. 2024-01-01T00:00:00Z"
        )
        raise DataError(
            f"unparseable timestamp {values[i].as_py()!r} at row {first_row + i}: expected {expected}",
            file=file,
            field=column,
            hint="fix the value, or set source.timestamp_format in pipeline.yaml to the format the file uses",
        ) from None
