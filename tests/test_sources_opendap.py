"""OPeNDAP sources against a real pydap server: server-side subsets, change detection, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from bot.adapters.download import Limits
from bot.adapters.http_probe import AddressGuard
from bot.adapters.http_source import HttpSource
from bot.adapters.opendap_source import dap_validators, fetch_subset
from bot.catalog.layout import load_pipeline
from bot.cli import main
from bot.errors import ConfigError, DataError
from bot.pipeline.executor import read_record
from bot.sources.addresses import AllowList
from tests.conftest import EXAMPLE
from tests.opendap_server import Pydap

NC = EXAMPLE / "datasets/sea-surface-temperature/data/sea-surface-temperature.nc"
LIMITS = Limits(max_bytes=50 * 1024 * 1024, timeout=10, deadline=120, attempts=2, base_delay=0.05)
BBOX = (145.0, -20.0, 150.0, -15.0)
TIME = ("2024-03-01", "2024-06-30")


@pytest.fixture(scope="module")
def grid(opendap: Pydap) -> str:
    """The example SST grid served by pydap (once per module)."""
    shutil.copy(NC, opendap.root / "sst-analysis.nc")
    return opendap.url("sst-analysis.nc")


def test_server_side_subset_equals_the_local_subset(grid: str, tmp_path: Path) -> None:
    http = HttpSource(AddressGuard(AllowList.parse(["127.0.0.1"])), LIMITS)
    validators = dap_validators(http, grid)
    assert validators.etag and validators.etag.startswith("dap:")
    assert dap_validators(http, grid) == validators  # stable while the grid is unchanged
    record = fetch_subset(
        grid, tmp_path / "sub.nc", variables=["sst"], bbox=BBOX, time=TIME,
        coords=("lon", "lat", "time"), limits=LIMITS, validators=validators,
    )  # fmt: skip
    with xr.open_dataset(tmp_path / "sub.nc") as got, xr.open_dataset(NC) as full:
        want = full[["sst"]].sel(lon=slice(145, 150), lat=slice(-20, -15), time=slice(*TIME)).load()
        assert list(got.data_vars) == ["sst"] and dict(got.sizes) == dict(want.sizes)
        np.testing.assert_allclose(got.sst.values, want.sst.values)
        assert record.bytes_transferred < full.nbytes * 0.1  # only the hyperslab crossed the network


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variables": ["chlorophyll"]}, "no variable 'chlorophyll'; the dataset has sst, analysed_error"),
        ({"bbox": (10.0, 40.0, 20.0, 50.0)}, "the subset selects nothing along"),
        ({"time": ("1990-01-01", "1990-12-31")}, "the subset selects nothing along time"),
    ],
)
def test_bad_subset_requests_are_named(grid: str, tmp_path: Path, kwargs: dict, message: str) -> None:
    args = {"variables": None, "bbox": None, "time": None, **kwargs}
    with pytest.raises(DataError) as err:
        fetch_subset(grid, tmp_path / "s.nc", coords=("lon", "lat", "time"), limits=LIMITS,
                     validators=dap_validators(HttpSource(AddressGuard(AllowList.parse(["127.0.0.1"])), LIMITS), grid),
                     **args)  # fmt: skip
    assert message in str(err.value) and grid in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_opendap_fields_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    base = "output: zarr\ncoordinates: {x: lon, y: lat, t: time}\n"
    path.write_text("source: {opendap: 'https://e.org/dap/sst.nc', format: csv}\n" + base)
    with pytest.raises(ConfigError, match="format: netcdf"):
        load_pipeline(path)
    path.write_text("source: {path: data/a.nc, format: netcdf, variables: [sst]}\n" + base)
    with pytest.raises(ConfigError, match="opendap sources only"):
        load_pipeline(path)
    path.write_text(
        "source: {opendap: 'https://e.org/sst.nc', format: netcdf, subset: {bbox: [150, -20, 145, -15]}}\n" + base
    )
    with pytest.raises(ConfigError, match="west < east"):
        load_pipeline(path)


def test_publish_an_opendap_subset_and_rerun_reads_no_data(
    grid: str, opendap: Pydap, example_catalog: Path, tmp_path: Path
) -> None:
    sst = example_catalog / "datasets/sea-surface-temperature"
    shutil.rmtree(sst / "data")
    spec = yaml.safe_load((sst / "pipeline.yaml").read_text())
    spec["source"] = {
        "opendap": grid,
        "format": "netcdf",
        "variables": ["sst", "analysed_error"],
        "subset": {"bbox": list(BBOX), "time": list(TIME)},
    }
    (sst / "pipeline.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    output = tmp_path / "out"
    args = ["publish", "--catalog", str(example_catalog), "--output", str(output), "sea-surface-temperature"]
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code in (0, None)
    store = next((output / "data/catalog-public/sea-surface-temperature").glob("*/sea-surface-temperature.zarr"))
    with xr.open_zarr(store) as ds:
        assert dict(ds.sizes) == {"time": 4, "lat": 20, "lon": 20}
    package = json.loads((output / "data/catalog-public/sea-surface-temperature/datapackage.json").read_text())
    assert package["spatial"]["bbox"][0] >= 145 and package["spatial"]["bbox"][2] <= 150
    assert any(s.get("path") == grid for s in package["sources"])
    first = read_record(output, "sea-surface-temperature", "convert")
    with pytest.raises(SystemExit):
        main(args)
    assert read_record(output, "sea-surface-temperature", "convert") == first  # same DDS/DAS: not re-read
