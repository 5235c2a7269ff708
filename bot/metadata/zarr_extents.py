"""Zarr: extents and variables from the (consolidated) metadata.

The only data read are the 1-D coordinate arrays named by ``coordinates``
(one small read each); CF time units are decoded on the time coordinate only.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bot.catalog.layout import Coordinates
from bot.errors import DataError
from bot.metadata.datamodel import (
    DataDrivenMetadata,
    DataEntryPoint,
    DimensionInfo,
    VariableInfo,
    decoded_dtype,
    iso_utc,
)

# ---------------------------------------------------------------------------
# Zarr


def attr_text(attrs: Mapping[str, Any], *keys: str) -> str | None:
    """The first non-empty attribute of ``keys`` as text.

    Why: Zarr/CF attributes are arbitrary JSON, and real files carry numbers
    (``units: 1`` for dimensionless), lists (``long_name: ["a", "b"]``) or
    bytes where a string is expected.  Without this, such values flowed into
    the string fields of the grid schema and STAC (``unit: 1``), which the
    schemas then reject far from the cause.
    """
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, list | tuple):
            value = " ".join(str(v) for v in value)
        if value is None or isinstance(value, dict) or (isinstance(value, float) and not math.isfinite(value)):
            continue
        text = str(value).strip()
        if text:
            return text
    return None


def _array_dims(arr: Any) -> list[str]:
    names = getattr(arr.metadata, "dimension_names", None)
    if names:
        return [str(n) for n in names]
    return [str(n) for n in arr.attrs.get("_ARRAY_DIMENSIONS", [])]


def _regular_step(values: np.ndarray) -> float | None:
    if values.size < 2 or values.dtype.kind not in "fiu":
        return None
    diffs = np.diff(values.astype("float64"))
    if np.allclose(diffs, diffs[0], rtol=1e-6, atol=0):
        return float(diffs[0])
    return None


def _decode_time(values: np.ndarray, attrs: dict[str, Any], file: str, name: str) -> tuple[str | None, str | None]:
    """Decode a CF time coordinate (only this 1-D array) to an ISO range."""
    if values.dtype.kind == "M":
        finite = values[~np.isnat(values)]
        return (iso_utc(finite.min()), iso_utc(finite.max())) if finite.size else (None, None)
    units = attrs.get("units")
    if not units or "since" not in str(units):
        raise DataError(
            f"time coordinate has no CF units ({units!r})",
            file=file,
            field=name,
            hint="add units like 'days since 1970-01-01' to the time coordinate",
        )
    import cftime  # light C extension; xarray would pull in pandas for two numbers

    nums = values.astype("float64")
    nums = nums[np.isfinite(nums)]
    if nums.size == 0:
        return (None, None)
    calendar = attrs.get("calendar", "standard")
    try:
        start, end = cftime.num2date(
            [nums.min(), nums.max()], units, calendar, only_use_cftime_datetimes=False, only_use_python_datetimes=False
        )
    except (ValueError, OverflowError) as exc:
        raise DataError(
            f"cannot decode time units {units!r}: {exc}", file=file, field=name, hint="fix the CF units"
        ) from None
    return iso_utc(start), iso_utc(end)


def describe_dimension(
    dim: str, size: int, axis: str | None, attrs: Mapping[str, Any], values: np.ndarray | None, file: str
) -> tuple[DimensionInfo, tuple[str | None, str | None] | None]:
    """One dimension as the published store lists it, from its 1-D coordinate's attributes and ``values``
    (None: no coordinate variable); with the decoded time range when it is the time axis.

    One function for the Zarr store and the NetCDF probe, so ``dataset new`` describes a grid exactly as
    the publish will."""
    kind: Literal["spatial", "temporal", "other"] = (
        "temporal" if axis == "t" else "spatial" if axis in ("x", "y", "z") else "other"
    )
    info = DimensionInfo(
        name=dim,
        size=size,
        type=kind,
        axis=axis if axis in ("x", "y", "z", "t") else None,
        description=attr_text(attrs, "long_name", "description"),
        unit=None if kind == "temporal" else attr_text(attrs, "units"),
    )
    time_range = None
    if values is not None:
        if kind == "temporal":
            time_range = _decode_time(values, dict(attrs), file, dim)
            info.extent = list(time_range)
        elif values.dtype.kind in "fiu":
            finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
            if finite.size:
                info.extent = [float(finite.min()), float(finite.max())]
                info.step = _regular_step(values)
    return info, time_range


def grid_bbox(coords: Coordinates, dimensions: list[DimensionInfo]) -> list[float] | None:
    """The bbox of the x/y dimensions' extents (grid cell centres); None without both."""
    extents = {d.name: d.extent for d in dimensions}
    x, y = extents.get(coords.x or ""), extents.get(coords.y or "")
    if not coords.x or not coords.y or not x or not y:
        return None
    return [x[0], y[0], x[1], y[1]]


