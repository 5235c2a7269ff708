"""Tabular sources -> GeoParquet 1.1 (CSV streamed, GeoJSON, Parquet pass-through).

Choices, and why:

* **Streaming CSV with pyarrow** (``pyarrow.csv.open_csv``): 4 MB blocks
  (the reader buffers ~32 blocks ahead, so the block size is what bounds
  memory), grouped into row groups of ~256k rows; a writer thread encodes row
  group N while the next one is parsed.  Peak RSS stays ~400 MB on a 2 GB CSV
  (benchmark).  Timestamps are parsed by the reader itself (multi-threaded).
  polars was tried (pip-installed, same batching): its parse was not faster
  enough on this 2-core machine to justify a dependency; duckdb would need
  its spatial extension (a download) for WKB.
* **Snappy** compression (the Parquet/GeoParquet ecosystem default): writing
  was ~2x faster than zstd for ~25% bigger files; dictionary encoding only for
  string/integer/boolean columns.
* **Explicit types**: a curated ``tableschema.json`` gives the column types
  (Frictionless -> Arrow, :data:`FRICTIONLESS_TO_ARROW`).  Coordinate columns
  are always read as float64, so an integer-looking first block cannot fix the
  wrong type for the whole file.
* **Timestamps** are an explicit choice, never guessed: with
  ``source.timestamp_format`` the strptime format is used (a format without
  ``%z`` means the values are UTC); without it the values must be ISO 8601
  *with* a zone offset (``Z`` or ``+10:00``).  Either way the column becomes
  ``timestamp[us, tz=UTC]``.
* **Geometry** for x/y sources is ISO WKB ``Point`` built with numpy (21 bytes
  per row written into one buffer; no shapely object per row).  Z stays a
  plain column: pygeoapi's Parquet provider and most readers expect 2-D points.
* **GeoParquet 1.1** ``geo`` file metadata (encoding WKB, geometry types,
  bbox, no ``crs`` = OGC:CRS84) plus a ``bbox`` covering struct column
  (xmin/ymin/xmax/ymax) with row-group statistics, so readers (and
  :mod:`bot.metadata.datadriven`) get extents from the footer alone.  The file
  is written without the ``ARROW:schema`` blob because pyarrow would
  otherwise prefer its (stale, bbox-less) schema metadata over the ``geo``
  key we can only add after the last row group.
* Errors name the file, the column, the row (1-based data row; line = row + 1
  when no value contains a newline) and the offending value.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from bot.catalog.layout import Coordinates
from bot.convert.common import ConversionResult, atomic_output, list_files, require_lonlat_crs, require_source
from bot.errors import DataError

GEOPARQUET_VERSION = "1.1.0"
BBOX_COLUMN = "bbox"
DEFAULT_GEOMETRY = "geometry"
# pyarrow's streaming CSV reader reads ahead ~32 blocks whatever the consumer
# does, so the block size bounds memory (4 MB -> ~150 MB of buffered batches);
# several blocks are then grouped into one row group of ROW_GROUP_ROWS.
BLOCK_SIZE = 4 << 20
ROW_GROUP_ROWS = 256_000
BOT_METADATA_KEY = "catalog_bot"
COMPRESSION = "snappy"
CSV_THREADS = True
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
_NULLS = ["", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None"]
_ZONE_ERROR = re.compile(
    r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to (timestamp[^:]*): expected a zone offset in '(.*?)'",
    re.S,
)
_CONVERSION_ERROR = re.compile(
    r"In CSV column #(\d+): (?:Row #(\d+): )?CSV conversion error to ([^:]+): invalid value '(.*)'", re.S
)
_PARSE_ERROR = re.compile(r"CSV parse error: (?:Row #(\d+): )?(.*)", re.S)


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
# geometry


_POINT_DTYPE = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])  # packed: 21 bytes


def points_wkb(x: np.ndarray, y: np.ndarray) -> pa.BinaryArray:
    """ISO WKB points (little endian) for coordinate arrays, without a per-row loop."""
    n = len(x)
    rec = np.empty(n, dtype=_POINT_DTYPE)
    rec["order"] = 1
    rec["type"] = 1
    rec["x"] = x
    rec["y"] = y
    offsets = np.arange(0, _POINT_DTYPE.itemsize * (n + 1), _POINT_DTYPE.itemsize, dtype=np.int64)
    return pa.Array.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(rec)]).cast(
        pa.binary()
    )


def bbox_struct(xmin: np.ndarray, ymin: np.ndarray, xmax: np.ndarray, ymax: np.ndarray) -> pa.StructArray:
    """The GeoParquet 1.1 covering column (per-row bounding box)."""
    return pa.StructArray.from_arrays(
        [
            pa.array(xmin, pa.float64()),
            pa.array(ymin, pa.float64()),
            pa.array(xmax, pa.float64()),
            pa.array(ymax, pa.float64()),
        ],
        names=["xmin", "ymin", "xmax", "ymax"],
    )


def check_lonlat(x: np.ndarray, y: np.ndarray, *, file: str, xname: str, yname: str, first_row: int) -> None:
    """Raise on a missing, non-finite or out-of-range coordinate (names the row)."""
    for values, name, limit, what in ((y, yname, 90.0, "latitude"), (x, xname, 180.0, "longitude")):
        bad = ~(np.isfinite(values) & (values >= -limit) & (values <= limit))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            value = float(values[i])
            problem = "is missing" if np.isnan(value) else f"{value!r} is outside [-{limit:g}, {limit:g}]"
            hint = (
                f"fill in {name} for every row"
                if np.isnan(value)
                else f"fix the value, or check that coordinates.x/y name the longitude/latitude columns ({what})"
            )
            if what == "longitude" and not np.isnan(value) and value <= 360:
                hint = f"shift longitudes to [-180, 180] (lon - 360 for lon > 180) in {name}"
            raise DataError(f"{what} at row {first_row + i} {problem}", file=file, field=name, hint=hint)


class GeoParquetWriter:
    """Write record batches as row groups and the ``geo`` metadata at the end.

    The bbox and geometry types are accumulated while writing, so the file
    metadata is exact without a second pass over the data.
    """

    def __init__(self, path: Path, geometry: str, extra: dict[str, Any] | None = None) -> None:
        self.path = path
        self.geometry = geometry
        self.extra = extra or {}
        self.rows = 0
        self.bounds = [np.inf, np.inf, -np.inf, -np.inf]
        self.types: set[str] = set()
        self._writer: pq.ParquetWriter | None = None

    def write(
        self, batch: pa.RecordBatch | pa.Table, bounds: tuple[float, float, float, float], types: Iterable[str]
    ) -> None:
        """Append one row group (``batch`` already has geometry + bbox columns)."""
        if batch.num_rows == 0:
            return
        if self._writer is None:
            stats = [n for n in batch.schema.names if n != self.geometry and n != BBOX_COLUMN]
            stats += [f"{BBOX_COLUMN}.{k}" for k in ("xmin", "ymin", "xmax", "ymax")]
            # Dictionary encoding only where values repeat (codes, names, flags); on
            # coordinates, times and WKB it is tried and abandoned: pure cost.
            dictionary = [
                f.name
                for f in batch.schema
                if pa.types.is_string(f.type) or pa.types.is_integer(f.type) or pa.types.is_boolean(f.type)
            ]
            self._writer = pq.ParquetWriter(
                self.path,
                batch.schema,
                compression=COMPRESSION,
                use_dictionary=dictionary,
                write_statistics=stats,
                store_schema=False,
            )
        if isinstance(batch, pa.Table):
            self._writer.write_table(batch, row_group_size=max(batch.num_rows, 1))
        else:
            self._writer.write_batch(batch, row_group_size=max(batch.num_rows, 1))
        self.rows += batch.num_rows
        self.bounds = [
            min(self.bounds[0], bounds[0]),
            min(self.bounds[1], bounds[1]),
            max(self.bounds[2], bounds[2]),
            max(self.bounds[3], bounds[3]),
        ]
        self.types.update(types)

    def close(self) -> None:
        """Add the GeoParquet metadata and finish the footer."""
        if self._writer is None:
            return
        geo = {
            "version": GEOPARQUET_VERSION,
            "primary_column": self.geometry,
            "columns": {
                self.geometry: {
                    "encoding": "WKB",
                    "geometry_types": sorted(self.types),
                    "bbox": [float(b) for b in self.bounds],
                    "covering": {
                        "bbox": {k: [BBOX_COLUMN, k] for k in ("xmin", "ymin", "xmax", "ymax")},
                    },
                }
            },
        }
        self._writer.add_key_value_metadata(
            {
                "geo": json.dumps(geo),
                BOT_METADATA_KEY: json.dumps({"derived_columns": [self.geometry, BBOX_COLUMN], **self.extra}),
            }
        )
        self._writer.close()
        self._writer = None

    def abort(self) -> None:
        """Close the underlying file after an error (the caller deletes it)."""
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                self._writer = None


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
        values = pc.if_else(pc.is_in(values, pa.array(_NULLS)), pa.scalar(None, pa.string()), values)
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


# ---------------------------------------------------------------------------
# CSV


def _csv_error(
    exc: pa.ArrowInvalid, source: Path, names: list[str], delimiter: str, timestamp_format: str | None = None
) -> DataError:
    """Translate a pyarrow CSV error into a DataError with column, row and value."""
    text = str(exc)
    conv = _CONVERSION_ERROR.search(text) or _ZONE_ERROR.search(text)
    if conv:
        col = names[int(conv.group(1))] if int(conv.group(1)) < len(names) else f"#{conv.group(1)}"
        value = conv.group(conv.re.groups)
        row = _find_value_row(source, col, value, delimiter)
        where = f" at row {row}" if row else ""
        if conv.group(2 if conv.re is _ZONE_ERROR else 3).startswith("timestamp"):
            expected = (
                f"the format {timestamp_format!r} (source.timestamp_format)"
                if timestamp_format
                else "ISO 8601 with a zone offset, e.g. 2024-01-01T00:00:00Z"
            )
            return DataError(
                f"unparseable timestamp {value!r}{where}: expected {expected}",
                file=str(source),
                field=col,
                hint="fix the value, or set source.timestamp_format in pipeline.yaml to the format the file uses",
            )
        return DataError(
            f"value {value!r}{where} is not of the column's type {conv.group(3)} (the column mixes types)",
            file=str(source),
            field=col,
            hint=f"fix the value, or declare {col} with the right type in tableschema.json",
        )
    parse = _PARSE_ERROR.search(text)
    if parse:
        line = int(parse.group(1)) if parse.group(1) else _find_bad_line(source, delimiter)
        where = f"line {line}: " if line else ""
        return DataError(
            f"malformed or truncated CSV: {where}{parse.group(2).strip()}",
            file=str(source),
            hint=f"every line needs {len(names)} {delimiter!r}-separated values; re-export or re-upload the file",
        )
    return DataError(f"cannot read CSV: {text}", file=str(source), hint="check the file is a complete, UTF-8 CSV")


def _header(source: Path, delimiter: str) -> list[str]:
    """Column names from the first line (used when pyarrow fails before giving a schema)."""
    try:
        with source.open(newline="", encoding="utf-8", errors="replace") as fh:
            return next(csv.reader(fh, delimiter=delimiter), [])
    except (OSError, csv.Error):
        return []


def _find_value_row(source: Path, column: str, value: str, delimiter: str) -> int | None:
    """1-based data row of the first ``value`` in ``column`` (error path only: a streamed rescan)."""
    try:
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(block_size=BLOCK_SIZE),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(include_columns=[column], column_types={column: pa.string()}),
        )
        seen = 0
        for batch in reader:
            idx = pc.index(batch.column(0), value).as_py()
            if idx >= 0:
                return seen + idx + 1
            seen += batch.num_rows
    except (pa.ArrowInvalid, pa.ArrowKeyError):
        return None
    return None


def _find_bad_line(source: Path, delimiter: str) -> int | None:
    """Line number of the first malformed row (single-threaded rescan reports it)."""
    found: list[int] = []

    def handler(row: Any) -> str:
        if row.number is not None:
            found.append(row.number)
        return "error"

    try:
        for _ in pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=BLOCK_SIZE),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=handler),
        ):
            pass
    except pa.ArrowInvalid:
        pass
    return found[0] if found else None


def _coordinate_names(coords: Coordinates) -> tuple[str, str]:
    if not (coords.x and coords.y):
        raise DataError(
            "a CSV source needs coordinates.x and coordinates.y",
            field="coordinates",
            hint="name the longitude and latitude columns in pipeline.yaml coordinates",
        )
    return coords.x, coords.y


def _require_columns(names: list[str], wanted: dict[str, str | None], file: str) -> None:
    for role, col in wanted.items():
        if col and col not in names:
            raise DataError(
                f"coordinate column {col!r} (coordinates.{role}) does not exist; columns are: {', '.join(names)}",
                file=file,
                field=col,
                hint=f"fix coordinates.{role} in pipeline.yaml or the CSV header",
            )


def _add_point_geometry(
    batch: pa.RecordBatch, x: str, y: str, geometry: str, *, file: str, first_row: int
) -> tuple[pa.RecordBatch, tuple[float, float, float, float]]:
    """Append WKB points + the bbox covering column to a batch (checks ranges)."""
    for name in (x, y):
        if not pa.types.is_floating(batch.schema.field(name).type) and not pa.types.is_integer(
            batch.schema.field(name).type
        ):
            raise DataError(
                f"coordinate column is {batch.schema.field(name).type}, not numeric",
                file=file,
                field=name,
                hint="coordinates must be decimal degrees",
            )
    xs = batch.column(x).cast(pa.float64()).to_numpy(zero_copy_only=False)
    ys = batch.column(y).cast(pa.float64()).to_numpy(zero_copy_only=False)
    check_lonlat(xs, ys, file=file, xname=x, yname=y, first_row=first_row)
    geom = points_wkb(xs, ys)
    cover = bbox_struct(xs, ys, xs, ys)
    out = pa.RecordBatch.from_arrays([*batch.columns, geom, cover], names=[*batch.schema.names, geometry, BBOX_COLUMN])
    return out, (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))


def csv_batches(
    source: Path,
    coords: Coordinates,
    *,
    delimiter: str = ",",
    timestamp_format: str | None = None,
    schema: dict[str, Any] | None = None,
    block_size: int = BLOCK_SIZE,
) -> Iterator[tuple[pa.RecordBatch, int]]:
    """Typed record batches of a CSV and the 1-based row number of each batch's first row."""
    x, y = _coordinate_names(coords)
    types, _ = schema_types(schema)
    time_columns = {n for n, t in types.items() if t == UTC_US}
    if coords.t and (coords.t not in types or types[coords.t] == UTC_US):
        time_columns.add(coords.t)
    # Timestamps are parsed by the (multi-threaded) CSV reader itself: ISO 8601
    # with an offset into a UTC type, or the explicit strptime format; a format
    # without %z yields naive values that we declare UTC (a metadata-only cast).
    naive = bool(timestamp_format) and "%z" not in (timestamp_format or "")
    column_types = dict(types)
    for name in time_columns:
        column_types[name] = pa.timestamp("us") if naive else UTC_US
    for name in (x, y, coords.z):
        if name:
            column_types[name] = pa.float64()
    convert = pacsv.ConvertOptions(column_types=column_types, null_values=_NULLS, strings_can_be_null=False)
    if timestamp_format:
        convert.timestamp_parsers = [timestamp_format]
    try:
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(block_size=block_size, use_threads=CSV_THREADS),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=convert,
        )
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise DataError(
                "the CSV file has no header and no rows", file=str(source), hint="upload the complete file"
            ) from None
        raise _csv_error(exc, source, _header(source, delimiter), delimiter, timestamp_format) from None
    names = reader.schema.names
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"duplicate column names: {', '.join(dup)}", file=str(source), hint="rename the columns")
    _require_columns(names, {"x": x, "y": y, "z": coords.z, "t": coords.t}, str(source))
    row = 1
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise _csv_error(exc, source, names, delimiter, timestamp_format) from None
        if batch.num_rows == 0:
            continue
        if naive:
            for name in time_columns & set(names):
                idx = batch.schema.get_field_index(name)
                batch = batch.set_column(idx, pa.field(name, UTC_US), batch.column(idx).cast(UTC_US))
        yield batch, row
        row += batch.num_rows


