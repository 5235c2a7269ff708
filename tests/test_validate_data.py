"""``catalog-bot validate --data``: bad source data is found before merge, located, and nothing is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr

from .conftest import EXAMPLE, run_cli

pytestmark = pytest.mark.slow

REEF_CSV = "datasets/reef-temperature/data/reef-temperature.csv"
SST_NC = "datasets/sea-surface-temperature/data/sea-surface-temperature.nc"


def _validate(catalog: Path, *args: str) -> tuple[int, dict]:
    proc = run_cli("validate", "--catalog", str(catalog), "--data", "--format", "json", *args)
    return proc.returncode, json.loads(proc.stdout)


def _data_problems(report: dict) -> list[dict]:
    return [p for p in report["problems"] if p["code"] == "data"]


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(EXAMPLE, root)
    return root


def _edit_csv_line(catalog: Path, line: int, column: str, value: str) -> None:
    path = catalog / REEF_CSV
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


def test_clean_example_data_passes(catalog: Path) -> None:
    code, report = _validate(catalog)
    assert code == 0 and report["summary"]["checked"] == 4
    # The one remote dataset (S3 daily files) is not read: a notice, not a problem.
    [remote] = _data_problems(report)
    assert remote["dataset"] == "reef-temperature-daily" and remote["severity"] == "notice"


def test_mixed_type_column_is_located(catalog: Path) -> None:
    _edit_csv_line(catalog, 1201, "qc_flag", "bad")  # a string in the integer column, deep in the file
    code, report = _validate(catalog, "reef-temperature")
    (problem,) = _data_problems(report)
    assert code == 1 and problem["severity"] == "error"
    assert problem["file"] == REEF_CSV and problem["line"] == 1201
    assert "qc_flag" in problem["message"] and "'bad'" in problem["message"] and "row 1200" in problem["message"]
    assert "tableschema.json" in problem["hint"]


def test_latitude_out_of_range_is_located(catalog: Path) -> None:
    _edit_csv_line(catalog, 777, "lat", "200.0")
    code, report = _validate(catalog, "reef-temperature")
    (problem,) = _data_problems(report)
    assert code == 1 and problem["line"] == 777
    assert problem["message"].startswith("lat: latitude at row 776 200.0 is outside [-90, 90]")


def test_header_only_and_empty_csv(catalog: Path) -> None:
    path = catalog / REEF_CSV
    path.write_text(path.read_text().splitlines()[0] + "\n")
    code, report = _validate(catalog, "reef-temperature")
    assert code == 1 and "header but no data rows" in _data_problems(report)[0]["message"]
    path.write_text("")
    code, report = _validate(catalog, "reef-temperature")
    assert code == 1 and "empty (0 bytes)" in _data_problems(report)[0]["message"]


def test_truncated_csv_names_the_line(catalog: Path) -> None:
    path = catalog / REEF_CSV
    text = path.read_text()
    path.write_text(text[: len(text) // 2].rsplit(",", 2)[0])  # cut mid-row, as an interrupted upload does
    code, report = _validate(catalog, "reef-temperature")
    (problem,) = _data_problems(report)
    assert code == 1 and "truncated" in problem["message"]


def test_truncated_parquet_and_netcdf(catalog: Path) -> None:
    reef = catalog / "datasets/reef-temperature"
    df = pd.read_csv(reef / "data/reef-temperature.csv")
    df["time"] = pd.to_datetime(df["time"], utc=True)
    parquet = reef / "data/reef-temperature.parquet"
    df.to_parquet(parquet, index=False)
    parquet.write_bytes(parquet.read_bytes()[:-100])  # footer gone
    (reef / "pipeline.yaml").write_text(
        "source: {path: data/reef-temperature.parquet, format: parquet}\n"
        "output: parquet\ncoordinates: {x: lon, y: lat, t: time}\naccess: public\n"
    )
    nc = catalog / SST_NC
    nc.write_bytes(nc.read_bytes()[:4096])
    code, report = _validate(catalog)
    problems = {p["dataset"]: p for p in _data_problems(report) if p["severity"] != "notice"}
    assert code == 1 and set(problems) == {"reef-temperature", "sea-surface-temperature"}
    assert "truncated" in problems["reef-temperature"]["message"]
    assert problems["reef-temperature"]["file"] == "datasets/reef-temperature/data/reef-temperature.parquet"
    assert "not a readable NetCDF" in problems["sea-surface-temperature"]["message"]


def test_grid_latitude_out_of_range(catalog: Path) -> None:
    nc = catalog / SST_NC
    with xr.open_dataset(nc) as ds:
        data = ds.load()
    lat = data["lat"].values.copy()
    lat[-1] = 200.0
    data = data.assign_coords(lat=("lat", lat, data["lat"].attrs))
    nc.unlink()
    data.to_netcdf(nc)
    code, report = _validate(catalog, "sea-surface-temperature")
    (problem,) = _data_problems(report)
    assert code == 1 and problem["message"] == f"lat: latitude 200.0 at index {len(lat) - 1} is outside [-90, 90]"
    assert problem["file"] == SST_NC
