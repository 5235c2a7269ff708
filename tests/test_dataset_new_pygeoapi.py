"""A CSV in a projected CRS, served by a real pygeoapi: a bbox query (in degrees) returns exactly the right features.

pygeoapi's Parquet provider filters ``x_field``/``y_field`` against the bbox
numbers as they are; with the native easting/northing columns every degree
bbox matched nothing.  The resource now names the lon/lat columns the
converter adds beside projected x/y.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.adapters.pygeoapi import PygeoapiAdmin
from bot.convert import convert_dataset
from bot.metadata.datadriven import extract_metadata
from bot.metadata.pygeoapi import build_resource
from tests.services import dev_services, pygeoapi_lock, unique  # noqa: F401  (fixtures)
from tests.test_convert_vector import projected_stations_csv

pytestmark = [pytest.mark.services, pytest.mark.xdist_group("dev-pygeoapi"), pytest.mark.usefixtures("pygeoapi_lock")]


@pytest.fixture
def admin(dev_services) -> PygeoapiAdmin:  # noqa: F811
    return PygeoapiAdmin(dev_services.pygeoapi_url, httpx.Client(timeout=30), reload_timeout=60)


def test_bbox_query_on_a_projected_csv(admin: PygeoapiAdmin, tmp_path: Path) -> None:
    df, spec, src, lon, lat = projected_stations_csv(tmp_path, 300, sites=300, seed=11)
    result = convert_dataset(spec, src, tmp_path / "out", name="air")
    meta = extract_metadata(result.path, spec.coordinates)
    assert meta.lonlat_columns == ["lon", "lat"]
    package = {"title": "Air quality (UTM 33N)", "description": "NO2 at stations", "keywords": ["air"]}
    resource = build_resource(
        "air", package, meta.to_dict(), str(result.path), "tabular", coordinates={"x": "x", "y": "y", "t": "time"}
    )
    provider = resource["providers"][0]
    assert (provider["x_field"], provider["y_field"]) == ("lon", "lat")
    rid = unique("projected-csv")
    try:
        admin.upsert_resource(rid, resource)
        west, south, east_, north_ = 12.6, 52.7, 13.9, 53.8
        got = httpx.get(
            f"{admin.base_url}/collections/{rid}/items",
            params={"f": "json", "bbox": f"{west},{south},{east_},{north_}", "limit": 1000},
            timeout=60,
        ).json()
        inside = (lon > west) & (lon < east_) & (lat > south) & (lat < north_)
        assert 0 < inside.sum() < len(df)
        stations = sorted(f["properties"]["station"] for f in got["features"])
        assert stations == sorted(df.station[inside])
    finally:
        admin.delete_resource(rid)
