"""Many source files -> one output: each file converted on its own (in parallel), then combined.

Why this shape: a daily-file dataset has hundreds of NetCDF or CSV files;
converting each independently bounds memory by one file and lets a process
pool use every core.  The combine step is sequential and ordered (tabular:
by source order; gridded: by the first time value), so the output is the
same with 1 or N workers.

- Tabular: every file becomes a GeoParquet part; the parts' row groups are
  streamed into one GeoParquet file whose ``geo`` metadata (bbox, geometry
  types) covers all of them.  Downstream steps read one file, as for a
  single source.
- Gridded (NetCDF): the store's metadata is written once from all files'
  coordinates, then each file writes its own time region of the one Zarr
  store, in parallel (no combine pass); the time chunk divides every file's
  length so no chunk is shared.  (Zarr parts of other converters are
  appended along time by :func:`_combine_zarr`.)

The output appears atomically (:func:`~bot.convert.common.atomic_output`);
on any error nothing is left at its path.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bot.catalog.layout import PipelineSpec
from bot.convert.common import ConversionResult, atomic_output, list_files
from bot.errors import DataError


def _convert_one(args: tuple[PipelineSpec, Path, Path, dict[str, Any] | None, str]) -> ConversionResult:
    from bot.convert import convert_dataset

    spec, source, out_dir, schema, name = args
    return convert_dataset(spec, source, out_dir, schema, name=name)


def convert_parts(
    spec: PipelineSpec, sources: list[Path], parts_dir: Path, schema: dict[str, Any] | None, *, jobs: int = 1
) -> list[ConversionResult]:
    """Convert each source into ``parts_dir/part-NNNNN.<ext>`` (``jobs`` processes), in source order."""
    work = [(spec, src, parts_dir, schema, f"part-{i:05d}") for i, src in enumerate(sources)]
    if jobs <= 1 or len(work) <= 1:
        return [_convert_one(w) for w in work]
    with ProcessPoolExecutor(max_workers=min(jobs, len(work))) as pool:
        return list(pool.map(_convert_one, work))


def convert_many(
    spec: PipelineSpec,
    sources: list[Path],
    out_dir: Path,
    schema: dict[str, Any] | None = None,
    *,
    name: str,
    jobs: int = 1,
) -> ConversionResult:
    """Convert ``sources`` (in this order) into ``out_dir/<name>.<parquet|zarr>``."""
    if not sources:
        raise DataError("the source lists no files", field="source.paths", hint="check the paths or patterns")
    dest = out_dir / f"{name}.{spec.output}"
    if spec.output == "zarr" and spec.source.format == "netcdf":
        _grid_by_regions(spec, sources, dest, jobs=jobs)
        files, size = list_files(dest)
        return ConversionResult(path=dest, format="zarr", rows=None, files=files, bytes=size)
    parts_dir = out_dir / f".parts-{uuid.uuid4().hex[:8]}"
    parts_dir.mkdir(parents=True)
    try:
        parts = convert_parts(spec, sources, parts_dir, schema, jobs=jobs)
        if spec.output == "parquet":
            geometry = spec.coordinates.geometry or "geometry"
            rows = _combine_parquet([p.path for p in parts], dest, geometry, sources)
            files, size = list_files(dest)
            return ConversionResult(path=dest, format="parquet", rows=rows, files=files, bytes=size)
        _combine_zarr([p.path for p in parts], dest, spec.coordinates.t, sources)
        files, size = list_files(dest)
        return ConversionResult(path=dest, format="zarr", rows=None, files=files, bytes=size)
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)


def _combine_parquet(parts: list[Path], dest: Path, geometry: str, sources: list[Path]) -> int:
    """Stream the parts' row groups into one GeoParquet file with merged ``geo`` metadata."""
    import pyarrow.parquet as pq

    from bot.convert.geoparquet import BBOX_COLUMN, BOT_METADATA_KEY, GeoParquetWriter

    first = pq.ParquetFile(parts[0])
    schema = first.schema_arrow
    meta = first.metadata.metadata or {}
    extra = json.loads(meta.get(BOT_METADATA_KEY.encode(), b"{}"))
    extra.pop("derived_columns", None)
    geometry = json.loads(meta.get(b"geo", b"{}")).get("primary_column", geometry)
    covering = BBOX_COLUMN in schema.names  # the parts decide: point data is written without one
    with atomic_output(dest) as tmp:
        writer = GeoParquetWriter(tmp, geometry, extra, covering=covering)
        try:
            for part, source in zip(parts, sources, strict=True):
                handle = pq.ParquetFile(part)
                if not handle.schema_arrow.equals(schema, check_metadata=False):
                    raise DataError(
                        f"columns differ from the first file ({sources[0].name}): {handle.schema_arrow} vs {schema}",
                        file=source.name,
                        hint="every file of a multi-file source must have the same columns and types",
                    )
                geo = json.loads((handle.metadata.metadata or {}).get(b"geo", b"{}"))
                column = (geo.get("columns") or {}).get(geometry) or {}
                bounds = tuple(column.get("bbox") or (float("inf"), float("inf"), float("-inf"), float("-inf")))
                types = column.get("geometry_types") or []
                for index in range(handle.num_row_groups):
                    writer.write(handle.read_row_group(index), bounds, types)
            writer.close()
        except BaseException:
            writer.abort()
            raise
    return writer.rows