def zarr_entry_point(store: Path) -> DataEntryPoint:
    """The store's metadata document a reader starts from: ``.zmetadata`` (v2), ``zarr.json`` (v3), ``.zgroup``.

    Why: a data package cannot name a directory in a way ``frictionless
    validate`` accepts (it opens ``path`` as a file), so the published
    resource names this document; its parent is the store.
    """
    for name in (".zmetadata", "zarr.json", ".zgroup"):
        doc = store / name
        if doc.is_file():
            data = doc.read_bytes()
            return DataEntryPoint(name=name, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    raise DataError(
        "not a Zarr store: no .zmetadata, zarr.json or .zgroup", file=str(store), hint="re-run the convert step"
    )


def extract_zarr_metadata(path: Path, coords: Coordinates) -> DataDrivenMetadata:
    """Extents and variables of a Zarr store from metadata + 1-D coordinate arrays."""
    import zarr

    file = str(path)
    if not path.exists():
        raise DataError("Zarr store does not exist", file=file, hint="run the convert step first")
    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as exc:  # zarr raises several unrelated types for a bad store
        raise DataError(f"not a readable Zarr store: {exc}", file=file, hint="re-run the convert step") from None
    arrays = dict(group.arrays())
    sizes: dict[str, int] = {}
    dims_of: dict[str, list[str]] = {}
    for name, arr in arrays.items():
        dims = _array_dims(arr)
        if len(dims) != arr.ndim:
            dims = [f"{name}_dim_{i}" for i in range(arr.ndim)]
        dims_of[name] = dims
        for d, n in zip(dims, arr.shape, strict=True):
            sizes.setdefault(d, int(n))
    axis_of = {coords.x: "x", coords.y: "y", coords.z: "z", coords.t: "t"}
    axis_of.pop(None, None)
    for role in ("x", "y", "z", "t"):
        name = getattr(coords, role)
        if name and name not in sizes:
            raise DataError(
                f"dimension {name!r} (coordinates.{role}) is not in the store; "
                f"dimensions are: {', '.join(sizes) or 'none'}",
                file=file,
                field=name,
                hint=f"fix coordinates.{role} in pipeline.yaml",
            )
    dimensions: list[DimensionInfo] = []
    time_range = None
    for dim, size in sizes.items():
        coord = arrays.get(dim) if dims_of.get(dim) == [dim] else None
        attrs = dict(coord.attrs) if coord is not None else {}
        values = np.asarray(coord[:]) if coord is not None and size else None  # the only data read
        info, dim_time = describe_dimension(dim, size, axis_of.get(dim), attrs, values, file)
        time_range = dim_time or time_range
        dimensions.append(info)
    bbox = grid_bbox(coords, dimensions)
    variables: list[VariableInfo] = []
    cells = 0
    for name, arr in arrays.items():
        dims = dims_of[name]
        if dims == [name]:
            continue
        attrs = {k: v for k, v in arr.attrs.items() if k != "_ARRAY_DIMENSIONS"}
        fill = getattr(arr.metadata, "fill_value", None) if arr.metadata.zarr_format == 2 else None
        if fill is not None and "_FillValue" not in attrs:
            attrs["_FillValue"] = fill  # xarray reads a v2 array's fill_value as _FillValue (CF masking)
        is_data = arr.ndim >= 2 or any(d in (coords.x, coords.y) for d in dims)
        variables.append(
            VariableInfo(
                name=name,
                dtype=np.dtype(arr.dtype).name,
                dimensions=dims,
                shape=[int(n) for n in arr.shape],
                chunks=[int(c) for c in arr.chunks],
                unit=attr_text(attrs, "units"),
                description=attr_text(attrs, "long_name", "description"),
                variable_type="data" if is_data else "auxiliary",
                attrs=_jsonable(attrs),
                decoded_dtype=decoded_dtype(np.dtype(arr.dtype).name, attrs),
            )
        )
        if is_data:
            cells = max(cells, math.prod(arr.shape))
    return DataDrivenMetadata(
        kind="gridded",
        bbox=bbox,
        time_range=time_range,
        cells=cells,
        shape=sizes,
        variables=variables,
        dimensions=dimensions,
        extent_source="coordinates",
    )


def _jsonable(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attributes as plain JSON values (numpy scalars/arrays converted)."""
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        if isinstance(v, float) and not math.isfinite(v):
            v = str(v)
        out[k] = v
    return out
