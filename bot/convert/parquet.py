"""Parquet sources -> GeoParquet: GeoParquet checked and kept, plain Parquet with x/y gets points."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from bot.catalog.layout import Coordinates
from bot.convert.common import ConversionResult, lonlat_transform, open_parquet, require_source
from bot.convert.geoparquet import (
    DEFAULT_GEOMETRY,
    ROW_GROUP_ROWS,
    coordinate_names,
    require_columns,
    write_points,
    write_wkb,
)
from bot.errors import DataError

# ---------------------------------------------------------------------------
# Parquet pass-through


def _geo_columns(raw: bytes, names: list[str], coords: Coordinates, file: str) -> tuple[str, list[str], Any]:
    """The geometry column to keep, the source's own covering columns to drop (re-derived), the column's CRS.

    ``coordinates.geometry`` in pipeline.yaml wins over the file's
    ``primary_column`` (files in the wild name a column that is not there).
    Any GeoParquet version is accepted (0.x ``geometry_type`` or WKT ``crs``
    included); the output is always written afresh as 1.1.0.
    """
    try:
        geo = json.loads(raw)
        columns = geo.get("columns") or {}
        primary = coords.geometry or geo["primary_column"]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise DataError(
            "invalid GeoParquet 'geo' metadata",
            file=file,
            field="geo",
            hint="rewrite the file with a GeoParquet writer",
        ) from None
    if primary not in names:
        raise DataError(
            f"GeoParquet primary column {primary!r} is not a column; columns are: {', '.join(names)}",
            file=file,
            field="geo.primary_column",
            hint="set coordinates.geometry in pipeline.yaml to the geometry column",
        )
    meta = columns.get(primary) or {}
    encoding = str(meta.get("encoding", "WKB"))
    if encoding.upper() != "WKB":
        raise DataError(
            f"geometry encoding {encoding!r} is not supported (WKB is)",
            file=file,
            field=f"geo.columns.{primary}.encoding",
            hint="write the file with WKB geometry",
        )
    drop = []
    for other in columns.values():
        covering = (other or {}).get("covering", {}).get("bbox") if isinstance(other, dict) else None
        if isinstance(covering, dict):
            drop += [path[0] for path in covering.values() if isinstance(path, list) and path]
    crs = meta.get("crs")  # absent or null: OGC:CRS84
    return primary, sorted({d for d in drop if d in names and d != primary}), None if crs == "OGC:CRS84" else crs


def passthrough_parquet(
    source: Path, dest: Path, coords: Coordinates, *, crs: str | None = None, extra: dict[str, Any] | None = None
) -> ConversionResult:
    """Parquet -> GeoParquet 1.1, streamed: GeoParquet (any version) re-encoded, plain Parquet with x/y gets points."""
    require_source(source)
    file = str(source)
    pf = open_parquet(source)
    names = pf.schema_arrow.names
    require_columns(names, {"x": coords.x, "y": coords.y, "t": coords.t, "geometry": coords.geometry}, file)
    kv = pf.metadata.metadata or {}
    if pf.metadata.num_rows == 0:
        raise DataError("the Parquet file has no rows", file=file, hint="upload the complete file")
    if b"geo" in kv:
        primary, drop, file_crs = _geo_columns(kv[b"geo"], names, coords, file)
        to_lonlat = lonlat_transform(crs or file_crs, file=file) if (crs or file_crs) else None

        def wkb_batches() -> Iterator[tuple[pa.RecordBatch, int]]:
            row = 1
            for batch in pf.iter_batches(batch_size=ROW_GROUP_ROWS):
                yield batch, row
                row += batch.num_rows

        return write_wkb(wkb_batches(), source, dest, primary, drop=drop, transform=to_lonlat, extra=extra)
    if coords.geometry and not (coords.x and coords.y):
        raise DataError(
            f"column {coords.geometry!r} is not GeoParquet (no 'geo' metadata)",
            file=file,
            field=coords.geometry,
            hint="write the file with GeoParquet metadata, or give coordinates.x/y to build points",
        )
    x, y = coordinate_names(coords)

    def batches() -> Iterator[tuple[pa.RecordBatch, int]]:
        row = 1
        for batch in pf.iter_batches(batch_size=256_000):
            yield batch, row
            row += batch.num_rows

    return write_points(
        batches(), source, dest, x, y, coords.geometry or DEFAULT_GEOMETRY, None, source_crs=crs, extra=extra
    )
