"""``catalog-bot dataset new``: from a real-world-shaped file to a dataset that validates clean and publishes without
edits, with the data's extents; bad input is a clear error and writes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import xarray as xr

from .conftest import EXAMPLE, frictionless_validate, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(EXAMPLE, root)
    return root


def _new_validate_publish(catalog: Path, dataset: str, source: Path, *extra: str) -> tuple[str, dict, Path]:
    created = run_cli("dataset", "new", dataset, "--source", str(source), "--catalog", str(catalog), *extra)
    assert created.returncode == 0, created.stdout + created.stderr
    validated = run_cli("validate", "--catalog", str(catalog), "--format", "json", "--data", dataset)
    report = json.loads(validated.stdout)
    assert validated.returncode == 0 and report["summary"]["errors"] == 0, report["problems"]
    out = catalog.parent / "out"
    published = run_cli("publish", "--catalog", str(catalog), "--output", str(out), dataset)
    assert published.returncode == 0, published.stdout + published.stderr
    folder = out / "data" / "catalog-public" / dataset
    report = frictionless_validate(folder / "datapackage.json")
    assert report["valid"], json.dumps(report)[:2000]
    collection = json.loads((out / "stac" / dataset / "collection.json").read_text())
    return created.stdout, collection, folder


@pytest.mark.parametrize("separator", [" ", "T"])  # "2024-01-01 06:00:00" as loggers export; ISO without a zone
def test_csv_with_naive_local_format_times(catalog: Path, tmp_path: Path, separator: str) -> None:
    df = pd.read_csv(EXAMPLE / "datasets/reef-temperature/data/reef-temperature.csv")
    df["time"] = df["time"].str.replace("T", separator).str.removesuffix("Z")
    src = tmp_path / "loggers.csv"
    df.to_csv(src, index=False)
    printed, collection, folder = _new_validate_publish(catalog, "loggers", src)
    assert f"source.timestamp_format = '%Y-%m-%d{separator}%H:%M:%S'" in printed and "TODO: title" in printed
    assert (catalog / "datasets/loggers/data/loggers.csv").read_bytes() == src.read_bytes()  # copied in
    assert collection["extent"]["spatial"]["bbox"] == [[df.lon.min(), df.lat.min(), df.lon.max(), df.lat.max()]]
    assert collection["extent"]["temporal"]["interval"] == [["2024-01-01T00:00:00Z", "2024-03-31T18:00:00Z"]]
    schema = json.loads((catalog / "datasets/loggers/tableschema.json").read_text())
    assert [(f["name"], f["type"]) for f in schema["fields"]] == [
        ("site_id", "string"),
        ("time", "datetime"),
        ("lon", "number"),
        ("lat", "number"),
        ("depth", "number"),
        ("temperature", "number"),
        ("qc_flag", "integer"),
        ("geometry", "geojson"),
    ]
    assert schema["fields"][3]["constraints"] == {"minimum": -90, "maximum": 90}
    # one reading per logger and time in the data: the key frictionless validate then checked on the published data
    assert schema["primaryKey"] == ["site_id", "time"] and "primaryKey = site_id + time" in printed
    package = json.loads((folder / "datapackage.json").read_text())
    assert package["title"].startswith("TODO")  # an explicit placeholder, not an invented title
    report = json.loads(run_cli("validate", "--catalog", str(catalog), "--format", "json", "loggers").stdout)
    warned = {p["pointer"] for p in report["problems"] if p["code"] == "placeholder" and p["severity"] == "warning"}
    assert warned == {"/title", "/description", "/keywords/0", "/contributors/0/title"}
    assert report["summary"]["errors"] == 0


def test_netcdf_with_acdd_attributes_noleap_calendar_and_packing(catalog: Path, tmp_path: Path) -> None:
    lat = np.arange(-24.875, -10, 0.25)
    lon = np.arange(142.125, 157, 0.25)
    days = np.arange(0, 365, 30.0) + 15  # 15 .. 375 days on a 365-day calendar
    rng = np.random.default_rng(2)
    sst = (24 + rng.normal(0, 1, (len(days), len(lat), len(lon)))).astype("float32")
    ds = xr.Dataset(
        {"sst": (("time", "lat", "lon"), sst, {"units": "degC", "long_name": "sea surface temperature"})},
        coords={
            "time": ("time", days, {"units": "days since 2001-01-01", "calendar": "noleap", "axis": "T"}),
            "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"}),
        },
        attrs={
            "title": "Model sea surface temperature",
            "summary": "Monthly SST from a climate model run on a 365-day calendar.",
            "keywords": "sea surface temperature, climate model",
            "license": "Creative Commons CC-BY-4.0",
            "creator_name": "Climate Modelling Group",
            "creator_email": "cmg@example.org",
        },
    )
    src = tmp_path / "model.nc"
    ds.to_netcdf(src, encoding={"sst": {"dtype": "int16", "scale_factor": 0.001, "add_offset": 24.0}})
    printed, collection, folder = _new_validate_publish(catalog, "model-sst", src)
    assert "nothing left to fill in" in printed and "coordinates.t = time (CF axis" in printed
    assert collection["title"] == "Model sea surface temperature" and collection["license"] == "CC-BY-4.0"
    assert collection["extent"]["spatial"]["bbox"] == [[142.125, -24.875, 156.875, -10.125]]  # cell centres
    assert collection["extent"]["temporal"]["interval"] == [["2001-01-16T00:00:00Z", "2002-01-11T00:00:00Z"]]
    grid = json.loads((catalog / "datasets/model-sst/gridschema.json").read_text())
    (sst_var,) = grid["variables"]
    assert (sst_var["type"], sst_var["data_type"], sst_var["unit"]) == ("number", "int16", "degC")
    package = json.loads((folder / "datapackage.json").read_text())
    assert package["contributors"][0] == {
        "title": "Climate Modelling Group",
        "role": "author",
        "email": "cmg@example.org",
    }
    assert package["keywords"] == ["sea surface temperature", "climate model"]


def test_geopackage_layer(catalog: Path, tmp_path: Path) -> None:
    zones = gpd.GeoDataFrame(
        {"zone_id": [f"Z{i}" for i in range(12)], "area_km2": np.linspace(1, 90, 12)},
        geometry=[shapely.box(146 + i * 0.3, -19 - i * 0.2, 146.2 + i * 0.3, -18.9 - i * 0.2) for i in range(12)],
        crs="EPSG:4326",
    ).to_crs("EPSG:3577")
    src = tmp_path / "parks.gpkg"
    zones.to_file(src, layer="zones", engine="pyogrio")
    zones.iloc[:2].to_file(src, layer="old", engine="pyogrio")
    refused = run_cli("dataset", "new", "parks", "--source", str(src), "--catalog", str(catalog))
    assert refused.returncode != 0 and "2 layers: zones, old" in refused.stdout + refused.stderr
    assert not (catalog / "datasets/parks").exists()  # nothing written
    _, collection, _ = _new_validate_publish(catalog, "parks", src, "--layer", "zones")
    west, south, east, north = collection["extent"]["spatial"]["bbox"][0]
    assert np.allclose([west, south, east, north], [146.0, -21.2, 149.5, -18.9], atol=1e-6)


def test_refuses_to_overwrite_and_unreadable_files(catalog: Path, tmp_path: Path) -> None:
    exists = run_cli(
        "dataset",
        "new",
        "reef-temperature",
        "--source",
        str(EXAMPLE / "datasets/reef-temperature/data/reef-temperature.csv"),
        "--catalog",
        str(catalog),
    )
    assert (
        exists.returncode != 0
        and "already exists" in exists.stdout + exists.stderr
        and "--force" in exists.stdout + exists.stderr
    )
    broken = tmp_path / "broken.nc"
    broken.write_bytes(b"CDF\x01" + b"\x00" * 10)
    failed = run_cli("dataset", "new", "broken", "--source", str(broken), "--catalog", str(catalog))
    assert failed.returncode != 0 and f"{broken}: the file has no dimensions" in failed.stdout + failed.stderr
    grouped = tmp_path / "product.nc"  # Sentinel-style: the variables live in a group, the root has none
    xr.Dataset(attrs={"title": "product"}).to_netcdf(grouped)
    xr.Dataset({"chl": (("lat", "lon"), np.ones((3, 4)))}, coords={"lat": [-20.0, -19.5, -19.0], "lon": [150.0, 150.5, 151.0, 151.5]}).to_netcdf(grouped, mode="a", group="PRODUCT")  # fmt: skip
    for extra, expected in (
        ((), f"{grouped} [source.group]: the file's root group has no dimensions; its data is in group(s): PRODUCT"),
        (
            ("--group", "RESULTS"),
            f"{grouped} [source.group]: NetCDF group 'RESULTS' does not exist; groups are: PRODUCT",
        ),
    ):
        failed = run_cli("dataset", "new", "product", "--source", str(grouped), "--catalog", str(catalog), *extra)
        assert failed.returncode != 0 and expected in failed.stdout + failed.stderr  # the user's file, not the copy
        if extra:  # the group came from the command line: the fix names the option, not only pipeline.yaml
            assert "--group of `dataset new`" in failed.stdout + failed.stderr
    unknown = tmp_path / "data.xyz"
    unknown.write_text("1,2\n")
    failed = run_cli("dataset", "new", "other", "--source", str(unknown), "--catalog", str(catalog))
    assert failed.returncode != 0 and "pass --format" in failed.stdout + failed.stderr
    assert sorted(p.name for p in (catalog / "datasets").iterdir()) == [
        "marine-protected-areas",
        "reef-temperature",
        "reef-temperature-daily",
        "sea-surface-temperature",
    ]
