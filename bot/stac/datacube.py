"""STAC table and datacube extension fields from data-driven metadata.

Why its own module: mapping Parquet columns and Zarr dimensions/variables onto
the table and datacube extensions is a self-contained translation (axis
detection, extents, data types) that item assembly in :mod:`bot.stac.build`
only consumes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.stac.times import to_rfc3339


def table_columns_from_meta(meta: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``table:columns`` from data-driven column metadata.

    The STAC table extension recommends the file format's own type system, so
    the Arrow type wins over the Frictionless type when both are known.
    """
    columns = []
    for col in meta.get("columns") or []:
        if not isinstance(col, Mapping) or not col.get("name"):
            continue
        entry: dict[str, Any] = {"name": str(col["name"])}
        ctype = col.get("arrow_type") or col.get("physical_type") or col.get("type")
        if ctype:
            entry["type"] = str(ctype)
        if col.get("description"):
            entry["description"] = str(col["description"])
        columns.append(entry)
    return columns


def primary_geometry(meta: Mapping[str, Any]) -> str | None:
    for key in ("primary_geometry", "geometry_column", "primary_column"):
        if meta.get(key):
            return str(meta[key])
    for col in meta.get("columns") or []:
        if isinstance(col, Mapping) and col.get("type") in {"geometry", "geojson"}:
            return str(col["name"])
    return None


_AXIS_BY_NAME = {
    "x": "x",
    "lon": "x",
    "longitude": "x",
    "y": "y",
    "lat": "y",
    "latitude": "y",
    "z": "z",
    "depth": "z",
    "lev": "z",
    "level": "z",
    "height": "z",
    "t": "t",
    "time": "t",
}
_AXIS_BY_UNIT = {"degrees_east": "x", "degree_east": "x", "degrees_north": "y", "degree_north": "y"}

_DATA_TYPES = {
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "cint16",
    "cint32",
    "cfloat32",
    "cfloat64",
}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [{"name": k, **(v if isinstance(v, Mapping) else {})} for k, v in value.items()]
    return list(value)


def _dim_axis(dim: Mapping[str, Any], coordinates: Mapping[str, str | None]) -> str | None:
    name = str(dim.get("name"))
    if dim.get("axis") in {"x", "y", "z", "t"}:
        return str(dim["axis"])
    for axis, coord in coordinates.items():
        if coord == name and axis in {"x", "y", "z", "t"}:
            return axis
    unit = dim.get("unit") or dim.get("units") or (dim.get("attrs") or {}).get("units")
    if unit in _AXIS_BY_UNIT:
        return _AXIS_BY_UNIT[unit]
    return _AXIS_BY_NAME.get(name.lower())


def _extent_of(dim: Mapping[str, Any]) -> list[Any] | None:
    if isinstance(dim.get("extent"), Sequence) and len(dim["extent"]) == 2:
        return list(dim["extent"])
    if "min" in dim and "max" in dim:
        return [dim["min"], dim["max"]]
    values = dim.get("values")
    if isinstance(values, Sequence) and values and not isinstance(values, str):
        return [min(values), max(values)]
    return None


def datacube_from_meta(
    meta: Mapping[str, Any],
    *,
    coordinates: Mapping[str, str | None] | None = None,
    start: str | None = None,
    end: str | None = None,
    bbox: Sequence[float] | None = None,
) -> dict[str, Any]:
    """``cube:dimensions`` + ``cube:variables`` (datacube v2.2.0) from gridded metadata.

    Spatial extents fall back to the dataset bbox and the temporal extent to
    the time range, so an item is complete even when the metadata reader
    only recorded dimension names and sizes.
    """
    coords = dict(coordinates or {})
    dims: dict[str, Any] = {}
    for dim in _as_list(meta.get("dimensions")):
        if not isinstance(dim, Mapping) or not dim.get("name"):
            continue
        name = str(dim["name"])
        axis = _dim_axis(dim, coords)
        desc = dim.get("description") or (dim.get("attrs") or {}).get("long_name")
        entry: dict[str, Any]
        if axis in {"x", "y"}:
            ext = _extent_of(dim)
            if ext is None and bbox is not None:
                ext = [bbox[0], bbox[2]] if axis == "x" else [bbox[1], bbox[3]]
            entry = {"type": "spatial", "axis": axis, "extent": [float(v) for v in ext or [0, 0]]}
            entry["reference_system"] = 4326
            if dim.get("step") is not None:
                entry["step"] = float(dim["step"])
        elif axis == "z":
            ext = _extent_of(dim)
            entry = {"type": "spatial", "axis": "z", "extent": [None, None] if ext is None else [float(v) for v in ext]}
            unit = dim.get("unit") or dim.get("units")
            if unit:
                entry["unit"] = str(unit)
        elif axis == "t":
            ext = _extent_of(dim) or [start, end]
            entry = {"type": "temporal", "extent": [to_rfc3339(v, what=f"dimension {name}") for v in ext]}
        else:
            ext = _extent_of(dim)
            entry = {"type": str(dim.get("type") or "other")}
            if entry["type"] in {"spatial", "geometry"}:
                entry["type"] = "other"
            if ext is not None:
                entry["extent"] = ext
            elif dim.get("size") is not None:
                entry["extent"] = [0, int(dim["size"]) - 1]
            else:
                entry["extent"] = [None, None]
        if desc:
            entry["description"] = str(desc)
        dims[name] = entry
    variables: dict[str, Any] = {}
    for var in _as_list(meta.get("variables")):
        if not isinstance(var, Mapping) or not var.get("name"):
            continue
        vdims = var.get("dimensions") or var.get("dims") or []
        vtype = var.get("variable_type") or var.get("type")
        ventry: dict[str, Any] = {
            "dimensions": [str(d) for d in vdims],
            "type": vtype if vtype in {"data", "auxiliary"} else "data",
        }
        attrs = var.get("attrs") or {}
        desc = var.get("description") or attrs.get("long_name")
        if desc:
            ventry["description"] = str(desc)
        unit = var.get("unit") or var.get("units") or attrs.get("units")
        if unit:
            ventry["unit"] = str(unit)
        dtype = str(var.get("data_type") or var.get("dtype") or "")
        if dtype in _DATA_TYPES:
            ventry["data_type"] = dtype
        variables[str(var["name"])] = ventry
    return {"cube:dimensions": dims, "cube:variables": variables}
