"""Data-driven metadata: extents, columns and variables without reading the data.

Why: the publish pipeline needs bbox / time range / row count / column types
for every dataset on every run, and datasets can be many GB.  Everything
here comes from metadata the formats already carry:

* **Parquet**: the footer.  Row count from ``num_rows``; bbox from the
  GeoParquet ``geo`` metadata, else from row-group statistics of the
  covering ``bbox`` column, else of the x/y columns; the time range from the
  statistics of the ``t`` column.  Only when a needed statistic is missing do
  we scan -- and then only the coordinate columns (never a full read).
* **Zarr**: the (consolidated) array metadata plus the 1-D coordinate arrays
  named by ``coordinates`` (one small read each); CF time units are decoded
  on the time coordinate only.

``DataDrivenMetadata`` renders to a Frictionless table schema, the catalog's
grid schema, STAC ``table:columns`` and STAC datacube fields.  Type choice for
geometry: the WKB column is Frictionless ``geojson`` (the Frictionless type
for geometries; its physical encoding is recorded by GeoParquet's ``geo``
metadata), which is also what the curated table schemas use.  The covering
``bbox`` column is an encoding detail derived from the geometry, so it is
listed in ``table:columns`` (it is in the file) but not in the table schema
(the curated contract).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bot.catalog.layout import Coordinates
from bot.errors import DataError

CRS84 = "OGC:CRS84"
_BOT_KEY = b"catalog_bot"


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


def _iso(value: Any) -> str | None:
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


# ---------------------------------------------------------------------------
# Parquet


def _stats_minmax(md: Any, path: str, time_unit: str | None = None) -> tuple[Any, Any] | None:
    """Min/max of a leaf column over all row groups, or None if any group lacks them.

    For temporal columns (``time_unit`` = numpy unit: ``us``, ``D``...) the raw
    integers are compared and returned as ``numpy.datetime64``: pyarrow's
    decoded tz-aware values would import pandas (slow, +100 MB RSS).
    """
    lo = hi = None
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        if rg.num_rows == 0:
            continue
        col = None
        for i in range(rg.num_columns):
            if rg.column(i).path_in_schema == path:
                col = rg.column(i)
                break
        if col is None:
            return None
        stats = col.statistics
        if stats is None or not stats.has_min_max:
            if stats is not None and stats.null_count == rg.num_rows:
                continue  # all null: nothing to add
            return None
        smin, smax = (stats.min_raw, stats.max_raw) if time_unit else (stats.min, stats.max)
        lo = smin if lo is None else min(lo, smin)
        hi = smax if hi is None else max(hi, smax)
    if lo is None:
        return None
    if time_unit:
        return np.datetime64(int(lo), time_unit), np.datetime64(int(hi), time_unit)
    return lo, hi


def _scan_minmax(pf: Any, column: str) -> tuple[Any, Any] | None:
    """Min/max of one column by streaming only that column (fallback path)."""
    import pyarrow.compute as pc

    lo = hi = None
    for batch in pf.iter_batches(columns=[column], batch_size=1 << 20):
        arr = batch.column(0)
        if pa_is_struct(arr.type):
            return None
        mm = pc.min_max(arr).as_py()
        if mm["min"] is None:
            continue
        lo = mm["min"] if lo is None else min(lo, mm["min"])
        hi = mm["max"] if hi is None else max(hi, mm["max"])
    return (lo, hi) if lo is not None else None


def pa_is_struct(t: Any) -> bool:
    """Whether an Arrow type is a struct (kept tiny to avoid a module-level import)."""
    import pyarrow as pa

    return bool(pa.types.is_struct(t))


def _scan_geometry_bbox(pf: Any, column: str) -> list[float] | None:
    """Bbox of a WKB column, reading that column only (last resort)."""
    import shapely

    bounds = [math.inf, math.inf, -math.inf, -math.inf]
    for batch in pf.iter_batches(columns=[column], batch_size=1 << 16):
        geoms = shapely.from_wkb(batch.column(0).to_numpy(zero_copy_only=False))
        b = shapely.bounds(geoms)
        if len(b) == 0 or np.all(np.isnan(b)):
            continue
        bounds = [
            min(bounds[0], float(np.nanmin(b[:, 0]))),
            min(bounds[1], float(np.nanmin(b[:, 1]))),
            max(bounds[2], float(np.nanmax(b[:, 2]))),
            max(bounds[3], float(np.nanmax(b[:, 3]))),
        ]
    return None if math.isinf(bounds[0]) else bounds


def _time_unit(arrow_type: Any) -> str | None:
    """numpy unit of a timestamp/date Arrow type (None for other types)."""
    import pyarrow as pa

    if pa.types.is_timestamp(arrow_type):
        return str(arrow_type.unit)
    if pa.types.is_date32(arrow_type):
        return "D"
    if pa.types.is_date64(arrow_type):
        return "ms"
    return None


def _minmax(pf: Any, md: Any, path: str, scans: list[str]) -> tuple[Any, Any] | None:
    unit = _time_unit(pf.schema_arrow.field(path).type) if path in pf.schema_arrow.names else None
    found = _stats_minmax(md, path, unit)
    if found is None and md.num_rows:
        scans.append(path)
        found = _scan_minmax(pf, path)
    return found


def extract_parquet_metadata(path: Path, coords: Coordinates) -> DataDrivenMetadata:
    """Extents, row count and columns of a (Geo)Parquet file from its footer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = str(path)
    if not path.exists():
        raise DataError("Parquet file does not exist", file=file, hint="run the convert step first")
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"not a readable Parquet file: {exc}", file=file, hint="re-run the convert step") from None
    md = pf.metadata
    schema = pf.schema_arrow
    kv = md.metadata or {}
    geo: dict[str, Any] = {}
    if b"geo" in kv:
        try:
            geo = json.loads(kv[b"geo"])
        except ValueError:
            raise DataError(
                "invalid GeoParquet 'geo' metadata (not JSON)", file=file, field="geo", hint="re-run the convert step"
            ) from None
    bot: dict[str, Any] = {}
    if _BOT_KEY in kv:
        try:
            bot = json.loads(kv[_BOT_KEY])
        except ValueError:
            bot = {}
    descriptions: dict[str, str] = bot.get("descriptions", {})
    units: dict[str, str] = bot.get("units", {})
    primary = geo.get("primary_column") or coords.geometry
    gcol = geo.get("columns", {}).get(primary, {}) if primary else {}
    covering = gcol.get("covering", {}).get("bbox")
    for role in ("x", "y", "t", "geometry"):
        name = getattr(coords, role)
        if name and name not in schema.names:
            raise DataError(
                f"coordinate column {name!r} (coordinates.{role}) is not in the file; "
                f"columns are: {', '.join(schema.names)}",
                file=file,
                field=name,
                hint=f"fix coordinates.{role} in pipeline.yaml",
            )

    scans: list[str] = []
    bbox: list[float] | None = None
    source = None
    if isinstance(gcol.get("bbox"), list) and len(gcol["bbox"]) in (4, 6):
        b = gcol["bbox"]
        bbox = [b[0], b[1], b[2], b[3]] if len(b) == 4 else [b[0], b[1], b[3], b[4]]
        source = "geo-metadata"
    elif covering:
        parts = {k: _stats_minmax(md, ".".join(covering[k])) for k in ("xmin", "ymin", "xmax", "ymax")}
        if all(parts.values()):
            bbox = [parts["xmin"][0], parts["ymin"][0], parts["xmax"][1], parts["ymax"][1]]  # type: ignore[index]
            source = "covering-statistics"
    if bbox is None and coords.x and coords.y:
        xs = _stats_minmax(md, coords.x)
        ys = _stats_minmax(md, coords.y)
        source = "column-statistics"
        if xs is None or ys is None:
            xs = xs or _scan_minmax(pf, coords.x)
            ys = ys or _scan_minmax(pf, coords.y)
            scans += [coords.x, coords.y]
            source = "column-scan"
        if xs and ys:
            bbox = [float(xs[0]), float(ys[0]), float(xs[1]), float(ys[1])]
    if bbox is None and primary and primary in schema.names:
        bbox = _scan_geometry_bbox(pf, primary)
        scans.append(primary)
        source = "geometry-scan"
    time_range = None
    if coords.t:
        found = _minmax(pf, md, coords.t, scans)
        if found:
            time_range = (_iso(found[0]), _iso(found[1]))
    roles = {getattr(coords, r): r for r in ("x", "y", "z", "t") if getattr(coords, r)}
    if primary:
        roles[primary] = "geometry"
    if covering:
        roles[covering["xmin"][0]] = "covering"
    columns = []
    for fld in schema:
        role = roles.get(fld.name)
        ftype, fmt = frictionless_type_of_arrow(fld.type)
        if role == "geometry":
            ftype, fmt = "geojson", None
        constraints = None
        if role == "x":
            constraints = {"minimum": -180, "maximum": 180}
        elif role == "y":
            constraints = {"minimum": -90, "maximum": 90}
        columns.append(
            ColumnInfo(
                name=fld.name,
                type=ftype,
                arrow_type=str(fld.type),
                description=descriptions.get(fld.name),
                unit=units.get(fld.name),
                format=fmt,
                role=role,
                constraints=constraints,
            )
        )
    if scans:
        source = f"{source} (scanned columns: {', '.join(dict.fromkeys(scans))})"
    return DataDrivenMetadata(
        kind="tabular",
        bbox=[float(v) for v in bbox] if bbox else None,
        time_range=time_range,
        rows=md.num_rows,
        columns=columns,
        geometry_types=list(gcol.get("geometry_types", [])),
        primary_geometry=primary if primary in schema.names else None,
        extent_source=source,
    )


