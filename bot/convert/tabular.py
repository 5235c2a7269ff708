"""Tabular sources -> GeoParquet 1.1 (CSV streamed, GeoJSON, Parquet pass-through).

The modules: :mod:`bot.convert.csv_stream`, :mod:`bot.convert.vector`,
:mod:`bot.convert.parquet` read; :mod:`bot.convert.geoparquet` writes.  This
module keeps the import path of their public names.  Choices, and why:

* **CSV parsed by pyarrow in 4 MB pieces, in parallel**: the file is cut
  at line ends (as Arrow's own reader cuts its blocks) and the pieces parse
  on every core (``pyarrow.csv.read_csv`` each, the column types fixed from
  the first block by ``open_csv``), at most two per thread in flight; the
  batches are grouped into row groups of ~256k rows.  A geometry thread
  builds (and reprojects) the points, and the row groups are compressed on
  every core too (:class:`~bot.convert.geoparquet.GeoParquetWriter`); so
  memory stays flat whatever the file size and no stage is a serial chain.
  Timestamps are parsed by the CSV parser itself.
  polars was tried and was not faster on two cores; duckdb would need its
  spatial extension (a download) for WKB (measurements: docs/performance.md).
* **zstd** with one encoding per column (dictionary for repeated values,
  BYTE_STREAM_SPLIT for other floats, delta for integers/times, big-endian
  WKB points included): point data, also all-distinct positions (tracks),
  is <= 1.2x a plain pandas Parquet of the same columns while keeping the
  WKB geometry and x/y columns pygeoapi needs (see
  :mod:`bot.convert.parquet_encoding` and docs/publish.md, "GeoParquet size").
* **Explicit types**: a curated ``tableschema.json`` gives the column types
  (Frictionless -> Arrow, :data:`FRICTIONLESS_TO_ARROW`).  Coordinate columns
  are always read as float64, so an integer-looking first block cannot fix the
  wrong type for the whole file.
* **Timestamps** are an explicit choice, never guessed: with
  ``source.timestamp_format`` the strptime format is used (a format without
  ``%z`` means the values are UTC); without it the values must be ISO 8601
  *with* a zone offset (``Z`` or ``+10:00``).  Either way the column becomes
  ``timestamp[us, tz=UTC]``.
* **Geometry** for x/y sources is ISO WKB ``Point`` (big-endian) built with
  numpy (21 bytes per row written into one buffer; no shapely object per
  row).  Z stays a plain column: pygeoapi's Parquet provider and most readers expect 2-D points.
* **GeoParquet 1.1** ``geo`` file metadata (encoding WKB, geometry types,
  bbox, no ``crs`` = OGC:CRS84), written afresh for every output -- a
  GeoParquet source of any version (0.4 included) is re-encoded, never
  passed through.  Non-point geometry also gets a ``bbox`` covering struct
  column (xmin/ymin/xmax/ymax) with row-group statistics; points do not (it
  would repeat x/y twice; their x/y columns carry the statistics), so readers
  (and :mod:`bot.metadata.datadriven`) get extents from the footer alone.  The file
  is written without the ``ARROW:schema`` blob because pyarrow would
  otherwise prefer its (stale, bbox-less) schema metadata over the ``geo``
  key we can only add after the last row group.
* Errors name the file, the column, the row (1-based data row; line = row + 1
  when no value contains a newline) and the offending value.
"""

from __future__ import annotations

from bot.convert.arrow_types import FRICTIONLESS_TO_ARROW, UTC_US, parse_timestamps, schema_types
from bot.convert.csv_stream import BLOCK_SIZE, convert_csv, csv_batches
from bot.convert.geoparquet import (
    BBOX_COLUMN,
    DEFAULT_GEOMETRY,
    GEOPARQUET_VERSION,
    ROW_GROUP_ROWS,
    GeoParquetWriter,
    bbox_struct,
    check_lonlat,
    points_wkb,
)
from bot.convert.parquet import passthrough_parquet
from bot.convert.vector import convert_geojson

__all__ = [
    "BBOX_COLUMN",
    "BLOCK_SIZE",
    "DEFAULT_GEOMETRY",
    "FRICTIONLESS_TO_ARROW",
    "GEOPARQUET_VERSION",
    "ROW_GROUP_ROWS",
    "UTC_US",
    "GeoParquetWriter",
    "bbox_struct",
    "check_lonlat",
    "convert_csv",
    "convert_geojson",
    "csv_batches",
    "parse_timestamps",
    "passthrough_parquet",
    "points_wkb",
    "schema_types",
]
