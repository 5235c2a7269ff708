"""Gridded sources -> Zarr (NetCDF copied block by block, Zarr pass-through).

Choices, and why:

* **Zarr format 2 with consolidated metadata** (``.zmetadata``): pygeoapi's
  xarray provider (0.2x) calls ``xarray.open_zarr``, which reads v2 with
  zarr-python 2 *and* 3, while consolidated metadata is only an unofficial
  extension in v3.  v2 keeps older readers (and the S3 listing cost: one GET
  for all metadata) working; the tests read the output back with
  ``xarray.open_zarr``.
* **Chunks** come from ``pipeline.yaml`` ``chunks`` (per dimension), the rest
  are chosen for ~4 MB uncompressed per chunk (time first, then the largest
  spatial dimension is halved), a common sweet spot for object stores.
* **Block pipeline, no dask** (:mod:`bot.convert.zarr_blocks`): xarray
  creates the store (metadata, CF attributes, dimension coordinates) from
  the lazily opened file; the other variables are copied one output chunk at
  a time: the main thread reads (HDF5 serialises reads anyway), a small
  thread pool decodes/compresses/writes, and at most a few blocks exist at
  once, so memory does not grow with the file.  For NetCDF-4 chunks with
  deflate/shuffle that line up with the output chunks, the main thread only
  fetches the *compressed* chunk bytes and inflation moves to the pool too --
  that is what makes it faster than an eager load, which inflates everything
  on one core first (measurements: docs/performance.md).  ``Dataset.to_zarr``
  on a dask-chunked dataset gives the same store, but importing dask.array
  alone costs ~0.5 s of CPU per ``step convert`` pod, dask reads ahead of the
  writes (~2x the memory) and inflates under the HDF5 lock.
* **CF attributes are kept** (``units``, ``standard_name``, ``long_name``,
  ``calendar``, global attributes); the encoding of times and packed
  integers (``scale_factor``/``add_offset``/``_FillValue``) is carried over so
  the stored values keep their original meaning.
"""

from __future__ import annotations

import functools
import math
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bot.catalog.layout import Coordinates
from bot.convert.common import ConversionResult, atomic_output, list_files, require_source
from bot.errors import DataError

ZARR_FORMAT = 2
TARGET_CHUNK_BYTES = 4 << 20
# Blosc zstd level 1 + byte shuffle.  Measured per 360x480 chunk on one core
# (numcodecs Blosc): level 1 compresses 2-3x faster than level 3 (smooth SST
# float32 1.7 vs 3.3 ms, CF-packed int16 0.9 vs 3.1 ms) for 3-7% larger
# chunks (0.58 vs 0.56, 0.51 vs 0.48 of the raw size; on noisy floats level 1
# was even smaller, 0.70 vs 0.73).  lz4 is faster still but ~9% larger.
ZSTD_LEVEL = 1
# Source encodings that keep their meaning in Zarr; everything else
# (zlib, shuffle, chunksizes, contiguous, source...) is NetCDF/HDF5 specific.
_KEEP_ENCODING = ("dtype", "_FillValue", "scale_factor", "add_offset", "units", "calendar", "missing_value")