# ---------------------------------------------------------------------------
# Zarr


def _array_dims(arr: Any) -> list[str]:
    names = getattr(arr.metadata, "dimension_names", None)
    if names:
        return [str(n) for n in names]
    return [str(n) for n in arr.attrs.get("_ARRAY_DIMENSIONS", [])]


def _regular_step(values: np.ndarray) -> float | None:
    if values.size < 2 or values.dtype.kind not in "fiu":
        return None
    diffs = np.diff(values.astype("float64"))
    if np.allclose(diffs, diffs[0], rtol=1e-6, atol=0):
        return float(diffs[0])
    return None


def _decode_time(values: np.ndarray, attrs: dict[str, Any], file: str, name: str) -> tuple[str | None, str | None]:
    """Decode a CF time coordinate (only this 1-D array) to an ISO range."""
    if values.dtype.kind == "M":
        finite = values[~np.isnat(values)]
        return (_iso(finite.min()), _iso(finite.max())) if finite.size else (None, None)
    units = attrs.get("units")
    if not units or "since" not in str(units):
        raise DataError(
            f"time coordinate has no CF units ({units!r})",
            file=file,
            field=name,
            hint="add units like 'days since 1970-01-01' to the time coordinate",
        )
    import cftime  # light C extension; xarray would pull in pandas for two numbers

    nums = values.astype("float64")
    nums = nums[np.isfinite(nums)]
    if nums.size == 0:
        return (None, None)
    calendar = attrs.get("calendar", "standard")
    try:
        start, end = cftime.num2date(
            [nums.min(), nums.max()], units, calendar, only_use_cftime_datetimes=False, only_use_python_datetimes=False
        )
    except (ValueError, OverflowError) as exc:
        raise DataError(
            f"cannot decode time units {units!r}: {exc}", file=file, field=name, hint="fix the CF units"
        ) from None
    return _iso(start), _iso(end)