def convert_csv(
    source: Path,
    dest: Path,
    coords: Coordinates,
    *,
    delimiter: str = ",",
    timestamp_format: str | None = None,
    schema: dict[str, Any] | None = None,
    crs: str = "EPSG:4326",
    block_size: int = BLOCK_SIZE,
    row_group_rows: int = ROW_GROUP_ROWS,
) -> ConversionResult:
    """Stream a CSV with coordinate columns into a GeoParquet file at ``dest``."""
    require_source(source)
    require_lonlat_crs(crs, source)
    x, y = _coordinate_names(coords)
    geometry = coords.geometry or DEFAULT_GEOMETRY
    batches = csv_batches(
        source, coords, delimiter=delimiter, timestamp_format=timestamp_format, schema=schema, block_size=block_size
    )
    return _write_points(batches, source, dest, x, y, geometry, schema, row_group_rows)


def _write_points(
    batches: Iterator[tuple[pa.RecordBatch, int]],
    source: Path,
    dest: Path,
    x: str,
    y: str,
    geometry: str,
    schema: dict[str, Any] | None,
    row_group_rows: int = ROW_GROUP_ROWS,
) -> ConversionResult:
    _, descriptions = schema_types(schema)
    # One writer thread: encoding + compressing row group N (GIL released in
    # Arrow) overlaps parsing + building geometry for row group N+1.  At most
    # one write is in flight, so memory stays at a few batches.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="geoparquet-writer")
    pending: Future[None] | None = None
    group: list[pa.RecordBatch] = []
    group_bounds = [np.inf, np.inf, -np.inf, -np.inf]

    def flush() -> None:
        nonlocal pending, group, group_bounds
        if not group:
            return
        if pending is not None:
            pending.result()
        pending = pool.submit(writer.write, pa.Table.from_batches(group), tuple(group_bounds), ["Point"])
        group, group_bounds = [], [np.inf, np.inf, -np.inf, -np.inf]

    with atomic_output(dest) as tmp:
        writer = GeoParquetWriter(tmp, geometry, {"descriptions": descriptions} if descriptions else None)
        try:
            for batch, first_row in batches:
                for reserved in (geometry, BBOX_COLUMN):
                    if reserved in batch.schema.names:
                        raise DataError(
                            f"the source already has a column named {reserved!r}, which the converter creates",
                            file=str(source),
                            field=reserved,
                            hint="rename that column in the source",
                        )
                out, bounds = _add_point_geometry(batch, x, y, geometry, file=str(source), first_row=first_row)
                group.append(out)
                group_bounds = [
                    min(group_bounds[0], bounds[0]),
                    min(group_bounds[1], bounds[1]),
                    max(group_bounds[2], bounds[2]),
                    max(group_bounds[3], bounds[3]),
                ]
                if sum(b.num_rows for b in group) >= row_group_rows:
                    flush()
            flush()
            if pending is not None:
                pending.result()
                pending = None
            if writer.rows == 0:
                raise DataError(
                    "the source has a header but no data rows", file=str(source), hint="upload the complete file"
                )
            writer.close()
        except BaseException:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    pending.result()
            writer.abort()
            raise
        finally:
            pool.shutdown(wait=True)
    files, size = list_files(dest)
    return ConversionResult(path=dest, format="parquet", rows=writer.rows, files=files, bytes=size)


