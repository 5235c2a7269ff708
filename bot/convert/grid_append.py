"""Appending daily NetCDF files to a Zarr store without xarray, when the bytes provably equal xarray's.

Why: appending one daily file to a 365-day store is a few MB of work, yet
through xarray the step spent ~0.9 s of its ~1.2 s importing xarray (with
pandas and pyarrow) and dask.  For the common case the values xarray would
write are the file's *stored* values unchanged: xarray decodes the file
with its CF attributes and encodes it again with the store's, and when
those attributes are the same, that round trip is the identity -- a float
variable's fill value is the only thing it touches (a NaN in the file is
written as the fill value).  So a file whose every variable has the
store's attributes, dtype and dimensions, whose non-time variables hold the
store's very values and whose times (whole or half units, any ``<unit>
since <date>`` of the store's calendar, converted exactly with cftime) come
after the store's, is appended here from its raw values
with netCDF4 and zarr: the same zarr calls (resize, chunk writes, the time
coordinate as one chunk) give the same files a full convert writes.

Anything else -- packed integers (``scale_factor``/``add_offset``),
``missing_value``, ``_Unsigned``, integer fill values, times that are not
whole or half units, other attributes, parts, groups that do not
resolve, string variables, times that do not follow the store's -- returns
False, and :func:`bot.convert.many_grid.append_grid` takes its xarray path,
which also names the file in any error.  Nothing here raises on bad input
except :class:`~bot.convert.many.NotAppendable` from the shared chunk-plan
check.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.catalog.layout import PipelineSpec

_CF_DECODED = ("scale_factor", "add_offset", "missing_value", "_Unsigned", "coordinates", "bounds", "climatology")
_TIME_UNITS = ("days", "hours", "minutes", "seconds", "milliseconds", "microseconds", "nanoseconds")


@dataclass
class _Array:
    """One array of the store, from its consolidated metadata."""

    dims: list[str]
    shape: list[int]
    chunks: list[int]
    dtype: np.dtype[Any]
    fill: Any
    attrs: dict[str, Any]


@dataclass
class _File:
    """A new file that passed every check: its path and its raw time values."""

    path: Path
    times: np.ndarray


def _plain(value: Any) -> Any:
    """An attribute value as the JSON the store keeps it as (xarray's zarr writer does the same)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _store_arrays(store: Path) -> dict[str, _Array] | None:
    """The arrays of a consolidated Zarr v2 store (None: no consolidated metadata, or nested groups)."""
    try:
        meta = json.loads((store / ".zmetadata").read_text(encoding="utf-8"))["metadata"]
    except (OSError, ValueError, KeyError):
        return None
    arrays: dict[str, _Array] = {}
    try:
        for key, value in meta.items():
            if not key.endswith("/.zarray"):
                continue
            name = key[: -len("/.zarray")]
            attrs = dict(meta.get(f"{name}/.zattrs", {}))
            dims = attrs.pop("_ARRAY_DIMENSIONS", None)
            if "/" in name or not isinstance(dims, list) or value.get("filters") is not None:
                return None
            fill = value.get("fill_value")
            fill = float(fill) if isinstance(fill, str) else fill  # "NaN", "Infinity"
            arrays[name] = _Array(dims, list(value["shape"]), list(value["chunks"]), np.dtype(value["dtype"]),
                                  fill, attrs)  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # not the store a convert writes: the xarray path reads it
    return arrays


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _same_fill(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return bool(a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)))


def _raw(var: Any, target: _Array, index: Any = ...) -> np.ndarray:
    """Stored values of ``var`` as xarray's decode + encode with the same attributes would write them."""
    values = np.asarray(var[index]).astype(target.dtype, copy=False)
    if values.dtype.kind == "f" and target.fill is not None and not math.isnan(target.fill):
        values = np.where(np.isnan(values), values.dtype.type(target.fill), values)  # masked, then filled
    return values


