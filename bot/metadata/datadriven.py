"""Data-driven metadata: extents, columns and variables without reading the data.

Why: the publish pipeline needs bbox / time range / row count / column types
for every dataset on every run, and datasets can be many GB.  Everything
here comes from metadata the formats already carry:

* **Parquet**: the footer.  Row count from ``num_rows``; bbox from the
  GeoParquet ``geo`` metadata, else from row-group statistics of the
  covering ``bbox`` column, else of the x/y columns; the time range from the
  statistics of the ``t`` column.  Only when a needed statistic is missing do
  we scan -- and then only the coordinate columns (never a full read).
* **Zarr**: the (consolidated) array metadata plus the 1-D coordinate arrays
  named by ``coordinates`` (one small read each); CF time units are decoded
  on the time coordinate only.

``DataDrivenMetadata`` renders to a Frictionless table schema, the catalog's
grid schema, STAC ``table:columns`` and STAC datacube fields.  Type choice for
geometry: the WKB column is Frictionless ``geojson`` (the Frictionless type
for geometries; its physical encoding is recorded by GeoParquet's ``geo``
metadata), which is also what the curated table schemas use.  The covering
``bbox`` column is an encoding detail derived from the geometry, so it is
listed in ``table:columns`` (it is in the file) but not in the table schema
(the curated contract).
"""

from __future__ import annotations

import math
from pathlib import Path

from bot.catalog.layout import Coordinates
from bot.metadata.datamodel import (
    CRS84,
    ColumnInfo,
    DataDrivenMetadata,
    DimensionInfo,
    VariableInfo,
    frictionless_type_of_arrow,
    frictionless_type_of_dtype,
)
from bot.metadata.parquet_extents import extract_parquet_metadata
from bot.metadata.zarr_extents import extract_zarr_metadata

__all__ = [
    "CRS84",
    "ColumnInfo",
    "DataDrivenMetadata",
    "DimensionInfo",
    "VariableInfo",
    "check_extents",
    "extract_metadata",
    "extract_parquet_metadata",
    "extract_zarr_metadata",
    "frictionless_type_of_arrow",
    "frictionless_type_of_dtype",
]


def extract_metadata(path: Path, coords: Coordinates) -> DataDrivenMetadata:
    """Dispatch on the output: a ``.zarr`` folder or a Parquet file."""
    if path.is_dir() or path.suffix == ".zarr":
        return extract_zarr_metadata(path, coords)
    return extract_parquet_metadata(path, coords)


# ---------------------------------------------------------------------------
# checks


def check_extents(meta: DataDrivenMetadata) -> list[str]:
    """Problems with the extents (empty data, out-of-range or inverted coordinates)."""
    problems: list[str] = []
    if (meta.kind == "tabular" and not meta.rows) or (meta.kind == "gridded" and not meta.cells):
        problems.append("the dataset is empty (no rows / no cells)")
    if meta.bbox is None:
        problems.append("no spatial extent could be determined (missing or all-null coordinates)")
    else:
        w, s, e, n = meta.bbox
        for name, value in (("south", s), ("north", n)):
            if not (isinstance(value, int | float) and math.isfinite(value) and -90 <= value <= 90):
                problems.append(f"latitude {name} = {value} is outside [-90, 90]")
        for name, value in (("west", w), ("east", e)):
            if not (isinstance(value, int | float) and math.isfinite(value) and -180 <= value <= 180):
                problems.append(f"longitude {name} = {value} is outside [-180, 180]")
        if not problems and s > n:
            problems.append(f"south ({s}) is greater than north ({n})")
        if not problems and w > e:
            problems.append(f"west ({w}) is greater than east ({e})")
    if meta.time_range and meta.time_range[0] and meta.time_range[1] and meta.time_range[0] > meta.time_range[1]:
        problems.append(f"time range start {meta.time_range[0]} is after end {meta.time_range[1]}")
    return problems
