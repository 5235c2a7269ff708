"""NetCDF / Zarr -> Zarr: real NetCDF files written with xarray, read back with xarray."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

from bot.adapters.objectstore import tree_sha256
from bot.catalog.layout import Catalog, Coordinates, PipelineSpec
from bot.convert import convert_dataset
from bot.convert.grid import choose_chunks, convert_netcdf, passthrough_zarr
from bot.errors import DataError
from bot.structs import load

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
    return load(
        {
            "source": {"path": "x.nc", "format": "netcdf"},
            "output": "zarr",
            "coordinates": msgspec.structs.asdict(COORDS),
            **extra,
        },
        PipelineSpec,
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
    spec = load(
        {
            "source": {"path": "g.nc", "format": "netcdf"},
            "output": "zarr",
            "coordinates": {"x": "longitude", "y": "lat"},
        },
        PipelineSpec,
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

    from bot.convert.zarr_blocks import _hdf5_chunk_reader

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


def _packed_noleap(path: Path, fmt: str, chunks: tuple[int, int, int] | None) -> Path:
    """A CMIP/reanalysis-shaped file: int16 packed with scale_factor/add_offset/_FillValue, a noleap calendar."""
    import netCDF4

    rng = np.random.default_rng(11)
    with netCDF4.Dataset(path, "w", format=fmt) as nc:
        nc.Conventions = "CF-1.8"
        nc.createDimension("time", 14)
        nc.createDimension("lat", 36)
        nc.createDimension("lon", 72)
        t = nc.createVariable("time", "f8", ("time",))
        t.units, t.calendar, t.standard_name = "days since 1850-01-01", "noleap", "time"
        t[:] = np.arange(14) * 365.0 + 15.5  # mid-January each year; no 29 Feb exists in this calendar
        lat = nc.createVariable("lat", "f4", ("lat",))
        lat.units = "degrees_north"
        lat[:] = np.linspace(-87.5, 87.5, 36)
        lon = nc.createVariable("lon", "f4", ("lon",))
        lon.units = "degrees_east"
        lon[:] = np.linspace(-177.5, 177.5, 72)
        kw: dict[str, object] = {"zlib": True, "shuffle": True, "chunksizes": chunks} if chunks else {}
        tas = nc.createVariable("tas", "i2", ("time", "lat", "lon"), fill_value=np.int16(-32767), **kw)
        tas.scale_factor, tas.add_offset, tas.units = np.float32(0.01), np.float32(273.15), "K"
        values = rng.normal(15, 8, (14, 36, 72))
        values[:, :3, :] = np.nan  # a polar cap without data: stored as _FillValue
        tas.set_auto_maskandscale(True)
        tas[:] = np.ma.array(np.nan_to_num(values), mask=np.isnan(values))
        pr = nc.createVariable("pr", "f4", ("time", "lat", "lon"), fill_value=np.float32(1e20), **kw)
        pr.units = "kg m-2 s-1"
        pr[:] = np.abs(rng.normal(3e-5, 1e-5, (14, 36, 72))).astype("float32")
    return path


@pytest.mark.parametrize(
    ("fmt", "src_chunks", "out_chunks"),
    [
        ("NETCDF4", (2, 36, 72), {"time": 4}),  # deflate+shuffle aligned: compressed chunks decoded in the pool
        ("NETCDF4", (3, 36, 72), {"time": 4}),  # misaligned: read through netCDF4
        ("NETCDF3_64BIT_OFFSET", None, {"time": 5}),  # NetCDF-3 (big-endian, contiguous)
    ],
)
def test_store_is_what_xarray_writes(
    tmp_path: Path, fmt: str, src_chunks: tuple[int, int, int] | None, out_chunks: dict[str, int]
) -> None:
    """Same arrays, attributes and decoded values as ``Dataset.to_zarr`` with the same encoding."""
    from bot.convert.grid import ZARR_FORMAT, zarr_encoding

    src = _packed_noleap(tmp_path / "tas.nc", fmt, src_chunks)
    result = convert_netcdf(src, tmp_path / "out" / "tas.zarr", COORDS, out_chunks)
    # hashed as written (zarr_blocks.hashing_store): the digest the convert step would otherwise read back
    assert result.sha256 is not None and result.sha256 == tree_sha256(result.path)
    with xr.open_dataset(src) as ds:
        plan = {"time": out_chunks["time"], "lat": 36, "lon": 72}
        ds.to_zarr(
            tmp_path / "ref.zarr",
            mode="w",
            consolidated=True,
            zarr_format=ZARR_FORMAT,
            encoding=zarr_encoding(ds, plan),
        )
    ours, ref = zarr.open_group(str(result.path), mode="r"), zarr.open_group(str(tmp_path / "ref.zarr"), mode="r")
    assert sorted(ours.array_keys()) == sorted(ref.array_keys())
    for name in ref.array_keys():
        a, b = ours[name], ref[name]
        assert isinstance(a, zarr.Array) and isinstance(b, zarr.Array)
        assert a.metadata.to_dict() == b.metadata.to_dict(), name  # dtype, chunks, fill value, compressor, attributes
        assert np.array_equal(a[...], b[...], equal_nan=True), name  # the stored (packed) values
    assert dict(ours.attrs) == dict(ref.attrs)
    cftime = xr.coders.CFDatetimeCoder(use_cftime=True)
    with (
        xr.open_dataset(src, decode_times=cftime) as expected,
        xr.open_zarr(result.path, decode_times=cftime) as got,
        xr.open_zarr(tmp_path / "ref.zarr", decode_times=cftime) as via_xarray,
    ):
        xr.testing.assert_identical(via_xarray.load(), got.load())
        # Zarr attributes are JSON: the float32 scale_factor decodes in float64 (xarray's own store too),
        # the source in float32 (~2e-5 apart at 273.15 + x; the packing step is 0.01)
        xr.testing.assert_allclose(expected.load().astype("float64"), got.astype("float64"), rtol=0, atol=1e-4)
        assert got.tas.encoding["dtype"] == np.dtype("int16") and got.time.encoding["calendar"] == "noleap"
        assert int(got.tas.isnull().sum()) == 14 * 3 * 72


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


def test_time_bounds_and_string_labels_match_xarray(tmp_path: Path) -> None:
    """Time bounds (2-D times) are block-copied, per-step string labels left to xarray: both as to_zarr stores them."""
    from bot.convert.grid import ZARR_FORMAT, zarr_encoding

    src = _netcdf(tmp_path / "g.nc")
    with xr.open_dataset(src) as ds:
        full = ds.load()
    start = full.time.values
    full["time_bnds"] = (("time", "nv"), np.stack([start, start + np.timedelta64(1, "D")], axis=1))
    full.time.attrs["bounds"] = "time_bnds"
    full["platform"] = ("time", np.array(["NOAA-20", "SNPP"] * 5, dtype=object))
    with_labels = tmp_path / "labels.nc"
    full.to_netcdf(with_labels, encoding={"sst": {"zlib": True, "chunksizes": (5, 40, 50)}})
    result = convert_netcdf(with_labels, tmp_path / "out" / "g.zarr", COORDS, {"time": 5})
    with xr.open_dataset(with_labels) as ds:
        plan = {"time": 5, "lat": 40, "lon": 50, "nv": 2}
        enc = zarr_encoding(ds, plan)
        ds.to_zarr(tmp_path / "ref.zarr", mode="w", consolidated=True, zarr_format=ZARR_FORMAT, encoding=enc)
    ours, ref = zarr.open_group(str(result.path), mode="r"), zarr.open_group(str(tmp_path / "ref.zarr"), mode="r")
    for name in ("time_bnds", "platform", "sst"):
        a, b = ours[name], ref[name]
        assert isinstance(a, zarr.Array) and isinstance(b, zarr.Array)
        assert a.metadata.to_dict() == b.metadata.to_dict(), name
    with xr.open_dataset(with_labels) as expected, xr.open_zarr(result.path) as got:
        xr.testing.assert_identical(expected.load(), got.load())
        assert got.platform.values.tolist() == ["NOAA-20", "SNPP"] * 5


@pytest.mark.parametrize("fmt", ["NETCDF3_CLASSIC", "NETCDF4"])
def test_unsigned_bytes_keep_their_values(tmp_path: Path, fmt: str) -> None:
    """netCDF-3 stores unsigned bytes signed with ``_Unsigned = "true"`` (satellite flags, quality
    codes): the store holds them as Zarr's unsigned type, so 200 stays 200 and the fill value masks."""
    import netCDF4

    src = tmp_path / "flags.nc"
    with netCDF4.Dataset(src, "w", format=fmt) as nc:
        for dim, n in (("time", 4), ("lat", 3), ("lon", 3)):
            nc.createDimension(dim, n)
        time = nc.createVariable("time", "f8", ("time",))
        time.units, time.calendar, time[:] = "days since 2000-01-01", "noleap", np.arange(4)
        for name, units, values in (("lat", "degrees_north", [-1, 0, 1]), ("lon", "degrees_east", [10, 11, 12])):
            var = nc.createVariable(name, "f4", (name,))
            var.units, var[:] = units, values
        raw = np.arange(36, dtype="i2").reshape(4, 3, 3) * 7 - 100  # -100..145 as signed bytes: 156..255, 0..145
        flag = nc.createVariable("flag", "i1", ("time", "lat", "lon"))
        flag._Unsigned = "true"
        flag.set_auto_maskandscale(False)
        flag[:] = raw.astype("i1")
        quality = nc.createVariable("quality", "i1", ("time", "lat", "lon"), fill_value=np.int8(-1))
        quality._Unsigned = "true"
        quality.set_auto_maskandscale(False)
        quality[:] = np.where(raw % 3 == 0, -1, raw).astype("i1")  # -1 is 255 unsigned: the fill
    spec = load(
        {
            "output": "zarr",
            "source": {"path": "flags.nc", "format": "netcdf"},
            "coordinates": {"x": "lon", "y": "lat", "t": "time"},
        },
        PipelineSpec,
    )
    result = convert_dataset(spec, src, tmp_path / "out", None, name="flags")
    with xr.open_dataset(src) as want, xr.open_zarr(result.path) as got:
        assert got.flag.dtype == np.uint8 and int(got.flag.max()) > 127
        for name in ("flag", "quality"):
            xr.testing.assert_identical(got[name].load().drop_encoding(), want[name].load().drop_encoding())
        assert int(got.quality.isnull().sum()) == int((raw % 3 == 0).sum())
