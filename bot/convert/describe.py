"""What a new dataset's files say about themselves: format, coordinates, CRS, curated metadata.

Why: describing a dataset used to mean hand-writing four files whose fields,
types, coordinates, CRS and extents are already in the data.  ``catalog-bot
dataset new`` asks this module for a :class:`Description` and writes the
files; everything it could not find is an explicit placeholder listed in
``todo`` (never a silent default).

Inference, in order of trust: the format's own metadata (GeoParquet ``geo``,
CF ``axis`` / ``standard_name`` / ``units``, ACDD global attributes, Parquet
key-value metadata), then common names (lon, long, longitude, x / lat,
latitude, y / time, datetime, date / depth, z, elevation).  Extents and
column types come from :mod:`bot.convert.probe` (metadata, a bounded sample
through the real converter, streamed coordinates: exactly what ``publish``
computes; grid extents are cell centres).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import DataError

SUFFIX_FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".geojson": "geojson",
    ".json": "geojson",
    ".geojsonl": "geojsonseq",
    ".geojsons": "geojsonseq",
    ".ndjson": "geojsonseq",
    ".gpkg": "gpkg",
    ".shp": "shapefile",
    ".zip": "shapefile",
    ".fgb": "flatgeobuf",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
    ".nc": "netcdf",
    ".nc4": "netcdf",
    ".cdf": "netcdf",
    ".zarr": "zarr",
    ".tif": "geotiff",
    ".tiff": "geotiff",
}
GRIDDED = {"netcdf", "zarr", "geotiff"}
NAMES = {
    "x": ("lon", "long", "longitude", "lng", "x"),
    "y": ("lat", "latitude", "y"),
    "t": ("time", "datetime", "date", "timestamp"),
    "z": ("depth", "z", "elevation", "altitude"),
}
CF_AXIS = {"X": "x", "Y": "y", "Z": "z", "T": "t"}
CF_STANDARD = {"longitude": "x", "latitude": "y", "time": "t", "depth": "z", "altitude": "z", "height": "z"}
PLACEHOLDER = "TODO"


@dataclass
class Description:
    """What was inferred for a new dataset, and what a curator still has to fill in."""

    format: str
    output: str
    coordinates: dict[str, str] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)  # title, summary, keywords, license, creator...
    inferred: list[str] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)

    def pipeline(self, path: str) -> dict[str, Any]:
        """The ``pipeline.yaml`` content."""
        where = {} if "opendap" in self.source else {"path": path}  # an OPeNDAP URL is the source itself
        source = {**where, "format": self.format, **self.source}
        return {"source": source, "output": self.output, "coordinates": self.coordinates, "access": "public"}


def detect_format(path: Path, given: str | None) -> str:
    """``--format`` or the format its suffix names (a clear error otherwise)."""
    if given:
        return given
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(
            f"cannot tell the format of {path.name!r} from its suffix",
            file=str(path),
            hint=f"pass --format (one of: {', '.join(sorted(set(SUFFIX_FORMATS.values())))})",
        )
    return fmt


def _by_name(names: list[str], role: str) -> str | None:
    lowered = {n.lower(): n for n in names}
    return next((lowered[c] for c in NAMES[role] if c in lowered), None)


def _coordinates_by_name(desc: Description, names: list[str], roles: tuple[str, ...]) -> None:
    """Record each role's column found by its common name (lon, lat, time, depth...) as inferred."""
    for role in roles:
        found = _by_name(names, role)
        if found:
            desc.coordinates[role] = found
            desc.inferred.append(f"coordinates.{role} = {found} (by name)")


