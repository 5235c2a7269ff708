"""Many NetCDF files -> one Zarr store through per-file parts (the Argo fan-out's path) and locally.

Real-world-shaped daily files (tests/grid_files.py: noleap calendar, int16
CF packing with a float32 scale factor, fill values over land, deflated
one-day chunks).  A part made alone from each file, assembled by the
combine, must give the bytes of the local conversion with 1 or 2 workers;
a file that does not fit the others is an error naming it, with nothing
written.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import numpy as np
import pytest
import xarray as xr

from bot.adapters.objectstore import tree_sha256
from bot.catalog.layout import PipelineSpec, load_pipeline
from bot.convert.many import append_many, convert_many
from bot.convert.many_grid import open_source, write_part, write_regions
from bot.errors import DataError
from bot.structs import load
from tests.grid_files import LAT, daily_files, grouped_copies
from tests.test_sources_many import SST


@pytest.fixture
def spec() -> PipelineSpec:
    return load_pipeline(SST / "pipeline.yaml")  # coordinates lon/lat/time, chunks {time: 6, lat: 60, lon: 60}


def _parts(spec: PipelineSpec, files: list[Path], folder: Path) -> tuple[list[Path], list[dict]]:
    """What the convert-file pods make: one part per file, each alone."""
    paths, signatures = [], []
    for i, f in enumerate(files):
        path = folder / f"part-{i:05d}"
        signatures.append(write_part(spec, f, path, file=f"data/{f.name}"))
        paths.append(path)
    return paths, signatures


def test_parts_assemble_to_the_bytes_of_the_local_conversion(spec: PipelineSpec, tmp_path: Path) -> None:
    files = daily_files(tmp_path / "days", 6, 3)
    serial = convert_many(spec, files, tmp_path / "one", name="sst", jobs=1)
    parallel = convert_many(spec, files[::-1], tmp_path / "two", name="sst", jobs=2)
    parts, signatures = _parts(spec, files[::-1], tmp_path / "parts")  # any order: the combine sorts by time
    combined = tmp_path / "combined" / "sst.zarr"
    write_regions(spec, parts, signatures, combined, jobs=2)
    assert tree_sha256(serial.path) == tree_sha256(parallel.path) == tree_sha256(combined)
    # Decoded values, coordinates, attributes and the CF encoding all survive the parts.
    with xr.open_zarr(combined) as got, xr.open_mfdataset(files, combine="by_coords") as want:
        got, want = got.load(), want.load()
        # Zarr keeps the float32 scale factor as a JSON number: readers decode to float64, same values.
        xr.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
        xr.testing.assert_identical(got.coords.to_dataset(), want.coords.to_dataset().drop_encoding())
        assert {n: got[n].attrs for n in got.variables} == {n: want[n].attrs for n in want.variables}
        assert got.attrs["source"] == "day file 0"  # the first file's global attributes
        enc = got.sst.encoding
        assert (enc["dtype"], enc["_FillValue"], enc["scale_factor"]) == (np.dtype("int16"), -32768, np.float32(0.001))
        assert int(got.sst.isnull().sum()) == int(want.sst.isnull().sum()) > 0  # land stays missing
        assert (got.time.encoding["calendar"], got.time.encoding["units"]) == ("noleap", "days since 1850-01-01")
        assert got.sizes["time"] == 18 and got.sst.encoding["chunks"][0] == 3  # one file's region = whole chunks


def test_a_part_opens_to_what_its_file_opens_to(spec: PipelineSpec, tmp_path: Path) -> None:
    (nc,) = daily_files(tmp_path / "days", 1, 4)
    (part,), _ = _parts(spec, [nc], tmp_path / "parts")
    a, b = open_source(nc), open_source(part)
    try:
        xr.testing.assert_identical(a.load(), b.load())
        for name in a.variables:
            kept = {k: v for k, v in a[name].encoding.items() if k in b[name].encoding}
            assert repr(kept) == repr(b[name].encoding)  # repr: a NaN fill value equals itself, types shown
            assert b[name].encoding.keys() <= a[name].encoding.keys()
            if "scale_factor" in b[name].encoding:
                assert type(b[name].encoding["scale_factor"]) is np.float32  # not widened by JSON
    finally:
        a.close()
        b.close()


def _misfit(spec: PipelineSpec, files: list[Path], tmp_path: Path, match: str, bad: Path) -> None:
    """Locally (in process, and signed in a pool) and through parts: a DataError naming ``bad``, nothing written."""
    for jobs in (1, 2):
        with pytest.raises(DataError, match=match) as local:
            convert_many(spec, files, tmp_path / "local", name="sst", jobs=jobs)
        assert local.value.file == bad.name and "source.paths" in str(local.value.field)
        assert not (tmp_path / "local" / "sst.zarr").exists()
    parts, signatures = _parts(spec, files, tmp_path / "parts")
    with pytest.raises(DataError, match=match) as combined:
        write_regions(spec, parts, signatures, tmp_path / "combined" / "sst.zarr", jobs=1)
    assert combined.value.file == f"data/{bad.name}"
    assert not (tmp_path / "combined" / "sst.zarr").exists()
    shutil.rmtree(tmp_path / "parts")


def test_a_file_on_another_grid_is_named_and_nothing_is_written(spec: PipelineSpec, tmp_path: Path) -> None:
    files = daily_files(tmp_path / "days", 3, 3)
    (shifted,) = daily_files(tmp_path / "shifted", 1, 3, start=9, lat=LAT + 0.25)  # a regridded product
    _misfit(spec, [*files, shifted], tmp_path, "values of coordinate 'lat' differ", shifted)
    (small,) = daily_files(tmp_path / "small", 1, 3, start=12, lat=LAT[:60])
    _misfit(spec, [*files, small], tmp_path, "dimension 'lat' has 60 values", small)
    (early,) = daily_files(tmp_path / "early", 1, 3, start=-3, lat=LAT[:60])  # the odd one is the first in time
    _misfit(spec, [*files, early], tmp_path, "dimension 'lat' has 60 values", early)


def test_a_file_with_another_dtype_or_overlapping_times_is_named(spec: PipelineSpec, tmp_path: Path) -> None:
    files = daily_files(tmp_path / "days", 3, 3)
    (overlap,) = daily_files(tmp_path / "overlap", 1, 3, start=4)  # days 4-6; the second file has 3-5
    _misfit(spec, [*files, overlap], tmp_path, "before (data/)?tos_day_00003.nc ends", overlap)
    unpacked = tmp_path / "float" / "tos_day_00009.nc"
    unpacked.parent.mkdir()
    with xr.open_dataset(daily_files(tmp_path / "src", 1, 3, start=9)[0]) as ds:
        ds.to_netcdf(unpacked, encoding={"sst": {"dtype": "float32", "_FillValue": np.float32(-999)}})
    _misfit(spec, [*files, unpacked], tmp_path, "'sst' is float32 \\(stored float32\\)", unpacked)


def test_parts_append_to_the_bytes_of_a_full_conversion(spec: PipelineSpec, tmp_path: Path) -> None:
    files = daily_files(tmp_path / "days", 6, 3)
    full = convert_many(spec, files, tmp_path / "full", name="sst")
    previous = convert_many(spec, files[:4], tmp_path / "inc", name="sst")
    parts, _ = _parts(spec, files[4:], tmp_path / "parts")
    appended = append_many(spec, previous.path, parts)
    assert tree_sha256(appended.path) == tree_sha256(full.path)


def test_files_with_the_data_in_a_group_convert_and_fan_out_alike(spec: PipelineSpec, tmp_path: Path) -> None:
    """Satellite L3 products keep the variables in a named group: every path reads ``source.group``."""
    flat = daily_files(tmp_path / "flat", 3, 2)
    grouped = grouped_copies(flat, tmp_path / "grouped")
    in_group = msgspec.structs.replace(spec, source=msgspec.structs.replace(spec.source, group="PRODUCT"))
    want = convert_many(spec, flat, tmp_path / "want", name="sst")
    local = convert_many(in_group, grouped, tmp_path / "local", name="sst", jobs=2)
    parts, signatures = _parts(in_group, grouped, tmp_path / "parts")
    write_regions(in_group, parts, signatures, tmp_path / "combined" / "sst.zarr", jobs=1)
    assert tree_sha256(local.path) == tree_sha256(tmp_path / "combined" / "sst.zarr")
    with xr.open_zarr(local.path) as got, xr.open_zarr(want.path) as flat_store:
        xr.testing.assert_identical(got.load(), flat_store.load())  # (attribute order differs: rewritten files)


def test_no_source_file_stays_open_while_the_regions_are_written(
    spec: PipelineSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory per worker stays flat in the number of files: an open NetCDF keeps its decompressed
    HDF5 chunk cache, so the template's handles are closed before any region is written (with them
    open, a 48-file conversion grew by one decoded file per file: 1.8 GB in one process)."""
    from xarray.backends.file_manager import FILE_CACHE

    import bot.convert.many_grid as many_grid

    files = daily_files(tmp_path / "days", 4, 3)
    open_when_writing: list[int] = []
    write_region = many_grid._write_region

    def recording(args: tuple) -> None:
        open_when_writing.append(len(FILE_CACHE))
        write_region(args)

    monkeypatch.setattr(many_grid, "_write_region", recording)
    convert_many(spec, files, tmp_path / "out", name="sst", jobs=1)
    assert open_when_writing == [0, 0, 0, 0]


