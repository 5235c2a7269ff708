"""GeoTIFF / COG -> Zarr (rioxarray): rasters such as bathymetry or habitat maps as gridded datasets.

Why rioxarray: it reads the GeoTIFF's georeferencing (transform, CRS,
nodata) into xarray coordinates, and reprojects with GDAL when the raster is
not on a longitude/latitude grid.  The output is the same kind of store the
NetCDF converter writes (Zarr v2, consolidated, CF attributes), so every
later step treats it alike:

* x/y become the 1-D cell-centre coordinates named by ``coordinates.x/y``
  (``lon``/``lat`` by default) with CF units;
* a single band is one 2-D variable named after the file (``band`` kept as a
  dimension when there are several);
* nodata is kept as the store's ``_FillValue`` with the file's dtype (a CF
  reader sees NaN; the grid schema describes the decoded type);
* a projected raster is reprojected to EPSG:4326 (``source.crs`` overrides a
  missing or wrong CRS; no CRS at all is an error).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bot.catalog.layout import Coordinates
from bot.convert.common import ConversionResult, atomic_output, list_files, lonlat_transform, require_source
from bot.convert.grid import ZARR_FORMAT, check_grid, choose_chunks, zarr_encoding
from bot.errors import DataError


def variable_name(source: Path) -> str:
    """A CF-safe variable name from the file name (``GBR bathymetry 100m.tif`` -> ``gbr_bathymetry_100m``)."""
    name = re.sub(r"[^a-z0-9_]+", "_", source.stem.lower()).strip("_")
    return name if name and name[0].isalpha() else f"v_{name}"


def open_raster(source: Path, coords: Coordinates, crs: str | None = None) -> Any:
    """The raster as an xarray Dataset on a lon/lat grid (lazy where no reprojection is needed)."""
    import rioxarray
    from rasterio.errors import RasterioIOError

    require_source(source)
    file = str(source)
    try:
        da: Any = rioxarray.open_rasterio(source, masked=True, chunks={"band": 1, "x": 4096, "y": 4096})
    except (RasterioIOError, OSError, ValueError) as exc:
        raise DataError(f"not a readable GeoTIFF: {exc}", file=file, hint="upload a complete GeoTIFF / COG") from None
    if crs:
        da = da.rio.write_crs(crs)
    if da.rio.crs is None:
        raise DataError(
            "the raster declares no CRS", file=file, field="source.crs", hint="set source.crs in pipeline.yaml"
        )
    if lonlat_transform(da.rio.crs.to_wkt(), file=file) is not None:
        da = da.rio.reproject("EPSG:4326")  # loads the raster: GDAL warps in memory
    x, y = coords.x or "lon", coords.y or "lat"
    da = da.rename({"x": x, "y": y})
    if da.sizes.get("band") == 1:
        da = da.squeeze("band", drop=True)
    for name in ("spatial_ref",):
        if name in da.coords:
            da = da.drop_vars(name)
    da[x].attrs = {"standard_name": "longitude", "units": "degrees_east", "axis": "X"}
    da[y].attrs = {"standard_name": "latitude", "units": "degrees_north", "axis": "Y"}
    attrs = {k: v for k, v in da.attrs.items() if k not in ("_FillValue", "scale_factor", "add_offset")}
    var = variable_name(source)
    ds = da.to_dataset(name=var)
    ds[var].attrs = {k: v for k, v in attrs.items() if isinstance(v, str | int | float) and k != "AREA_OR_POINT"}
    ds[var].attrs.setdefault("long_name", source.stem)
    return ds


def convert_geotiff(
    source: Path,
    dest: Path,
    coords: Coordinates,
    chunks: dict[str, int] | None = None,
    *,
    crs: str | None = None,
) -> ConversionResult:
    """One GeoTIFF -> a consolidated Zarr v2 store at ``dest``."""
    ds = open_raster(source, coords, crs)
    check_grid(ds, coords, str(source))
    itemsize = max(v.dtype.itemsize for v in ds.data_vars.values())
    plan = choose_chunks(dict(ds.sizes), itemsize, chunks, time_dim=coords.t)
    ds = ds.chunk(plan)
    encoding = zarr_encoding(ds, plan)  # keeps the file's dtype and nodata as _FillValue (CF masking)
    with atomic_output(dest) as tmp:
        ds.to_zarr(tmp, mode="w", consolidated=True, zarr_format=ZARR_FORMAT, encoding=encoding)
    files, size = list_files(dest)
    return ConversionResult(path=dest, format="zarr", rows=None, files=files, bytes=size)
