"""End to end: `catalog-bot publish --env dev` of the example catalog to the real loopback services.

SeaweedFS (S3), stac-fastapi-pgstac and pygeoapi are started once per
session (tests/services.py).  The example datasets have fixed ids, so each
test starts from a clean slate for them (collections, resources, objects).
Every test publishes a private copy of the catalog whose ``dev`` object
store writes below its own key prefix (``object_store.prefix``): other tests
write to the same two buckets in parallel, so listings and "nothing else
changed" checks look only below that prefix.  Fault tests also point one
service somewhere broken.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bot.adapters.pygeoapi import PygeoapiAdmin
from bot.adapters.stac_api import StacApi
from tests.conftest import EXAMPLE, SCHEMAS
from tests.services import DevServices, dev_env, dev_services, pygeoapi_lock, unique  # noqa: F401  (fixtures)

# One xdist group with the other pygeoapi tests: pygeoapi's admin API rewrites one
# config file and reloads, so concurrent writers could lose each other's changes.
pytestmark = [
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.xdist_group("dev-pygeoapi"),
    pytest.mark.usefixtures("pygeoapi_lock"),
]

DATASETS = ("marine-protected-areas", "reef-temperature", "sea-surface-temperature")
BUCKETS = ("catalog-public", "catalog-limited")


def cli(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess (as a user would), output captured."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        # explicit: module-scoped fixtures run before conftest's autouse environment
        env={**os.environ, "CATALOG_BOT_SCHEMAS": str(SCHEMAS), "CATALOG_BOT_DEBUG": "", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def all_objects(dev: DevServices, bucket: str, root: str, prefix: str = "") -> dict[str, str]:
    """``key -> ETag`` of every object below ``root/prefix``, keys relative to ``root`` (the test's own prefix)."""
    client = dev.s3_client()
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{root}/{prefix}"):
        for obj in page.get("Contents", []) or []:
            out[obj["Key"].removeprefix(f"{root}/")] = obj["ETag"]
    return out


def reset(dev: DevServices, root: str) -> None:
    """Remove the example datasets from every service (a clean slate for one test) and the objects below ``root``."""
    stac = StacApi(dev.stac_url)
    geo = PygeoapiAdmin(dev.pygeoapi_url, reload_timeout=60)
    for ds in DATASETS:
        stac.delete_collection(ds)
        geo.delete_resource(ds)
    delete_below(dev, root)


def delete_below(dev: DevServices, root: str) -> None:
    """Remove every object below ``root`` in both buckets."""
    client = dev.s3_client()
    for bucket in BUCKETS:
        keys = [f"{root}/{k}" for k in all_objects(dev, bucket, root)]
        for start in range(0, len(keys), 1000):
            client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]]})


def set_environment(catalog: Path, name: str, block: dict[str, Any]) -> None:
    """Add/replace one environment in a catalog copy's catalog-bot.yaml."""
    path = catalog / "catalog-bot.yaml"
    config = yaml.safe_load(path.read_text())
    config.setdefault("environments", {})[name] = block
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def dev_block(dev: DevServices, root: str, **overrides: Any) -> dict[str, Any]:
    """The example's ``dev`` environment, objects below ``root``, with some parts replaced."""
    block = {
        "engine": "local",
        "output": "_published/dev",
        "object_store": {
            "kind": "s3",
            "endpoint_url": dev.s3_url,
            "region": "us-east-1",
            "prefix": root,
            "public_base_url": f"{dev.s3_url}/catalog-public",
        },
        "stac": {"kind": "api", "url": dev.stac_url},
        "pygeoapi": {"kind": "api", "url": dev.pygeoapi_url},
    }
    for key, value in overrides.items():
        block[key] = value
    return block


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def root(dev_services: DevServices) -> Iterator[str]:  # noqa: F811
    """This test's own key prefix in both buckets (its objects are removed afterwards)."""
    prefix = unique("e2e")
    yield prefix
    delete_below(dev_services, prefix)


@pytest.fixture
def private_catalog(tmp_path: Path, root: str) -> Path:
    """A copy of the example whose ``dev`` object store writes below ``root``."""
    dest = tmp_path / "catalog"
    shutil.copytree(EXAMPLE, dest)
    path = dest / "catalog-bot.yaml"
    config = yaml.safe_load(path.read_text())
    config["environments"]["dev"]["object_store"]["prefix"] = root
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