def extract_zarr_metadata(path: Path, coords: Coordinates) -> DataDrivenMetadata:
    """Extents and variables of a Zarr store from metadata + 1-D coordinate arrays."""
    import zarr

    file = str(path)
    if not path.exists():
        raise DataError("Zarr store does not exist", file=file, hint="run the convert step first")
    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as exc:  # zarr raises several unrelated types for a bad store
        raise DataError(f"not a readable Zarr store: {exc}", file=file, hint="re-run the convert step") from None
    arrays = dict(group.arrays())
    sizes: dict[str, int] = {}
    dims_of: dict[str, list[str]] = {}
    for name, arr in arrays.items():
        dims = _array_dims(arr)
        if len(dims) != arr.ndim:
            dims = [f"{name}_dim_{i}" for i in range(arr.ndim)]
        dims_of[name] = dims
        for d, n in zip(dims, arr.shape, strict=True):
            sizes.setdefault(d, int(n))
    axis_of = {coords.x: "x", coords.y: "y", coords.z: "z", coords.t: "t"}
    axis_of.pop(None, None)
    for role in ("x", "y", "z", "t"):
        name = getattr(coords, role)
        if name and name not in sizes:
            raise DataError(
                f"dimension {name!r} (coordinates.{role}) is not in the store; "
                f"dimensions are: {', '.join(sizes) or 'none'}",
                file=file,
                field=name,
                hint=f"fix coordinates.{role} in pipeline.yaml",
            )
    dimensions: list[DimensionInfo] = []
    extents: dict[str, list[Any]] = {}
    time_range = None
    for dim, size in sizes.items():
        axis = axis_of.get(dim)
        coord = arrays.get(dim) if dims_of.get(dim) == [dim] else None
        attrs = dict(coord.attrs) if coord is not None else {}
        dtype_kind = np.dtype(coord.dtype).kind if coord is not None else ""
        kind: Literal["spatial", "temporal", "other"] = (
            "temporal" if axis == "t" else "spatial" if axis in ("x", "y", "z") else "other"
        )
        info = DimensionInfo(
            name=dim,
            size=size,
            type=kind,
            axis=axis if axis in ("x", "y", "z") else ("t" if axis == "t" else None),
            description=attrs.get("long_name") or attrs.get("description"),
            unit=None if kind == "temporal" else attrs.get("units"),
        )
        if coord is not None and size:
            values = np.asarray(coord[:])  # the only data read: a 1-D coordinate
            if kind == "temporal":
                time_range = _decode_time(values, attrs, file, dim)
                info.extent = list(time_range)
            elif dtype_kind in "fiu":
                finite = values[np.isfinite(values)] if dtype_kind == "f" else values
                if finite.size:
                    info.extent = [float(finite.min()), float(finite.max())]
                    info.step = _regular_step(values)
            else:
                info.extent = None
        extents[dim] = info.extent or []
        dimensions.append(info)
    bbox = None
    if coords.x and coords.y and extents.get(coords.x) and extents.get(coords.y):
        x0, x1 = extents[coords.x]
        y0, y1 = extents[coords.y]
        bbox = [x0, y0, x1, y1]
    variables: list[VariableInfo] = []
    cells = 0
    for name, arr in arrays.items():
        dims = dims_of[name]
        if dims == [name]:
            continue
        attrs = {k: v for k, v in arr.attrs.items() if k != "_ARRAY_DIMENSIONS"}
        is_data = arr.ndim >= 2 or any(d in (coords.x, coords.y) for d in dims)
        variables.append(
            VariableInfo(
                name=name,
                dtype=np.dtype(arr.dtype).name,
                dimensions=dims,
                shape=[int(n) for n in arr.shape],
                chunks=[int(c) for c in arr.chunks],
                unit=attrs.get("units"),
                description=attrs.get("long_name") or attrs.get("description"),
                variable_type="data" if is_data else "auxiliary",
                attrs=_jsonable(attrs),
            )
        )
        if is_data:
            cells = max(cells, math.prod(arr.shape))
    return DataDrivenMetadata(
        kind="gridded",
        bbox=bbox,
        time_range=time_range,
        cells=cells,
        shape=sizes,
        variables=variables,
        dimensions=dimensions,
        extent_source="coordinates",
    )


