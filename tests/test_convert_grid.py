"""NetCDF / Zarr -> Zarr: real NetCDF files written with xarray, read back with xarray."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

from bot.catalog.layout import Catalog, Coordinates, PipelineSpec
from bot.convert import convert_dataset
from bot.convert.grid import choose_chunks, convert_netcdf, passthrough_zarr
from bot.errors import DataError

COORDS = Coordinates(x="lon", y="lat", t="time")


def _netcdf(path: Path, *, lat: np.ndarray | None = None, dims: tuple[str, str, str] = ("time", "lat", "lon")) -> Path:
    lat = np.linspace(-30, -10, 40) if lat is None else lat
    lon = np.linspace(140, 160, 50)
    time = pd.date_range("2024-01-01", periods=10, freq="D")
    data = np.random.default_rng(0).normal(25, 2, (10, lat.size, lon.size)).astype("float32")
    ds = xr.Dataset(
        {"sst": (dims, data, {"units": "degC", "standard_name": "sea_surface_temperature", "long_name": "SST"})},
        coords={dims[0]: time, dims[1]: ("lat" if dims[1] == "lat" else dims[1], lat), dims[2]: lon},
        attrs={"title": "test grid", "Conventions": "CF-1.8"},
    )
    ds.to_netcdf(path, encoding={"sst": {"zlib": True, "chunksizes": (5, lat.size, lon.size)}})
    return path


def _spec(**extra: object) -> PipelineSpec:
    return PipelineSpec.model_validate(
        {"source": {"path": "x.nc", "format": "netcdf"}, "output": "zarr", "coordinates": COORDS.model_dump(), **extra}
    )


def test_example_netcdf_to_zarr_roundtrip(example_catalog: Path, tmp_path: Path) -> None:
    ds = Catalog.open(example_catalog).dataset("sea-surface-temperature")
    spec = ds.pipeline()
    src = ds.dir / spec.source.path
    result = convert_dataset(spec, src, tmp_path / "out")
    assert result.format == "zarr" and result.path.name == "sea-surface-temperature.zarr"
    assert (result.path / ".zmetadata").is_file(), "consolidated metadata"
    assert result.bytes == sum(p.stat().st_size for p in result.files) > 0
    original = xr.open_dataset(src)
    out = xr.open_zarr(result.path)
    xr.testing.assert_identical(original.load(), out.load())
    group = zarr.open_group(str(result.path), mode="r")
    assert group.metadata.zarr_format == 2
    for name, size in spec.chunks.items():
        dims = group["sst"].attrs["_ARRAY_DIMENSIONS"]
        assert group["sst"].chunks[dims.index(name)] == min(size, original.sizes[name])
    assert group["sst"].attrs["standard_name"] == original.sst.attrs["standard_name"]


def test_default_chunks_are_a_few_megabytes(tmp_path: Path) -> None:
    sizes = {"time": 365, "lat": 720, "lon": 1440}
    chunks = choose_chunks(sizes, 4, time_dim="time", target_bytes=4 << 20)
    nbytes = math.prod(chunks.values()) * 4
    assert nbytes <= 4 << 20
    # not needlessly small: growing the time chunk by one step would exceed the target
    assert (chunks["time"] + 1) * chunks["lat"] * chunks["lon"] * 4 > 4 << 20
    requested = choose_chunks(sizes, 4, {"lat": 100}, time_dim="time")
    assert requested["lat"] == 100


def test_small_target_rechunks_and_keeps_values(tmp_path: Path) -> None:
    src = _netcdf(tmp_path / "g.nc")
    result = convert_netcdf(src, tmp_path / "out" / "g.zarr", COORDS, target_chunk_bytes=16_000)
    group = zarr.open_group(str(result.path), mode="r")
    assert math.prod(group["sst"].chunks) * 4 <= 16_000
    assert group["time"].chunks == group["time"].shape, "dimension coordinates are one chunk"
    xr.testing.assert_identical(xr.open_dataset(src).load(), xr.open_zarr(result.path).load())


def test_missing_dimension(tmp_path: Path) -> None:
    src = _netcdf(tmp_path / "g.nc")
    spec = PipelineSpec.model_validate(
        {
            "source": {"path": "g.nc", "format": "netcdf"},
            "output": "zarr",
            "coordinates": {"x": "longitude", "y": "lat"},
        }
    )
    with pytest.raises(DataError) as err:
        convert_dataset(spec, src, tmp_path / "out")
    msg = str(err.value)
    assert "'longitude'" in msg and "coordinates.x" in msg and "time, lat, lon" in msg and str(src) in msg
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_latitude_out_of_range_in_grid(tmp_path: Path) -> None:
    src = _netcdf(tmp_path / "g.nc", lat=np.linspace(-100, -10, 40))
    with pytest.raises(DataError, match=r"\[lat\].*latitude -100.0 at index 0"):
        convert_dataset(_spec(), src, tmp_path / "out")


def test_not_a_netcdf(tmp_path: Path) -> None:
    src = tmp_path / "bad.nc"
    src.write_bytes(b"CDF\x01 truncated garbage")
    with pytest.raises(DataError, match="not a readable NetCDF"):
        convert_dataset(_spec(), src, tmp_path / "out")


def test_netcdf_path_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        convert_dataset(_spec(), tmp_path / "missing.nc", tmp_path / "out")


def test_chunks_for_unknown_dimension(tmp_path: Path) -> None:
    src = _netcdf(tmp_path / "g.nc")
    with pytest.raises(DataError, match=r"\[chunks\].*depth"):
        convert_dataset(_spec(chunks={"depth": 4}), src, tmp_path / "out")


def test_zarr_passthrough(tmp_path: Path) -> None:
    src = _netcdf(tmp_path / "g.nc")
    first = convert_netcdf(src, tmp_path / "a" / "g.zarr", COORDS)
    copy = passthrough_zarr(first.path, tmp_path / "b" / "g.zarr", COORDS)
    xr.testing.assert_identical(xr.open_zarr(first.path).load(), xr.open_zarr(copy.path).load())
    with pytest.raises(DataError, match="'depth'"):
        passthrough_zarr(first.path, tmp_path / "c" / "g.zarr", Coordinates(x="lon", y="lat", z="depth"))
    assert not (tmp_path / "c" / "g.zarr").exists()


def test_reconvert_replaces_output_atomically(tmp_path: Path) -> None:
    src = _netcdf(tmp_path / "g.nc")
    out = tmp_path / "out"
    convert_netcdf(src, out / "g.zarr", COORDS)
    result = convert_netcdf(src, out / "g.zarr", COORDS, {"time": 2})
    assert [p.name for p in out.iterdir()] == ["g.zarr"]
    assert zarr.open_group(str(result.path), mode="r")["sst"].chunks[0] == 2


def test_direct_chunk_path_handles_unwritten_chunks_and_big_endian(tmp_path: Path) -> None:
    """The h5py direct-chunk reader must give exactly what netCDF4/xarray decode."""
    import h5py
    import netCDF4

    from bot.convert.grid import _hdf5_chunk_reader

    src = tmp_path / "partial.nc"
    with netCDF4.Dataset(src, "w") as nc:
        nc.createDimension("time", 8)
        nc.createDimension("lat", 30)
        nc.createDimension("lon", 40)
        t = nc.createVariable("time", "f8", ("time",))
        t.units = "hours since 2020-01-01"
        t[:] = np.arange(8)
        nc.createVariable("lat", "f8", ("lat",))[:] = np.linspace(-20, -10, 30)
        nc.createVariable("lon", "f8", ("lon",))[:] = np.linspace(140, 150, 40)
        v = nc.createVariable(
            "sst",
            np.dtype(">f4"),
            ("time", "lat", "lon"),
            zlib=True,
            shuffle=True,
            chunksizes=(2, 30, 40),
            endian="big",
            fill_value=np.float32(-999),
        )
        v.units = "degC"
        v[0:4] = np.random.default_rng(2).normal(25, 1, (4, 30, 40)).astype("float32")  # chunks 2..3 never written
        q = nc.createVariable("flag", "i2", ("time", "lat", "lon"), zlib=True, chunksizes=(2, 30, 40))
        q.scale_factor = 0.5
        q[:] = np.arange(8 * 30 * 40).reshape(8, 30, 40) % 7
    with h5py.File(src, "r") as h5:
        assert _hdf5_chunk_reader(h5, "sst", (4, 30, 40)) is not None, "fast path must apply to this layout"
    result = convert_netcdf(src, tmp_path / "out" / "p.zarr", COORDS, {"time": 4})
    xr.testing.assert_identical(xr.open_dataset(src).load(), xr.open_zarr(result.path).load())


def test_dask_engine_gives_the_same_store(tmp_path: Path) -> None:
    src = _netcdf(tmp_path / "g.nc")
    a = convert_netcdf(src, tmp_path / "a" / "g.zarr", COORDS)
    b = convert_netcdf(src, tmp_path / "b" / "g.zarr", COORDS, engine="dask")
    xr.testing.assert_identical(xr.open_zarr(a.path).load(), xr.open_zarr(b.path).load())


def test_netcdf_group(tmp_path: Path) -> None:
    """Products such as Sentinel-3 or many satellite L3 files keep the variables in a named group."""
    flat = _netcdf(tmp_path / "flat.nc")
    src = tmp_path / "grouped.nc"
    xr.Dataset(attrs={"title": "grouped product", "Conventions": "CF-1.8"}).to_netcdf(src)
    with xr.open_dataset(flat) as ds:
        ds.load().to_netcdf(src, group="PRODUCT", mode="a")
    result = convert_dataset(
        _spec(source={"path": "grouped.nc", "format": "netcdf", "group": "PRODUCT"}), src, tmp_path / "out"
    )
    with xr.open_dataset(flat) as expected, xr.open_zarr(result.path) as got:
        xr.testing.assert_equal(expected.load(), got.load())
    with pytest.raises(DataError, match="group 'RESULTS' does not exist") as err:
        convert_dataset(
            _spec(source={"path": "grouped.nc", "format": "netcdf", "group": "RESULTS"}), src, tmp_path / "o2"
        )
    assert err.value.field == "source.group"
    with pytest.raises(DataError, match="its data is in group\\(s\\): PRODUCT"):  # the root group holds nothing
        convert_dataset(_spec(source={"path": "grouped.nc", "format": "netcdf"}), src, tmp_path / "o3")