def _fits(var: Any, target: _Array, time_dim: str, name: str) -> bool:
    """Same dimensions, dtype, attributes and fill value as the store's array, and nothing xarray would decode.

    The time coordinate may have other units (a daily file often counts from
    its own day) and another numeric dtype: :func:`_times_in` converts it.
    """
    attrs = {str(k): _plain(var.getncattr(k)) for k in var.ncattrs()}
    fill = attrs.pop("_FillValue", None)
    is_time = name == time_dim
    if is_time:
        units, stored = str(attrs.pop("units", "")), str(target.attrs.get("units", ""))
        if " since " not in units or " since " not in stored or var.dtype.kind not in "iuf":
            return False
        if {k: v for k, v in target.attrs.items() if k != "units"} != attrs:
            return False
    elif attrs != target.attrs:
        return False
    if list(var.dimensions) != target.dims or var.dtype.kind not in "fiu":
        return False
    if not is_time and np.dtype(var.dtype).newbyteorder("=") != target.dtype.newbyteorder("="):
        return False
    if any(key in attrs for key in _CF_DECODED) or (fill is not None and var.dtype.kind != "f"):
        return False  # packed, masked integers, labels: decoded by xarray, not an identity
    if fill is not None and not _same_fill(float(fill), target.fill):
        return False
    if target.dtype.kind in "iu" and target.fill is not None:
        return False  # xarray reads a store fill value as _FillValue: the integers decode to floats
    if fill is None and var.dtype.kind == "f" and target.fill is not None and not math.isnan(target.fill):
        return False  # xarray wrote NaN as the store's fill; this file's NaN would not be
    units = str(attrs.get("units", ""))
    timelike = " since " in units or units.split(" ")[0] in _TIME_UNITS or "calendar" in attrs
    return is_time or not timelike


def _halves(values: np.ndarray) -> bool:
    """Whole or half numbers: exact in binary, and in cftime's microseconds and pandas' nanoseconds alike."""
    twice = np.asarray(values, dtype="float64") * 2
    return bool(np.all(np.isfinite(twice)) and np.all(twice == np.round(twice)))


def _times_in(raw: np.ndarray, units: str, target: _Array) -> np.ndarray | None:
    """``raw`` times (in ``units``) as the store's numbers, when exactly representable (else None).

    What xarray does (decode with the file's units, encode with the
    store's), with cftime's exact arithmetic.  Taken only when both are
    whole or half numbers of a unit no finer than seconds (a daily mean is
    often stamped at noon: 0.5 days), so that xarray's decode and encode --
    through pandas nanoseconds for real-world calendars, through cftime
    otherwise -- are exact too; and a "standard" calendar only after 1678,
    where pandas and cftime agree.
    """
    import cftime

    calendar = str(target.attrs.get("calendar", "standard"))
    stored = str(target.attrs["units"])
    coarse = ("days", "hours", "minutes", "seconds")
    if not _halves(raw) or (units.split(" ")[0] not in coarse and not np.all(raw == np.round(raw))):
        return None
    try:
        dates = cftime.num2date(raw, units, calendar=calendar, only_use_cftime_datetimes=True)
        ref_file, ref_store = (cftime.num2date(0, u, calendar=calendar, only_use_cftime_datetimes=True)
                               for u in (units, stored))  # fmt: skip
        values = np.asarray(cftime.date2num(dates, stored, calendar=calendar))
        back = cftime.num2date(values, stored, calendar=calendar, only_use_cftime_datetimes=True)
    except (ValueError, TypeError, OverflowError):
        return None
    gregorian = calendar.lower() in ("standard", "gregorian", "proleptic_gregorian")
    if gregorian and min(dates.min().year, ref_file.year, ref_store.year) < 1678:
        return None
    if not (_halves(values) and np.all(back == dates)):
        return None
    if stored.split(" ")[0] not in coarse and not np.all(values == np.round(values)):
        return None
    out = values.astype(target.dtype)
    return out if np.all(out == values) else None


def _group(nc: Any, group: str | None) -> Any:
    """The file's ``source.group`` (``a/b`` nests), values as stored (KeyError: no such group)."""
    node = nc
    for name in group.strip("/").split("/") if group else []:
        node = node.groups[name]
    node.set_auto_maskandscale(False)
    return node


def _check_file(
    source: Path, group: str | None, arrays: dict[str, _Array], time_dim: str, fixed: dict[str, np.ndarray]
) -> _File | None:
    """The file's raw times when it can be appended raw (see the module docstring), else None."""
    import netCDF4

    if not source.is_file():
        return None  # a part (folder): the xarray path opens those
    try:
        with netCDF4.Dataset(source) as nc:
            node = _group(nc, group)
            variables = node.variables
            if "coordinates" in node.ncattrs() or set(variables) != set(arrays) or time_dim not in variables:
                return None
            for name, var in variables.items():
                target = arrays[name]
                if not _fits(var, target, time_dim, name):
                    return None
                shape = list(var.shape)  # (dimensions may be the parent group's)
                if time_dim in target.dims:
                    if shape[1:] != target.shape[1:] or target.dims[0] != time_dim or shape[0] < 1:
                        return None
                elif shape != target.shape or not np.array_equal(_raw(var, target), fixed[name], equal_nan=True):
                    return None
            time = variables[time_dim]
            times = _times_in(np.asarray(time[...]), str(time.getncattr("units")), arrays[time_dim])
    except (OSError, KeyError, ValueError, RuntimeError, AttributeError):
        return None  # unreadable or odd: the xarray path says what is wrong
    if times is None or not np.all(np.diff(times) > 0):
        return None
    return _File(source, times)


