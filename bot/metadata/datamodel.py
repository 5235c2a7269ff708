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
# CF attributes that change the values a reader sees (unpacking, masking).
CF_PACKING = ("scale_factor", "add_offset", "_FillValue", "missing_value", "valid_min", "valid_max", "valid_range")


@dataclass(frozen=True)
class DataEntryPoint:
    """The file inside a directory dataset (Zarr) that a data package's ``path`` names, and its facts."""

    name: str
    bytes: int
    sha256: str


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
    decoded_dtype: str | None = None  # CF-packed / masked: what a CF reader returns
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
    lonlat_columns: list[str] | None = None  # lon/lat added beside projected x/y (bbox filters use them)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (None values dropped at the top level)."""
        data = asdict(self)
        if data["time_range"] is not None:
            data["time_range"] = list(data["time_range"])
        return {k: v for k, v in data.items() if v is not None}

    # -- renderings ---------------------------------------------------------

    def to_tableschema(self, *, curated: bool = False) -> dict[str, Any]:
        """Frictionless Table Schema of the data, in the file's column order.

        Default (the pipeline's generated schema): every column, each with its
        ``role`` (x, y, z, t, geometry, covering) so that the schema gate and
        :func:`bot.metadata.frictionless.merge_schema` know which columns the
        format added (GeoParquet's covering ``bbox``) and which hold WKB.
        ``curated=True``: what a curator keeps in ``tableschema.json`` --
        no covering column (the converter creates it), no roles.
        """
        fields = []
        for col in self.columns:
            if curated and col.role == "covering":
                continue
            fld: dict[str, Any] = {"name": col.name, "type": col.type}
            if col.format:
                fld["format"] = col.format
            if col.description:
                fld["description"] = col.description
            if col.constraints:
                fld["constraints"] = col.constraints
            if col.role and not curated:
                fld["role"] = col.role
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
                "type": frictionless_type_of_dtype(v.decoded_dtype or v.dtype),
                "data_type": v.dtype,
                "dimensions": v.dimensions,
            }
            if v.decoded_dtype:
                packing = {k: v.attrs[k] for k in CF_PACKING if k in v.attrs}
                entry["packing"] = {**packing, "decoded_data_type": v.decoded_dtype}
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


def decoded_dtype(dtype: str, attrs: dict[str, Any]) -> str | None:
    """The dtype a CF reader (xarray's mask-and-scale) returns, or None when values are stored as read.

    Why: a curator describes what users get, and a CF-packed int16 with
    ``scale_factor`` is a float to every CF reader.  The rule is xarray's
    (``_choose_float_dtype``): a float type from ``scale_factor`` /
    ``add_offset`` (JSON attributes are float64), float64 for any non-CF-pair
    offset and for 32-bit integers; a masked (``_FillValue``/
    ``missing_value``) integer of at most 16 bits becomes float32.
    """
    storage = np.dtype(dtype)
    scale, offset = attrs.get("scale_factor"), attrs.get("add_offset")
    if scale is not None or offset is not None:

        def kind(value: Any) -> np.dtype[Any]:
            return value.dtype if isinstance(value, np.generic | np.ndarray) else np.dtype(type(value))

        if scale is not None and offset is not None and kind(scale) == kind(offset) and kind(scale).kind == "f":
            return "float64" if storage.kind in "iu" and storage.itemsize == 4 else kind(scale).name
        if offset is not None:
            return "float64"
        found = kind(scale)
        return found.name if found.kind == "f" else "float64"
    if storage.kind in "iu" and ("_FillValue" in attrs or "missing_value" in attrs):
        return "float32" if storage.itemsize <= 2 else "float64"
    return None


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
