"""GeoParquet 1.1 writing: point geometry, the covering column, the ``geo`` footer.

Why a module of its own: every tabular converter ends here, so GeoParquet
validity (version, ``geometry_types``, ``crs``, covering) is decided in one
place.  The encodings are chosen in :mod:`bot.convert.parquet_encoding`.
"""

from __future__ import annotations

import contextlib
import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bot.catalog.layout import Coordinates
from bot.convert.arrow_buffers import binary_array, binary_values, float_array, float_values
from bot.convert.arrow_types import schema_types
from bot.convert.common import ConversionResult, LonLatTransform, atomic_output, list_files
from bot.convert.parquet_encoding import (
    COMPRESSION,
    COMPRESSION_LEVEL,
    POINT_COMPRESSION_LEVEL,
    column_encodings,
    dictionary_columns,
    encoder_threads,
)
from bot.convert.parquet_footer import ParquetAssembler
from bot.errors import DataError

GEOPARQUET_VERSION = "1.1.0"
BBOX_COLUMN = "bbox"
DEFAULT_GEOMETRY = "geometry"
ROW_GROUP_ROWS = 256_000
BBOX_FIELDS = ("xmin", "ymin", "xmax", "ymax")
BOT_METADATA_KEY = "catalog_bot"
_GEOMETRY_AHEAD = 2
"""Batches the geometry stage may be ahead of the row-group grouping (bounds memory)."""
_IN_FLIGHT = 2
"""Row groups queued per encoder thread before :meth:`GeoParquetWriter.write` waits (bounds memory)."""
# ---------------------------------------------------------------------------
# geometry


# Big-endian ("XDR", byte order 0) ISO WKB: every reader (GEOS/shapely,
# geopandas, pygeoapi, GDAL, DuckDB) reads both byte orders, and big-endian
# puts each coordinate's sign, exponent and leading mantissa bytes first, right
# after the constant 5-byte header -- one run zstd matches from row to row.
# Points then compress to ~8-10 bytes instead of ~12-14 (little-endian) for
# the same CPU (docs/publish.md, "GeoParquet size").
_POINT_DTYPE = np.dtype([("order", "u1"), ("type", ">u4"), ("x", ">f8"), ("y", ">f8")])  # packed: 21 bytes


def points_wkb(x: np.ndarray, y: np.ndarray) -> pa.BinaryArray:
    """ISO WKB points (big endian, see :data:`_POINT_DTYPE`) for coordinate arrays, without a per-row loop."""
    n = len(x)
    rec = np.empty(n, dtype=_POINT_DTYPE)
    rec["order"] = 0
    rec["type"] = 1
    rec["x"] = x
    rec["y"] = y
    size = _POINT_DTYPE.itemsize
    if size * n >= 2**31:  # Arrow's binary has 32-bit offsets; callers pass one batch (~100k rows)
        raise ValueError(f"{n} points do not fit one binary array; split the batch")
    offsets = np.arange(0, size * (n + 1), size, dtype=np.int32)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(rec)])


def bbox_struct(xmin: np.ndarray, ymin: np.ndarray, xmax: np.ndarray, ymax: np.ndarray) -> pa.StructArray:
    """The GeoParquet 1.1 covering column (per-row bounding box)."""
    return pa.StructArray.from_arrays(
        [
            float_array(xmin),
            float_array(ymin),
            float_array(xmax),
            float_array(ymax),
        ],
        names=["xmin", "ymin", "xmax", "ymax"],
    )


def check_lonlat(
    x: np.ndarray, y: np.ndarray, *, file: str, xname: str, yname: str, first_row: int
) -> tuple[float, float, float, float]:
    """Raise on a missing, non-finite or out-of-range coordinate (names the row); else return the bounds.

    The bounds (xmin, ymin, xmax, ymax; infinities for no rows) come from
    the same min/max passes as the check, so callers need no second pass.
    """
    found: dict[str, tuple[float, float]] = {}
    for values, name, limit, what in ((y, yname, 90.0, "latitude"), (x, xname, 180.0, "longitude")):
        if not values.size:
            found[what] = (np.inf, -np.inf)
            continue
        low, high = float(values.min()), float(values.max())
        if low >= -limit and high <= limit:  # NaN fails both: one pass per bound
            found[what] = (low, high)
            continue
        bad = ~(np.isfinite(values) & (values >= -limit) & (values <= limit))
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
    (xmin, xmax), (ymin, ymax) = found["longitude"], found["latitude"]
    return xmin, ymin, xmax, ymax