def _combine_zarr(parts: list[Path], dest: Path, time_dim: str | None, sources: list[Path]) -> None:
    """Append the Zarr parts along ``time_dim`` (ordered by their first time) into one consolidated store."""
    import xarray as xr

    from bot.convert.grid import ZARR_FORMAT, zarr_consolidate

    if time_dim is None:
        raise DataError(
            "many gridded files need a time dimension to concatenate along",
            field="coordinates.t",
            hint="set coordinates.t in pipeline.yaml to the files' time dimension",
        )
    opened = []
    for part, source in zip(parts, sources, strict=True):
        ds = xr.open_zarr(part, consolidated=True)
        if time_dim not in ds.dims:
            raise DataError(f"dimension {time_dim!r} is missing", file=source.name, field="coordinates.t")
        opened.append((ds[time_dim].values[0], str(source), ds))
    opened.sort(key=lambda item: (item[0], item[1]))
    times = [t for t, _, _ in opened]
    for a, b in itertools.pairwise(times):
        if a == b:
            raise DataError(
                f"two files start at the same {time_dim} {a}", field="source.paths", hint="list each period once"
            )
    try:
        with atomic_output(dest) as tmp:
            for index, (_, _, ds) in enumerate(opened):
                encoding = _part_encoding(ds) if index == 0 else None
                clean = _drop_encoding(ds) if index else ds
                if index == 0:
                    clean.to_zarr(tmp, mode="w", consolidated=False, zarr_format=ZARR_FORMAT, encoding=encoding)
                else:
                    clean.to_zarr(
                        tmp, append_dim=time_dim, consolidated=False, zarr_format=ZARR_FORMAT, safe_chunks=False
                    )
            zarr_consolidate(tmp)
    finally:
        for _, _, ds in opened:
            ds.close()


