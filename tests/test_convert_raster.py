"""GeoTIFF / COG -> Zarr (rioxarray): bathymetry-like rasters on a lon/lat grid and in UTM, nodata kept."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.transform import from_origin

from bot.catalog.layout import Coordinates, PipelineSpec
from bot.convert import convert_dataset
from bot.errors import DataError
from bot.metadata.datadriven import check_extents, extract_zarr_metadata
from bot.structs import load

XY = Coordinates(x="lon", y="lat")


def _bathymetry(path: Path, crs: str | None, x0: float, y0: float, res: float, w: int = 120, h: int = 80) -> np.ndarray:
    """A tiled, deflate-compressed int16 depth raster with a nodata corner (as survey offices ship them)."""
    rng = np.random.default_rng(4)
    depth = (-rng.uniform(5, 4000, (h, w))).astype("int16")
    depth[:5, :5] = -9999
    profile = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": 1,
        "dtype": "int16",
        "transform": from_origin(x0, y0, res, res),
        "nodata": -9999,
        "tiled": True,
        "blockxsize": 64,
        "blockysize": 64,
        "compress": "deflate",
    }
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(depth, 1)
        dst.update_tags(1, units="m", long_name="depth below mean sea level")
    return depth


def _spec(name: str, **source: str) -> PipelineSpec:
    return load(
        {
            "source": {"path": name, "format": "geotiff", **source},
            "output": "zarr",
            "coordinates": msgspec.structs.asdict(XY),
        },
        PipelineSpec,
    )


def test_lonlat_geotiff_to_zarr_cell_centres_and_nodata(tmp_path: Path) -> None:
    src = tmp_path / "GBR bathymetry 100m.tif"
    depth = _bathymetry(src, "EPSG:4326", 145.0, -15.0, 0.01)
    result = convert_dataset(_spec(src.name), src, tmp_path / "out", name="bathy")
    with xr.open_zarr(result.path) as ds:
        var = ds["gbr_bathymetry_100m"]
        assert var.dims == ("lat", "lon") and var.attrs["units"] == "m"
        values = var.values
        assert np.isnan(values[:5, :5]).all()
        assert np.array_equal(values[5:, 5:], depth[5:, 5:].astype("float32"))
        assert ds["lon"].values[0] == pytest.approx(145.005) and ds["lat"].values[0] == pytest.approx(-15.005)
    meta = extract_zarr_metadata(result.path, XY)
    assert meta.bbox == pytest.approx([145.005, -15.795, 146.195, -15.005])  # cell centres
    assert check_extents(meta) == []
    (variable,) = meta.to_gridschema()["variables"]
    assert (variable["type"], variable["data_type"]) == ("number", "int16")  # masked int16 decodes to float
    assert variable["packing"]["decoded_data_type"] == "float32"


def test_projected_geotiff_is_reprojected(tmp_path: Path) -> None:
    from pyproj import Transformer

    src = tmp_path / "bathy_utm.tif"
    _bathymetry(src, "EPSG:32755", 300000, 8300000, 250)
    result = convert_dataset(_spec(src.name), src, tmp_path / "out")
    meta = extract_zarr_metadata(result.path, XY)
    to_ll = Transformer.from_crs("EPSG:32755", "OGC:CRS84", always_xy=True)
    west, north = to_ll.transform(300000, 8300000)
    east, south = to_ll.transform(300000 + 120 * 250, 8300000 - 80 * 250)
    assert meta.bbox is not None
    assert meta.bbox[0] == pytest.approx(west, abs=0.01) and meta.bbox[2] == pytest.approx(east, abs=0.01)
    assert meta.bbox[1] == pytest.approx(south, abs=0.01) and meta.bbox[3] == pytest.approx(north, abs=0.01)


def test_raster_without_crs_and_broken_file(tmp_path: Path) -> None:
    src = tmp_path / "nocrs.tif"
    _bathymetry(src, None, 145.0, -15.0, 0.01)
    with pytest.raises(DataError, match="declares no CRS") as err:
        convert_dataset(_spec(src.name), src, tmp_path / "out")
    assert err.value.field == "source.crs"
    result = convert_dataset(_spec(src.name, crs="EPSG:4326"), src, tmp_path / "out")
    assert extract_zarr_metadata(result.path, XY).bbox == pytest.approx([145.005, -15.795, 146.195, -15.005])
    broken = tmp_path / "broken.tif"
    broken.write_bytes(src.read_bytes()[:300])
    with pytest.raises(DataError, match="not a readable GeoTIFF"):
        convert_dataset(_spec(broken.name), broken, tmp_path / "out2")
    assert not (tmp_path / "out2").exists() or not any((tmp_path / "out2").iterdir())