def append_raw(spec: PipelineSpec, existing: Path, sources: list[Path]) -> bool:
    """Append ``sources`` to the store ``existing`` from their stored values; False: not provably exact, not done.

    Atomic like :func:`~bot.convert.many_grid.append_grid` (a copy made of
    hard links, replaced when complete; zarr replaces files by rename, so the
    links never change the previous version).
    """
    import zarr

    from bot.convert.common import atomic_output
    from bot.convert.grid import zarr_consolidate
    from bot.convert.many_grid import append_chunks, time_dim_of

    time_dim = time_dim_of(spec)
    arrays = _store_arrays(existing)
    if (
        arrays is None
        or "coordinates" in _json(existing / ".zattrs")
        or time_dim not in arrays
        or arrays[time_dim].dims != [time_dim]
    ):
        return False
    growing = [n for n, a in arrays.items() if time_dim in a.dims and n != time_dim]
    if not growing or any(a.dims[0] != time_dim for a in arrays.values() if time_dim in a.dims):
        return False
    old_times = np.asarray(zarr.open_array(existing / time_dim, mode="r")[...])
    fixed = {n: np.asarray(zarr.open_array(existing / n, mode="r")[...]) for n, a in arrays.items()
             if time_dim not in a.dims}  # fmt: skip
    files = []
    for source in sources:
        checked = _check_file(source, spec.source.group, arrays, time_dim, fixed)
        if checked is None:
            return False
        files.append(checked)
    files.sort(key=lambda f: float(f.times[0]))
    ends = [float(old_times[-1]), *(float(f.times[-1]) for f in files)]
    if any(float(f.times[0]) <= end for f, end in zip(files, ends, strict=False)):
        return False  # overlaps or starts before the store ends: the xarray path explains
    data_vars = [n for n, a in arrays.items() if not (len(a.dims) == 1 and a.dims[0] == n)]
    itemsize = max(arrays[n].dtype.itemsize for n in data_vars)
    sizes = {d: n for a in arrays.values() for d, n in zip(a.dims, a.shape, strict=True)}
    time_chunk = int(arrays[growing[-1]].chunks[0])
    append_chunks(spec, sizes, time_chunk, itemsize, [len(f.times) for f in files])  # NotAppendable
    with atomic_output(existing) as tmp:
        shutil.copytree(existing, tmp, copy_function=os.link)
        _write(tmp, files, spec.source.group, arrays, growing, time_dim, time_chunk)
        _rewrite_time(tmp, time_dim, np.concatenate([old_times, *(f.times for f in files)]))
        zarr_consolidate(tmp)
    return True


def _write(
    store: Path,
    files: list[_File],
    group: str | None,
    arrays: dict[str, _Array],
    growing: list[str],
    time_dim: str,
    time_chunk: int,
) -> None:
    """Each file's time-dependent variables after the store's end, one time chunk of values at a time."""
    import netCDF4
    import zarr

    targets = {n: zarr.open_array(store / n, mode="r+") for n in growing}
    start = arrays[time_dim].shape[0]
    for f in files:
        stop = start + len(f.times)
        with netCDF4.Dataset(f.path) as nc:
            node = _group(nc, group)
            for name in growing:
                target = targets[name]
                target.resize((stop, *target.shape[1:]))
                for at in range(0, stop - start, time_chunk):
                    block = _raw(node.variables[name], arrays[name], slice(at, min(at + time_chunk, stop - start)))
                    target[start + at : start + at + len(block)] = block
        start = stop


def _rewrite_time(store: Path, time_dim: str, values: np.ndarray) -> None:
    """The dimension coordinate as one chunk of all its values, with the old array's metadata (a full convert's)."""
    import zarr

    old = zarr.open_array(store / time_dim, mode="r")
    meta = old.metadata
    attrs = dict(old.attrs)
    compressors, dtype, fill, order = old.compressors, old.dtype, old.fill_value, old.order
    separator = getattr(meta, "dimension_separator", ".")
    shutil.rmtree(store / time_dim)
    new = zarr.create_array(
        store / time_dim,
        shape=values.shape,
        chunks=values.shape,
        dtype=dtype,
        fill_value=fill,
        compressors=compressors,
        filters=None,
        order=order,
        zarr_format=2,
        attributes=attrs,
        chunk_key_encoding={"name": "v2", "separator": separator},
    )
    new[...] = values.astype(old.dtype, copy=False)