def describe(
    path: Path,
    fmt: str,
    *,
    layer: str | None = None,
    crs: str | None = None,
    group: str | None = None,
    opendap: str | None = None,
) -> Description:
    """Read metadata and a bounded sample of ``path`` (never the whole file) and infer its description.

    ``opendap``: the URL of a remote grid read through OPeNDAP instead of ``path`` (metadata only).
    """
    if opendap:
        desc = _describe_grid(opendap, "netcdf", group)
        desc.source = {"opendap": opendap, **({"group": group} if group else {})}
        return desc
    if not path.exists():
        raise DataError("source does not exist", file=str(path), hint="check --source")
    if fmt == "geotiff":
        desc = Description(format=fmt, output="zarr", coordinates={"x": "lon", "y": "lat"})
        desc.inferred.append("coordinates x/y = lon/lat (raster cell centres, reprojected to EPSG:4326 if needed)")
    elif fmt in GRIDDED:
        desc = _describe_grid(path, fmt, group)
        if group:
            desc.source["group"] = group
    elif fmt == "csv":
        desc = _describe_csv(path)
    elif fmt == "parquet":
        desc = _describe_parquet(path)
    else:
        desc = Description(format=fmt, output="parquet", coordinates={"geometry": "geometry"})
        desc.inferred.append("geometry from the vector file")
        if layer:
            desc.source["layer"] = layer
    if crs:
        desc.source["crs"] = crs
    return desc


def _describe_csv(path: Path) -> Description:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 20))
        sample = reader.read_next_batch()
    except (pa.ArrowInvalid, StopIteration) as exc:
        raise DataError(
            f"cannot read the CSV header and first rows: {exc}", file=str(path), hint="check the file"
        ) from None
    names = sample.schema.names
    desc = Description(format="csv", output="parquet")
    _coordinates_by_name(desc, names, ("x", "y", "z", "t"))
    if "x" not in desc.coordinates or "y" not in desc.coordinates:
        raise DataError(
            f"no longitude/latitude columns found among: {', '.join(names)}",
            file=str(path),
            hint="name them lon/lat (or x/y), or write pipeline.yaml coordinates by hand",
        )
    t = desc.coordinates.get("t")
    if t:
        # The time column as written (Arrow may have typed it; its datetimes would import pandas to print).
        as_text = pacsv.ConvertOptions(column_types={t: pa.string()}, include_columns=[t])
        column = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 20), convert_options=as_text)
        values = [v for v in column.read_next_batch().column(0)[:200].to_pylist() if v]
        fmt = _timestamp_format(values)
        if fmt:
            desc.source["timestamp_format"] = fmt
            desc.inferred.append(f"source.timestamp_format = {fmt!r} (values have no zone: read as UTC)")
            desc.todo.append(f"check that the times in {t!r} are UTC (source.timestamp_format)")
    return desc