def choose_chunks(
    sizes: dict[str, int],
    itemsize: int,
    requested: dict[str, int] | None = None,
    *,
    time_dim: str | None = None,
    target_bytes: int = TARGET_CHUNK_BYTES,
    source_chunks: dict[str, int] | None = None,
) -> dict[str, int]:
    """Chunk length per dimension: requested ones as given, others sized to ~``target_bytes``.

    ``itemsize`` is the largest item size among the variables (the chunk
    grid is shared, so the widest variable decides).  ``source_chunks`` (the
    NetCDF/HDF5 chunking) rounds free dimensions down to a multiple of the
    source chunk, so every compressed source chunk is decompressed once.
    """
    requested = requested or {}
    chunks = {d: min(max(int(requested.get(d, n)), 1), max(n, 1)) for d, n in sizes.items()}
    free = [d for d in sizes if d not in requested]

    def nbytes() -> int:
        return math.prod(chunks.values()) * itemsize

    if time_dim in free and nbytes() > target_bytes:
        per_step = nbytes() // chunks[time_dim]
        chunks[time_dim] = max(1, target_bytes // max(per_step, 1))
    while nbytes() > target_bytes:
        candidates = [d for d in free if chunks[d] > 1]
        if not candidates:
            break
        biggest = max(candidates, key=lambda d: chunks[d])
        chunks[biggest] = math.ceil(chunks[biggest] / 2)
    for d, src in (source_chunks or {}).items():
        if d in free and 1 < src <= chunks[d] < sizes[d]:
            chunks[d] = chunks[d] // src * src
    return chunks


def _source_chunks(ds: Any) -> dict[str, int]:
    """The storage chunking of the source variables (first one wins per dimension)."""
    out: dict[str, int] = {}
    for var in ds.data_vars.values():
        sizes = var.encoding.get("chunksizes")
        if sizes and len(sizes) == var.ndim:
            for d, n in zip(var.dims, sizes, strict=True):
                out.setdefault(str(d), int(n))
    return out


@functools.cache
def _netcdf_backend() -> str | None:
    """``"netcdf4"``, or None (xarray guesses) when netCDF4 is not installed.

    Why name it: to guess, xarray first loads every installed backend
    plug-in -- rioxarray with rasterio, ~1 s of CPU in each ``step convert``
    pod; a built-in engine named outright skips that.  netCDF4 is what the
    guess picks for NetCDF-3 and NetCDF-4 files alike.
    """
    try:
        import netCDF4  # noqa: F401
    except ImportError:
        return None
    return "netcdf4"


def _open_netcdf(source: Path, chunks: dict[str, int] | None = None, group: str | None = None) -> Any:
    import xarray as xr

    try:
        with warnings.catch_warnings():
            # "chunks separate the stored chunks": expected, we pick output-sized chunks on purpose.
            warnings.filterwarnings("ignore", message="The specified chunks separate", category=UserWarning)
            return xr.open_dataset(source, chunks=chunks, cache=False, group=group, engine=_netcdf_backend())
    except (OSError, ValueError, RuntimeError) as exc:
        if group and "group" in str(exc).lower():
            raise DataError(
                f"NetCDF group {group!r} does not exist ({exc})",
                file=str(source),
                field="source.group",
                hint="fix source.group in pipeline.yaml (ncdump -h lists the groups)",
            ) from None
        raise DataError(
            f"not a readable NetCDF file: {exc}", file=str(source), hint="upload a complete NetCDF-4 or NetCDF-3 file"
        ) from None


def _refuse_empty_root(source: Path) -> None:
    """A root group without dimensions: name the groups that hold the data, if any."""
    try:
        import netCDF4

        with netCDF4.Dataset(source) as nc:
            groups = sorted(nc.groups)
    except (OSError, ImportError):
        return
    if groups:
        raise DataError(
            f"the file's root group has no dimensions; its data is in group(s): {', '.join(groups)}",
            file=str(source),
            field="source.group",
            hint="set source.group in pipeline.yaml to the group to publish",
        )


def check_grid(ds: Any, coords: Coordinates, file: str) -> None:
    """The named dimensions exist, are not empty, and lat/lon are in range."""
    dims = dict(ds.sizes)
    for role in ("x", "y", "z", "t"):
        name = getattr(coords, role)
        if name and name not in dims:
            raise DataError(
                f"dimension {name!r} (coordinates.{role}) does not exist; dimensions are: {', '.join(dims) or 'none'}",
                file=file,
                field=name,
                hint=f"fix coordinates.{role} in pipeline.yaml to one of the file's dimensions",
            )
    empty = [d for d, n in dims.items() if n == 0]
    if empty:
        raise DataError(
            f"dimension {empty[0]!r} has length 0", file=file, field=empty[0], hint="upload a file with data"
        )
    if not ds.data_vars:
        raise DataError("the file has no data variables", file=file, hint="upload the complete file")
    for name, limit, what in ((coords.y, 90.0, "latitude"), (coords.x, 180.0, "longitude")):
        if name is None or name not in ds.variables:
            continue
        values = np.asarray(ds[name].values, dtype="float64")
        bad = ~(np.isfinite(values) & (np.abs(values) <= limit))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            hint = "fix the coordinate values"
            if what == "longitude" and values[i] <= 360:
                hint = (
                    f"roll {name} to [-180, 180]: assign_coords({name}=(({name} + 180) % 360) - 180).sortby('{name}')"
                )
            raise DataError(
                f"{what} {float(values[i])!r} at index {i} is outside [-{limit:g}, {limit:g}]",
                file=file,
                field=name,
                hint=hint,
            )


def kept_encoding(var: Any) -> dict[str, Any]:
    """The CF encoding a converted variable keeps (:data:`_KEEP_ENCODING`), unsigned integers as such."""
    enc = {k: v for k, v in var.encoding.items() if k in _KEEP_ENCODING}
    if str(var.encoding.get("_Unsigned", "")).lower() == "true" and "dtype" in enc:
        enc.update(_unsigned_encoding(enc))
    return enc


def _unsigned_encoding(enc: dict[str, Any]) -> dict[str, Any]:
    """A NetCDF ``_Unsigned = "true"`` integer as Zarr's own unsigned dtype (fill values reinterpreted).

    Why: netCDF-3 has no unsigned types, so unsigned bytes are stored signed with
    that attribute; Zarr has unsigned types, and xarray's Zarr writer does not
    carry ``_Unsigned`` (dropping it would publish 200 as -56).
    """
    signed = np.dtype(enc["dtype"])
    if signed.kind != "i":
        return {}
    unsigned = np.dtype(f"u{signed.itemsize}")
    out: dict[str, Any] = {"dtype": unsigned}
    for key in ("_FillValue", "missing_value"):
        if enc.get(key) is not None:
            out[key] = np.array(enc[key]).astype(signed).view(unsigned).item()
    return out


def zarr_encoding(ds: Any, chunks: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Per-variable Zarr encoding: kept CF encoding + chunks + Blosc zstd (see :data:`ZSTD_LEVEL`)."""
    from numcodecs import Blosc

    compressor = Blosc(cname="zstd", clevel=ZSTD_LEVEL, shuffle=Blosc.SHUFFLE)
    encoding: dict[str, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        enc = kept_encoding(var)
        if var.ndim == 1 and var.dims[0] == name:
            # Dimension coordinates in one chunk: extents then cost one read.
            enc["chunks"] = var.shape
            enc["compressors"] = (compressor,)
        elif var.ndim:
            enc["chunks"] = tuple(chunks.get(d, n) for d, n in zip(var.dims, var.shape, strict=True))
            enc["compressors"] = (compressor,)
        encoding[str(name)] = enc
    return encoding


def convert_netcdf(
    source: Path,
    dest: Path,
    coords: Coordinates,
    chunks: dict[str, int] | None = None,
    *,
    target_chunk_bytes: int = TARGET_CHUNK_BYTES,
    group: str | None = None,
) -> ConversionResult:
    """NetCDF -> consolidated Zarr v2, chunked, copied block by block (:mod:`bot.convert.zarr_blocks`).

    xarray creates the store (metadata, CF attributes, dimension coordinates)
    from the lazily opened file; the other variables' stored values are then
    copied one output chunk at a time, reads overlapped with a small pool that
    decodes, compresses and writes.  No dask: nothing is loaded whole.
    """
    from bot.convert.zarr_blocks import copy_blocks, create_store, hashing_store, store_sha256

    require_source(source)
    file = str(source)
    ds = _open_netcdf(source, group=group)
    try:
        if not group and not ds.sizes:
            _refuse_empty_root(source)
        check_grid(ds, coords, file)
        unknown = sorted(set(chunks or {}) - set(ds.sizes))
        if unknown:
            raise DataError(
                f"chunks names unknown dimension(s) {', '.join(unknown)}; dimensions are: {', '.join(ds.sizes)}",
                file="pipeline.yaml",
                field="chunks",
                hint="use the NetCDF dimension names as keys of chunks",
            )
        itemsize = max(v.dtype.itemsize for v in ds.data_vars.values())
        plan = choose_chunks(
            dict(ds.sizes),
            itemsize,
            chunks,
            time_dim=coords.t,
            target_bytes=target_chunk_bytes,
            source_chunks=_source_chunks(ds),
        )
        encoding = zarr_encoding(ds, plan)
        with atomic_output(dest) as tmp:
            store = hashing_store(tmp)  # the digest as it is written: no read-back (zarr_blocks.hashing_store)
            targets = create_store(ds, store, encoding, ZARR_FORMAT)
            copy_blocks(source, targets, group)
            zarr_consolidate(store)
            sha256 = store_sha256(store, tmp)
    finally:
        ds.close()
    files, size = list_files(dest)
    return ConversionResult(path=dest, format="zarr", rows=None, files=files, bytes=size, sha256=sha256)


def zarr_consolidate(path: Path | Any) -> None:
    """Write ``.zmetadata`` (one read gives readers every array's metadata); ``path``: a folder or a zarr store."""
    import zarr

    zarr.consolidate_metadata(str(path) if isinstance(path, Path) else path)


def passthrough_zarr(source: Path, dest: Path, coords: Coordinates) -> ConversionResult:
    """Check a Zarr store (dimensions, ranges) and copy it with consolidated metadata."""
    import xarray as xr
    import zarr

    if not source.exists():
        raise DataError("source Zarr store does not exist", file=str(source), hint="check source.path in pipeline.yaml")
    try:
        ds = xr.open_zarr(source, consolidated=None)
    except (OSError, ValueError, KeyError, zarr.errors.BaseZarrError) as exc:
        raise DataError(
            f"not a readable Zarr store: {exc}", file=str(source), hint="upload a complete Zarr store"
        ) from None
    try:
        check_grid(ds, coords, str(source))
    finally:
        ds.close()
    with atomic_output(dest) as tmp:
        shutil.copytree(source, tmp)
        zarr.consolidate_metadata(str(tmp))
    files, size = list_files(dest)
    return ConversionResult(path=dest, format="zarr", rows=None, files=files, bytes=size)