def test_unsigned_bytes_survive_the_parts(tmp_path: Path) -> None:
    """NetCDF-3 files with ``_Unsigned`` bytes: parts carry the attribute, so the combine writes the
    unsigned type like the local engine (without it the parts' store held 200 as -56)."""
    import netCDF4

    files = []
    for i in range(3):
        path = tmp_path / "days" / f"flags_{i}.nc"
        path.parent.mkdir(exist_ok=True)
        with netCDF4.Dataset(path, "w", format="NETCDF3_CLASSIC") as nc:
            for dim, n in (("time", 2), ("lat", 3), ("lon", 3)):
                nc.createDimension(dim, n)
            time = nc.createVariable("time", "f8", ("time",))
            time.units, time.calendar, time[:] = "days since 2000-01-01", "noleap", [2 * i, 2 * i + 1]
            for name, units in (("lat", "degrees_north"), ("lon", "degrees_east")):
                var = nc.createVariable(name, "f4", (name,))
                var.units, var[:] = units, [0, 1, 2]
            flag = nc.createVariable("flag", "i1", ("time", "lat", "lon"))
            flag._Unsigned = "true"
            flag.set_auto_maskandscale(False)
            flag[:] = np.full((2, 3, 3), -56 + i, dtype="i1")  # 200 + i
        files.append(path)
    spec = load(
        {
            "output": "zarr",
            "source": {"path": "days/*.nc", "format": "netcdf"},
            "coordinates": {"x": "lon", "y": "lat", "t": "time"},
        },
        PipelineSpec,
    )
    local = convert_many(spec, files, tmp_path / "local", name="flags", jobs=1)
    parts, signatures = _parts(spec, files, tmp_path / "parts")
    write_regions(spec, parts, signatures, tmp_path / "combined" / "flags.zarr", jobs=1)
    assert tree_sha256(local.path) == tree_sha256(tmp_path / "combined" / "flags.zarr")
    with xr.open_zarr(local.path) as got:
        assert got.flag.dtype == np.uint8 and sorted(np.unique(got.flag.values)) == [200, 201, 202]


