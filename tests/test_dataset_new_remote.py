"""``dataset new --source URI``: a remote file is referenced (not copied), read through the publish readers.

Against real servers: nginx on loopback (tests/source_servers.py) and the
SeaweedFS of the dev services.  The address rules of ``network.allow``
apply: without loopback in the list the same URL is refused, and nothing is
written.  The created dataset validates and publishes from the URI, with
the data's extents.
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
import yaml

from tests.opendap_server import Pydap
from tests.services import unique
from tests.source_servers import Nginx


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=300)


def _allow_loopback(catalog: Path, allow: bool = True) -> None:
    config = catalog / "catalog-bot.yaml"
    cfg = yaml.safe_load(config.read_text())
    cfg["network"] = {"allow": ["127.0.0.1", "localhost", "::1"] if allow else [], "attempts": 2}
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))


def _buoys(n: int = 5000) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    return pd.DataFrame(
        {
            "buoy_id": np.arange(n) + 52000,
            "time": pd.Timestamp("2022-03-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 600, "s"),
            "lon": rng.uniform(145.2, 153.9, n),
            "lat": rng.uniform(-28.4, -12.1, n),
            "wave_height": rng.gamma(2, 0.6, n).round(2),
        }
    )


def _publish(catalog: Path, dataset: str, out: Path) -> dict:
    validated = _cli("validate", "--catalog", str(catalog), "--format", "json", dataset)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    published = _cli("publish", "--catalog", str(catalog), "--output", str(out), dataset)
    assert published.returncode == 0, published.stdout + published.stderr
    return json.loads((out / "stac" / dataset / "collection.json").read_text())


@pytest.mark.slow
def test_https_geoparquet_is_referenced_and_published(example_catalog: Path, nginx: Nginx, tmp_path: Path) -> None:
    df = _buoys()
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs="EPSG:4326")
    folder = nginx.root / f"n{os.urandom(4).hex()}"
    folder.mkdir()
    gdf.to_parquet(folder / "buoys.parquet")
    url = nginx.url(f"{folder.name}/buoys.parquet")

    _allow_loopback(example_catalog, allow=False)
    refused = _cli("dataset", "new", "buoys", "--source", url, "--catalog", str(example_catalog))
    assert refused.returncode != 0 and "network.allow" in refused.stdout + refused.stderr
    assert not (example_catalog / "datasets/buoys").exists()

    _allow_loopback(example_catalog)
    created = _cli("dataset", "new", "buoys", "--source", url, "--catalog", str(example_catalog))
    assert created.returncode == 0, created.stdout + created.stderr
    dataset = example_catalog / "datasets/buoys"
    assert not (dataset / "data").exists()  # referenced, not copied
    pipeline = yaml.safe_load((dataset / "pipeline.yaml").read_text())
    assert pipeline["source"] == {"path": url, "format": "parquet"}
    assert json.loads((dataset / "tableschema.json").read_text())["primaryKey"] == ["buoy_id"]
    collection = _publish(example_catalog, "buoys", tmp_path / "out")
    assert np.allclose(
        collection["extent"]["spatial"]["bbox"][0], [df.lon.min(), df.lat.min(), df.lon.max(), df.lat.max()], atol=1e-9
    )
    assert collection["extent"]["temporal"]["interval"] == [["2022-03-01T00:00:00Z", "2022-04-04T17:10:00Z"]]


@pytest.mark.slow
@pytest.mark.services
def test_s3_csv_from_a_public_bucket(dev_services, example_catalog: Path, tmp_path: Path) -> None:
    df = _buoys(3000)
    df["time"] = df["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    src = tmp_path / "buoys.csv"
    df.to_csv(src, index=False)
    client = dev_services.s3_client()
    key = f"{unique('new')}/buoys.csv"
    client.upload_file(str(src), "catalog-public", key)
    uri = f"s3://catalog-public/{key}"
    try:
        _allow_loopback(example_catalog)
        args = ["--endpoint-url", dev_services.s3_url, "--anonymous", "--catalog", str(example_catalog)]
        created = _cli("dataset", "new", "s3-buoys", "--source", uri, *args)
        assert created.returncode == 0, created.stdout + created.stderr
        pipeline = yaml.safe_load((example_catalog / "datasets/s3-buoys/pipeline.yaml").read_text())
        assert pipeline["source"]["path"] == uri and pipeline["source"]["anonymous"] is True
        assert pipeline["source"]["endpoint_url"] == dev_services.s3_url
        collection = _publish(example_catalog, "s3-buoys", tmp_path / "out")
        expected = [df.lon.min(), df.lat.min(), df.lon.max(), df.lat.max()]
        assert np.allclose(collection["extent"]["spatial"]["bbox"][0], expected, atol=1e-9)
        missing = _cli("dataset", "new", "gone", "--source", uri + ".missing", *args)
        assert missing.returncode != 0 and key in missing.stdout + missing.stderr
        assert not (example_catalog / "datasets/gone").exists()
    finally:
        client.delete_object(Bucket="catalog-public", Key=key)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("ftp://data.example.org/obs.csv", "ftp"),
        ("https://data.example.org/sst.zarr", "a remote zarr is a folder"),
        ("s3://bucket/parks/zones.shp", "a remote shapefile is a folder or several files"),
    ],
)
def test_uris_that_cannot_be_fetched_as_one_file_are_refused(example_catalog: Path, uri: str, message: str) -> None:
    from bot.catalog.layout import Catalog
    from bot.convert.new import new_dataset
    from bot.errors import UsageError
    from bot.pipeline.remote import CatalogRemoteReader

    before = sorted(p.name for p in (example_catalog / "datasets").iterdir())
    cat = Catalog.open(example_catalog)
    with pytest.raises(UsageError, match=message):
        new_dataset(cat, "remote", uri, remote=CatalogRemoteReader(cat))
    assert sorted(p.name for p in (example_catalog / "datasets").iterdir()) == before


@pytest.mark.slow
def test_opendap_grid_is_read_remotely_and_published(example_catalog: Path, opendap: Pydap, tmp_path: Path) -> None:
    import xarray as xr

    from tests.conftest import EXAMPLE

    nc = EXAMPLE / "datasets/sea-surface-temperature/data/sea-surface-temperature.nc"
    name = f"n{os.urandom(4).hex()}.nc"
    shutil.copy(nc, opendap.root / name)
    url = opendap.url(name)
    _allow_loopback(example_catalog, allow=False)
    refused = _cli("dataset", "new", "sst-dap", "--source", url, "--opendap", "--catalog", str(example_catalog))
    assert refused.returncode != 0 and "network.allow" in refused.stdout + refused.stderr
    assert not (example_catalog / "datasets/sst-dap").exists()

    _allow_loopback(example_catalog)
    created = _cli("dataset", "new", "sst-dap", "--source", url, "--opendap", "--catalog", str(example_catalog))
    assert created.returncode == 0, created.stdout + created.stderr
    dataset = example_catalog / "datasets/sst-dap"
    assert not (dataset / "data").exists()
    assert yaml.safe_load((dataset / "pipeline.yaml").read_text())["source"] == {"opendap": url, "format": "netcdf"}
    collection = _publish(example_catalog, "sst-dap", tmp_path / "out")
    with xr.open_dataset(nc) as ds:
        expected = [float(ds.lon.min()), float(ds.lat.min()), float(ds.lon.max()), float(ds.lat.max())]
        first, last = (str(v)[:19] + "Z" for v in (ds.time.values.min(), ds.time.values.max()))
    assert np.allclose(collection["extent"]["spatial"]["bbox"][0], expected, atol=1e-9)
    assert collection["extent"]["temporal"]["interval"] == [[first, last]]