class GeoParquetWriter:
    """Write record batches as row groups and valid GeoParquet 1.1 ``geo`` metadata at the end.

    The bbox and geometry types are accumulated while writing, so the file
    metadata is exact without a second pass over the data.  ``covering``:
    whether the batches carry the ``bbox`` covering struct column.  Point
    data is written without one: for a point it would repeat x and y twice
    more (the biggest part of the file), while the x/y columns' own
    row-group statistics serve the same pruning (pygeoapi's ``x_field`` /
    ``y_field``) and ``geo.bbox`` gives the extent.  ``crs`` is PROJJSON
    when the stored coordinates are not OGC:CRS84 (None: omitted, which
    GeoParquet defines as OGC:CRS84).

    Each row group is encoded on one of ``threads`` threads and the file is
    assembled in order by :class:`~bot.convert.parquet_footer.ParquetAssembler`
    (byte for byte what one ``ParquetWriter`` writes): :meth:`write` returns
    once its row group is queued, and blocks while :data:`_IN_FLIGHT` row
    groups per thread wait, which bounds memory.  Errors of a queued row group
    surface from a later :meth:`write` or from :meth:`close`.
    """

    def __init__(
        self,
        path: Path,
        geometry: str,
        extra: dict[str, Any] | None = None,
        *,
        covering: bool = True,
        crs: dict[str, Any] | None = None,
        threads: int | None = None,
    ) -> None:
        self.path = path
        self.geometry = geometry
        self.extra = extra or {}
        self.covering = covering
        self.crs = crs
        self.rows = 0
        self.bounds = [np.inf, np.inf, -np.inf, -np.inf]
        self.types: set[str] = set()
        self.sha256: str | None = None
        """Hex sha256 of the finished file (set by :meth:`close`)."""
        self._threads = threads or encoder_threads()
        self._schema: pa.Schema | None = None
        self._options: Future[dict[str, Any]] | None = None
        self._file: ParquetAssembler | None = None
        self._encoders: ThreadPoolExecutor | None = None
        self._appender: ThreadPoolExecutor | None = None
        self._queued: deque[Future[None]] = deque()

    def _open(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Start the encoder and appender threads; the encodings are chosen on the first row group by an encoder.

        Why there: judging every column of the first row group (distinct
        counts) takes ~0.1-0.3 s, which on the caller's thread would stall
        the reading that feeds every other stage.
        """
        if self.covering and BBOX_COLUMN not in batch.schema.names:
            raise ValueError(f"covering requested but no {BBOX_COLUMN!r} column")  # a converter bug
        self._schema = batch.schema
        self._file = ParquetAssembler(self.path)
        self._encoders = ThreadPoolExecutor(self._threads, thread_name_prefix="geoparquet-encoder")
        self._appender = ThreadPoolExecutor(1, thread_name_prefix="geoparquet-appender")
        self._options = self._encoders.submit(self._choose, batch)

    def _choose(self, batch: pa.RecordBatch | pa.Table) -> dict[str, Any]:
        """The writer options of every row group, judged on the first (see :mod:`bot.convert.parquet_encoding`)."""
        # Statistics on everything but the WKB (min/max of bytes prune nothing).
        stats = [n for n in batch.schema.names if n not in (self.geometry, BBOX_COLUMN)]
        if self.covering:
            stats += [f"{BBOX_COLUMN}.{k}" for k in BBOX_FIELDS]
        dictionary = dictionary_columns(batch)
        return {
            "compression": COMPRESSION,
            "compression_level": {
                n: POINT_COMPRESSION_LEVEL if n == self.geometry and not self.covering else COMPRESSION_LEVEL
                for n in batch.schema.names
            },
            "use_dictionary": dictionary,
            "column_encoding": column_encodings(batch, dictionary),
            "write_statistics": stats,
            "store_schema": False,
        }

    def _encode(self, batch: pa.RecordBatch | pa.Table) -> pa.Buffer:
        """One row group as a complete in-memory Parquet file (on an encoder thread; Arrow releases the GIL)."""
        assert self._options is not None  # set by _open
        sink = pa.BufferOutputStream()
        with pq.ParquetWriter(sink, self._schema, **self._options.result()) as writer:
            if isinstance(batch, pa.Table):
                writer.write_table(batch, row_group_size=max(batch.num_rows, 1))
            else:
                writer.write_batch(batch, row_group_size=max(batch.num_rows, 1))
        return sink.getvalue()

    def _append(self, encoded: Future[pa.Buffer]) -> None:
        """Add a row group to the file once encoded (on the one appender thread: in order)."""
        assert self._file is not None  # opened with the threads
        self._file.append(encoded.result())

    def write(
        self, batch: pa.RecordBatch | pa.Table, bounds: tuple[float, float, float, float], types: Iterable[str]
    ) -> None:
        """Queue one row group (``batch`` already has the geometry and, with ``covering``, the bbox column)."""
        if batch.num_rows == 0:
            return
        if self._file is None:
            self._open(batch)
        assert self._encoders is not None and self._appender is not None
        while len(self._queued) >= _IN_FLIGHT * self._threads:
            self._queued.popleft().result()
        encoded = self._encoders.submit(self._encode, batch)
        self._queued.append(self._appender.submit(self._append, encoded))
        self.rows += batch.num_rows
        self.bounds = [
            min(self.bounds[0], bounds[0]),
            min(self.bounds[1], bounds[1]),
            max(self.bounds[2], bounds[2]),
            max(self.bounds[3], bounds[3]),
        ]
        self.types.update(types)

    def geo_metadata(self) -> dict[str, Any]:
        """The ``geo`` file metadata (GeoParquet 1.1.0) of what was written."""
        column: dict[str, Any] = {
            "encoding": "WKB",
            "geometry_types": sorted(self.types),
            "bbox": [float(b) for b in self.bounds],
        }
        if self.crs is not None:
            column["crs"] = self.crs
        if self.covering:
            column["covering"] = {"bbox": {k: [BBOX_COLUMN, k] for k in BBOX_FIELDS}}
        return {"version": GEOPARQUET_VERSION, "primary_column": self.geometry, "columns": {self.geometry: column}}

    def close(self) -> None:
        """Wait for the queued row groups, then write the footer with the GeoParquet metadata."""
        if self._file is None:
            return
        try:
            while self._queued:
                self._queued.popleft().result()
        except BaseException:
            self.abort()
            raise
        self._stop_threads()
        derived = [self.geometry, BBOX_COLUMN] if self.covering else [self.geometry]
        file, self._file = self._file, None
        self.sha256 = file.close(
            {
                "geo": json.dumps(self.geo_metadata()),
                BOT_METADATA_KEY: json.dumps({"derived_columns": derived, **self.extra}),
            }
        )

    def abort(self) -> None:
        """Drop the queued row groups and close the file after an error (the caller deletes it)."""
        for queued in self._queued:
            queued.cancel()
        self._queued.clear()
        self._stop_threads()
        if self._file is not None:
            self._file.abort()
            self._file = None

    def _stop_threads(self) -> None:
        for pool in (self._encoders, self._appender):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._encoders = self._appender = None


def coordinate_names(coords: Coordinates) -> tuple[str, str]:
    if not (coords.x and coords.y):
        raise DataError(
            "a CSV source needs coordinates.x and coordinates.y",
            field="coordinates",
            hint="name the longitude and latitude columns in pipeline.yaml coordinates",
        )
    return coords.x, coords.y


def require_columns(names: list[str], wanted: dict[str, str | None], file: str) -> None:
    for role, col in wanted.items():
        if col and col not in names:
            raise DataError(
                f"coordinate column {col!r} (coordinates.{role}) does not exist; columns are: {', '.join(names)}",
                file=file,
                field=col,
                hint=f"fix coordinates.{role} in pipeline.yaml or the CSV header",
            )


LONLAT_NAMES = (("lon", "lat"), ("longitude", "latitude"), ("lon_wgs84", "lat_wgs84"))


def lonlat_names(names: list[str]) -> tuple[str, str]:
    """The lon/lat columns added beside projected x/y columns: the first pair that is not a source column."""
    taken = {n.lower() for n in names}
    pair = next((p for p in LONLAT_NAMES if not taken & set(p)), None)
    if pair is None:
        raise DataError(
            f"the source has columns named {', '.join(n for p in LONLAT_NAMES for n in p if n in taken)}",
            field="coordinates",
            hint="rename them: the converter adds lon/lat columns next to projected x/y",
        )
    return pair


def add_point_geometry(
    batch: pa.RecordBatch,
    x: str,
    y: str,
    geometry: str,
    *,
    file: str,
    first_row: int,
    to_lonlat: LonLatTransform | None = None,
) -> tuple[pa.RecordBatch, tuple[float, float, float, float]]:
    """Append WKB points to a batch (checks ranges); no covering column (see :class:`GeoParquetWriter`)."""
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
    xs = float_values(batch.column(x))
    ys = float_values(batch.column(y))
    if to_lonlat is not None:  # x/y stay native columns; the geometry is longitude/latitude
        xs, ys = to_lonlat.xy(xs, ys)
    bounds = check_lonlat(xs, ys, file=file, xname=x, yname=y, first_row=first_row)
    geom = points_wkb(xs, ys)
    arrays, names = [*batch.columns, geom], [*batch.schema.names, geometry]
    if to_lonlat is not None:  # lon/lat beside the native x/y: what bbox filters (pygeoapi x_field/y_field) compare
        arrays[-1:-1] = [float_array(xs), float_array(ys)]
        names[-1:-1] = list(lonlat_names(batch.schema.names))
    return pa.RecordBatch.from_arrays(arrays, names=names), bounds


def write_points(
    batches: Iterator[tuple[pa.RecordBatch, int]],
    source: Path,
    dest: Path,
    x: str,
    y: str,
    geometry: str,
    schema: dict[str, Any] | None,
    row_group_rows: int = ROW_GROUP_ROWS,
    *,
    source_crs: str | None = None,
    extra: dict[str, Any] | None = None,
) -> ConversionResult:
    """Batches with x/y columns -> GeoParquet points (reprojected to lon/lat when ``source_crs`` is not)."""
    from bot.convert.common import lonlat_transform

    _, descriptions = schema_types(schema)
    to_lonlat = lonlat_transform(source_crs, file=str(source)) if source_crs else None
    extra = dict(extra or {})
    if descriptions:
        extra["descriptions"] = descriptions
    if to_lonlat is not None:
        extra["xy_crs"] = source_crs  # the native x/y columns are not degrees (no -180..180 constraints)
    # Stages on threads of their own, so every core stays busy: the CSV
    # reader parses batch N+2 (this thread), the geometry stage builds batch
    # N+1's points -- and reprojects them, the costliest part of a projected
    # source (pyproj releases the GIL) -- while the writer's encoder threads
    # compress earlier row groups (GIL released in Arrow).  Results are taken
    # in order, so the first bad row is the one reported; at most
    # _GEOMETRY_AHEAD batches and the writer's queue are in flight, so memory
    # stays at a few row groups.
    shapes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="geoparquet-points")
    ahead: deque[Future[tuple[pa.RecordBatch, tuple[float, float, float, float]]]] = deque()
    group: list[pa.RecordBatch] = []
    group_bounds = [np.inf, np.inf, -np.inf, -np.inf]

    def flush() -> None:
        nonlocal group, group_bounds
        if not group:
            return
        xmin, ymin, xmax, ymax = (float(b) for b in group_bounds)
        writer.write(pa.Table.from_batches(group), (xmin, ymin, xmax, ymax), ["Point"])
        group, group_bounds = [], [np.inf, np.inf, -np.inf, -np.inf]

    def take() -> None:
        nonlocal group_bounds
        out, bounds = ahead.popleft().result()
        group.append(out)
        group_bounds = [
            min(group_bounds[0], bounds[0]),
            min(group_bounds[1], bounds[1]),
            max(group_bounds[2], bounds[2]),
            max(group_bounds[3], bounds[3]),
        ]
        if sum(b.num_rows for b in group) >= row_group_rows:
            flush()

    with atomic_output(dest) as tmp:
        writer = GeoParquetWriter(tmp, geometry, extra or None, covering=False)
        try:
            for batch, first_row in batches:
                if geometry in batch.schema.names:
                    raise DataError(
                        f"the source already has a column named {geometry!r}, which the converter creates",
                        file=str(source),
                        field=geometry,
                        hint="rename that column in the source, or set coordinates.geometry to another name",
                    )
                if to_lonlat is not None:
                    writer.extra["lonlat_columns"] = list(lonlat_names(batch.schema.names))
                ahead.append(
                    shapes.submit(
                        add_point_geometry,
                        batch,
                        x,
                        y,
                        geometry,
                        file=str(source),
                        first_row=first_row,
                        to_lonlat=to_lonlat,
                    )
                )
                while len(ahead) > _GEOMETRY_AHEAD:
                    take()
            while ahead:
                take()
            flush()
            if writer.rows == 0:
                raise DataError(
                    "the source has a header but no data rows", file=str(source), hint="upload the complete file"
                )
            writer.close()
        except BaseException:
            for fut in ahead:
                fut.cancel()
                with contextlib.suppress(BaseException):
                    fut.result()
            writer.abort()
            raise
        finally:
            shapes.shutdown(wait=True)
    files, size = list_files(dest)
    return ConversionResult(
        path=dest, format="parquet", rows=writer.rows, files=files, bytes=size, sha256=writer.sha256
    )


def _geometry_types(geoms: np.ndarray) -> set[str]:
    """GeoParquet geometry type names (``Point``, ``Polygon Z`` ...) present in a shapely array."""
    import shapely

    valid = geoms[~shapely.is_missing(geoms)]
    if valid.size == 0:
        return set()
    names = shapely.get_type_id(valid)
    zs = shapely.has_z(valid)
    kinds = {
        0: "Point",
        1: "LineString",
        2: "LineString",
        3: "Polygon",
        4: "MultiPoint",
        5: "MultiLineString",
        6: "MultiPolygon",
        7: "GeometryCollection",
    }
    return {kinds[int(k)] + (" Z" if z else "") for k, z in set(zip(names.tolist(), zs.tolist(), strict=True))}


def write_wkb(
    batches: Iterator[tuple[pa.RecordBatch, int]],
    source: Path,
    dest: Path,
    geometry: str,
    *,
    drop: Iterable[str] = (),
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    extra: dict[str, Any] | None = None,
) -> ConversionResult:
    """Batches with a WKB ``geometry`` column -> GeoParquet 1.1 (re-encoded, never passed through).

    Why re-encode a file that already is GeoParquet: its ``geo`` metadata may
    be pre-1.0 (version 0.4, WKT ``crs``, a single ``geometry_type``), name a
    wrong primary column, or lack a bbox; rewriting row group by row group
    (bounded memory) yields one valid shape for every output.  ``drop``:
    source columns not carried over (an old covering column).
    ``transform``: coordinates ``(n, 2)`` -> longitude/latitude (reprojection).
    Extents are checked to be longitude/latitude after the transform.
    """
    import shapely

    file = str(source)
    dropped = set(drop)
    with atomic_output(dest) as tmp:
        writer: GeoParquetWriter | None = None
        try:
            for batch, first_row in batches:
                if geometry not in batch.schema.names:
                    raise DataError(
                        f"geometry column {geometry!r} is missing", file=file, field=geometry, hint="fix coordinates"
                    )
                keep = [n for n in batch.schema.names if n not in dropped]
                batch = batch.select(keep)
                idx = batch.schema.get_field_index(geometry)
                try:
                    geoms = shapely.from_wkb(binary_values(batch.column(idx)))
                except Exception as exc:  # shapely raises GEOSException variants for bad WKB
                    raise DataError(
                        f"invalid WKB geometry in rows {first_row}..{first_row + batch.num_rows - 1}: {exc}",
                        file=file,
                        field=geometry,
                        hint="re-export the file with valid geometries",
                    ) from None
                if transform is not None:
                    geoms = shapely.transform(geoms, transform)
                    wkb = binary_array(shapely.to_wkb(geoms, flavor="iso"))
                    batch = batch.set_column(idx, pa.field(geometry, pa.binary()), wkb)
                bounds = shapely.bounds(geoms)
                present = ~np.isnan(bounds[:, 0])
                total = (np.inf, np.inf, -np.inf, -np.inf)
                if present.any():  # rows without geometry are kept; they add nothing to the extent
                    filled = np.where(present[:, None], bounds, 0.0)  # row i of the batch stays index i
                    for xs, ys in ((filled[:, 0], filled[:, 1]), (filled[:, 2], filled[:, 3])):
                        check_lonlat(xs, ys, file=file, xname=geometry, yname=geometry, first_row=first_row)
                    b = bounds[present]
                    total = (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))
                types = _geometry_types(geoms)
                if writer is None:
                    covering = types - {"Point", "Point Z"} != set()
                    writer = GeoParquetWriter(tmp, geometry, extra, covering=covering)
                if writer.covering:
                    cover = bbox_struct(bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3])
                    if BBOX_COLUMN in batch.schema.names:
                        raise DataError(
                            f"the source has a column {BBOX_COLUMN!r}, which the converter creates",
                            file=file,
                            field=BBOX_COLUMN,
                            hint="rename that column in the source",
                        )
                    batch = batch.append_column(BBOX_COLUMN, cover)
                writer.write(batch, total, types)
            if writer is None or writer.rows == 0:
                raise DataError("the source has no rows", file=file, hint="upload the complete file")
            if not writer.types:
                raise DataError("no row has a geometry", file=file, field=geometry, hint="fill in the geometries")
            writer.close()
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
    files, size = list_files(dest)
    return ConversionResult(
        path=dest, format="parquet", rows=writer.rows, files=files, bytes=size, sha256=writer.sha256
    )
