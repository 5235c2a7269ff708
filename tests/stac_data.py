"""Tiny real inputs for the STAC / pygeoapi tests: a GeoParquet point table, a
GeoParquet polygon table and a Zarr grid, plus the metadata facts read back
from those files (not hard-coded), and offline STAC validation."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
import xarray as xr

from bot.catalog.layout import Coordinates
from bot.catalog.schemas import SchemaRegistry, stac_core_url
from bot.metadata.datadriven import extract_parquet_metadata, extract_zarr_metadata


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _geo_metadata(geoms: np.ndarray, types: list[str]) -> bytes:
    bounds = shapely.total_bounds(geoms).tolist()
    geo = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": types,
                "bbox": bounds,
                "covering": {
                    "bbox": {
                        "xmin": ["bbox", "xmin"],
                        "ymin": ["bbox", "ymin"],
                        "xmax": ["bbox", "xmax"],
                        "ymax": ["bbox", "ymax"],
                    }
                },
            }
        },
    }
    return json.dumps(geo).encode()


def _bbox_column(geoms: np.ndarray) -> pa.Array:
    b = shapely.bounds(geoms)
    return pa.StructArray.from_arrays([pa.array(b[:, i]) for i in range(4)], names=["xmin", "ymin", "xmax", "ymax"])


def write_points_parquet(path: Path, n: int = 40) -> Path:
    """Reef-logger-like points: site_id, time, lon, lat, depth, temperature, geometry (WKB), bbox."""
    rng = np.random.default_rng(7)
    lon = np.round(rng.uniform(145.5, 151.9, n), 4)
    lat = np.round(rng.uniform(-23.4, -13.9, n), 4)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    times = [t0 + timedelta(hours=6 * i) for i in range(n)]
    geoms = shapely.points(lon, lat)
    table = pa.table(
        {
            "site_id": pa.array([f"R{i % 5}" for i in range(n)]),
            "time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "lon": pa.array(lon),
            "lat": pa.array(lat),
            "depth": pa.array(np.full(n, 5.0)),
            "temperature": pa.array(np.round(rng.uniform(24, 30, n), 2)),
            "geometry": pa.array(shapely.to_wkb(geoms), pa.binary()),
            "bbox": _bbox_column(geoms),
        }
    )
    table = table.replace_schema_metadata({b"geo": _geo_metadata(geoms, ["Point"])})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def write_polygons_parquet(path: Path) -> Path:
    """Three protected-area-like polygons with a string primary key and a date column."""
    boxes = [shapely.box(146 + i, -20 - i, 146.5 + i, -19.5 - i) for i in range(3)]
    geoms = np.array(boxes)
    table = pa.table(
        {
            "mpa_id": pa.array(["MPA-1", "MPA-2", "MPA-3"]),
            "name": pa.array(["North", "Middle", "South"]),
            "established": pa.array(
                [datetime(1990 + i, 1, 1).date() for i in range(3)],
                pa.date32(),
            ),
            "geometry": pa.array(shapely.to_wkb(geoms), pa.binary()),
            "bbox": _bbox_column(geoms),
        }
    )
    table = table.replace_schema_metadata({b"geo": _geo_metadata(geoms, ["Polygon"])})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def write_grid_zarr(path: Path) -> Path:
    """sst(time, lat, lon) float32 on a 0.5 degree grid, 3 monthly steps, CF units."""
    lon = np.arange(142.0, 146.0, 0.5)
    lat = np.arange(-25.0, -22.0, 0.5)
    time = np.array(["2024-01-16", "2024-02-15", "2024-03-16"], dtype="datetime64[ns]")
    data = np.linspace(20, 30, time.size * lat.size * lon.size, dtype="float32").reshape(time.size, lat.size, lon.size)
    ds = xr.Dataset(
        {"sst": (("time", "lat", "lon"), data, {"units": "degC", "long_name": "sea surface temperature"})},
        coords={
            "time": ("time", time),
            "lat": ("lat", lat, {"units": "degrees_north"}),
            "lon": ("lon", lon, {"units": "degrees_east"}),
        },
    )
    ds.to_zarr(path, mode="w", consolidated=True, zarr_format=2)
    return path


def parquet_meta(path: Path, geometry: str = "geometry", time_col: str | None = "time") -> dict[str, Any]:
    """The real data-driven metadata of a GeoParquet file (``DataDrivenMetadata.to_dict()``)."""
    if geometry == "geometry" and time_col == "time":
        coords = Coordinates(x="lon", y="lat", t="time")
    else:
        coords = Coordinates(geometry=geometry, t=time_col)
    return extract_parquet_metadata(path, coords).to_dict()


def zarr_meta(path: Path) -> dict[str, Any]:
    """The real data-driven metadata of a Zarr store (``DataDrivenMetadata.to_dict()``)."""
    return extract_zarr_metadata(path, Coordinates(x="lon", y="lat", t="time")).to_dict()


def stac_errors(doc: dict[str, Any], registry: SchemaRegistry) -> list[str]:
    """Offline validation: the catalog's validator when present, else core + extension schemas."""
    try:
        from bot.catalog import validate as v
    except ImportError:
        v = None
    kind = {"Feature": "item", "Collection": "collection", "Catalog": "catalog"}[doc["type"]]
    fn = getattr(v, f"validate_{kind}", None) if v else None
    if fn is not None:
        return [p.format() for p in fn(doc, registry) if p.severity == "error"]
    errors = []
    for url in [stac_core_url(doc["stac_version"], kind), *doc.get("stac_extensions", [])]:
        errors += [f"{url}: {e.message}" for e in registry.validator(url).iter_errors(doc)]
    return errors
