"""``dataset new`` imports only what the source format needs (what keeps it fast and its peak memory low).

Why in a fresh interpreter: the test session has imported pandas, xarray and
dask long before, so its ``sys.modules`` says nothing about the command.
Each library here costs 0.3-1.5 s of start-up and 10-60 MB of resident
memory, against a whole command that should take about a second and stay
under 150 MB on a 1 GB file (benchmarks/bench_dataset_new.py measures both).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from .conftest import EXAMPLE

pytestmark = pytest.mark.slow

WATCHED = ("pandas", "xarray", "dask", "scipy", "zarr", "rioxarray", "rasterio", "pyogrio", "netCDF4", "pyarrow")


def _dataset_new(catalog: Path, source: Path) -> set[str]:
    """The watched libraries loaded by ``catalog-bot dataset new`` in a fresh interpreter."""
    code = (
        "import json, sys\nfrom bot.cli import main\n"
        f"try:\n    main(['dataset', 'new', 'probe', '--source', {str(source)!r}, '--catalog', {str(catalog)!r}])\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        f"print(json.dumps(sorted(m for m in {list(WATCHED)!r} if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (catalog / "datasets/probe/collection.jsonnet").is_file()
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(EXAMPLE, root)
    return root


def test_netcdf_needs_netcdf4_only(catalog: Path, tmp_path: Path) -> None:
    """A CF NetCDF is described and probed with netCDF4 alone: no xarray (hence no pandas, dask, SciPy)."""
    rng = np.random.default_rng(5)
    lat, lon = np.arange(-20.0, -10.0, 0.25), np.arange(145.0, 155.0, 0.25)
    ds = xr.Dataset(
        {"sst": (("time", "lat", "lon"), (26 + rng.normal(0, 1, (12, lat.size, lon.size))).astype("float32"))},
        coords={"time": pd.date_range("2022-01-01", periods=12, freq="MS"), "lat": lat, "lon": lon},
        attrs={"title": "Monthly SST", "license": "CC-BY-4.0"},
    )
    src = tmp_path / "sst.nc"
    ds.to_netcdf(src, encoding={"sst": {"zlib": True, "dtype": "int16", "scale_factor": 0.01, "_FillValue": -999}})
    assert _dataset_new(catalog, src) == {"netCDF4"}
    copied = catalog / "datasets/probe/data/sst.nc"
    assert copied.read_bytes() == src.read_bytes()
    assert not os.path.samefile(copied, src)  # a copy, never a link that would alias the user's file


def test_csv_needs_no_pandas(catalog: Path, tmp_path: Path) -> None:
    """Logger CSV with zoned times: sniffed, probed, its station + time key checked, all without pandas."""
    df = pd.read_csv(EXAMPLE / "datasets/reef-temperature/data/reef-temperature.csv")
    src = tmp_path / "loggers.csv"
    df.to_csv(src, index=False)
    loaded = _dataset_new(catalog, src)
    assert "pyarrow" in loaded and not loaded & {"pandas", "xarray", "dask", "netCDF4", "zarr", "pyogrio"}


def _stations() -> gpd.GeoDataFrame:
    rng = np.random.default_rng(8)
    n = 30_000
    lon, lat = rng.uniform(140, 155, n), rng.uniform(-40, -10, n)
    return gpd.GeoDataFrame(
        {
            "station": [f"ST{i % 97:03d}" for i in range(n)],
            "time": pd.Timestamp("2023-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), "min"),
            "chl": rng.gamma(2, 0.3, n).round(3),
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )


def test_geoparquet_needs_no_grid_or_vector_stack(catalog: Path, tmp_path: Path) -> None:
    src = tmp_path / "stations.parquet"
    _stations().to_parquet(src, row_group_size=10_000)
    loaded = _dataset_new(catalog, src)
    assert "pyarrow" in loaded and not loaded & {"xarray", "dask", "scipy", "zarr", "netCDF4", "rasterio", "pyogrio"}


def test_geoparquet_needs_no_pandas(catalog: Path, tmp_path: Path) -> None:
    src = tmp_path / "stations.parquet"
    _stations().to_parquet(src, row_group_size=10_000)
    assert "pandas" not in _dataset_new(catalog, src)
