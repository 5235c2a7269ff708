"""The data-driven metadata model and its renderings (Table Schema, grid schema, STAC).

Why separate from the readers: the Parquet and Zarr readers
(:mod:`bot.metadata.parquet_extents`, :mod:`bot.metadata.zarr_extents`) both
produce a :class:`DataDrivenMetadata`; what consumers see (Frictionless, STAC
table and datacube fields) is decided here once.  See
:mod:`bot.metadata.datadriven` for the type choices.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import numpy as np

CRS84 = "OGC:CRS84"


@dataclass
class ColumnInfo:
    """One Parquet column: Frictionless type, Arrow type and what we know about it."""

    name: str
    type: str
    arrow_type: str
    description: str | None = None
    unit: str | None = None
    format: str | None = None
    role: str | None = None  # x / y / z / t / geometry / covering
    constraints: dict[str, Any] | None = None


@dataclass
class DimensionInfo:
    """One grid dimension with its extent (from the coordinate array, if any)."""

    name: str
    size: int
    type: Literal["spatial", "temporal", "other"]
    axis: str | None = None
    unit: str | None = None
    description: str | None = None
    extent: list[Any] | None = None
    step: float | None = None


@dataclass
class VariableInfo:
    """One Zarr array that is not a dimension coordinate."""

    name: str
    dtype: str
    dimensions: list[str]
    shape: list[int]
    chunks: list[int]
    unit: str | None = None
    description: str | None = None
    variable_type: Literal["data", "auxiliary"] = "data"
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataDrivenMetadata:
    """What the data says about itself (JSON-able via :meth:`to_dict`)."""

    kind: Literal["tabular", "gridded"]
    bbox: list[float] | None
    time_range: tuple[str | None, str | None] | None
    crs: str = CRS84
    rows: int | None = None
    cells: int | None = None
    shape: dict[str, int] | None = None
    columns: list[ColumnInfo] = field(default_factory=list)
    variables: list[VariableInfo] = field(default_factory=list)
    dimensions: list[DimensionInfo] = field(default_factory=list)
    geometry_types: list[str] = field(default_factory=list)
    primary_geometry: str | None = None
    extent_source: str | None = None  # how the bbox was found (for logs and tests)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (None values dropped at the top level)."""
        data = asdict(self)
        if data["time_range"] is not None:
            data["time_range"] = list(data["time_range"])
        return {k: v for k, v in data.items() if v is not None}

    # -- renderings ---------------------------------------------------------

    def to_tableschema(self) -> dict[str, Any]:
        """Frictionless Table Schema of the data (covering bbox column left out)."""
        fields = []
        for col in self.columns:
            if col.role == "covering":
                continue
            fld: dict[str, Any] = {"name": col.name, "type": col.type}
            if col.format:
                fld["format"] = col.format
            if col.description:
                fld["description"] = col.description
            if col.constraints:
                fld["constraints"] = col.constraints
            fields.append(fld)
        return {"fields": fields}

    def to_gridschema(self) -> dict[str, Any]:
        """The catalog's grid schema (dimensions + data variables)."""
        dims = []
        for d in self.dimensions:
            entry: dict[str, Any] = {"name": d.name, "type": d.type}
            for key in ("axis", "unit", "description"):
                value = getattr(d, key)
                if value:
                    entry[key] = value
            dims.append(entry)
        variables = []
        for v in self.variables:
            if v.variable_type != "data":
                continue
            entry = {
                "name": v.name,
                "type": frictionless_type_of_dtype(v.dtype),
                "data_type": v.dtype,
                "dimensions": v.dimensions,
            }
            if v.unit:
                entry["unit"] = v.unit
            if v.description:
                entry["description"] = v.description
            variables.append(entry)
        return {"dimensions": dims, "variables": variables}

    def to_stac_table_columns(self) -> list[dict[str, Any]]:
        """STAC table extension ``table:columns`` (Arrow type names as ``type``)."""
        out = []
        for col in self.columns:
            entry = {"name": col.name, "type": col.arrow_type}
            if col.description:
                entry["description"] = col.description
            out.append(entry)
        return out

    def to_stac_datacube(self) -> dict[str, Any]:
        """``cube:dimensions`` + ``cube:variables`` (STAC datacube extension v2.2.0)."""
        dims: dict[str, Any] = {}
        for d in self.dimensions:
            entry: dict[str, Any]
            if d.type == "spatial" and d.axis in ("x", "y"):
                entry = {
                    "type": "spatial",
                    "axis": d.axis,
                    "extent": d.extent or [None, None],
                    "reference_system": 4326,
                }
            elif d.type == "spatial":
                entry = {"type": "spatial", "axis": d.axis or "z", "extent": d.extent or [None, None]}
                if d.unit:
                    entry["unit"] = d.unit
            elif d.type == "temporal":
                entry = {"type": "temporal", "extent": d.extent or [None, None]}
            else:
                entry = {"type": "other", "extent": d.extent or [0, d.size - 1]}
                if d.unit:
                    entry["unit"] = d.unit
            if d.step is not None and d.type == "spatial":
                entry["step"] = d.step
            if d.description:
                entry["description"] = d.description
            dims[d.name] = entry
        variables: dict[str, Any] = {}
        for v in self.variables:
            entry = {"dimensions": v.dimensions, "type": v.variable_type}
            if v.description:
                entry["description"] = v.description
            if v.unit:
                entry["unit"] = v.unit
            variables[v.name] = entry
        return {"cube:dimensions": dims, "cube:variables": variables}


# ---------------------------------------------------------------------------
# type mapping


def frictionless_type_of_arrow(arrow_type: Any) -> tuple[str, str | None]:
    """(Frictionless type, format) of an Arrow type."""
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_boolean(t):
        return "boolean", None
    if pa.types.is_integer(t):
        return "integer", None
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number", None
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string", None
    if pa.types.is_timestamp(t):
        return "datetime", None
    if pa.types.is_date(t):
        return "date", None
    if pa.types.is_time(t):
        return "time", None
    if pa.types.is_duration(t):
        return "duration", None
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return "array", None
    if pa.types.is_struct(t) or pa.types.is_map(t):
        return "object", None
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "string", "binary"
    return "any", None


def frictionless_type_of_dtype(dtype: str) -> str:
    """Frictionless type of a numpy dtype name (grid variables)."""
    kind = np.dtype(dtype).kind
    return {"f": "number", "i": "integer", "u": "integer", "b": "boolean", "M": "datetime", "m": "duration"}.get(
        kind, "string"
    )


def iso_utc(value: Any) -> str | None:
    """ISO 8601 UTC string of a datetime/date/numpy datetime64/cftime value."""
    if value is None:
        return None
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return None
        return np.datetime_as_string(value.astype("datetime64[s]"), unit="s") + "Z"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.replace(microsecond=0).isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat() + "T00:00:00Z"
    if hasattr(value, "isoformat"):  # cftime
        return str(value.isoformat()).replace(" ", "T")[:19] + "Z"
    return str(value)
