"""Parquet / GeoParquet: extents, row count and columns from the footer.

Row count from ``num_rows``; bbox from the GeoParquet ``geo`` metadata, else
from row-group statistics of the covering ``bbox`` column, else of the x/y
columns; the time range from the statistics of the ``t`` column.  Only when a
needed statistic is missing do we scan -- and then only the coordinate
columns (never a full read).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from bot.catalog.layout import Coordinates
from bot.errors import DataError
from bot.metadata.datamodel import ColumnInfo, DataDrivenMetadata, frictionless_type_of_arrow, iso_utc

_BOT_KEY = b"catalog_bot"

# ---------------------------------------------------------------------------
# Parquet


def _stats_minmax(md: Any, path: str, time_unit: str | None = None) -> tuple[Any, Any] | None:
    """Min/max of a leaf column over all row groups, or None if any group lacks them.

    For temporal columns (``time_unit`` = numpy unit: ``us``, ``D``...) the raw
    integers are compared and returned as ``numpy.datetime64``: pyarrow's
    decoded tz-aware values would import pandas (slow, +100 MB RSS).
    """
    lo: Any = None
    hi: Any = None
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
        unit: Any = time_unit  # a numpy unit name ("us", "D", ...), checked by _time_unit
        return np.datetime64(int(lo), unit), np.datetime64(int(hi), unit)
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

    from bot.convert.arrow_buffers import binary_values  # not to_numpy: that goes through pandas

    bounds = [math.inf, math.inf, -math.inf, -math.inf]
    for batch in pf.iter_batches(columns=[column], batch_size=1 << 16):
        geoms = shapely.from_wkb(binary_values(batch.column(0)))
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


def extract_parquet_metadata(
    path: Path, coords: Coordinates, *, source: Any = None, file: str | None = None
) -> DataDrivenMetadata:
    """Extents, row count and columns of a (Geo)Parquet file from its footer.

    ``source``: an open file-like object to read instead of ``path`` (an
    object-store range reader: only the footer and scanned columns cross the
    network); ``file`` names it in errors.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = file or str(path)
    if source is None and not path.exists():
        raise DataError("Parquet file does not exist", file=file, hint="run the convert step first")
    try:
        pf = pq.ParquetFile(path if source is None else source)
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
    if bbox is None and coords.x and coords.y and not bot.get("xy_crs"):
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
            time_range = (iso_utc(found[0]), iso_utc(found[1]))
    roles: dict[str, str] = {getattr(coords, r): r for r in ("x", "y", "z", "t") if getattr(coords, r)}
    if primary:
        roles[primary] = "geometry"
    if covering:
        roles[covering["xmin"][0]] = "covering"
    lonlat = [str(n) for n in bot.get("lonlat_columns") or []][:2]
    columns = []
    for fld in schema:
        col_role = roles.get(fld.name)
        ftype, fmt = frictionless_type_of_arrow(fld.type)
        if col_role == "geometry":
            ftype, fmt = "geojson", None
        constraints = None
        if fld.name in lonlat:  # lon/lat the converter added beside projected x/y
            constraints = (
                {"minimum": -90, "maximum": 90} if lonlat.index(fld.name) else {"minimum": -180, "maximum": 180}
            )
        elif bot.get("xy_crs"):  # native projected x/y columns (the geometry is lon/lat)
            pass
        elif col_role == "x":
            constraints = {"minimum": -180, "maximum": 180}
        elif col_role == "y":
            constraints = {"minimum": -90, "maximum": 90}
        columns.append(
            ColumnInfo(
                name=fld.name,
                type=ftype,
                arrow_type=str(fld.type),
                description=descriptions.get(fld.name),
                unit=units.get(fld.name),
                format=fmt,
                role=col_role,
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
        lonlat_columns=lonlat or None,
    )
