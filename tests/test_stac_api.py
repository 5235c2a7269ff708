"""StacApi against a real stac-fastapi-pgstac (Transactions) on 127.0.0.1."""

from __future__ import annotations

import time

import httpx
import pytest

from bot.adapters.stac_api import StacApi
from bot.errors import ServiceError
from tests.services import dev_services, unique  # noqa: F401  (fixture)

pytestmark = pytest.mark.services


def collection(cid: str, title: str = "A test collection") -> dict:
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "id": cid,
        "title": title,
        "description": "created by tests/test_stac_api.py",
        "license": "CC-BY-4.0",
        "links": [],
        "extent": {
            "spatial": {"bbox": [[140.0, -30.0, 160.0, -10.0]]},
            "temporal": {"interval": [["2024-01-01T00:00:00Z", None]]},
        },
    }


def item(cid: str, iid: str, lon: float = 150.0, lat: float = -20.0, day: int = 1) -> dict:
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": iid,
        "collection": cid,
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "bbox": [lon, lat, lon, lat],
        "properties": {"datetime": f"2024-01-{day:02d}T00:00:00Z"},
        "links": [],
        "assets": {"data": {"href": f"http://127.0.0.1/{iid}.parquet", "roles": ["data"]}},
    }


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def api(dev_services) -> StacApi:  # noqa: F811
    return StacApi(dev_services.stac_url, httpx.Client(timeout=30))


@pytest.fixture
def cid(api: StacApi):
    name = unique("test-col")
    yield name
    api.delete_collection(name)


def test_create_then_update_collection(api: StacApi, cid: str) -> None:
    assert not api.collection_exists(cid)
    assert api.create_collection(collection(cid)) == "created"
    # 409 on a second POST becomes a PUT: the new title wins
    assert api.create_collection(collection(cid, title="Renamed")) == "updated"
    assert api.get_collection(cid)["title"] == "Renamed"
    assert api.update_collection(collection(cid, title="Again")) == "updated"
    assert api.get_collection(cid)["title"] == "Again"
    assert api.ensure_collection(collection(cid, title="ignored")) is False
    assert api.get_collection(cid)["title"] == "Again"


def test_update_of_missing_collection_creates_it(api: StacApi, cid: str) -> None:
    assert api.update_collection(collection(cid)) == "created"
    assert api.collection_exists(cid)


def test_upsert_item_creates_then_replaces(api: StacApi, cid: str) -> None:
    api.create_collection(collection(cid))
    assert api.upsert_item(cid, item(cid, "a", lon=150.0)) == "created"
    assert api.upsert_item(cid, item(cid, "a", lon=151.0)) == "updated"
    stored = api.get_items(cid)
    assert [i["id"] for i in stored] == ["a"]
    assert stored[0]["geometry"]["coordinates"] == [151.0, -20.0]


def test_item_for_missing_collection_is_a_clear_error_without_retries(dev_services) -> None:  # noqa: F811
    sleeps = Sleeps()
    api = StacApi(dev_services.stac_url, httpx.Client(timeout=30), sleep=sleeps)
    missing = unique("no-such-col")
    with pytest.raises(ServiceError) as info:
        api.upsert_item(missing, item(missing, "x"))
    text = str(info.value)
    assert f"collection {missing!r} does not exist" in text and "ensure-collection" in text
    assert sleeps == []  # not five retries of pgstac's 500
    with pytest.raises(ServiceError, match="does not exist"):
        api.upsert_items(missing, [item(missing, "y")])


def test_500_for_a_collection_deleted_meanwhile_is_detected(dev_services, cid: str) -> None:  # noqa: F811
    sleeps = Sleeps()
    api = StacApi(dev_services.stac_url, httpx.Client(timeout=30), sleep=sleeps)
    api.create_collection(collection(cid))
    api.upsert_item(cid, item(cid, "a"))  # the client now believes the collection exists
    StacApi(dev_services.stac_url).delete_collection(cid)  # someone else deletes it
    with pytest.raises(ServiceError, match="does not exist"):
        api.upsert_item(cid, item(cid, "b"))
    # pgstac drops the connection after its 500: at most the re-check GET is retried once, never the write
    assert len(sleeps) <= 1


def test_bulk_upsert_in_chunks_is_idempotent(api: StacApi, cid: str) -> None:
    api.create_collection(collection(cid))
    items = [item(cid, f"i{n:04d}", lon=140 + n % 20, day=1 + n % 28) for n in range(1203)]
    small = StacApi(api.base_url, httpx.Client(timeout=60), chunk_size=500)
    assert small.upsert_items(cid, items) == 1203
    # a re-run (e.g. after a partial ingest) adds nothing and changes the data in place
    items[0]["properties"]["datetime"] = "2024-02-02T00:00:00Z"
    assert small.upsert_items(cid, items[:600]) == 600
    stored = api.get_items(cid, limit=250)  # follows `next` links across 5 pages
    assert len(stored) == 1203 and len({i["id"] for i in stored}) == 1203
    assert api.get_item(cid, "i0000")["properties"]["datetime"].startswith("2024-02-02")


def test_partial_ingest_is_completed_by_a_rerun(api: StacApi, cid: str) -> None:
    api.create_collection(collection(cid))
    items = [item(cid, f"p{n}") for n in range(30)]
    api.upsert_items(cid, items[:12])  # the first run died after 12
    assert len(api.get_items(cid)) == 12
    api.upsert_items(cid, items)
    assert sorted(i["id"] for i in api.get_items(cid)) == sorted(i["id"] for i in items)


def test_item_of_another_collection_is_refused(api: StacApi, cid: str) -> None:
    api.create_collection(collection(cid))
    with pytest.raises(ServiceError, match="belongs to collection"):
        api.upsert_items(cid, [item("other", "z")])


def test_search_by_bbox_and_datetime_finds_upserted_items(api: StacApi, cid: str) -> None:
    api.create_collection(collection(cid))
    api.upsert_items(cid, [item(cid, "in", lon=150, lat=-20, day=5), item(cid, "out", lon=100, lat=10, day=20)])
    found = httpx.post(
        f"{api.base_url}/search",
        json={
            "collections": [cid],
            "bbox": [145, -25, 155, -15],
            "datetime": "2024-01-01T00:00:00Z/2024-01-10T00:00:00Z",
        },
        timeout=30,
    ).json()
    assert [f["id"] for f in found["features"]] == ["in"]


def test_stac_api_down_retries_then_fails_clearly(dev_services) -> None:  # noqa: F811
    """A stopped API (dead port): bounded retries with backoff, then a ServiceError naming it."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    api = StacApi(f"http://127.0.0.1:{port}", httpx.Client(timeout=2), attempts=4, base_delay=0.01, sleep=sleeps)
    start = time.monotonic()
    with pytest.raises(ServiceError) as info:
        api.create_collection(collection("x"))
    assert time.monotonic() - start < 5
    assert len(sleeps) == 3
    assert "stac-api" in str(info.value) and f"127.0.0.1:{port}" in str(info.value)
    assert "running and reachable" in str(info.value)