def _part_encoding(ds: Any) -> dict[str, dict[str, Any]]:
    """The first part's chunking and compression (dimension coordinates stay one chunk, resizable)."""
    out: dict[str, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        enc = {
            k: v
            for k, v in var.encoding.items()
            if k in ("chunks", "compressors", "dtype", "_FillValue", "units", "calendar", "scale_factor", "add_offset")
        }
        out[str(name)] = enc
    return out


def _drop_encoding(ds: Any) -> Any:
    """Appended parts take the store's encoding (time units of the first part, etc.)."""
    copy = ds.copy()
    for var in copy.variables.values():
        var.encoding = {}
    return copy


def _grid_by_regions(spec: PipelineSpec, sources: list[Path], dest: Path, *, jobs: int) -> None:
    """NetCDF files -> one Zarr store: metadata once, then each file written into its time region.

    Why regions: every file owns a disjoint slab of the time axis, so the
    workers write different chunks of the same store with no combine pass
    (no second decompress/compress of the data).  The time chunk divides
    every file's length, so no chunk is shared by two files.  Memory per
    worker is one dask chunk at a time (synchronous scheduler).
    """
    import xarray as xr

    from bot.convert.grid import ZARR_FORMAT, choose_chunks, zarr_consolidate, zarr_encoding

    time_dim = _time_dim(spec)
    order = _time_order(spec, sources, time_dim)
    ordered = [Path(path) for _, path, _ in order]
    lengths = [n for _, _, n in order]
    template = xr.open_mfdataset(
        ordered, combine="nested", concat_dim=time_dim, data_vars="minimal", coords="minimal", compat="override",
        join="override", chunks={}, parallel=False,
    )  # fmt: skip
    try:
        itemsize = max(v.dtype.itemsize for v in template.data_vars.values())
        sizes = {str(k): int(v) for k, v in template.sizes.items()}
        plan = choose_chunks(sizes, itemsize, dict(spec.chunks), time_dim=time_dim)
        plan[time_dim] = math.gcd(plan[time_dim], *lengths)  # every file starts on a chunk boundary
        encoding = zarr_encoding(template, plan)
        with atomic_output(dest) as tmp:
            template.to_zarr(
                tmp, mode="w", compute=False, consolidated=False, zarr_format=ZARR_FORMAT, encoding=encoding
            )
            starts = [0, *itertools.accumulate(lengths)]
            work = [(src, tmp, time_dim, starts[i], starts[i + 1], plan) for i, src in enumerate(ordered)]
            if jobs <= 1 or len(work) <= 1:
                for item in work:
                    _write_region(item)
            else:
                with ProcessPoolExecutor(max_workers=min(jobs, len(work))) as pool:
                    list(pool.map(_write_region, work))
            zarr_consolidate(tmp)
    finally:
        template.close()


def _write_region(args: tuple[Path, Path, str, int, int, dict[str, int]]) -> None:
    """Write one file's data variables into ``store`` at time ``[start, stop)`` (the store's encoding applies)."""
    import dask

    from bot.convert.grid import _open_netcdf

    source, store, time_dim, start, stop, plan = args
    ds = _open_netcdf(source, dict(plan))
    try:
        region = ds.drop_vars([name for name in ds.variables if time_dim not in ds[name].dims or name == time_dim])
        for var in region.variables.values():
            var.encoding = {}
        with dask.config.set(scheduler="synchronous"):
            region.to_zarr(store, region={time_dim: slice(start, stop)}, zarr_format=2, consolidated=False)
    finally:
        ds.close()


def _time_dim(spec: PipelineSpec) -> str:
    if spec.coordinates.t is None:
        raise DataError(
            "many gridded files need a time dimension to concatenate along",
            field="coordinates.t",
            hint="set coordinates.t in pipeline.yaml to the files' time dimension",
        )
    return spec.coordinates.t


def _time_order(spec: PipelineSpec, sources: list[Path], time_dim: str) -> list[tuple[Any, str, int]]:
    """``(first time, path, time length)`` of each NetCDF file, checked and sorted; two equal starts are an error."""
    from bot.convert.grid import _open_netcdf, check_grid

    order = []
    for source in sources:
        ds = _open_netcdf(source)
        try:
            check_grid(ds, spec.coordinates, source.name)
            if time_dim not in ds.dims:
                raise DataError(f"dimension {time_dim!r} is missing", file=source.name, field="coordinates.t")
            order.append((ds[time_dim].values[0], str(source), int(ds.sizes[time_dim])))
        finally:
            ds.close()
    order.sort()
    for (a, first, _), (b, second, _) in itertools.pairwise(order):
        if a == b:
            raise DataError(
                f"{Path(first).name} and {Path(second).name} start at the same {time_dim} {a}",
                field="source.paths",
                hint="list each period once",
            )
    return order


class NotAppendable(Exception):
    """New files cannot be appended so that the result equals a full re-convert; the caller converts all."""


def append_many(
    spec: PipelineSpec, existing: Path, sources: list[Path], schema: dict[str, Any] | None = None, *, jobs: int = 1
) -> ConversionResult:
    """Append ``sources`` (files after those ``existing`` was converted from) to a copy of ``existing``.

    Why a copy: ``existing`` may be the data version that is published now;
    the new output replaces it atomically only when complete.  The result is
    what :func:`convert_many` would write for all files (same bytes): tabular
    parts are converted alone and their row groups follow the existing ones;
    NetCDF grids are appended along time (:func:`_append_grid`).
    """
    if not sources:
        raise NotAppendable("no new files")
    if spec.output == "parquet":
        parts_dir = existing.parent / f".parts-{uuid.uuid4().hex[:8]}"
        parts_dir.mkdir(parents=True)
        try:
            parts = convert_parts(spec, sources, parts_dir, schema, jobs=jobs)
            geometry = spec.coordinates.geometry or "geometry"
            rows = _combine_parquet([existing, *(p.path for p in parts)], existing, geometry, [existing, *sources])
        finally:
            shutil.rmtree(parts_dir, ignore_errors=True)
        files, size = list_files(existing)
        return ConversionResult(path=existing, format="parquet", rows=rows, files=files, bytes=size)
    if spec.output == "zarr" and spec.source.format == "netcdf":
        _append_grid(spec, existing, sources)
        files, size = list_files(existing)
        return ConversionResult(path=existing, format="zarr", rows=None, files=files, bytes=size)
    raise NotAppendable(f"{spec.source.format} grids are combined from parts, not appended")


def _append_grid(spec: PipelineSpec, existing: Path, sources: list[Path]) -> None:
    """NetCDF files appended along time to a copy of the Zarr store ``existing`` (hard links: no data copied).

    Only when a full re-convert would give the same store: the new files
    start after its last time, and the chunk plan of all files equals the
    store's (:func:`_grid_by_regions` divides the time chunk by every file's
    length).  Existing chunks are never rewritten (the store's time length is
    a multiple of its time chunk) and zarr replaces files by rename, so the
    links never change the previous version.
    """
    import dask
    import xarray as xr

    from bot.convert.grid import ZARR_FORMAT, _open_netcdf, choose_chunks, zarr_consolidate

    time_dim = _time_dim(spec)
    order = _time_order(spec, sources, time_dim)
    lengths = [n for _, _, n in order]
    with xr.open_zarr(existing, consolidated=True) as old:
        sizes_old = {str(k): int(v) for k, v in old.sizes.items()}
        last = old[time_dim].values[-1]
        chunk_old = {str(d): int(c[0]) for d, c in old.chunks.items()}
        time_encoding = {
            k: v for k, v in old[time_dim].encoding.items() if k in ("units", "calendar", "dtype", "compressors")
        }
    if order[0][0] <= last:
        raise NotAppendable(f"{Path(order[0][1]).name} starts at or before the last converted {time_dim} {last}")
    template = xr.open_mfdataset(
        [Path(p) for _, p, _ in order], combine="nested", concat_dim=time_dim, data_vars="minimal",
        coords="minimal", compat="override", join="override", chunks={}, parallel=False,
    )  # fmt: skip
    try:
        itemsize = max(v.dtype.itemsize for v in template.data_vars.values())
    finally:
        template.close()
    sizes_new = {**sizes_old, time_dim: sizes_old[time_dim] + sum(lengths)}
    plan_old = choose_chunks(sizes_old, itemsize, dict(spec.chunks), time_dim=time_dim)
    plan_new = choose_chunks(sizes_new, itemsize, dict(spec.chunks), time_dim=time_dim)
    whole_axis = plan_old[time_dim] == sizes_old[time_dim] and plan_new[time_dim] == sizes_new[time_dim]
    same = {d: c for d, c in plan_old.items() if d != time_dim} == {d: c for d, c in plan_new.items() if d != time_dim}
    if not same or not (whole_axis or plan_old[time_dim] == plan_new[time_dim]):
        raise NotAppendable("the chunk plan changes with the longer time axis")
    time_chunk = chunk_old.get(time_dim, 1)
    if math.gcd(time_chunk, *lengths) != time_chunk:
        raise NotAppendable(f"a new file's {time_dim} length does not divide the store's time chunk {time_chunk}")
    plan = {**plan_new, time_dim: time_chunk}
    with atomic_output(existing) as tmp:
        shutil.copytree(existing, tmp, copy_function=os.link)
        for _, path, _ in order:
            ds = _open_netcdf(Path(path), dict(plan))
            try:
                part = ds.drop_vars([name for name in ds.variables if time_dim not in ds[name].dims])
                for var in part.variables.values():
                    var.encoding = {}
                with dask.config.set(scheduler="synchronous"):
                    part.to_zarr(tmp, append_dim=time_dim, consolidated=False, zarr_format=ZARR_FORMAT)
            finally:
                ds.close()
        _one_chunk_coordinate(tmp, time_dim, time_encoding)
        # The group's attributes stay those of the first file (xarray's append rewrote them).
        attrs = tmp / ".zattrs"
        attrs.with_name(".zattrs.new").write_bytes((existing / ".zattrs").read_bytes())
        os.replace(attrs.with_name(".zattrs.new"), attrs)  # never write through a hard link
        zarr_consolidate(tmp)


def _one_chunk_coordinate(store: Path, name: str, encoding: dict[str, Any]) -> None:
    """Rewrite the dimension coordinate ``name`` as one chunk, as a full convert writes it."""
    import xarray as xr

    from bot.convert.grid import ZARR_FORMAT

    with xr.open_zarr(store, consolidated=False) as ds:
        values = ds[name].load()
    shutil.rmtree(store / name)
    coord = xr.Dataset(coords={name: values.variable})
    coord[name].encoding = {}
    enc = {name: {**encoding, "chunks": values.shape}}
    coord.to_zarr(store, mode="a", consolidated=False, zarr_format=ZARR_FORMAT, encoding=enc)
