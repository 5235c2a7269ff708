"""Many NetCDF files -> one Zarr store along time: per-file parts, fit checks, time-region writes.

Why this shape: a daily product is hundreds of files that each own a slab
of the time axis.  Each file is read alone (bounded memory: one file, one
dask chunk at a time), checked against the others by a small JSON
*signature* (non-time coordinates, variables and dtypes, calendar, first and
last time), and written into its own time region of the one store, so no
chunk is shared and no combine pass recompresses anything twice.

Two ways in, one way out:

- locally (:func:`grid_by_regions`, ``--jobs`` processes) the regions are
  written straight from the NetCDF files;
- on Argo each ``convert-file`` pod turns its file into a *part*
  (:func:`write_part`: the decoded values in a small Zarr store plus the
  source's CF encoding in :data:`PART_META`), and the combine step calls the
  same :func:`write_regions` on the parts (a part is a folder: the store
  in :data:`PART_STORE`, the rest in :data:`PART_META`).  A part opens
  (:func:`open_source`) to exactly the values and encoding the NetCDF file
  opens to, so the store has the same bytes either way.

Every output appears atomically (:func:`~bot.convert.common.atomic_output`).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import shutil
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bot.catalog.layout import Coordinates, PipelineSpec
from bot.convert.common import atomic_output
from bot.errors import DataError

PART_META = "part.json"  # a part is a folder: this (the source encoding, the signature) and the store
PART_STORE = "data.zarr"
_FIT_HINT = (
    "every file of a multi-file grid must have the same non-time coordinates, variables and dtypes: "
    "remove the file from the source or regrid it"
)


def time_dim_of(spec: PipelineSpec) -> str:
    """``coordinates.t``: the dimension the files are concatenated along (required)."""
    if spec.coordinates.t is None:
        raise DataError(
            "many gridded files need a time dimension to concatenate along",
            field="coordinates.t",
            hint="set coordinates.t in pipeline.yaml to the files' time dimension",
        )
    return spec.coordinates.t


# ---------------------------------------------------------------------------------- signatures


def _time_keys(values: np.ndarray, calendar: str | None) -> tuple[float, float]:
    """First and last time as comparable numbers (seconds since 1970 in the file's calendar)."""
    first_last = values[[0, -1]]
    if values.dtype.kind == "M":
        return tuple(float(v) for v in first_last.astype("datetime64[us]").astype("int64") / 1e6)  # type: ignore[return-value]
    if values.dtype.kind == "O":
        import cftime

        cal = calendar or getattr(first_last[0], "calendar", None) or "standard"
        nums = cftime.date2num(list(first_last), "seconds since 1970-01-01", calendar=cal)
        return float(nums[0]), float(nums[1])
    return float(first_last[0]), float(first_last[1])


def _digest(values: Any) -> str:
    array = np.ascontiguousarray(np.asarray(values))
    data = array.astype(str).tobytes() if array.dtype.kind == "O" else array.tobytes()
    return hashlib.sha256(str(array.dtype).encode() + b"\0" + data).hexdigest()[:16]


def signature(ds: Any, time_dim: str, file: str) -> dict[str, Any]:
    """What a file must share with the others (JSON-safe): grid, variables, dtypes, calendar, its times."""
    if time_dim not in ds.dims:
        raise DataError(f"dimension {time_dim!r} is missing", file=file, field="coordinates.t")
    time = ds[time_dim]
    calendar = time.encoding.get("calendar")
    start, end = _time_keys(time.values, calendar)
    fixed = {
        str(name): {"dims": list(var.dims), "dtype": str(var.dtype), "values": _digest(var.values)}
        for name, var in ds.variables.items()
        if time_dim not in var.dims
    }
    variables = {
        str(name): {"dims": list(var.dims), "dtype": str(var.dtype), "stored": str(var.encoding.get("dtype", ""))}
        for name, var in ds.variables.items()
        if time_dim in var.dims and name != time_dim
    }
    return {
        "file": file,
        "sizes": {str(d): int(n) for d, n in ds.sizes.items() if d != time_dim},
        "fixed": fixed,
        "variables": variables,
        "calendar": calendar,
        "length": int(ds.sizes[time_dim]),
        "start": start,
        "end": end,
        "start_text": str(time.values[0]),
        "end_text": str(time.values[-1]),
    }


def _difference(a: dict[str, Any], b: dict[str, Any], *, decoded: bool = True) -> str | None:
    """How ``b`` does not fit ``a``'s grid (None when it fits).

    ``decoded=False`` compares stored dtypes only: a Zarr store keeps a
    float32 scale factor as a JSON number, so it decodes to float64.
    """
    for dim in sorted(set(a["sizes"]) | set(b["sizes"])):
        if a["sizes"].get(dim) != b["sizes"].get(dim):
            return f"dimension {dim!r} has {b['sizes'].get(dim, 'no')} values, {a['file']} has {a['sizes'].get(dim)}"
    for what in ("fixed", "variables"):
        missing, extra = sorted(set(a[what]) - set(b[what])), sorted(set(b[what]) - set(a[what]))
        if missing or extra:
            return f"variables differ: missing {missing or 'none'}, extra {extra or 'none'} (vs {a['file']})"
        for name in sorted(a[what]):
            x, y = a[what][name], b[what][name]
            if x["dims"] != y["dims"]:
                return f"{name!r} has dimensions {y['dims']}, {a['file']} has {x['dims']}"
            if (decoded and x["dtype"] != y["dtype"]) or x.get("stored") != y.get("stored"):
                return (
                    f"{name!r} is {y['dtype']} (stored {y.get('stored') or y['dtype']}), {a['file']} has {x['dtype']}"
                )
            if x.get("values") != y.get("values"):
                return f"the values of coordinate {name!r} differ from those of {a['file']}"
    if a["calendar"] != b["calendar"]:
        return f"calendar {b['calendar']!r}, {a['file']} has {a['calendar']!r}"
    return None


def check_fit(signatures: list[dict[str, Any]], time_dim: str) -> list[int]:
    """The files' order along time (indexes into ``signatures``); a file that does not fit is a located error.

    Checked: same non-time coordinates (sizes and values), same variables
    with the same dimensions and dtypes, same calendar, and no two files
    covering the same time.
    """
    order = sorted(range(len(signatures)), key=lambda i: (signatures[i]["start"], signatures[i]["file"]))
    # The grid most files share is the reference, so the odd file is the one named, even when it comes first.
    keys = [json.dumps({k: s[k] for k in ("sizes", "fixed", "variables", "calendar")}, sort_keys=True)
            for s in signatures]  # fmt: skip
    common = max(order, key=lambda i: keys.count(keys[i]))  # ties: the earliest file
    for i in order:
        problem = _difference(signatures[common], signatures[i])
        if problem:
            raise DataError(f"does not fit the grid of the other files: {problem}", file=signatures[i]["file"],
                            field="source.paths", hint=_FIT_HINT)  # fmt: skip
    for i, j in itertools.pairwise(order):
        a, b = signatures[i], signatures[j]
        if b["start"] == a["start"]:
            raise DataError(f"{a['file']} and {b['file']} start at the same {time_dim} {a['start_text']}",
                            file=b["file"], field="source.paths", hint="list each period once")  # fmt: skip
        if b["start"] <= a["end"]:
            raise DataError(
                f"its {time_dim} starts at {b['start_text']}, before {a['file']} ends ({a['end_text']})",
                file=b["file"], field="source.paths", hint="list each period once: the files' times must not overlap",
            )  # fmt: skip
    return order


# ---------------------------------------------------------------------------------- parts


def _dump(value: Any) -> Any:
    """An encoding value as JSON that :func:`_load` turns back into the same type (float32 stays float32)."""
    if isinstance(value, np.dtype):
        return {"dtype": value.str}
    if isinstance(value, np.ndarray):
        return {"numpy": value.dtype.str, "array": value.tolist()}
    if isinstance(value, np.generic):
        return {"numpy": value.dtype.str, "value": value.item()}
    return value


def _load(value: Any) -> Any:
    if isinstance(value, dict) and "dtype" in value:
        return np.dtype(value["dtype"])
    if isinstance(value, dict) and "array" in value:
        return np.asarray(value["array"], dtype=value["numpy"])
    if isinstance(value, dict) and "numpy" in value:
        return np.dtype(value["numpy"]).type(value["value"])
    return value


def _kept_encoding(encoding: dict[str, Any]) -> dict[str, Any]:
    from bot.convert.grid import _KEEP_ENCODING

    return {k: v for k, v in encoding.items() if k in (*_KEEP_ENCODING, "coordinates", "_Unsigned")}


def write_part(spec: PipelineSpec, source: Path, dest: Path, *, file: str) -> dict[str, Any]:
    """One NetCDF file -> a part at ``dest`` (checked, decoded values + source encoding); its signature.

    Why decoded values: the packed integers' meaning hangs on attribute
    dtypes (a float32 ``scale_factor`` decodes to float32) that JSON
    attributes would lose; the decoded float32/datetime values round-trip
    exactly, and the source encoding is kept verbatim in :data:`PART_META`
    for the store.  Times keep their own units and calendar, so they decode
    to the same instants.  Memory: one dask chunk at a time.
    """
    import dask
    from numcodecs import Blosc

    from bot.convert.grid import ZARR_FORMAT, ZSTD_LEVEL, _open_netcdf, check_grid, choose_chunks

    time_dim = time_dim_of(spec)
    ds = _open_netcdf(source, group=spec.source.group)
    try:
        check_grid(ds, spec.coordinates, file)
        sig = signature(ds, time_dim, file)
        kept = {str(name): {k: _dump(v) for k, v in _kept_encoding(var.encoding).items()}
                for name, var in ds.variables.items()}  # fmt: skip
        itemsize = max(v.dtype.itemsize for v in ds.data_vars.values())
        plan = choose_chunks({str(k): int(v) for k, v in ds.sizes.items()}, itemsize, None, time_dim=time_dim)
        part = ds.chunk({d: plan[str(d)] for d in ds.dims})
        compressor = Blosc(cname="zstd", clevel=ZSTD_LEVEL, shuffle=Blosc.SHUFFLE)
        encoding: dict[str, dict[str, Any]] = {}
        for name, var in part.variables.items():
            enc = var.encoding
            timelike = var.dtype.kind in "MmO"
            var.encoding = {k: enc[k] for k in ("units", "calendar", "dtype") if timelike and k in enc}
            encoding[str(name)] = {"compressors": (compressor,)} if var.ndim else {}
        with atomic_output(dest) as tmp:
            tmp.mkdir()
            with dask.config.set(scheduler="synchronous"):
                part.to_zarr(tmp / PART_STORE, mode="w", consolidated=False, zarr_format=ZARR_FORMAT, encoding=encoding)
            (tmp / PART_META).write_text(json.dumps({"encoding": kept, "signature": sig}), encoding="utf-8")
    finally:
        ds.close()
    return sig


def open_source(path: Path, chunks: dict[str, int] | None = None, group: str | None = None) -> Any:
    """A NetCDF file (its ``group``) or a part, opened decoded, with the file's encoding (the same either way)."""
    import xarray as xr

    from bot.convert.grid import _open_netcdf

    meta = path / PART_META
    if not meta.is_file():
        return _open_netcdf(path, chunks, group=group)
    saved = json.loads(meta.read_text(encoding="utf-8"))["encoding"]
    with warnings.catch_warnings():  # the store's chunks are the part's own: the output's may split them
        warnings.filterwarnings("ignore", message="The specified chunks separate", category=UserWarning)
        ds = xr.open_zarr(path / PART_STORE, chunks=chunks, consolidated=False)
    for name, var in ds.variables.items():
        var.encoding = {k: _load(v) for k, v in saved.get(str(name), {}).items()}
    return ds


# ---------------------------------------------------------------------------------- the store


def grid_by_regions(spec: PipelineSpec, sources: list[Path], dest: Path, *, jobs: int) -> None:
    """NetCDF files -> one Zarr store at ``dest``: checked, ordered by time, each written into its region.

    With ``jobs`` > 1 one process pool does both passes over the files (the
    checks and the regions), and this process opens the files for the
    store's template while the workers sign them: the 48 opens of each pass
    were the biggest serial part of a ``--jobs 2`` convert.  The template is
    the same either way (opening does not depend on the order the
    signatures give), and so is the error: the first file that fails, in
    source order.
    """
    if jobs <= 1 or len(sources) <= 1:
        write_regions(spec, sources, checked_signatures(spec, sources), dest, jobs=jobs)
        return
    import xarray  # noqa: F401  (before the fork: the workers inherit it instead of each importing it)

    pool = ProcessPoolExecutor(max_workers=min(jobs, len(sources)))
    opened: list[Any] = []
    try:
        signed = pool.map(_checked_signature, _sign_args(spec, sources))  # submitted now, read below
        failed: DataError | None = None
        try:
            for path in sources:
                opened.append(open_source(path, {}, spec.source.group))
        except DataError as exc:
            failed = exc  # a worker meets it too; an earlier file's own error wins, as without the pool
        signatures = list(signed)
        if failed is not None:
            raise failed
        write_regions(spec, sources, signatures, dest, jobs=jobs, pool=pool, opened=opened)
    finally:
        for ds in opened:
            ds.close()
        pool.shutdown(cancel_futures=True)  # a file that does not fit: the queued ones are not opened


def _sign_args(spec: PipelineSpec, sources: list[Path]) -> list[tuple[Coordinates, str, str | None, Path]]:
    return [(spec.coordinates, time_dim_of(spec), spec.source.group, source) for source in sources]


def checked_signatures(spec: PipelineSpec, sources: list[Path]) -> list[dict[str, Any]]:
    """Each file's (or part's) signature, after checking it against the pipeline's ``coordinates``."""
    return [_checked_signature(args) for args in _sign_args(spec, sources)]


def _checked_signature(args: tuple[Coordinates, str, str | None, Path]) -> dict[str, Any]:
    """One file's signature after :func:`~bot.convert.grid.check_grid` (a pool task: one tuple argument)."""
    from bot.convert.grid import check_grid

    coordinates, time_dim, group, source = args
    ds = open_source(source, group=group)
    try:
        check_grid(ds, coordinates, source.name)
        return signature(ds, time_dim, source.name)
    finally:
        ds.close()


def write_regions(
    spec: PipelineSpec,
    sources: list[Path],
    signatures: list[dict[str, Any]],
    dest: Path,
    *,
    jobs: int,
    pool: ProcessPoolExecutor | None = None,
    opened: list[Any] | None = None,
) -> None:
    """Files or parts (with their signatures) -> one Zarr store: metadata once, then one time region each.

    ``pool``: the workers to write the regions with (else one is made for
    ``jobs`` > 1); ``opened``: the files already opened for the template (in
    ``sources`` order, chunks ``{}``), closed here before any region is
    written.

    Why regions: every file owns a disjoint slab of the time axis, so the
    workers write different chunks of the same store with no combine pass.
    The time chunk divides every file's length, so no chunk is shared by two
    files.  Memory per worker is one dask chunk at a time (synchronous
    scheduler).
    """
    import xarray as xr

    from bot.convert.grid import ZARR_FORMAT, choose_chunks, zarr_consolidate, zarr_encoding

    time_dim = time_dim_of(spec)
    order = check_fit(signatures, time_dim)
    ordered = [sources[i] for i in order]
    lengths = [int(signatures[i]["length"]) for i in order]
    group = spec.source.group
    opened = [opened[i] for i in order] if opened is not None else [open_source(path, {}, group) for path in ordered]
    try:
        template = xr.combine_nested(
            opened, concat_dim=time_dim, data_vars="minimal", coords="minimal", compat="override", join="override",
            combine_attrs="override",
        )  # fmt: skip
        itemsize = max(v.dtype.itemsize for v in template.data_vars.values())
        sizes = {str(k): int(v) for k, v in template.sizes.items()}
        plan = choose_chunks(sizes, itemsize, dict(spec.chunks), time_dim=time_dim)
        plan[time_dim] = math.gcd(plan[time_dim], *lengths)  # every file starts on a chunk boundary
        encoding = zarr_encoding(template, plan)
        template = template.chunk({d: plan[str(d)] for d in template.dims})  # dask chunks = store chunks
        with atomic_output(dest) as tmp:
            template.to_zarr(
                tmp, mode="w", compute=False, consolidated=False, zarr_format=ZARR_FORMAT, encoding=encoding
            )
            # Closed before the regions are written: an open file keeps its HDF5 chunk cache, so a
            # file read through the template's handle would stay decompressed in memory (memory
            # grew by one decoded file per file written).
            for ds in opened:
                ds.close()
            starts = [0, *itertools.accumulate(lengths)]
            work = [(src, tmp, time_dim, starts[i], starts[i + 1], plan, group) for i, src in enumerate(ordered)]
            if pool is not None:
                list(pool.map(_write_region, work))
            elif jobs <= 1 or len(work) <= 1:
                for item in work:
                    _write_region(item)
            else:
                with ProcessPoolExecutor(max_workers=min(jobs, len(work))) as pool:
                    list(pool.map(_write_region, work))
            zarr_consolidate(tmp)
    finally:
        for ds in opened:
            ds.close()


def _write_region(args: tuple[Path, Path, str, int, int, dict[str, int], str | None]) -> None:
    """Write one file's time-dependent variables into ``store`` at ``[start, stop)`` (the store's encoding)."""
    import dask

    source, store, time_dim, start, stop, plan, group = args
    ds = open_source(source, dict(plan), group)
    try:
        region = ds.drop_vars([name for name in ds.variables if time_dim not in ds[name].dims or name == time_dim])
        for var in region.variables.values():
            var.encoding = {}
        with dask.config.set(scheduler="synchronous"):
            region.to_zarr(store, region={time_dim: slice(start, stop)}, zarr_format=2, consolidated=False)
    finally:
        ds.close()


def append_grid(spec: PipelineSpec, existing: Path, sources: list[Path]) -> None:
    """Files or parts appended along time to a copy of the Zarr store ``existing`` (hard links: no data copied).

    Only when a full re-convert would give the same store: the new files fit
    the store's grid and start after its last time, and the chunk plan of
    all files equals the store's (:func:`write_regions` divides the time
    chunk by every file's length).  Existing chunks are never rewritten (the
    store's time length is a multiple of its time chunk) and zarr replaces
    files by rename, so the links never change the previous version.  Files
    whose stored values are what xarray would write are appended without
    xarray (:func:`~bot.convert.grid_append.append_raw`); the rest here.
    """
    from bot.convert.grid_append import append_raw

    if append_raw(spec, existing, sources):  # the common case, without importing xarray (~0.5 s)
        return
    import xarray as xr

    from bot.convert.grid import zarr_consolidate
    from bot.convert.many import NotAppendable

    time_dim = time_dim_of(spec)
    signatures = checked_signatures(spec, sources)
    order = check_fit(signatures, time_dim)
    lengths = [int(signatures[i]["length"]) for i in order]
    # chunks=None: the store's metadata and coordinates only, no dask (its import is most of a small append)
    with xr.open_zarr(existing, consolidated=True, chunks=None) as old:
        sizes_old = {str(k): int(v) for k, v in old.sizes.items()}
        last_text = str(old[time_dim].values[-1])
        _, last = _time_keys(old[time_dim].values, old[time_dim].encoding.get("calendar"))
        chunk_old = {
            str(d): int(c)
            for var in old.data_vars.values()
            for d, c in (var.encoding.get("preferred_chunks") or {}).items()
        }
        time_encoding = {
            k: v for k, v in old[time_dim].encoding.items() if k in ("units", "calendar", "dtype", "compressors")
        }
        itemsize = max(v.dtype.itemsize for v in old.data_vars.values())
        stored = signature(old, time_dim, existing.name)
    first = signatures[order[0]]
    problem = _difference(stored, first, decoded=False)
    if problem:
        raise DataError(f"does not fit the grid of the converted files: {problem}", file=first["file"],
                        field="source.paths", hint=_FIT_HINT)  # fmt: skip
    if first["start"] <= last:
        raise NotAppendable(f"{first['file']} starts at or before the last converted {time_dim} {last_text}")
    plan = append_chunks(spec, sizes_old, chunk_old.get(time_dim, 1), itemsize, lengths)
    with atomic_output(existing) as tmp:
        shutil.copytree(existing, tmp, copy_function=os.link)
        for i in order:
            _append_one(sources[i], tmp, time_dim, plan, spec.source.group)
        _one_chunk_coordinate(tmp, time_dim, time_encoding)
        # The group's attributes stay those of the first file (xarray's append rewrote them).
        attrs = tmp / ".zattrs"
        attrs.with_name(".zattrs.new").write_bytes((existing / ".zattrs").read_bytes())
        os.replace(attrs.with_name(".zattrs.new"), attrs)  # never write through a hard link
        zarr_consolidate(tmp)


def append_chunks(
    spec: PipelineSpec, sizes_old: dict[str, int], time_chunk: int, itemsize: int, lengths: list[int]
) -> dict[str, int]:
    """The store's chunks after appending files of ``lengths`` steps, if a full convert would choose them.

    :func:`write_regions` plans the chunks from all files' sizes and divides
    the time chunk by every file's length; appending keeps the store's
    chunks, so the longer axis must not change the plan (else
    :class:`~bot.convert.many.NotAppendable`).  ``itemsize``: the widest
    decoded data variable.
    """
    from bot.convert.grid import choose_chunks
    from bot.convert.many import NotAppendable

    time_dim = time_dim_of(spec)
    sizes_new = {**sizes_old, time_dim: sizes_old[time_dim] + sum(lengths)}
    plan_old = choose_chunks(sizes_old, itemsize, dict(spec.chunks), time_dim=time_dim)
    plan_new = choose_chunks(sizes_new, itemsize, dict(spec.chunks), time_dim=time_dim)
    whole_axis = plan_old[time_dim] == sizes_old[time_dim] and plan_new[time_dim] == sizes_new[time_dim]
    same = {d: c for d, c in plan_old.items() if d != time_dim} == {d: c for d, c in plan_new.items() if d != time_dim}
    if not same or not (whole_axis or plan_old[time_dim] == plan_new[time_dim]):
        raise NotAppendable("the chunk plan changes with the longer time axis")
    if math.gcd(time_chunk, *lengths) != time_chunk:
        raise NotAppendable(f"a new file's {time_dim} length does not divide the store's time chunk {time_chunk}")
    return {**plan_new, time_dim: time_chunk}


APPEND_IN_MEMORY = 256 * 1024 * 1024


def _append_one(source: Path, store: Path, time_dim: str, plan: dict[str, int], group: str | None) -> None:
    """One file's time-dependent variables appended along ``time_dim`` (chunks: the store's own).

    A file whose decoded values fit in :data:`APPEND_IN_MEMORY` (a daily
    file) is written from memory: no dask, whose import alone costs a small
    append more than its writing.  A bigger one goes through dask one chunk
    at a time (bounded memory).  Either way zarr encodes the same values
    into the same chunks: the bytes do not depend on the path.
    """
    from bot.convert.grid import ZARR_FORMAT

    ds = open_source(source, None, group)
    try:
        part = ds.drop_vars([name for name in ds.variables if time_dim not in ds[name].dims])
        if sum(v.nbytes for v in part.variables.values()) > APPEND_IN_MEMORY:
            import dask

            ds.close()
            ds = open_source(source, dict(plan), group)
            part = ds.drop_vars([name for name in ds.variables if time_dim not in ds[name].dims])
            scheduler: contextlib.AbstractContextManager[Any] = dask.config.set(scheduler="synchronous")
        else:
            scheduler = contextlib.nullcontext()
        for var in part.variables.values():
            var.encoding = {}
        with scheduler:
            part.to_zarr(store, append_dim=time_dim, consolidated=False, zarr_format=ZARR_FORMAT)
    finally:
        ds.close()


def _one_chunk_coordinate(store: Path, name: str, encoding: dict[str, Any]) -> None:
    """Rewrite the dimension coordinate ``name`` as one chunk, as a full convert writes it."""
    import xarray as xr

    from bot.convert.grid import ZARR_FORMAT

    with xr.open_zarr(store, consolidated=False, chunks=None) as ds:
        values = ds[name].load()
    shutil.rmtree(store / name)
    coord = xr.Dataset(coords={name: values.variable})
    coord[name].encoding = {}
    enc = {name: {**encoding, "chunks": values.shape}}
    coord.to_zarr(store, mode="a", consolidated=False, zarr_format=ZARR_FORMAT, encoding=enc)
