"""Every data package ``catalog-bot publish`` writes passes the real ``frictionless validate`` (metadata and data).

One publish of the example catalog (CSV, GeoJSON and NetCDF sources; the
session's shared ``published_example``) plus one
variant per other source format (plain Parquet with lon/lat, GeoParquet, a
Zarr store, a CF-packed int16 NetCDF), each run through the CLI entry point as a
user runs it, then validated with the ``frictionless validate`` command
(``tests.conftest.frictionless_validate``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from .conftest import EXAMPLE, frictionless_validate

pytestmark = pytest.mark.slow


def _publish(catalog: Path, out: Path, *datasets: str) -> None:
    """``catalog-bot publish`` through the CLI entry point, in this process (no second interpreter to import)."""
    from bot.cli import main

    with pytest.raises(SystemExit) as info:
        main(["publish", "--catalog", str(catalog), "--output", str(out), *datasets])
    assert info.value.code == 0  # on failure pytest shows the captured CLI output


def _errors(report: dict) -> list[str]:
    found = [e["message"] for e in report.get("errors", [])]
    for task in report.get("tasks", []):
        found += [f"{task['name']}: {e['type']}: {e['message'][:200]}" for e in task["errors"]]
    return found


def _published(out: Path, dataset: str) -> Path:
    return out / "data" / "catalog-public" / dataset / "datapackage.json"


def _check_facts(package_path: Path) -> dict:
    """The declared hash/bytes are the real ones (Frictionless checks bytes; we check the Parquet hash too)."""
    package = json.loads(package_path.read_text())
    resource = package["resources"][0]
    data = package_path.parent / resource["path"]
    assert data.is_file(), data
    assert resource["hash"] == "sha256:" + hashlib.sha256(data.read_bytes()).hexdigest()
    if "bytes" in resource:
        assert resource["bytes"] == data.stat().st_size
    return package


def _copy_example(tmp_path: Path) -> Path:
    catalog = tmp_path / "catalog"
    shutil.copytree(EXAMPLE, catalog)
    return catalog


def test_every_package_of_the_example_passes_frictionless_validate(published_example: Path) -> None:
    out = published_example
    names = sorted(p.name for p in (EXAMPLE / "datasets").iterdir() if p.name != "reef-temperature-daily")
    assert names == ["marine-protected-areas", "reef-temperature", "sea-surface-temperature"]  # published by --all
    assert not (out / "data/catalog-public/reef-temperature-daily").exists()  # remote: only in dev-sources
    for dataset in names:
        path = _published(out, dataset)
        report = frictionless_validate(path)
        assert report["valid"], (dataset, _errors(report))
        package = _check_facts(path)
        task = report["tasks"][0]
        if dataset == "sea-surface-temperature":
            # The store's metadata document is read (and its bytes/hash checked), never the directory.
            assert task["type"] == "file" and task["place"].endswith(".zarr/.zmetadata")
            assert package["resources"][0]["zarr"]["store"].endswith(".zarr")
        else:
            # The table was read: every row, the geometry and the covering column against the schema.
            assert task["type"] == "table" and task["stats"]["rows"] == package["resources"][0]["rows"] > 0
            assert "geometry" in task["labels"]
            assert ("bbox" in task["labels"]) == (dataset == "marine-protected-areas")  # polygons get a covering


# --------------------------------------------------------------------------- one per source format


def _reef_frame(catalog: Path) -> pd.DataFrame:
    df = pd.read_csv(catalog / "datasets/reef-temperature/data/reef-temperature.csv")
    df["time"] = pd.to_datetime(df["time"], utc=True)
    return df


def _plain_parquet(catalog: Path) -> None:
    ds = catalog / "datasets/reef-temperature"
    _reef_frame(catalog).to_parquet(ds / "data/reef-temperature.parquet", index=False)
    (ds / "data/reef-temperature.csv").unlink()
    (ds / "pipeline.yaml").write_text(
        "source: {path: data/reef-temperature.parquet, format: parquet}\n"
        "output: parquet\ncoordinates: {x: lon, y: lat, z: depth, t: time}\naccess: public\n"
    )


def _geoparquet(catalog: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely

    ds = catalog / "datasets/reef-temperature"
    df = _reef_frame(catalog)
    table = pa.Table.from_pandas(df, preserve_index=False)
    wkb = shapely.to_wkb(shapely.points(df["lon"], df["lat"]), flavor="iso")
    table = table.append_column("geometry", pa.array(wkb, pa.binary()))
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"]}},
    }
    table = table.replace_schema_metadata({**table.schema.metadata, b"geo": json.dumps(geo).encode()})
    pq.write_table(table, ds / "data/reef-temperature.parquet")
    (ds / "data/reef-temperature.csv").unlink()
    (ds / "pipeline.yaml").write_text(
        "source: {path: data/reef-temperature.parquet, format: parquet}\n"
        "output: parquet\ncoordinates: {geometry: geometry, t: time}\naccess: public\n"
    )


def _zarr_store(catalog: Path) -> None:
    ds = catalog / "datasets/sea-surface-temperature"
    with xr.open_dataset(ds / "data/sea-surface-temperature.nc") as nc:
        nc.load().to_zarr(ds / "data/sea-surface-temperature.zarr", zarr_format=3, consolidated=False)
    (ds / "data/sea-surface-temperature.nc").unlink()
    text = (ds / "pipeline.yaml").read_text()
    (ds / "pipeline.yaml").write_text(
        text.replace("data/sea-surface-temperature.nc", "data/sea-surface-temperature.zarr").replace(
            "format: netcdf", "format: zarr"
        )
    )


def _packed_netcdf(catalog: Path) -> None:
    """CF packing as real products ship it: int16 with scale_factor / add_offset / _FillValue."""
    ds = catalog / "datasets/sea-surface-temperature"
    src = ds / "data/sea-surface-temperature.nc"
    with xr.open_dataset(src) as nc:
        data = nc.load()
    data["sst"].values[0, 0, 0] = np.nan
    packing = {"dtype": "int16", "scale_factor": 0.001, "add_offset": 20.0, "_FillValue": np.int16(-32768)}
    data.to_netcdf(src, encoding={"sst": packing})
    schema = json.loads((ds / "gridschema.json").read_text())
    sst = next(v for v in schema["variables"] if v["name"] == "sst")
    sst.update(type="number", data_type="int16")  # decoded type, storage data type: no hand-made "integer"
    (ds / "gridschema.json").write_text(json.dumps(schema, indent=2))


VARIANTS: dict[str, tuple[str, Callable[[Path], None]]] = {
    "parquet": ("reef-temperature", _plain_parquet),
    "geoparquet": ("reef-temperature", _geoparquet),
    "zarr": ("sea-surface-temperature", _zarr_store),
    "netcdf-packed": ("sea-surface-temperature", _packed_netcdf),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_package_from_each_source_format_passes_frictionless_validate(variant: str, tmp_path: Path) -> None:
    dataset, prepare = VARIANTS[variant]
    catalog = _copy_example(tmp_path)
    prepare(catalog)
    out = tmp_path / "out"
    _publish(catalog, out, dataset)
    path = _published(out, dataset)
    report = frictionless_validate(path)
    assert report["valid"], (variant, _errors(report))
    package = _check_facts(path)
    if variant == "netcdf-packed":
        schema = json.loads((path.parent / "gridschema.json").read_text())
        sst = next(v for v in schema["variables"] if v["name"] == "sst")
        assert sst["type"] == "number" and sst["data_type"] == "int16"
        assert sst["packing"]["scale_factor"] == pytest.approx(0.001)
        assert sst["packing"]["decoded_data_type"].startswith("float")
    if dataset == "reef-temperature":
        assert report["tasks"][0]["stats"]["rows"] == package["resources"][0]["rows"] == 1820
