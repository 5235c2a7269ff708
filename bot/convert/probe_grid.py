"""A NetCDF grid's description and metadata read with netCDF4 alone: what ``publish`` would compute, no xarray.

Why not xarray, as the converter uses: importing xarray imports pandas, and
with dask installed it imports ``dask.array`` (and SciPy) as soon as it
builds a variable -- ~3 s and ~130 MB before the first byte of the file is
read, for a command whose answer comes from a few attributes and the 1-D
coordinate variables.  netCDF4 opens the same HDF5/NetCDF-3 files (and
OPeNDAP URLs, through netCDF-C's DAP client) in ~0.1 s.

What ``publish`` stores is xarray's round trip of the file into Zarr: every
variable with its dimensions, its dtype *as stored* (the converter keeps the
CF encoding: ``dtype``, ``_FillValue``, ``scale_factor``, ``add_offset``,
``missing_value``, ``units``, ``calendar``), its attributes; the published
metadata (:func:`bot.metadata.zarr_extents.extract_zarr_metadata`) reads
those plus the raw 1-D coordinates.  :func:`grid_metadata` computes the same
from the NetCDF directly, and ``tests/test_dataset_new_probe.py`` checks it
equals the published metadata.  A file with variables whose round trip
changes their shape or dtype (character arrays and strings lose their
string-length dimension, ``_Unsigned`` integers change type, compound or
enum types) is not read here: :func:`grid_metadata` returns None and the
caller converts a two-step sample with the real converter instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bot.catalog.layout import Coordinates
from bot.errors import DataError
from bot.metadata.datamodel import DataDrivenMetadata, DimensionInfo, VariableInfo, decoded_dtype

# xarray writes a float array's missing _FillValue as NaN (Zarr v2 fill_value), which the published reader lists.
_NAN_FILL_KINDS = "f"


@contextmanager
def open_netcdf(source: Path | str, group: str | None, *, what: str = "NetCDF") -> Iterator[Any]:
    """The file (or OPeNDAP URL) or its ``group``, values as stored (no masking or scaling); located errors."""
    import netCDF4

    file = str(source)
    try:
        root = netCDF4.Dataset(file, "r")
    except OSError as exc:
        raise DataError(
            f"not a readable {what} source: {exc}", file=file, hint="upload a complete NetCDF-4 or NetCDF-3 file"
        ) from None
    try:
        node = root
        if group:
            try:
                node = root[group]
            except (KeyError, IndexError):
                raise DataError(
                    f"NetCDF group {group!r} does not exist; groups are: {', '.join(sorted(root.groups)) or 'none'}",
                    file=file,
                    field="source.group",
                    hint="name an existing group: source.group in pipeline.yaml, or --group of `dataset new` (ncdump -h lists them)",
                ) from None
        node.set_auto_maskandscale(False)
        yield node
    finally:
        root.close()


def global_attributes(node: Any) -> dict[str, Any]:
    """The group's attributes over the root group's (title, licence ... usually live on the root)."""
    attrs: dict[str, Any] = {}
    chain = []
    while node is not None:
        chain.append(node)
        node = node.parent
    for level in reversed(chain):
        attrs.update({k: level.getncattr(k) for k in level.ncattrs()})
    return attrs


def supported(node: Any) -> bool:
    """Every variable round-trips to Zarr with its own dims and dtype (see module docstring)."""
    for var in node.variables.values():
        dtype = var.datatype  # an EnumType, CompoundType or VLType (strings too) for the user-defined types
        if not isinstance(dtype, np.dtype) or dtype.kind not in "fiub" or "_Unsigned" in var.ncattrs():
            return False
    return True


def dimension_sizes(node: Any, *, by_name: bool = True) -> dict[str, int]:
    """Dimensions used by a variable, in the order the published store lists them (arrays by name),
    or (``by_name=False``) in the order xarray lists them (variables in file order)."""
    sizes: dict[str, int] = {}
    for name in sorted(node.variables) if by_name else node.variables:
        var = node.variables[name]
        for dim, n in zip(var.dimensions, var.shape, strict=True):
            sizes.setdefault(str(dim), int(n))
    return sizes


def _attrs(var: Any) -> dict[str, Any]:
    attrs = {k: var.getncattr(k) for k in var.ncattrs()}
    if "_FillValue" not in attrs and var.dtype.kind in _NAN_FILL_KINDS:
        attrs["_FillValue"] = np.nan
    return attrs


Dimensions = tuple[list[DimensionInfo], tuple[str | None, str | None] | None, list[float] | None]


def grid_dimensions(node: Any, coords: Coordinates, file: str) -> Dimensions:
    """The dimensions as the published store lists them, with the extents of their 1-D coordinates; the time
    range and the bbox (grid cell centres)."""
    from bot.metadata.zarr_extents import describe_dimension, grid_bbox

    axis_of = {name: role for role in ("x", "y", "z", "t") if (name := getattr(coords, role))}
    dimensions: list[DimensionInfo] = []
    time_range = None
    for dim, size in dimension_sizes(node).items():
        var = node.variables.get(dim)
        coord = var if var is not None and tuple(var.dimensions) == (dim,) else None
        attrs = {k: coord.getncattr(k) for k in coord.ncattrs()} if coord is not None else {}
        values = np.asarray(coord[:]) if coord is not None and size else None  # the only data read, as stored
        info, dim_time = describe_dimension(dim, size, axis_of.get(dim), attrs, values, file)
        time_range = dim_time or time_range
        dimensions.append(info)
    bbox = grid_bbox(coords, dimensions)
    return dimensions, time_range, bbox


def grid_metadata(node: Any, coords: Coordinates, file: str) -> DataDrivenMetadata | None:
    """Grid metadata as the published store's (None: a file :func:`supported` refuses)."""
    from bot.metadata.zarr_extents import _jsonable, attr_text

    if not supported(node):
        return None
    dimensions, time_range, bbox = grid_dimensions(node, coords, file)
    variables: list[VariableInfo] = []
    cells = 0
    for name in sorted(node.variables):
        var = node.variables[name]
        dims = [str(d) for d in var.dimensions]
        if dims == [name]:
            continue
        attrs = _attrs(var)
        shape = [int(n) for n in var.shape]
        is_data = len(dims) >= 2 or any(d in (coords.x, coords.y) for d in dims)
        variables.append(
            VariableInfo(
                name=name,
                dtype=var.dtype.name,
                dimensions=dims,
                shape=shape,
                chunks=shape,
                unit=attr_text(attrs, "units"),
                description=attr_text(attrs, "long_name", "description"),
                variable_type="data" if is_data else "auxiliary",
                attrs=_jsonable(attrs),
                decoded_dtype=decoded_dtype(var.dtype.name, attrs),
            )
        )
        if is_data:
            cells = max(cells, math.prod(shape))
    return DataDrivenMetadata(
        kind="gridded",
        bbox=bbox,
        time_range=time_range,
        cells=cells,
        shape={d.name: d.size for d in dimensions},
        variables=variables,
        dimensions=dimensions,
        extent_source="probe (coordinates)",
    )


class GridView:
    """What :func:`bot.convert.grid.check_grid` asks of a dataset, over a netCDF4 group (decoded values).

    Why: ``dataset new`` refuses what ``publish`` would refuse (a missing or
    empty dimension, latitudes past 90 ...) with the converter's own checks
    and messages, on the whole coordinates, without building an xarray dataset.
    """

    def __init__(self, node: Any) -> None:
        self._node = node
        self.sizes = dimension_sizes(node)
        self.variables = dict(node.variables)
        coordinate_names = {n for n, v in node.variables.items() if tuple(v.dimensions) == (n,)}
        for var in node.variables.values():
            coordinate_names.update(str(getattr(var, "coordinates", "")).split())
        self.data_vars = {n: v for n, v in node.variables.items() if n not in coordinate_names}

    def __getitem__(self, name: str) -> Any:
        var = self._node.variables[name]
        var.set_auto_maskandscale(True)
        try:
            values = np.ma.filled(np.ma.asarray(var[:]).astype("float64"), np.nan)
        finally:
            var.set_auto_maskandscale(False)
        return _Values(values)


class _Values:
    def __init__(self, values: np.ndarray) -> None:
        self.values = values
