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
  length so no chunk is shared; every file is first checked to fit the
  others (:mod:`bot.convert.many_grid`).  (Zarr parts of other converters
  are appended along time by :func:`_combine_zarr`.)

The output appears atomically (:func:`~bot.convert.common.atomic_output`);
on any error nothing is left at its path.
"""

from __future__ import annotations

import itertools
import json
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
        from bot.convert.many_grid import grid_by_regions

        grid_by_regions(spec, sources, dest, jobs=jobs)
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
    NetCDF grids are appended along time (:func:`~bot.convert.many_grid.append_grid`).
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
        from bot.convert.many_grid import append_grid

        append_grid(spec, existing, sources)
        files, size = list_files(existing)
        return ConversionResult(path=existing, format="zarr", rows=None, files=files, bytes=size)
    raise NotAppendable(f"{spec.source.format} grids are combined from parts, not appended")
