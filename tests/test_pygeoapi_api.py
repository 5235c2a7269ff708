"""PygeoapiAdmin against a real pygeoapi (admin API + gunicorn --reload) on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bot.adapters.pygeoapi import PygeoapiAdmin
from bot.errors import ServiceError
from tests.services import dev_services, pygeoapi_lock, unique  # noqa: F401  (fixtures)

# Serialised with the e2e tests (run pytest with --dist loadgroup): one pygeoapi config, reloaded per write.
pytestmark = [pytest.mark.services, pytest.mark.xdist_group("dev-pygeoapi"), pytest.mark.usefixtures("pygeoapi_lock")]


def geojson_resource(path: Path, title: str) -> dict:
    return {
        "type": "collection",
        "title": title,
        "description": "created by tests/test_pygeoapi_api.py",
        "keywords": ["test"],
        "links": [],
        "extents": {"spatial": {"bbox": [140, -30, 160, -10], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
        "providers": [{"type": "feature", "name": "GeoJSON", "data": str(path), "id_field": "id"}],
    }


@pytest.fixture
def features(tmp_path: Path) -> Path:
    path = tmp_path / "points.geojson"
    feats = [
        {
            "type": "Feature",
            "id": f"p{n}",
            "properties": {"id": f"p{n}", "v": n},
            "geometry": {"type": "Point", "coordinates": [150 + n, -20]},
        }
        for n in range(3)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


@pytest.fixture
def admin(dev_services) -> PygeoapiAdmin:  # noqa: F811
    return PygeoapiAdmin(dev_services.pygeoapi_url, httpx.Client(timeout=30), reload_timeout=60)


@pytest.fixture
def rid(admin: PygeoapiAdmin):
    name = unique("test-res")
    yield name
    admin.delete_resource(name)


def test_create_unchanged_update_and_items_served(admin: PygeoapiAdmin, rid: str, features: Path) -> None:
    resource = geojson_resource(features, "Points v1")
    assert admin.get_resource(rid) is None
    assert admin.upsert_resource(rid, resource) == "created"
    # live: the collection and its rows are served (waited for by polling, not sleeping)
    rows = httpx.get(f"{admin.base_url}/collections/{rid}/items", params={"f": "json"}, timeout=30).json()
    assert sorted(f["id"] for f in rows["features"]) == ["p0", "p1", "p2"]
    assert admin.upsert_resource(rid, resource) == "unchanged"
    assert admin.upsert_resource(rid, geojson_resource(features, "Points v2")) == "updated"
    live = httpx.get(f"{admin.base_url}/collections/{rid}", params={"f": "json"}, timeout=30).json()
    assert live["title"] == "Points v2"
    assert admin.resource_ids().count(rid) == 1  # no duplicate entries


def test_rejected_entry_shows_pygeoapi_reason(admin: PygeoapiAdmin, rid: str) -> None:
    with pytest.raises(ServiceError) as info:
        admin.upsert_resource(rid, {"type": "collection", "title": "no providers"})
    text = str(info.value)
    assert "HTTP 400" in text and f"rejected resource {rid!r}" in text
    assert "validation" in text.lower()  # pygeoapi's own words ("Schema validation error")
    assert admin.get_resource(rid) is None


def test_wait_live_times_out_with_a_clear_error(dev_services) -> None:  # noqa: F811
    admin = PygeoapiAdmin(dev_services.pygeoapi_url, reload_timeout=0.5, poll_interval=0.1)
    with pytest.raises(ServiceError, match="timed out after 0s waiting for collection 'never-registered'"):
        admin.wait_live("never-registered")


def test_delete_removes_the_collection(admin: PygeoapiAdmin, features: Path) -> None:
    name = unique("test-del")
    admin.upsert_resource(name, geojson_resource(features, "to delete"))
    assert admin.delete_resource(name) is True
    assert admin.get_resource(name) is None
    status = httpx.get(f"{admin.base_url}/collections/{name}", params={"f": "json"}, timeout=30).status_code
    assert status in (400, 404)
    assert admin.delete_resource(name) is False
