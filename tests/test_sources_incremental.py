"""Incremental convert: new daily files appended, state kept next to the published data.

The append must give the same bytes as converting every file again; the
state in the object store must let a run with an empty work folder (an Argo
pod) send only validator requests for an unchanged remote (0 body bytes in
nginx's own access log) and convert nothing.  Real files cut from the
example data, a real nginx, the local folder store and the real SeaweedFS.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
import xarray as xr
import yaml

from bot.adapters.objectstore import tree_sha256
from bot.adapters.s3store import S3ObjectStore
from bot.catalog.layout import load_pipeline
from bot.cli import main
from bot.convert import grid_append, many_grid
from bot.convert.many import NotAppendable, append_many, convert_many
from tests.source_servers import Nginx
from tests.test_sources_many import REEF, SST, split_csv, split_netcdf

from .test_objectstore import s3_client, s3_endpoint  # noqa: F401  (fixtures: the real SeaweedFS, a fresh bucket)

DS = "sea-surface-temperature"


def _snapshot(tree: Path, into: Path) -> Path:
    """Hard links to every file of ``tree``: shows whether anything wrote *through* a link."""
    shutil.copytree(tree, into, copy_function=os.link)
    return into


@pytest.mark.parametrize("way", ["raw", "from-memory", "through-dask"])
def test_appending_grid_files_gives_the_bytes_of_a_full_reconvert_and_leaves_the_previous_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, way: str
) -> None:
    """Every way a new file is written: raw (no xarray, bot/convert/grid_append.py) and, for files it
    leaves to xarray, a small one from memory and a big one chunk by chunk through dask."""
    if way != "raw":
        monkeypatch.setattr(grid_append, "append_raw", lambda *args: False)
    if way == "through-dask":
        monkeypatch.setattr(many_grid, "APPEND_IN_MEMORY", 0)
    spec = load_pipeline(SST / "pipeline.yaml")
    months = split_netcdf(SST / "data/sea-surface-temperature.nc", tmp_path / "months")
    full = convert_many(spec, months, tmp_path / "full", name="sst")
    previous = convert_many(spec, months[:10], tmp_path / "inc", name="sst")
    before = tree_sha256(previous.path)
    linked = _snapshot(previous.path, tmp_path / "published.zarr")  # e.g. the version readers use now
    appended = append_many(spec, previous.path, months[10:], jobs=1)
    assert tree_sha256(appended.path) == tree_sha256(full.path)  # same bytes, every chunk and metadata file
    assert tree_sha256(linked) == before  # the previous version was never written through
    with xr.open_zarr(appended.path) as ds:
        assert ds.sizes["time"] == 12 and str(ds.time.values[-1]).startswith("2024-12")


def test_appending_tabular_files_gives_the_bytes_of_a_full_reconvert(tmp_path: Path) -> None:
    spec = load_pipeline(REEF / "pipeline.yaml")
    schema = json.loads((REEF / "tableschema.json").read_text())
    sites = split_csv(REEF / "data/reef-temperature.csv", tmp_path / "sites")
    full = convert_many(spec, sites, tmp_path / "full", schema, name="reef")
    previous = convert_many(spec, sites[:-2], tmp_path / "inc", schema, name="reef")
    appended = append_many(spec, previous.path, sites[-2:], schema, jobs=2)
    assert appended.rows == full.rows == 1820
    assert appended.path.read_bytes() == full.path.read_bytes()


def test_a_file_dated_before_the_store_end_is_not_appended(tmp_path: Path) -> None:
    spec = load_pipeline(SST / "pipeline.yaml")
    months = split_netcdf(SST / "data/sea-surface-temperature.nc", tmp_path / "months")
    previous = convert_many(spec, months[1:], tmp_path / "inc", name="sst")
    before = tree_sha256(previous.path)
    with pytest.raises(NotAppendable, match="starts at or before"):
        append_many(spec, previous.path, months[:1])
    assert tree_sha256(previous.path) == before  # nothing half-written


# --------------------------------------------------------------------------- through publish


def _catalog(example_catalog: Path, urls: list[str], env: dict[str, object] | None = None) -> None:
    (example_catalog / "datasets" / DS / "data" / f"{DS}.nc").unlink(missing_ok=True)
    pipeline = example_catalog / "datasets" / DS / "pipeline.yaml"
    spec = yaml.safe_load(pipeline.read_text())
    spec["source"].pop("path", None)
    spec["source"]["paths"] = urls
    pipeline.write_text(yaml.safe_dump(spec, sort_keys=False))
    if env is not None:
        config = example_catalog / "catalog-bot.yaml"
        cfg = yaml.safe_load(config.read_text())
        cfg["environments"]["s3test"] = env
        config.write_text(yaml.safe_dump(cfg, sort_keys=False))


def _publish(catalog: Path, output: Path, *extra: str) -> int:
    try:
        main(["publish", "--catalog", str(catalog), "--output", str(output), *extra, DS])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _result(output: Path) -> dict:
    return json.loads((output / ".catalog-bot/work" / DS / "convert/result.json").read_text())


def test_new_daily_file_is_appended_and_a_changed_one_reconverts_everything(
    example_catalog: Path, nginx: Nginx, tmp_path: Path
) -> None:
    folder = f"i{os.urandom(5).hex()}"
    months = split_netcdf(SST / "data/sea-surface-temperature.nc", nginx.root / folder)
    urls = [nginx.url(f"{folder}/{m.name}") for m in months]
    _catalog(example_catalog, urls[:11])
    output = tmp_path / "out"
    assert _publish(example_catalog, output) == 0
    assert _result(output)["mode"] == "full"

    _catalog(example_catalog, urls)  # December appears
    assert _publish(example_catalog, output) == 0
    result = _result(output)
    assert (result["mode"], result["converted"]) == ("append", 1)
    assert [s["status"] for s in result["sources"]] == ["not-modified"] * 11 + ["downloaded"]
    package = json.loads((output / "data/catalog-public" / DS / "datapackage.json").read_text())
    assert package["temporal"]["end"].startswith("2024-12")  # extents follow the appended data
    version = package["resources"][0]["path"].split("/")[0]
    published = output / "data/catalog-public" / DS / version / f"{DS}.zarr"
    # The same bytes as a full conversion of the twelve files in a fresh output folder.
    assert _publish(example_catalog, tmp_path / "fresh") == 0
    assert _result(tmp_path / "fresh")["mode"] == "full"
    fresh = next((tmp_path / "fresh/data/catalog-public" / DS).glob(f"*/{DS}.zarr"))
    assert tree_sha256(published) == tree_sha256(fresh)

    # A file replaced upstream: everything is converted again, from the new bytes.
    with xr.open_dataset(months[3]) as ds:
        changed = ds.load()
    changed["sst"] = changed["sst"] + 1.0
    changed.to_netcdf(months[3].with_suffix(".tmp"))
    os.replace(months[3].with_suffix(".tmp"), months[3])
    os.utime(months[3], (time.time() + 5, time.time() + 5))
    assert _publish(example_catalog, output) == 0
    result = _result(output)
    assert result["mode"] == "full" and "changed upstream" in result["reason"]
    store = next(p for p in (output / ".catalog-bot/work" / DS / "convert").glob("*.zarr"))
    with xr.open_zarr(store) as got, xr.open_dataset(months[3]) as want:
        xr.testing.assert_allclose(got.sst.isel(time=3).load(), want.sst.isel(time=0).load())


@pytest.mark.services
def test_fresh_work_folder_with_state_in_seaweedfs_downloads_nothing_and_appends_only_new_files(
    example_catalog: Path,
    nginx: Nginx,
    tmp_path: Path,
    s3_client,  # noqa: F811
) -> None:
    folder = f"s{os.urandom(5).hex()}"
    months = split_netcdf(SST / "data/sea-surface-temperature.nc", nginx.root / folder)
    urls = [nginx.url(f"{folder}/{m.name}") for m in months]
    bucket = s3_client.bucket_name
    env = {
        "engine": "local",
        "object_store": {
            "kind": "s3",
            "endpoint_url": s3_client.meta.endpoint_url,
            "region": "us-east-1",
            "public_bucket": bucket,
            "limited_bucket": bucket,
            "prefix": "cat",
        },
    }
    _catalog(example_catalog, urls[:11], env)
    assert _publish(example_catalog, tmp_path / "pod1", "--env", "s3test") == 0
    store = S3ObjectStore(s3_client, bucket, prefix="cat")
    state = json.loads(store.get_bytes(f"{DS}/source-state.json"))
    assert [s["uri"] for s in state["sources"]] == urls[:11] and state["data"]["key"].endswith(f"{DS}.zarr")
    sent = sum(b for _, _, b in nginx.body_bytes(folder))

    # A new pod: empty work folder and output, unchanged remote.
    assert _publish(example_catalog, tmp_path / "pod2", "--env", "s3test") == 0
    log = nginx.body_bytes(folder)
    assert sum(b for _, _, b in log) == sent  # 0 data bytes: only validator requests
    assert {m for m, _, _ in log[-11:]} == {"HEAD"}
    result = _result(tmp_path / "pod2")
    assert (result["mode"], result["converted"]) == ("reuse", 0)  # no re-convert
    assert result["sha256"] == state["data"]["sha256"]

    # Another new pod after December appeared: only that file is downloaded and converted.
    _catalog(example_catalog, urls)
    seen = len(nginx.body_bytes(folder))
    assert _publish(example_catalog, tmp_path / "pod3", "--env", "s3test") == 0
    gets = [(m, s) for m, s, _ in nginx.body_bytes(folder)[seen:] if m == "GET"]
    assert gets == [("GET", 200)]
    result = _result(tmp_path / "pod3")
    assert (result["mode"], result["converted"]) == ("append", 1)
    package = json.loads(store.get_bytes(f"{DS}/datapackage.json"))
    assert package["temporal"]["end"].startswith("2024-12")
    state = json.loads(store.get_bytes(f"{DS}/source-state.json"))
    assert [s["uri"] for s in state["sources"]] == urls
