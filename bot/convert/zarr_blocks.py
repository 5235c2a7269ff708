"""NetCDF variables -> Zarr arrays, one output chunk at a time, without dask.

Why a module of its own: :mod:`bot.convert.grid` decides *what* the store
looks like (chunks, compressor, kept CF encoding); this module only moves the
bytes, and is tuned on its own (``benchmarks/bench_convert_cli.py``).

* **Metadata by xarray, data by us.**  xarray's own Zarr writer creates every
  array (``.zarray``/``.zattrs``: dtype, ``_FillValue``, ``scale_factor``,
  ``units``, ``calendar``, ``_ARRAY_DIMENSIONS``) and writes the small
  dimension coordinates, so the store is exactly what ``Dataset.to_zarr``
  writes; only the big variables' values are left to :func:`copy_blocks`
  (:class:`_DeferredWriter` records their target arrays instead of
  loading them).  Before, ``to_zarr(compute=False)`` on a dask-chunked
  dataset did the same at the price of importing dask.array (~0.5 s of CPU in
  every ``step convert`` pod) and building a graph nobody ran.
* **Raw values, not decoded ones.**  The stored values keep the source's CF
  encoding (packed integers, fill values, time units), so blocks are copied
  as the file holds them -- no decode/encode round trip, identical values by
  construction.
* **Serial reads, parallel decoding.**  HDF5 decompresses under a global
  lock; for deflate/shuffle chunks aligned with the output chunks, the main
  thread only fetches the compressed chunk bytes (``h5py`` direct chunk
  read) and a small pool inflates, re-compresses (Blosc releases the GIL)
  and stores them.  At most ``_IN_FLIGHT`` blocks exist at once, so memory
  does not grow with the file.  Other layouts (NetCDF-3, other filters,
  misaligned chunks) are read through netCDF4 on the main thread.
* **Hashed as written.**  :func:`hashing_store` records each file's sha256
  as zarr writes it, so the convert step gets the store's digest without
  reading ~0.5 GB back after the copy.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bot.cores import usable_cores

_IN_FLIGHT = 6
_BLOCK_KINDS = "biufcMm"  # numbers and times: stored as the source stores them
_CHUNK_CACHE_BYTES = 8 << 20


class _DeferredWriter:
    """xarray's ``ArrayWriter`` protocol: small variables written now, big ones recorded.

    ``deferred`` maps a variable name to the Zarr array xarray created for
    it; :func:`copy_blocks` fills those.
    """

    def __init__(self, deferred_names: set[str]) -> None:
        self.names = deferred_names
        self.deferred: dict[str, Any] = {}

    def add(self, source: Any, target: Any, region: tuple[slice, ...] | None = None) -> None:
        name = str(target.path).rsplit("/", 1)[-1]
        if name in self.names:
            self.deferred[name] = target
        else:
            target[region or ...] = np.asarray(source)

    def sync(self, compute: bool = True, chunkmanager_store_kwargs: Any = None) -> None:
        return None


def create_store(ds: Any, path: Path | Any, encoding: dict[str, dict[str, Any]], zarr_format: int) -> dict[str, Any]:
    """Create the store with xarray's metadata and small variables; return the big variables' arrays.

    ``path``: the store's folder, or a zarr store (:func:`hashing_store`).
    Big: every numeric (or time) variable with dimensions except the
    dimension coordinates (those are one chunk each and written here).
    Strings stay with xarray: their encoded width depends on all values, and
    they are small labels in gridded files.  xarray's CF encoders work
    on loaded values, so a big variable is encoded from a one-element slice
    (dtype, attributes, fill value: what the encoding, not the values,
    decides) and handed to xarray's Zarr writer as a zero-strided stand-in of
    the full shape, which :class:`_DeferredWriter` records instead of writing.
    """
    from xarray import conventions
    from xarray.backends import ZarrStore

    big = {
        str(n)
        for n, v in ds.variables.items()
        if v.ndim and not (v.ndim == 1 and v.dims[0] == n) and v.dtype.kind in _BLOCK_KINDS
    }
    variables, attrs = conventions.encode_dataset_coordinates(ds)
    for name, enc in encoding.items():
        variables[name].encoding = dict(enc)
    store = ZarrStore.open_group(
        str(path) if isinstance(path, Path) else path,
        mode="w",
        zarr_format=zarr_format,
        consolidated=False,
        consolidate_on_close=False,
    )
    try:
        encoded, encoded_attrs = store.encode({k: v for k, v in variables.items() if k not in big}, attrs)
        for name in big:
            var = variables[name]
            one = store.encode_variable(var[tuple(slice(0, 1) for _ in var.dims)], name=name)
            stand_in = np.broadcast_to(np.zeros((), one.dtype), var.shape)  # no memory: shape and dtype only
            # _replace, not Variable(): the constructor's masked-array check imports dask.array (~0.5 s)
            encoded[name] = one._replace(data=stand_in)
        writer = _DeferredWriter(big)
        store.set_attributes(encoded_attrs)
        store.set_variables({k: encoded[k] for k in variables}, set(encoding), writer)
    finally:
        store.close()
    return writer.deferred


def _blocks(shape: tuple[int, ...], chunks: tuple[int, ...]) -> Iterator[tuple[slice, ...]]:
    """Chunk-aligned slices covering an array, in C order."""
    ranges = [range(0, n, c) for n, c in zip(shape, chunks, strict=True)]
    for starts in itertools.product(*ranges):
        yield tuple(slice(a, min(a + c, n)) for a, c, n in zip(starts, chunks, shape, strict=True))


def _open_raw(source: Path) -> Any:
    """The NetCDF file through netCDF4, values as stored (no masking, no scaling), 8 MB chunk cache.

    Why 8 MB and not netCDF4's 64 MB per variable: blocks are aligned to the
    source chunks (each decompressed once), so a big cache only costs memory.
    """
    import netCDF4

    previous = netCDF4.get_chunk_cache()
    netCDF4.set_chunk_cache(_CHUNK_CACHE_BYTES, previous[1], previous[2])
    try:
        nc = netCDF4.Dataset(source)
    finally:
        netCDF4.set_chunk_cache(*previous)
    nc.set_auto_maskandscale(False)
    nc.set_auto_chartostring(False)
    return nc


def _hdf5_chunk_reader(h5: Any, name: str, block_chunks: tuple[int, ...]) -> Callable[[tuple[slice, ...]], Any] | None:
    """A reader of raw HDF5 chunks whose decoding can run in parallel, or None.

    HDF5 decompresses under a global lock, so reading NetCDF-4 through the
    library is serial.  For the common layout (deflate and/or shuffle, output
    blocks made of whole source chunks) we fetch the still-compressed chunk
    bytes under the lock (cheap) and inflate + unshuffle in the writer threads
    (ISA-L's inflate releases the GIL): both cores decode.  Anything else (other filters,
    contiguous storage, misaligned blocks) returns None: the generic path.
    """
    import h5py

    ds = h5.get(name)
    if not isinstance(ds, h5py.Dataset) or ds.chunks is None or ds.dtype.kind not in "fiu":
        return None
    if any(b % c and b < n for b, c, n in zip(block_chunks, ds.chunks, ds.shape, strict=True)):
        return None
    plist = ds.id.get_create_plist()
    filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    if not set(filters) <= {h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE}:
        return None
    from isal.isal_zlib import decompress  # ISA-L: the same zlib stream, inflated ~2.4x faster; releases the GIL
    from numcodecs import Shuffle

    chunk_shape = ds.chunks
    dtype = ds.dtype
    unshuffle = Shuffle(elementsize=dtype.itemsize)  # HDF5's shuffle filter, in C (2.5x numpy's transpose)
    fill = ds.fillvalue
    dsid = ds.id

    def decode(raw: bytes, mask: int) -> np.ndarray:
        buf = raw
        for i in reversed(range(len(filters))):
            if mask & (1 << i):
                continue
            buf = decompress(buf) if filters[i] == h5py.h5z.FILTER_DEFLATE else unshuffle.decode(buf)
        return np.frombuffer(buf, dtype).reshape(chunk_shape)

    def read(index: tuple[slice, ...]) -> Callable[[], np.ndarray]:
        ranges = [range(sl.start, sl.stop, c) for sl, c in zip(index, chunk_shape, strict=True)]
        parts = []
        for offset in itertools.product(*ranges):
            try:
                mask, raw = dsid.read_direct_chunk(offset)
            except (KeyError, OSError, RuntimeError):  # chunk never written: fill value
                mask, raw = -1, None
            parts.append((offset, mask, raw))

        def assemble() -> np.ndarray:
            out = np.empty(tuple(sl.stop - sl.start for sl in index), dtype=dtype)
            for offset, mask, raw in parts:
                dst = tuple(
                    slice(o - sl.start, min(o + c, sl.stop) - sl.start)
                    for o, sl, c in zip(offset, index, chunk_shape, strict=True)
                )
                if raw is None:
                    out[dst] = fill
                else:
                    chunk = decode(raw, mask)
                    out[dst] = chunk[tuple(slice(0, d.stop - d.start) for d in dst)]
            return out

        return assemble

    return read


def copy_blocks(source: Path, targets: dict[str, Any], group: str | None = None) -> None:
    """Copy each variable's stored values into its Zarr array, one output chunk at a time.

    Serial reads (compressed chunk bytes when the layout allows, see
    :func:`_hdf5_chunk_reader`) overlap parallel decode/compress/store.
    """
    if not targets:
        return
    prefix = f"{group.strip('/')}/" if group else ""
    try:
        import h5py

        h5 = h5py.File(source, "r") if h5py.is_hdf5(source) else None
    except (ImportError, OSError):
        h5 = None
    raw: Any = None
    pool = ThreadPoolExecutor(max_workers=max(2, usable_cores()), thread_name_prefix="zarr-writer")
    pending: deque[Future[None]] = deque()

    def put(array: Any, index: tuple[slice, ...], make: Callable[[], np.ndarray]) -> None:
        array[index] = np.asarray(make(), dtype=array.dtype)

    try:
        for name, target in targets.items():
            chunks = tuple(target.chunks)
            fast = _hdf5_chunk_reader(h5, prefix + name, chunks) if h5 is not None else None
            var = None
            if fast is None:
                raw = raw if raw is not None else _open_raw(source)
                var = raw[prefix + name] if prefix else raw.variables[name]
            for index in _blocks(tuple(target.shape), chunks):
                if fast is not None:
                    make = fast(index)
                else:
                    assert var is not None  # opened above for the generic path
                    data = np.asarray(var[index])
                    make = lambda data=data: data  # noqa: E731 -- bind this block's array
                while len(pending) >= _IN_FLIGHT:
                    pending.popleft().result()
                pending.append(pool.submit(put, target, index, make))
        while pending:
            pending.popleft().result()
    finally:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=True)
        if raw is not None:
            raw.close()
        if h5 is not None:
            h5.close()


def hashing_store(path: Path) -> Any:
    """A zarr ``LocalStore`` at ``path`` that records the sha256 of every file written through it.

    Why: the convert step records the output's digest (the version key);
    reading a ~0.5 GB store back to hash it cost ~0.3 s per run on the
    critical path after the copy.  Each chunk is hashed right after zarr
    writes it, on the thread that wrote it (zarr writes through
    ``asyncio.to_thread``), so the hashing runs in parallel with the copy.
    :func:`store_sha256` turns the records into the digest of the tree.
    """
    import asyncio
    import hashlib

    from zarr.storage import LocalStore

    def sha256_hex(value: Any) -> str:
        return hashlib.sha256(value.as_numpy_array()).hexdigest()  # releases the GIL

    class HashingStore(LocalStore):
        digests: dict[str, str]

        async def _set(self, key: str, value: Any, exclusive: bool = False) -> None:
            await super()._set(key, value, exclusive=exclusive)
            self.digests[key] = await asyncio.to_thread(sha256_hex, value)

        async def delete(self, key: str) -> None:
            await super().delete(key)
            self.digests.pop(key, None)

        async def delete_dir(self, prefix: str) -> None:
            await super().delete_dir(prefix)
            for key in [k for k in self.digests if k.startswith(prefix.rstrip("/") + "/")]:
                del self.digests[key]

    store = HashingStore(path)
    store.digests = {}
    return store


def store_sha256(store: Any, path: Path) -> str | None:
    """The tree digest of the store at ``path`` from what :func:`hashing_store` recorded, or None.

    The same digest as :func:`bot.adapters.objectstore.tree_sha256` (sorted
    keys, ``key NUL sha256-hex LF``; a test holds the two equal).  None when
    a file on disk was not written through the store: the caller then reads
    the tree back.
    """
    import hashlib

    on_disk = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
    if on_disk != set(store.digests):
        return None
    digest = hashlib.sha256()
    for key in sorted(on_disk):
        digest.update(key.encode() + b"\0" + store.digests[key].encode() + b"\n")
    return digest.hexdigest()
