"""What ``dataset new`` learns from a source without converting it: metadata, a bounded sample, the extents.

Why not convert the whole file (as ``dataset new`` first did): a 1 GB
Parquet or NetCDF took as long as a publish and held as much memory, just to
learn a bbox, a time range and the column types.  Instead:

* **Types** come from the real converter run on a bounded *sample*: the
  first :data:`SAMPLE_ROWS` rows (Parquet, vector layers), the first CSV
  block (the converter's own type inference also looks at its first block).
  So the schema is what ``publish`` writes, column for column.  A NetCDF is
  read with netCDF4 alone (:mod:`bot.convert.probe_grid`: no xarray, pandas
  or dask to import), by the rules of the converter's round trip into Zarr;
  only a file with variables those rules do not model has the first two
  steps along every dimension converted.  A Zarr source is published as it
  is (copied), so its own metadata is read directly.
* **Extents** come from the whole file, but from metadata wherever that is
  exact: the Parquet footer (GeoParquet ``geo`` bbox, row-group statistics of
  the covering or x/y columns and of the time column), a vector layer's
  extent (``pyogrio.read_info``), a grid's 1-D coordinate variables (time
  decoded with the file's calendar, as :mod:`bot.metadata.zarr_extents` does
  on the published store).  Where metadata cannot be exact -- a CSV, or a
  source in a projected CRS whose lon/lat bbox is the bbox of the
  *reprojected vertices* -- only the coordinate columns are streamed, batch
  by batch, through the converter's own reprojection (bounded memory).

GeoJSON (one JSON document: no streaming reader), GeoTIFF (reprojected as a
raster) and plug-in converters are still converted whole.  What the sample
cannot see (a bad value in a non-coordinate column past the sample) is
reported by ``validate --data`` / ``publish``, as for any edited source.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from bot.catalog.layout import PipelineSpec
from bot.errors import DataError
from bot.metadata.datamodel import DataDrivenMetadata, iso_utc

SAMPLE_ROWS = 10_000
# Parquet read page by page (a 1 MB buffered stream), not a whole column chunk at once: a row group
# of a 1 GB file is tens of MB, and the sample needs its first rows only.
STREAM = {"buffer_size": 1 << 20, "pre_buffer": False}
SCAN_ROWS = 1 << 18
GRID_SAMPLE = 2
WHOLE = {"geojson", "geotiff"}


def probe_source(spec: PipelineSpec, source: Path, work: Path, name: str) -> DataDrivenMetadata:
    """Data-driven metadata of ``source`` as ``publish`` would compute it (see module docstring)."""
    from bot.convert import convert_dataset
    from bot.metadata.datadriven import extract_metadata

    fmt = spec.source.format
    work.mkdir(parents=True, exist_ok=True)
    if fmt in WHOLE or spec.converter:
        result = convert_dataset(spec, source, work / "out", None, name=name)
        return extract_metadata(result.path, spec.coordinates)
    if fmt == "zarr":  # passed through: the published store is this one (copied, metadata consolidated)
        return dataclasses.replace(extract_metadata(source, spec.coordinates), extent_source="probe (coordinates)")
    if fmt == "netcdf":
        found = _netcdf_metadata(spec, source)
        if found is not None:
            return found
    sample, sample_spec = _sample(spec, source, work)
    result = convert_dataset(sample_spec, sample, work / "out", None, name=name)
    meta = extract_metadata(result.path, spec.coordinates)
    if fmt == "netcdf":
        return _grid_extents(meta, spec, source)
    bbox, time_range, rows = _tabular_extents(spec, source)
    return dataclasses.replace(meta, bbox=bbox, time_range=time_range, rows=rows, extent_source="probe")


# ---------------------------------------------------------------------------
# samples


def _sample(spec: PipelineSpec, source: Path, work: Path) -> tuple[Path, PipelineSpec]:
    """A small file in the source's own format that the real converter turns into the output's schema."""
    fmt = spec.source.format
    if fmt == "csv":
        path = _csv_sample(source, work / f"sample{source.suffix or '.csv'}")
    elif fmt == "parquet":
        path = _parquet_sample(source, work / "sample.parquet")
    elif fmt == "netcdf":
        path = _grid_sample(spec, source, work)
        return path, msgspec.structs.replace(spec, source=msgspec.structs.replace(spec.source, group=None))
    else:
        path = _ogr_sample(spec, source, work)
        return path, msgspec.structs.replace(spec, source=msgspec.structs.replace(spec.source, layer=None))
    return path, spec


def _csv_sample(source: Path, dest: Path) -> Path:
    """The header and the rows of the first converter block (cut at a line end)."""
    from bot.convert.csv_stream import BLOCK_SIZE

    with source.open("rb") as fh:
        head = fh.read(BLOCK_SIZE)
        more = fh.read(1)
    if more:
        cut = head.rfind(b"\n")
        head = head[: cut + 1] if cut > 0 else head
    dest.write_bytes(head)
    return dest


def _parquet_sample(source: Path, dest: Path) -> Path:
    """The first rows with the file's schema and key-value metadata (``geo`` included).

    Read column by column: the first rows cost the first page of each column,
    decompressed (a writer's pages can be MBs per column), and one column at a
    time keeps only one such page in memory.  Arrow's allocator keeps freed
    pages for reuse, idle memory that would stay under everything the probe
    does next (peak RSS): it is given back after each column.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bot.convert.common import open_parquet

    pf = open_parquet(source, **STREAM)
    names = pf.schema_arrow.names
    schema = pf.schema_arrow.remove_metadata()
    rows = min(SAMPLE_ROWS, pf.metadata.num_rows)
    one_by_one = len(set(names)) == len(names)  # a column selection by name needs unique names
    try:
        if rows and one_by_one:
            columns = []
            for name in names:
                batch = next(pf.iter_batches(batch_size=rows, columns=[name], use_threads=False))
                columns.append(batch.column(0))
                del batch
                pa.default_memory_pool().release_unused()
            table = pa.Table.from_arrays(columns, schema=schema)
        else:
            batch = next(pf.iter_batches(batch_size=SAMPLE_ROWS), None)
            table = pa.Table.from_batches([batch] if batch is not None else [], schema=schema)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(
            f"not a readable Parquet file (truncated?): {exc}", file=str(source), hint="upload a complete Parquet file"
        ) from None
    pq.write_table(table.replace_schema_metadata(pf.metadata.metadata), dest)
    del table
    pa.default_memory_pool().release_unused()
    return dest


def _ogr_sample(spec: PipelineSpec, source: Path, work: Path) -> Path:
    """The first features of the layer, written with the same GDAL driver (so the field types round-trip)."""
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    from bot.convert.ogr import _gdal_path, _pick_layer

    file = str(source)
    path = _gdal_path(source)
    layer = _pick_layer(path, spec.source.layer, file)
    suffix = {"gpkg": ".gpkg", "shapefile": ".shp", "flatgeobuf": ".fgb", "geojsonseq": ".geojsonl"}
    driver = {"gpkg": "GPKG", "shapefile": "ESRI Shapefile", "flatgeobuf": "FlatGeobuf", "geojsonseq": "GeoJSONSeq"}
    fmt = spec.source.format
    dest = work / f"sample{suffix[fmt]}"
    try:
        meta, table = pyogrio.read_arrow(path, layer=layer, max_features=SAMPLE_ROWS)
        crs = spec.source.crs or meta.get("crs")
        pyogrio.write_arrow(
            table,
            str(dest),
            layer=layer if fmt == "gpkg" else None,
            driver=driver[fmt],
            geometry_name=meta.get("geometry_name") or "geometry",
            geometry_type=meta.get("geometry_type") or "Unknown",
            crs=crs,
            encoding="UTF-8" if fmt == "shapefile" else None,
        )
    except (DataSourceError, DataLayerError) as exc:
        raise DataError(f"cannot read layer {layer!r}: {exc}", file=file, hint="upload a complete file") from None
    return dest


def _netcdf_metadata(spec: PipelineSpec, source: Path) -> DataDrivenMetadata | None:
    """A NetCDF's metadata from netCDF4 alone (:mod:`bot.convert.probe_grid`), checked as the converter checks
    it; None for a file whose variables only the real converter can describe."""
    from bot.convert.grid import _refuse_empty_root, check_grid
    from bot.convert.probe_grid import GridView, grid_metadata, open_netcdf

    target = spec.source.opendap or source
    with open_netcdf(target, spec.source.group) as node:
        view = GridView(node)
        if not spec.source.group and not view.sizes and not spec.source.opendap:
            _refuse_empty_root(source)
        check_grid(view, spec.coordinates, str(target))
        return grid_metadata(node, spec.coordinates, str(target))


def _grid_sample(spec: PipelineSpec, source: Path, work: Path) -> Path:
    """The first :data:`GRID_SAMPLE` steps of every dimension, with the CF encoding the converter keeps."""
    import xarray as xr

    from bot.convert.grid import _open_netcdf, kept_encoding

    if spec.source.opendap:  # the remote grid itself: netCDF-C's DAP client fetches only what is indexed
        ds = xr.open_dataset(spec.source.opendap, cache=False, group=spec.source.group, engine="netcdf4")
    else:
        ds = _open_netcdf(source, group=spec.source.group)
    with ds:
        sample = ds.isel({d: slice(0, GRID_SAMPLE) for d in ds.sizes}).load()
    for var in sample.variables.values():
        var.encoding = kept_encoding(var)
    dest = work / "sample.nc"
    sample.to_netcdf(dest)
    return dest


# ---------------------------------------------------------------------------
# extents: grids


def _grid_extents(meta: DataDrivenMetadata, spec: PipelineSpec, source: Path) -> DataDrivenMetadata:
    """The sample's metadata with the whole grid's sizes and its coordinates' extents."""
    from bot.convert.probe_grid import grid_dimensions, open_netcdf

    target = spec.source.opendap or source
    with open_netcdf(target, spec.source.group) as node:
        dims, time_range, bbox = grid_dimensions(node, spec.coordinates, str(target))
    sizes = {d.name: d.size for d in dims}
    variables = [
        dataclasses.replace(v, shape=[sizes.get(d, n) for d, n in zip(v.dimensions, v.shape, strict=True)])
        for v in meta.variables
    ]
    cells = max((math.prod(v.shape) for v in variables if v.variable_type == "data"), default=0)
    return dataclasses.replace(
        meta,
        bbox=bbox,
        time_range=time_range,
        dimensions=[d for d in dims if d.name in (meta.shape or {})],
        variables=variables,
        cells=cells,
        shape={d: sizes.get(d, n) for d, n in (meta.shape or {}).items()},
        extent_source="probe (coordinates)",
    )


# ---------------------------------------------------------------------------
# extents: tables


Bounds = list[float]
Extents = tuple[Bounds | None, tuple[str | None, str | None] | None, int | None]


def _tabular_extents(spec: PipelineSpec, source: Path) -> Extents:
    fmt = spec.source.format
    if fmt == "csv":
        return _csv_extents(spec, source)
    if fmt == "parquet":
        return _parquet_extents(spec, source)
    return _ogr_extents(spec, source)


class _Box:
    """A running lon/lat bbox over batches (NaN = no geometry, adds nothing)."""

    def __init__(self) -> None:
        self.b = [math.inf, math.inf, -math.inf, -math.inf]

    def add(self, xmin: np.ndarray, ymin: np.ndarray, xmax: np.ndarray, ymax: np.ndarray) -> None:
        present = ~np.isnan(xmin)
        if present.any():
            self.b = [
                min(self.b[0], float(xmin[present].min())),
                min(self.b[1], float(ymin[present].min())),
                max(self.b[2], float(xmax[present].max())),
                max(self.b[3], float(ymax[present].max())),
            ]

    def add_wkb(self, wkb: Any, transform: Callable[[np.ndarray], np.ndarray] | None) -> None:
        import shapely

        # to_pylist, not to_numpy: pyarrow converts a binary column to NumPy through its pandas
        # bridge, which imports pandas (~45 MB, ~0.5 s) for what is a list of bytes.
        values = np.empty(len(wkb), dtype=object)
        values[:] = wkb.to_pylist()
        geoms = shapely.from_wkb(values)
        if transform is not None:
            geoms = shapely.transform(geoms, transform)
        b = shapely.bounds(geoms)
        self.add(b[:, 0], b[:, 1], b[:, 2], b[:, 3])

    @property
    def bbox(self) -> Bounds | None:
        return None if math.isinf(self.b[0]) else self.b


def _time_bounds(column: Any) -> tuple[Any, Any] | None:
    """Earliest and latest value of a time column; timestamps as NumPy datetime64 (UTC, as Arrow stores them).

    Why not ``as_py()``: a zoned Arrow timestamp becomes a Python datetime
    through pyarrow's pandas bridge, which imports pandas (~45 MB).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    found = pc.min_max(column)
    lo, hi = found["min"], found["max"]
    if not lo.is_valid:
        return None
    if pa.types.is_timestamp(column.type):
        return np.datetime64(lo.value, column.type.unit), np.datetime64(hi.value, column.type.unit)
    return lo.as_py(), hi.as_py()


def _points(batches: Iterable[tuple[Any, int]], x: str, y: str, t: str | None, transform: Any, file: str) -> Extents:
    """Bbox of x/y points (reprojected as the converter does, range-checked), time range, rows: one pass."""

    from bot.convert.geoparquet import check_lonlat, float_values

    box = _Box()
    lo: Any = None
    hi: Any = None
    rows = 0
    for batch, first in batches:
        rows += batch.num_rows
        xs, ys = float_values(batch.column(x)), float_values(batch.column(y))
        if transform is not None:
            missing = np.isnan(xs) | np.isnan(ys)
            lonlat = transform(np.column_stack([xs, ys]))
            xs, ys = np.where(missing, np.nan, lonlat[:, 0]), np.where(missing, np.nan, lonlat[:, 1])
        check_lonlat(xs, ys, file=file, xname=x, yname=y, first_row=first)
        box.add(xs, ys, xs, ys)
        found = _time_bounds(batch.column(t)) if t else None
        if found is not None:
            lo = found[0] if lo is None else min(lo, found[0])
            hi = found[1] if hi is None else max(hi, found[1])
    time_range = (iso_utc(lo), iso_utc(hi)) if lo is not None else None
    return box.bbox, time_range, rows


def _csv_extents(spec: PipelineSpec, source: Path) -> Extents:
    """A CSV has no index: stream only the coordinate columns through the converter's own parser."""
    from bot.convert.common import lonlat_transform
    from bot.convert.csv_stream import csv_batches
    from bot.convert.geoparquet import coordinate_names

    coords = spec.coordinates
    x, y = coordinate_names(coords)
    wanted = [c for c in (x, y, coords.t) if c]
    batches = csv_batches(
        source,
        msgspec.structs.replace(coords, z=None),  # only x, y, t are parsed
        delimiter=spec.source.delimiter,
        timestamp_format=spec.source.timestamp_format,
        columns=wanted,
    )
    transform = lonlat_transform(spec.source.crs, file=str(source)) if spec.source.crs else None
    return _points(batches, x, y, coords.t, transform, str(source))


def _parquet_extents(spec: PipelineSpec, source: Path) -> Extents:
    """The footer when it is exact (lon/lat data); else a stream of the coordinate columns only."""
    import pyarrow.parquet as pq

    from bot.convert.common import lonlat_transform
    from bot.convert.parquet import _geo_columns
    from bot.metadata.parquet_extents import _minmax, extract_parquet_metadata

    file = str(source)
    coords = spec.coordinates
    pf = pq.ParquetFile(source, **STREAM)
    kv = pf.metadata.metadata or {}
    names = pf.schema_arrow.names
    crs: Any = spec.source.crs
    geometry = None
    if b"geo" in kv:
        geometry, _, file_crs = _geo_columns(kv[b"geo"], names, coords, file)
        crs = crs or file_crs
    transform = lonlat_transform(crs, file=file) if crs else None
    footer = extract_parquet_metadata(source, coords) if transform is None else None
    if footer is not None and footer.bbox is not None and (geometry is None or footer.primary_geometry == geometry):
        return footer.bbox, footer.time_range, footer.rows
    time_range = None
    if coords.t:  # row-group statistics (a scan of that one column only when they are missing)
        found = _minmax(pf, pf.metadata, coords.t, [])
        time_range = (iso_utc(found[0]), iso_utc(found[1])) if found else None
    if geometry is None:
        x, y = coords.x or "x", coords.y or "y"
        scan = _numbered(pf.iter_batches(batch_size=SCAN_ROWS, columns=[x, y]))
        bbox, _, rows = _points(scan, x, y, None, transform, file)
        return bbox, time_range, rows
    box = _Box()
    for batch in pf.iter_batches(batch_size=SCAN_ROWS // 4, columns=[geometry]):
        box.add_wkb(batch.column(0), transform)
    return box.bbox, time_range, pf.metadata.num_rows


def _numbered(batches: Iterable[Any]) -> Iterable[tuple[Any, int]]:
    row = 1
    for batch in batches:
        yield batch, row
        row += batch.num_rows


def _ogr_extents(spec: PipelineSpec, source: Path) -> Extents:
    """The layer's extent from its metadata (lon/lat layers); else the reprojected geometries, streamed."""
    import pyogrio
    from pyogrio.raw import open_arrow

    from bot.convert.common import lonlat_transform
    from bot.convert.ogr import _gdal_path, _pick_layer

    file = str(source)
    path = _gdal_path(source)
    layer = _pick_layer(path, spec.source.layer, file)
    info = pyogrio.read_info(path, layer=layer, force_feature_count=True, force_total_bounds=True)
    crs = spec.source.crs or info.get("crs")
    transform = lonlat_transform(crs, file=file) if crs else None
    rows = int(info.get("features", -1))
    bounds = info.get("total_bounds")
    if transform is None and bounds is not None and np.all(np.isfinite(bounds)):
        return [float(v) for v in bounds], None, rows
    box = _Box()
    with open_arrow(path, layer=layer, columns=[], use_pyarrow=True, batch_size=SCAN_ROWS // 4) as (meta, reader):
        column = meta.get("geometry_name") or "wkb_geometry"
        for batch in reader:
            box.add_wkb(batch.column(column), transform)
    return box.bbox, None, rows