def _jsonable(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attributes as plain JSON values (numpy scalars/arrays converted)."""
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        if isinstance(v, float) and not math.isfinite(v):
            v = str(v)
        out[k] = v
    return out


def extract_metadata(path: Path, coords: Coordinates) -> DataDrivenMetadata:
    """Dispatch on the output: a ``.zarr`` folder or a Parquet file."""
    if path.is_dir() or path.suffix == ".zarr":
        return extract_zarr_metadata(path, coords)
    return extract_parquet_metadata(path, coords)


# ---------------------------------------------------------------------------
# checks


def check_extents(meta: DataDrivenMetadata) -> list[str]:
    """Problems with the extents (empty data, out-of-range or inverted coordinates)."""
    problems: list[str] = []
    if (meta.kind == "tabular" and not meta.rows) or (meta.kind == "gridded" and not meta.cells):
        problems.append("the dataset is empty (no rows / no cells)")
    if meta.bbox is None:
        problems.append("no spatial extent could be determined (missing or all-null coordinates)")
    else:
        w, s, e, n = meta.bbox
        for name, value in (("south", s), ("north", n)):
            if not (isinstance(value, int | float) and math.isfinite(value) and -90 <= value <= 90):
                problems.append(f"latitude {name} = {value} is outside [-90, 90]")
        for name, value in (("west", w), ("east", e)):
            if not (isinstance(value, int | float) and math.isfinite(value) and -180 <= value <= 180):
                problems.append(f"longitude {name} = {value} is outside [-180, 180]")
        if not problems and s > n:
            problems.append(f"south ({s}) is greater than north ({n})")
        if not problems and w > e:
            problems.append(f"west ({w}) is greater than east ({e})")
    if meta.time_range and meta.time_range[0] and meta.time_range[1] and meta.time_range[0] > meta.time_range[1]:
        problems.append(f"time range start {meta.time_range[0]} is after end {meta.time_range[1]}")
    return problems