# ---------------------------------------------------------------------------
# GeoJSON


def _property_array(name: str, values: list[Any], target: pa.DataType | None, *, file: str) -> pa.Array:
    """One property column, typed from the schema or inferred (mixed types are an error)."""
    try:
        if target is None:
            return pa.array(values)
        if target == UTC_US:
            raw = pa.array([None if v is None else str(v) for v in values], pa.string())
            return parse_timestamps(raw, None, file=file, column=name, first_row=1)
        if pa.types.is_date(target) or pa.types.is_time(target):
            return pc.cast(pa.array([None if v is None else str(v) for v in values], pa.string()), target)
        return pa.array(values, type=target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        kinds = {}
        for i, v in enumerate(values):
            if v is not None:
                kinds.setdefault(type(v).__name__, i)
        listing = ", ".join(f"{k} (first in feature {i + 1})" for k, i in kinds.items())
        expect = f" {target}" if target is not None else ""
        raise DataError(
            f"property values cannot form one{expect} column; found {listing}",
            file=file,
            field=name,
            hint=f"use one type for {name} in every feature, or declare its type in tableschema.json",
        ) from None


def convert_geojson(
    source: Path, dest: Path, coords: Coordinates, *, schema: dict[str, Any] | None = None, crs: str = "EPSG:4326"
) -> ConversionResult:
    """GeoJSON FeatureCollection -> GeoParquet (in memory: GeoJSON sources are small)."""
    import shapely

    require_source(source)
    require_lonlat_crs(crs, source)
    file = str(source)
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"not valid GeoJSON: {exc}", file=file, hint="re-export the file as UTF-8 GeoJSON") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise DataError(
            "not a GeoJSON FeatureCollection", file=file, field="type", hint="wrap the features in a FeatureCollection"
        )
    features = doc["features"]
    if not features:
        raise DataError(
            "the FeatureCollection has no features", file=file, field="features", hint="upload the complete file"
        )
    geometry = coords.geometry or DEFAULT_GEOMETRY
    names: list[str] = []
    for f in features:
        for key in (f.get("properties") or {}) if isinstance(f, dict) else {}:
            if key not in names:
                names.append(key)
    if coords.t and coords.t not in names:
        raise DataError(
            f"coordinate property {coords.t!r} (coordinates.t) does not exist; properties are: {', '.join(names)}",
            file=file,
            field=coords.t,
            hint="fix coordinates.t in pipeline.yaml",
        )
    for reserved in (geometry, BBOX_COLUMN):
        if reserved in names:
            raise DataError(
                f"a property is named {reserved!r}, which the converter creates",
                file=file,
                field=reserved,
                hint="rename the property",
            )
    geoms = []
    for i, f in enumerate(features):
        g = f.get("geometry") if isinstance(f, dict) else None
        if not g:
            raise DataError(
                f"feature {i + 1} has no geometry",
                file=file,
                field=f"features/{i}/geometry",
                hint="give every feature a geometry",
            )
        try:
            geoms.append(shapely.from_geojson(json.dumps(g)))
        except Exception as exc:  # shapely raises GEOSException / ValueError variants
            raise DataError(
                f"feature {i + 1}: invalid geometry: {exc}",
                file=file,
                field=f"features/{i}/geometry",
                hint="fix the geometry",
            ) from None
    garr = np.array(geoms, dtype=object)
    bounds = shapely.bounds(garr)
    check_lonlat(
        np.concatenate([bounds[:, 0], bounds[:, 2]]),
        np.concatenate([bounds[:, 1], bounds[:, 3]]),
        file=file,
        xname=geometry,
        yname=geometry,
        first_row=1,
    )
    types, descriptions = schema_types(schema)
    if coords.t and coords.t not in types:
        # No declared type: plain dates (YYYY-MM-DD) stay dates, anything else must be a zoned timestamp.
        values = [str(v) for f in features if (v := (f.get("properties") or {}).get(coords.t)) is not None]
        is_date = bool(values) and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) for v in values)
        types[coords.t] = pa.date32() if is_date else UTC_US
    columns = [
        _property_array(n, [(f.get("properties") or {}).get(n) for f in features], types.get(n), file=file)
        for n in names
    ]
    geom_types = {g.geom_type + (" Z" if z else "") for g, z in zip(geoms, shapely.has_z(garr).tolist(), strict=True)}
    wkb = pa.array(shapely.to_wkb(garr, flavor="iso"), pa.binary())
    cover = bbox_struct(bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3])
    batch = pa.RecordBatch.from_arrays([*columns, wkb, cover], names=[*names, geometry, BBOX_COLUMN])
    total = (float(bounds[:, 0].min()), float(bounds[:, 1].min()), float(bounds[:, 2].max()), float(bounds[:, 3].max()))
    with atomic_output(dest) as tmp:
        writer = GeoParquetWriter(tmp, geometry, {"descriptions": descriptions} if descriptions else None)
        try:
            writer.write(batch, total, geom_types)
            writer.close()
        except BaseException:
            writer.abort()
            raise
    files, size = list_files(dest)
    return ConversionResult(path=dest, format="parquet", rows=len(features), files=files, bytes=size)


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
    _require_columns(names, {"x": coords.x, "y": coords.y, "t": coords.t, "geometry": coords.geometry}, file)
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
    x, y = _coordinate_names(coords)

    def batches() -> Iterator[tuple[pa.RecordBatch, int]]:
        row = 1
        for batch in pf.iter_batches(batch_size=256_000):
            yield batch, row
            row += batch.num_rows

    return _write_points(batches(), source, dest, x, y, coords.geometry or DEFAULT_GEOMETRY, None)
