"""Many NetCDF files on Argo: one convert-file pod converts each file into a part, the combine assembles them.

Through the rendered WorkflowTemplate on the Argo test server, every pod a
real ``catalog-bot step`` process against the real S3 server (SeaweedFS).
The files are real-world-shaped daily NetCDF (tests/grid_files.py: noleap
calendar, int16 CF packing, fill values over land).  Checked: the
per-file tasks appear and each writes a part with its grid signature, the
combine gets every part, and the published Zarr store is the one the
local engine writes with 1 and with 2 workers (bytes, hence decoded values,
attributes, coordinates and encoding); a file on another grid fails the
combine naming that file, with nothing published.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from bot.adapters.objectstore import tree_sha256
from bot.pipeline.dag import PUBLISH
from tests.argo_publish import ArgoWorld, argo_world, git  # noqa: F401  (argo_world: a fixture)
from tests.conftest import EXAMPLE
from tests.grid_files import LAT, daily_files
from tests.services import DevServices
from tests.test_argo_data import _local_convert
from tests.test_sources_many import _set_source

pytestmark = pytest.mark.services

DS = "sea-surface-temperature"
FILES = 5


@pytest.fixture
def world(argo_world: ArgoWorld) -> ArgoWorld:  # noqa: F811
    return argo_world


def _daily(catalog: Path, *, misfit: bool = False) -> None:
    """The SST dataset as a daily product: FILES files of 3 noleap days, CF-packed (curated as int16)."""
    folder = catalog / "datasets" / DS / "data"
    (folder / f"{DS}.nc").unlink()
    daily_files(folder / "days", FILES, 3)
    if misfit:  # the third file regridded half a cell north
        (folder / "days" / "tos_day_00006.nc").unlink()
        daily_files(folder / "days", 1, 3, start=6, lat=LAT + 0.125)
    _set_source(catalog, DS, paths=["data/days/*.nc"])
    schema_path = catalog / "datasets" / DS / "gridschema.json"
    schema = json.loads(schema_path.read_text())
    for var in schema["variables"]:
        if var["name"] == "sst":
            var["data_type"] = "int16"
    schema_path.write_text(json.dumps(schema, indent=2))


def _download(dev_services: DevServices, prefix: str, dest: Path) -> Path:
    s3 = dev_services.s3_client()
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="catalog-public", Prefix=prefix)
            for o in page.get("Contents", [])]  # fmt: skip
    for key in keys:
        target = dest / key[len(prefix) :].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket="catalog-public", Key=key)["Body"].read())
    return dest


def test_daily_grid_files_convert_in_their_own_pods_and_combine_to_the_local_store(
    world: ArgoWorld, dev_services: DevServices, tmp_path: Path
) -> None:
    catalog, sha = world.catalog(EXAMPLE, prepare=_daily)
    transfer = world.publish(catalog, sha, DS)
    assert transfer.phase == "Succeeded", "\n".join(r.output[-1500:] for r in transfer.records if r.returncode)
    assert [r.task for r in transfer.records] == ["plan-sources", *["convert-file"] * FILES, *PUBLISH.names()]
    # Each pod converted its own file into a part (the parts are pruned once the data is published).
    each = [r for r in transfer.records if r.task == "convert-file"]
    assert all(f"part {i} converted" in r.output for i, r in enumerate(each))
    # The combine got every part: one provenance record per file, in the planned order.
    assert [s["uri"] for s in transfer.convert["sources"]] == [f"data/days/tos_day_{3 * i:05d}.nc" for i in range(5)]
    assert {r.task: r for r in transfer.records}["convert"].store_get_bytes > 0  # it read the parts
    # The published store is the local engine's, with 1 and with 2 workers.
    version = f"{world.prefix}/{DS}/{transfer.convert['sha256'][:16]}/{DS}.zarr"
    published = _download(dev_services, version, tmp_path / "argo.zarr")
    assert tree_sha256(published) == transfer.convert["sha256"]
    for jobs in (1, 2):
        local = _local_convert(catalog, tmp_path / f"local-{jobs}", DS, jobs)
        assert (local["sha256"], local["bytes"]) == (transfer.convert["sha256"], transfer.convert["bytes"])
    store = next((tmp_path / "local-1" / "data" / "catalog-public" / DS).glob(f"*/{DS}.zarr"))
    with xr.open_zarr(published) as got, xr.open_zarr(store) as want:
        xr.testing.assert_identical(got.load(), want.load())
        for name in got.variables:
            assert repr(got[name].encoding) == repr(want[name].encoding)
        assert got.time.encoding["calendar"] == "noleap" and got.sst.encoding["dtype"] == np.dtype("int16")


def test_a_file_on_another_grid_fails_the_combine_naming_it_and_nothing_is_published(
    world: ArgoWorld, dev_services: DevServices
) -> None:
    catalog, sha = world.catalog(EXAMPLE, prepare=lambda c: _daily(c, misfit=True))
    transfer = world.publish(catalog, sha, DS)
    assert transfer.phase == "Failed"
    assert [r.task for r in transfer.records] == ["plan-sources", *["convert-file"] * FILES, "convert"]
    failed = [r for r in transfer.records if r.returncode]
    assert [r.task for r in failed] == ["convert"]
    text = " ".join(failed[0].output.split())
    assert "data/days/tos_day_00006.nc [source.paths]" in text and "values of coordinate 'lat' differ" in text
    # Every pod made its part, with the file's signature in the record; the combine found the misfit from
    # the records and stopped before downloading any part.
    s3 = dev_services.s3_client()
    listing = s3.list_objects_v2(Bucket="catalog-public", Prefix=f"{world.prefix}/work/{DS}/parts/")
    keys = [o["Key"] for o in listing.get("Contents", [])]
    records = [json.loads(s3.get_object(Bucket="catalog-public", Key=k)["Body"].read()) for k in keys if
               k.endswith(".json") and "/data.zarr/" not in k and not k.endswith("/part.json")]  # fmt: skip
    assert sorted(r["index"] for r in records) == list(range(FILES))
    assert all(r["tree"] and r["grid"]["calendar"] == "noleap" and r["grid"]["length"] == 3 for r in records)
    assert {r["grid"]["file"] for r in records} == {f"data/days/tos_day_{3 * i:05d}.nc" for i in range(FILES)}
    assert all(any(f"/{r['index']:05d}/data.zarr/sst/" in k for k in keys) for r in records)
    part_bytes = sum(r["bytes"] for r in records)
    assert failed[0].store_get_bytes < part_bytes / 10
    listing = s3.list_objects_v2(Bucket="catalog-public", Prefix=f"{world.prefix}/{DS}/")
    assert listing.get("KeyCount", 0) == 0  # no data version, no datapackage: nothing published
    work = s3.list_objects_v2(Bucket="catalog-public", Prefix=f"{world.prefix}/work/{DS}/")
    assert not [o["Key"] for o in work.get("Contents", []) if "/parts/" not in o["Key"]]  # no converted data either


def test_a_new_daily_file_is_appended_by_one_pod_to_the_published_store(
    world: ArgoWorld, dev_services: DevServices, tmp_path: Path
) -> None:
    catalog, sha = world.catalog(EXAMPLE, prepare=_daily)
    first = world.publish(catalog, sha, DS)
    assert first.phase == "Succeeded" and first.convert["mode"] == "full"
    daily_files(catalog / "datasets" / DS / "data" / "days", 1, 3, start=3 * FILES)  # the next file arrives
    git(catalog, "add", "-A")
    git(catalog, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "next day")
    second = world.publish(catalog, git(catalog, "rev-parse", "HEAD"), DS)
    assert second.phase == "Succeeded", "\n".join(r.output[-1500:] for r in second.records if r.returncode)
    # One pod restored the published version from the store and converted only the new file.
    assert [r.task for r in second.records] == ["plan-sources", "convert-file", *PUBLISH.names()]
    assert (second.convert["mode"], second.convert["converted"]) == ("append", 1)
    assert len(second.convert["sources"]) == FILES + 1
    # The same bytes as converting all the files again locally.
    local = _local_convert(catalog, tmp_path / "local", DS, 2)
    assert (local["mode"], local["sha256"]) == ("full", second.convert["sha256"])