_ISO_ZONED = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")
_FORMATS = (
    (re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"), "%Y-%m-%dT%H:%M:%S"),
    (re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"), "%Y-%m-%d %H:%M:%S"),
    (re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$"), "%Y-%m-%d %H:%M"),
    (re.compile(r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}$"), "%d/%m/%Y %H:%M"),
)


def _timestamp_format(values: list[str]) -> str | None:
    """None for zoned ISO 8601 (or plain dates); else the one strptime format every sampled value matches."""
    if (
        not values
        or all(_ISO_ZONED.match(v) for v in values)
        or all(re.match(r"^\d{4}-\d{2}-\d{2}$", v) for v in values)
    ):
        return None
    for pattern, fmt in _FORMATS:
        if all(pattern.match(v) for v in values):
            return fmt
    return None


def _describe_parquet(path: Path) -> Description:
    import json

    import pyarrow as pa

    from bot.convert.common import open_parquet

    pf = open_parquet(path)
    kv = pf.metadata.metadata or {}
    names = pf.schema_arrow.names
    desc = Description(format="parquet", output="parquet")
    if b"geo" in kv:
        geo = json.loads(kv[b"geo"])
        primary = geo.get("primary_column")
        if primary not in names:
            binary = [f.name for f in pf.schema_arrow if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
            primary = binary[0] if len(binary) == 1 else None
        if primary:
            desc.coordinates["geometry"] = primary
            desc.inferred.append(f"coordinates.geometry = {primary} (GeoParquet {geo.get('version', '?')})")
    if "geometry" not in desc.coordinates:
        _coordinates_by_name(desc, names, ("x", "y"))
        if "x" not in desc.coordinates or "y" not in desc.coordinates:
            raise DataError(
                f"no GeoParquet geometry and no longitude/latitude columns among: {', '.join(names)}",
                file=str(path),
                hint="write pipeline.yaml coordinates by hand",
            )
    _coordinates_by_name(desc, names, ("z", "t"))
    desc.attributes = {
        k.decode(): v.decode("utf-8", "replace")
        for k, v in kv.items()
        if k.decode() in ("title", "description", "summary", "keywords", "license", "creator_name", "creator_email")
    }
    return desc


def _describe_grid(path: Path | str, fmt: str, group: str | None = None) -> Description:
    """Coordinates and attributes of a grid: a NetCDF read with netCDF4 alone (no xarray, see
    :mod:`bot.convert.probe_grid`), a Zarr store through xarray."""
    if fmt != "zarr":
        from bot.convert.probe_grid import dimension_sizes, global_attributes, open_netcdf

        with open_netcdf(path, group, what=fmt) as node:
            dims = list(dimension_sizes(node, by_name=False))
            if not dims and not group and isinstance(path, Path):
                from bot.convert.grid import _refuse_empty_root

                _refuse_empty_root(path)  # names the groups that hold the data
            attrs_of = {
                d: {k: node.variables[d].getncattr(k) for k in node.variables[d].ncattrs()}
                for d in dims
                if d in node.variables
            }
            return _grid_roles(path, fmt, dims, attrs_of, global_attributes(node))
    import xarray as xr

    try:
        ds = xr.open_zarr(path, consolidated=None, decode_times=False)
    except Exception as exc:  # xarray raises many types for a store it cannot read
        raise DataError(f"cannot read {fmt}: {exc}", file=str(path), hint="upload a complete file") from None
    with ds:
        dims = [str(d) for d in ds.dims]
        return _grid_roles(path, fmt, dims, {d: dict(ds[d].attrs) for d in dims if d in ds.variables}, dict(ds.attrs))


def _grid_roles(
    path: Path | str, fmt: str, dims: list[str], attrs_of: dict[str, dict[str, Any]], attrs: dict[str, Any]
) -> Description:
    """The x/y/z/t dimensions from CF ``axis`` / ``standard_name``, CF units, then common names."""
    if not dims:
        raise DataError(
            "the file has no dimensions and no variables (empty or truncated?)",
            file=str(path),
            hint="upload the complete file",
        )
    desc = Description(format=fmt, output="zarr")
    for name in dims:
        dim_attrs = attrs_of.get(name, {})
        role = CF_AXIS.get(str(dim_attrs.get("axis", "")).upper()) or CF_STANDARD.get(
            str(dim_attrs.get("standard_name", ""))
        )
        how = "CF axis/standard_name"
        if role is None:
            units = str(dim_attrs.get("units", ""))
            role = "x" if units.startswith("degrees_e") else "y" if units.startswith("degrees_n") else None
            role = role or ("t" if " since " in units else None)
            how = "CF units"
        if role is None:
            role = next((r for r in NAMES if name.lower() in NAMES[r]), None)
            how = "name"
        if role and role not in desc.coordinates:
            desc.coordinates[role] = name
            desc.inferred.append(f"coordinates.{role} = {name} ({how})")
    if "x" not in desc.coordinates or "y" not in desc.coordinates:
        raise DataError(
            f"no longitude/latitude dimensions found among: {', '.join(dims)}",
            file=str(path),
            hint="write pipeline.yaml coordinates by hand",
        )
    desc.attributes = {k: _text(v) for k, v in attrs.items() if _text(v)}
    return desc


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    return str(value).strip()