def publish_twice(dev_services: DevServices, catalog: Path, root: str, work: Path) -> dict[str, Any]:  # noqa: F811
    """The example catalog published once to dev (state recorded), then published a second time."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in dev_services.env.items():
            mp.setenv(key, value)
        reset(dev_services, root)
        first = cli(["publish", "--catalog", str(catalog), "--env", "dev", "--all"], cwd=work)
        objects_1 = {b: all_objects(dev_services, b, root) for b in BUCKETS}
        stac = StacApi(dev_services.stac_url)
        items_1 = {ds: stac.get_items(ds) if stac.collection_exists(ds) else [] for ds in DATASETS}
        resources_1 = PygeoapiAdmin(dev_services.pygeoapi_url).resource_ids()
        second = cli(["publish", "--catalog", str(catalog), "--env", "dev", "--all"], cwd=work)
        return {
            "root": root,
            "first": first,
            "second": second,
            "objects_1": objects_1,
            "items_1": items_1,
            "resources_1": resources_1,
            "work": work,
        }


def check_publish_succeeds(published) -> None:
    first = published["first"]
    assert first.returncode == 0, first.stdout + first.stderr
    for ds in DATASETS:
        assert ds in first.stdout


def check_objects_land_in_the_public_bucket(published) -> None:
    public = published["objects_1"]["catalog-public"]
    for ds in DATASETS:
        assert f"{ds}/datapackage.json" in public
        data = [k for k in public if k.startswith(f"{ds}/") and (".parquet" in k or ".zarr/" in k)]
        assert data, f"no data objects for {ds}"
    assert not any(k.split("/")[0] in DATASETS for k in published["objects_1"]["catalog-limited"])


def check_pystac_client_finds_items_by_bbox_and_datetime(published, dev_services) -> None:  # noqa: F811
    from pystac_client import Client

    client = Client.open(dev_services.stac_url)
    items = published["items_1"]
    for ds in DATASETS:
        assert len(items[ds]) == 1, ds
        item = items[ds][0]
        west, south, east, north = (
            item["bbox"][:4] if len(item["bbox"]) == 4 else (item["bbox"][i] for i in (0, 1, 3, 4))
        )
        inside = [
            (west + east) / 2 - 0.01,
            (south + north) / 2 - 0.01,
            (west + east) / 2 + 0.01,
            (south + north) / 2 + 0.01,
        ]
        props = item["properties"]
        when = props.get("datetime") or props["start_datetime"]
        found = client.search(collections=[ds], bbox=inside, datetime=f"{when[:10]}/..").item_collection()
        assert [i.id for i in found] == [item["id"]]
        # elsewhere on the globe, or before the data: nothing
        assert not list(client.search(collections=[ds], bbox=[-10, 40, -9, 41]).items())
        assert not list(client.search(collections=[ds], datetime="1900-01-01/1900-12-31").items())


def check_stac_assets_point_at_existing_objects(published, dev_services) -> None:  # noqa: F811
    for ds in DATASETS:
        item = published["items_1"][ds][0]
        for name in ("datapackage", "schema"):
            href = item["assets"][name]["href"]
            assert httpx.get(href, timeout=30).status_code == 200, href
        data = item["assets"]["data"]["href"]
        root = published["root"]
        assert data.startswith(f"{dev_services.s3_url}/catalog-public/{root}/{ds}/")
        key = data.split(f"/catalog-public/{root}/", 1)[1]
        objects = published["objects_1"]["catalog-public"]
        assert key in objects or any(k.startswith(key + "/") for k in objects)


def check_ogc_features_serve_the_rows(published, dev_services) -> None:  # noqa: F811
    rows = sum(1 for _ in (EXAMPLE / "datasets/reef-temperature/data/reef-temperature.csv").open()) - 1
    url = f"{dev_services.pygeoapi_url}/collections/reef-temperature/items"
    # one page holds them all (pygeoapi's numberMatched is unreliable with small limits for Parquet)
    page = httpx.get(url, params={"f": "json", "limit": 5000}, timeout=60).json()
    assert len(page["features"]) == rows
    first = page["features"][0]
    assert first["geometry"]["type"] == "Point" and "temperature" in first["properties"]
    mpa = httpx.get(
        f"{dev_services.pygeoapi_url}/collections/marine-protected-areas/items",
        params={"f": "json", "limit": 5000},
        timeout=60,
    ).json()
    source = json.loads((EXAMPLE / "datasets/marine-protected-areas/data/marine-protected-areas.geojson").read_text())
    assert len(mpa["features"]) == len(source["features"])
    assert {f["geometry"]["type"] for f in mpa["features"]} <= {"Polygon", "MultiPolygon"}


def check_zarr_dataset_answers_as_a_coverage(published, dev_services) -> None:  # noqa: F811
    url = f"{dev_services.pygeoapi_url}/collections/sea-surface-temperature/coverage"
    response = httpx.get(url, params={"f": "json", "bbox": "145,-20,147,-18"}, timeout=120)
    assert response.status_code == 200, response.text[:300]
    coverage = response.json()
    assert coverage["type"] == "Coverage"
    assert "sst" in coverage["ranges"]


def check_published_datapackage_downloads_and_validates(published, dev_services, tmp_path) -> None:  # noqa: F811
    from bot.catalog.schemas import SchemaRegistry
    from bot.errors import Severity
    from bot.metadata.frictionless import validate_datapackage

    registry = SchemaRegistry(SCHEMAS, tmp_path / "cache")
    profile = json.loads((EXAMPLE / "profiles/catalog-datapackage.json").read_text())
    for ds in DATASETS:
        url = f"{dev_services.s3_url}/catalog-public/{published['root']}/{ds}/datapackage.json"
        response = httpx.get(url, timeout=30)  # anonymous: the public bucket is world-readable
        assert response.status_code == 200
        package = response.json()
        assert package["name"] == ds
        # the Frictionless standard's own JSON schema (offline mirror), independent of the bot's checks
        standard = package.get("$schema", "https://datapackage.org/profiles/2.0/datapackage.json")
        errors = [e.message for e in registry.validator(standard).iter_errors(package)]
        assert errors == [], errors
        # frictionless (offline) + the catalog profile
        problems = validate_datapackage(package, dataset=ds, profile=profile, registry=registry)
        assert [p.format() for p in problems if p.severity is Severity.ERROR] == []


def check_second_publish_changes_nothing(published, dev_services) -> None:  # noqa: F811
    second = published["second"]
    assert second.returncode == 0, second.stdout + second.stderr
    assert {b: all_objects(dev_services, b, published["root"]) for b in BUCKETS} == published[
        "objects_1"
    ]  # same keys, same ETags
    stac = StacApi(dev_services.stac_url)
    for ds in DATASETS:
        assert [i["id"] for i in stac.get_items(ds)] == [i["id"] for i in published["items_1"][ds]]
    resources = PygeoapiAdmin(dev_services.pygeoapi_url).resource_ids()
    assert resources == published["resources_1"]
    assert all(resources.count(ds) == 1 for ds in DATASETS)


def test_publish_example_catalog_to_dev(dev_services, private_catalog, root, tmp_path: Path) -> None:  # noqa: F811
    """One test (under the pygeoapi lock) so that no other worker resets the datasets between the checks."""
    published = publish_twice(dev_services, private_catalog, root, tmp_path)
    check_publish_succeeds(published)
    check_objects_land_in_the_public_bucket(published)
    check_pystac_client_finds_items_by_bbox_and_datetime(published, dev_services)
    check_stac_assets_point_at_existing_objects(published, dev_services)
    check_ogc_features_serve_the_rows(published, dev_services)
    check_zarr_dataset_answers_as_a_coverage(published, dev_services)
    check_published_datapackage_downloads_and_validates(published, dev_services, tmp_path)
    check_second_publish_changes_nothing(published, dev_services)


# --------------------------------------------------------------------------- faults


def test_wrong_s3_keys_fail_with_an_auth_error_that_prints_no_key(dev_env, private_catalog, root, tmp_path) -> None:  # noqa: F811
    reset(dev_env, root)
    bad_id, bad_secret = "BADKEYID0000TESTING", "bad-secret-value-never-printed-42"
    result = cli(
        ["publish", "--catalog", str(private_catalog), "--env", "dev", "reef-temperature"],
        cwd=tmp_path,
        env={"AWS_ACCESS_KEY_ID": bad_id, "AWS_SECRET_ACCESS_KEY": bad_secret},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "s3 HTTP 403" in output and "AWS_ACCESS_KEY_ID" in output
    assert "Traceback" not in output
    for secret in (bad_id, bad_secret, dev_env.secret_key):
        assert secret not in output
    assert not StacApi(dev_env.stac_url).collection_exists("reef-temperature")
    assert PygeoapiAdmin(dev_env.pygeoapi_url).get_resource("reef-temperature") is None


def test_stac_api_down_then_rerun_completes(dev_env, private_catalog, root, tmp_path) -> None:  # noqa: F811
    reset(dev_env, root)
    set_environment(
        private_catalog,
        "broken",
        dev_block(dev_env, root, stac={"kind": "api", "url": f"http://127.0.0.1:{dead_port()}"}),
    )
    set_environment(private_catalog, "fixed", dev_block(dev_env, root))
    out = tmp_path / "out"
    down = cli(
        ["publish", "--catalog", str(private_catalog), "--env", "broken", "--output", str(out), "reef-temperature"],
        cwd=tmp_path,
    )
    output = down.stdout + down.stderr
    assert down.returncode == 1
    assert "stac-api" in output and "running and reachable" in output
    assert "retry 4/4" in output  # bounded retries with backoff happened before giving up
    stac = StacApi(dev_env.stac_url)
    assert not stac.collection_exists("reef-temperature")
    # data and pygeoapi went through before the STAC step: the re-run completes the rest
    rerun = cli(
        ["publish", "--catalog", str(private_catalog), "--env", "fixed", "--output", str(out), "reef-temperature"],
        cwd=tmp_path,
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert [i["id"] for i in stac.get_items("reef-temperature")] != []


def test_s3_stopped_mid_publish_then_rerun_completes(dev_env, private_catalog, root, tmp_path) -> None:  # noqa: F811
    """A private SeaweedFS is stopped before the upload; nothing may point at the missing data."""
    module = dev_env.module
    state = tmp_path / "private-s3"
    creds = {"access_key": dev_env.access_key, "secret_key": dev_env.secret_key}
    s3 = module.start_s3(state, creds)
    try:
        block = dev_block(dev_env, root)
        block["object_store"] = {
            **block["object_store"],
            "endpoint_url": s3["url"],
            "public_base_url": f"{s3['url']}/catalog-public",
        }
        block["pygeoapi"] = {"kind": "config"}  # the shared pygeoapi reads the shared S3, not this private one
        set_environment(private_catalog, "flaky", block)
        reset(dev_env, root)
        module.stop_group(s3["pid"], s3["expect"])
        out = tmp_path / "out"
        failed = cli(
            [
                "publish",
                "--catalog",
                str(private_catalog),
                "--env",
                "flaky",
                "--output",
                str(out),
                "sea-surface-temperature",
            ],
            cwd=tmp_path,
        )
        output = failed.stdout + failed.stderr
        assert failed.returncode == 1
        assert "upload-arco-data" in output and s3["url"] in output and "Traceback" not in output
        stac = StacApi(dev_env.stac_url)
        assert not stac.collection_exists("sea-surface-temperature")
        s3 = module.start_s3(state, creds, s3["port"])
        rerun = cli(
            [
                "publish",
                "--catalog",
                str(private_catalog),
                "--env",
                "flaky",
                "--output",
                str(out),
                "sea-surface-temperature",
            ],
            cwd=tmp_path,
        )
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        item = stac.get_items("sea-surface-temperature")[0]
        for asset in item["assets"].values():
            href = asset["href"]
            probe = href if href.endswith(".json") else f"{href}/.zgroup" if href.endswith(".zarr") else href
            if not href.endswith((".json", ".zarr")):
                continue
            assert httpx.get(probe, timeout=30).status_code == 200, probe
    finally:
        module.stop_group(s3["pid"], s3["expect"])
        reset(dev_env, root)


def test_limited_dataset_never_reaches_public_targets(dev_env, private_catalog, root, tmp_path) -> None:  # noqa: F811
    reset(dev_env, root)
    ds = private_catalog / "datasets" / "reef-temperature"
    pipeline = yaml.safe_load((ds / "pipeline.yaml").read_text())
    pipeline["access"] = "limited"
    (ds / "pipeline.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    package = json.loads((ds / "datapackage.json").read_text())
    package["access"] = "limited"
    (ds / "datapackage.json").write_text(json.dumps(package, indent=2))
    result = cli(["publish", "--catalog", str(private_catalog), "--env", "dev", "reef-temperature"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert all_objects(dev_env, "catalog-public", root, "reef-temperature/") == {}
    assert any(
        k.endswith("datapackage.json") for k in all_objects(dev_env, "catalog-limited", root, "reef-temperature/")
    )
    assert PygeoapiAdmin(dev_env.pygeoapi_url).get_resource("reef-temperature") is None
    # #13 item 9: no limited_stac target configured -> in no STAC catalog at all (never the public one).
    assert not StacApi(dev_env.stac_url).collection_exists("reef-temperature")
    reset(dev_env, root)