def test_with_a_pool_the_first_bad_file_in_source_order_is_the_error(spec: PipelineSpec, tmp_path: Path) -> None:
    """The main process opens the template's files while the workers sign them: the error stays the same.

    An HTML error page saved as ``.nc`` fails to open in both; a file
    missing the time dimension fails only the workers' check.  Whichever
    comes first in the source list is reported, as with one worker.
    """
    files = daily_files(tmp_path / "days", 3, 3)
    page = tmp_path / "bad" / "tos_day_00099.nc"
    page.parent.mkdir()
    page.write_text("<html><body>503 Service Unavailable</body></html>")
    no_time = tmp_path / "bad" / "tos_static.nc"
    with xr.open_dataset(files[0]) as ds:
        ds.isel(time=0).drop_vars("time").to_netcdf(no_time)
    for order, bad, match in (
        ([*files, page], page, "not a readable NetCDF file"),
        ([files[0], no_time, *files[1:], page], no_time, "dimension 'time'"),
    ):
        for jobs in (1, 2):
            with pytest.raises(DataError, match=match) as err:
                convert_many(spec, order, tmp_path / f"out-{jobs}", name="sst", jobs=jobs)
            assert Path(str(err.value.file)).name == bad.name
            assert not (tmp_path / f"out-{jobs}" / "sst.zarr").exists()
