"""Parquet sources -> GeoParquet: GeoParquet checked and kept, plain Parquet with x/y gets points."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bot.catalog.layout import Coordinates
from bot.convert.common import ConversionResult, atomic_output, list_files, require_source
from bot.convert.geoparquet import DEFAULT_GEOMETRY, coordinate_names, require_columns, write_points
from bot.errors import DataError

# ---------------------------------------------------------------------------
# Parquet pass-through


def passthrough_parquet(source: Path, dest: Path, coords: Coordinates) -> ConversionResult:
    """Check a Parquet source and copy it; plain Parquet with x/y gets geometry added (streamed)."""
    from bot.metadata.datadriven import check_extents, extract_parquet_metadata

    require_source(source)
    file = str(source)
    try:
        pf = pq.ParquetFile(source)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(
            f"not a readable Parquet file: {exc}", file=file, hint="upload a complete Parquet file"
        ) from None
    names = pf.schema_arrow.names
    require_columns(names, {"x": coords.x, "y": coords.y, "t": coords.t, "geometry": coords.geometry}, file)
    kv = pf.metadata.metadata or {}
    if pf.metadata.num_rows == 0:
        raise DataError("the Parquet file has no rows", file=file, hint="upload the complete file")
    if b"geo" in kv:
        try:
            geo = json.loads(kv[b"geo"])
            primary = geo["primary_column"]
        except (ValueError, KeyError, TypeError):
            raise DataError(
                "invalid GeoParquet 'geo' metadata",
                file=file,
                field="geo",
                hint="rewrite the file with a GeoParquet writer",
            ) from None
        if primary not in names:
            raise DataError(
                f"GeoParquet primary column {primary!r} is not a column",
                file=file,
                field="geo.primary_column",
                hint="rewrite the file",
            )
        if geo.get("columns", {}).get(primary, {}).get("crs") not in (None, "OGC:CRS84"):
            crs = geo["columns"][primary]["crs"]
            ident = crs.get("id") if isinstance(crs, dict) else crs
            if not (isinstance(ident, dict) and ident.get("authority") == "OGC" and ident.get("code") == "CRS84"):
                raise DataError(
                    "geometry CRS is not OGC:CRS84",
                    file=file,
                    field="geo.columns.crs",
                    hint="reproject to longitude/latitude",
                )
        with atomic_output(dest) as tmp:
            shutil.copyfile(source, tmp)
            meta = extract_parquet_metadata(tmp, coords)
            problems = check_extents(meta)
            if problems:
                raise DataError("; ".join(problems), file=file, hint="fix the coordinates in the source")
        files, size = list_files(dest)
        return ConversionResult(path=dest, format="parquet", rows=pf.metadata.num_rows, files=files, bytes=size)
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

    return write_points(batches(), source, dest, x, y, coords.geometry or DEFAULT_GEOMETRY, None)
