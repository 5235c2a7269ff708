"""Appending daily NetCDF files without xarray (bot/convert/grid_append.py): same bytes, or the xarray path.

The raw append copies the files' stored values; it is only right when
xarray's decode + encode would have been the identity, so every case here
compares the appended store, file by file, with a full conversion of all
files (real NetCDF files shaped like daily products: noleap / 360_day /
standard calendars, each file counting from its own day, fill values over
land, edge chunks) -- and every case it must refuse (CF-packed integers,
another grid, other attributes, overlapping times) goes to the xarray path,
which still gives the full conversion's bytes or the located error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import msgspec
import netCDF4
import pytest

from bot.adapters.objectstore import tree_files, tree_sha256
from bot.catalog.layout import PipelineSpec, load_pipeline
from bot.convert.grid_append import append_raw
from bot.convert.many import NotAppendable, append_many, convert_many
from bot.errors import DataError
from tests.grid_files import LAT, daily_files, grouped_copies
from tests.test_sources_many import SST, split_netcdf

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def spec() -> PipelineSpec:
    return load_pipeline(SST / "pipeline.yaml")  # chunks {time: 6, lat: 60, lon: 60}: 80x80 grids have edge chunks


def _differences(a: Path, b: Path) -> list[str]:
    """The store files whose bytes differ (names, for a readable failure)."""
    fa, fb = dict(tree_files(a)), dict(tree_files(b))
    return [
        k for k in sorted(set(fa) | set(fb)) if k not in fa or k not in fb or fa[k].read_bytes() != fb[k].read_bytes()
    ]


@pytest.mark.parametrize(
    "shape",
    [
        {"packed": False},
        {"packed": False, "own_epoch": True},
        {"packed": False, "own_epoch": True, "calendar": "360_day"},
        {"packed": False, "own_epoch": True, "calendar": "standard"},
        {"packed": False, "own_epoch": True, "calendar": "standard", "noon": True},
        {"packed": False, "calendar": "noleap", "noon": True},
    ],
    ids=["noleap", "noleap-own-epoch", "360_day-own-epoch", "standard-own-epoch", "standard-noon", "noleap-noon"],
)
def test_raw_append_gives_the_bytes_of_a_full_conversion(spec: PipelineSpec, tmp_path: Path, shape: dict) -> None:
    files = daily_files(tmp_path / "days", 6, 3, **shape)
    full = convert_many(spec, files, tmp_path / "full", name="sst").path
    previous = convert_many(spec, files[:4], tmp_path / "inc", name="sst").path
    published = tmp_path / "published.zarr"
    shutil.copytree(previous, published, copy_function=os.link)  # the version readers use now
    before = tree_sha256(published)
    assert append_raw(spec, previous, files[4:][::-1])  # two files, given out of order
    assert _differences(previous, full) == []
    assert tree_sha256(published) == before  # nothing written through a hard link


def test_raw_append_of_monthly_files_with_fill_values_everywhere(spec: PipelineSpec, tmp_path: Path) -> None:
    """The example product: float64 times with a NaN _FillValue, float32 variables, one month per file."""
    months = split_netcdf(SST / "data/sea-surface-temperature.nc", tmp_path / "months")
    full = convert_many(spec, months, tmp_path / "full", name="sst").path
    previous = convert_many(spec, months[:11], tmp_path / "inc", name="sst").path
    assert append_raw(spec, previous, months[11:])
    assert _differences(previous, full) == []


def test_a_daily_append_does_not_import_xarray_or_dask(spec: PipelineSpec, tmp_path: Path) -> None:
    """The point of the raw path: importing xarray (pandas, pyarrow) and dask was most of a daily append."""
    files = daily_files(tmp_path / "days", 3, 3, packed=False, own_epoch=True)
    previous = convert_many(spec, files[:2], tmp_path / "inc", name="sst").path
    code = (
        "import sys\nfrom pathlib import Path\nfrom bot.catalog.layout import load_pipeline\n"
        "from bot.convert.many import append_many\n"
        f"append_many(load_pipeline(Path({str(SST / 'pipeline.yaml')!r})), Path({str(previous)!r}), "
        f"[Path({str(files[2])!r})])\n"
        "print(sorted(m for m in ('xarray', 'pandas', 'dask', 'pyarrow') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    full = convert_many(spec, files, tmp_path / "full", name="sst").path
    assert _differences(previous, full) == []


def test_packed_integers_take_the_xarray_path_with_the_same_bytes(spec: PipelineSpec, tmp_path: Path) -> None:
    """int16 with scale_factor/add_offset decodes to floats: not an identity, so not appended raw."""
    files = daily_files(tmp_path / "days", 5, 3)  # packed
    full = convert_many(spec, files, tmp_path / "full", name="sst").path
    previous = convert_many(spec, files[:4], tmp_path / "inc", name="sst").path
    assert not append_raw(spec, previous, files[4:])
    append_many(spec, previous, files[4:])
    assert _differences(previous, full) == []


def test_changed_attributes_take_the_xarray_path_which_keeps_the_stored_ones(
    spec: PipelineSpec, tmp_path: Path
) -> None:
    files = daily_files(tmp_path / "days", 5, 3, packed=False, own_epoch=True)
    with netCDF4.Dataset(files[4], "a") as nc:
        nc["sst"].comment = "reprocessed"  # a full convert keeps the first file's attributes
    full = convert_many(spec, files, tmp_path / "full", name="sst").path
    previous = convert_many(spec, files[:4], tmp_path / "inc", name="sst").path
    assert not append_raw(spec, previous, files[4:])
    append_many(spec, previous, files[4:])
    assert _differences(previous, full) == []


def test_another_grid_or_an_overlap_is_left_to_the_xarray_path_and_its_errors(
    spec: PipelineSpec, tmp_path: Path
) -> None:
    files = daily_files(tmp_path / "days", 4, 3, packed=False)
    previous = convert_many(spec, files[:3], tmp_path / "inc", name="sst").path
    before = tree_sha256(previous)
    (shifted,) = daily_files(tmp_path / "shifted", 1, 3, start=9, lat=LAT + 0.25, packed=False)
    assert not append_raw(spec, previous, [shifted])
    with pytest.raises(DataError, match="values of coordinate 'lat' differ") as err:
        append_many(spec, previous, [shifted])
    assert err.value.file == shifted.name
    assert not append_raw(spec, previous, files[2:3])  # already converted: starts before the store ends
    with pytest.raises(NotAppendable, match="starts at or before"):
        append_many(spec, previous, files[2:3])
    assert tree_sha256(previous) == before  # nothing half-written


def test_raw_append_reads_the_source_group(spec: PipelineSpec, tmp_path: Path) -> None:
    """Satellite L3 products keep the variables in a named group (its dimensions may be the root's)."""
    grouped = grouped_copies(daily_files(tmp_path / "flat", 4, 3, packed=False, own_epoch=True), tmp_path / "grouped")
    in_group = msgspec.structs.replace(spec, source=msgspec.structs.replace(spec.source, group="PRODUCT"))
    full = convert_many(in_group, grouped, tmp_path / "full", name="sst").path
    previous = convert_many(in_group, grouped[:3], tmp_path / "inc", name="sst").path
    assert not append_raw(spec, previous, grouped[3:])  # no source.group: the root holds no variables
    assert append_raw(in_group, previous, grouped[3:])
    assert _differences(previous, full) == []


def test_times_that_are_not_whole_or_half_units_take_the_xarray_path(spec: PipelineSpec, tmp_path: Path) -> None:
    """06:00 stamps (0.25 days): exact in binary, but not proven exact through every decode path."""
    files = daily_files(tmp_path / "days", 4, 3, packed=False)
    for f in files:
        with netCDF4.Dataset(f, "a") as nc:
            nc["time"][:] = nc["time"][:] + 0.25
    full = convert_many(spec, files, tmp_path / "full", name="sst").path
    previous = convert_many(spec, files[:3], tmp_path / "inc", name="sst").path
    assert not append_raw(spec, previous, files[3:])
    append_many(spec, previous, files[3:])
    assert _differences(previous, full) == []
