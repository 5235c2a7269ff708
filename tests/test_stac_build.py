"""STAC item and collection building: real GeoParquet / Zarr inputs, offline validation."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pystac
import pytest
import xarray as xr

from bot.catalog.schemas import SchemaRegistry
from bot.errors import CatalogError, DataError
from bot.stac.build import (
    DATACUBE_EXT,
    FILE_EXT,
    MEDIA_JSON,
    MEDIA_PARQUET,
    MEDIA_ZARR,
    OPEN_END,
    TABLE_EXT,
    AssetInfo,
    build_collection,
    build_item,
    collection_extent_from_items,
    multihash_sha256,
    providers_from_contributors,
)
from tests.conftest import EXAMPLE
from tests.stac_data import (
    parquet_meta,
    sha256_file,
    stac_errors,
    tree_bytes,
    write_grid_zarr,
    write_points_parquet,
    zarr_meta,
)

PROVENANCE = {"commit": "0123abcd", "run_id": "run-42", "environment": "local"}


@pytest.fixture
def registry(schemas_dir: Path, tmp_path: Path) -> SchemaRegistry:
    return SchemaRegistry(schemas_dir, tmp_path / "schema-cache")


def datapackage(dataset: str) -> dict:
    return json.loads((EXAMPLE / "datasets" / dataset / "datapackage.json").read_text())


def parquet_item(tmp_path: Path) -> tuple[dict, Path, dict]:
    path = write_points_parquet(tmp_path / "reef-temperature.parquet")
    meta = parquet_meta(path)
    dp = datapackage("reef-temperature")
    dp_path = tmp_path / "datapackage.json"
    dp_path.write_text(json.dumps(dp))
    assets = {
        "data": AssetInfo(
            "https://data.example.org/reef-temperature/reef-temperature.parquet",
            MEDIA_PARQUET,
            ("data",),
            "GeoParquet",
            path.stat().st_size,
            sha256_file(path),
        ),
        "datapackage": AssetInfo(
            "https://data.example.org/reef-temperature/datapackage.json",
            MEDIA_JSON,
            ("metadata",),
            "Frictionless data package",
            dp_path.stat().st_size,
            "sha256:" + sha256_file(dp_path),
        ),
    }
    return build_item("reef-temperature", dp, meta, assets, PROVENANCE), path, meta


def test_parquet_item_is_valid_stac_with_table_and_file_extensions(tmp_path: Path, registry: SchemaRegistry) -> None:
    item, path, meta = parquet_item(tmp_path)
    assert stac_errors(item, registry) == []
    assert item["stac_extensions"] == sorted([TABLE_EXT, FILE_EXT])
    props = item["properties"]
    # Time range and bbox come from the data, not from the curated datapackage.
    assert props["datetime"] is None
    table = pq.read_table(path, columns=["lon", "lat", "time"])
    times = table["time"].to_pylist()
    assert props["start_datetime"] == min(times).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert props["end_datetime"] == max(times).strftime("%Y-%m-%dT%H:%M:%SZ")
    lons, lats = table["lon"].to_pylist(), table["lat"].to_pylist()
    assert item["bbox"] == [min(lons), min(lats), max(lons), max(lats)]
    w, s, e, n = item["bbox"]
    assert item["geometry"]["coordinates"][0] == [[w, s], [e, s], [e, n], [w, n], [w, s]]
    assert props["table:row_count"] == 40
    assert props["table:primary_geometry"] == "geometry"
    assert [c["name"] for c in props["table:columns"]] == [c["name"] for c in meta["columns"]]
    assert props["catalog_bot:commit"] == "0123abcd" and props["catalog_bot:run_id"] == "run-42"
    data = item["assets"]["data"]
    assert data["file:checksum"] == "1220" + sha256_file(path)
    assert data["file:size"] == path.stat().st_size
    assert item["assets"]["datapackage"]["roles"] == ["metadata"]
    assert props["license"] == "CC-BY-4.0"
    assert any(link["rel"] == "license" for link in item["links"])
    # pystac reads it and recognises the table extension.
    stac_item = pystac.Item.from_dict(item)
    assert pystac.extensions.table.TableExtension.has_extension(stac_item)


def test_zarr_item_is_valid_stac_with_datacube(tmp_path: Path, registry: SchemaRegistry) -> None:
    store = write_grid_zarr(tmp_path / "sea-surface-temperature.zarr")
    meta = zarr_meta(store)
    assets = {
        "data": AssetInfo(
            "s3://catalog-public/sea-surface-temperature/sea-surface-temperature.zarr",
            MEDIA_ZARR,
            ("data",),
            "Zarr store",
            tree_bytes(store),
        )
    }
    item = build_item(
        "sea-surface-temperature",
        datapackage("sea-surface-temperature"),
        meta,
        assets,
        PROVENANCE,
        coordinates={"x": "lon", "y": "lat", "t": "time"},
    )
    assert stac_errors(item, registry) == []
    assert item["stac_extensions"] == sorted([DATACUBE_EXT, FILE_EXT])
    dims = item["properties"]["cube:dimensions"]
    with xr.open_zarr(store) as ds:  # facts straight from the store
        lon, lat = ds["lon"].values, ds["lat"].values
    assert dims["lon"] == {
        "type": "spatial",
        "axis": "x",
        "extent": [float(lon.min()), float(lon.max())],
        "reference_system": 4326,
        "step": float(lon[1] - lon[0]),
    }
    assert dims["lat"]["axis"] == "y" and dims["lat"]["extent"] == [float(lat.min()), float(lat.max())]
    assert dims["time"]["type"] == "temporal"
    assert dims["time"]["extent"] == [item["properties"]["start_datetime"], item["properties"]["end_datetime"]]
    var = item["properties"]["cube:variables"]["sst"]
    assert var["dimensions"] == ["time", "lat", "lon"]
    assert var["unit"] == "degC" and var["data_type"] == "float32"
    assert "file:checksum" not in item["assets"]["data"]
    assert pystac.extensions.datacube.DatacubeExtension.has_extension(pystac.Item.from_dict(item))


def test_same_inputs_give_identical_items(tmp_path: Path) -> None:
    first, _, _ = parquet_item(tmp_path / "a")
    second, _, _ = parquet_item(tmp_path / "a")
    assert json.dumps(first) == json.dumps(second)
    assert first["id"] == "reef-temperature"


def test_file_extension_only_declared_when_used(registry: SchemaRegistry) -> None:
    dp = datapackage("reef-temperature")
    meta = {"kind": "tabular", "bbox": [1.0, 2.0, 3.0, 4.0], "time_range": None, "rows": 3}
    item = build_item("reef-temperature", dp, meta, {"data": AssetInfo("data.parquet", MEDIA_PARQUET)})
    assert FILE_EXT not in item["stac_extensions"]
    assert stac_errors(item, registry) == []
    # No time range in the data: the curated temporal block is used.
    assert item["properties"]["start_datetime"] == dp["temporal"]["start"]


def test_single_instant_and_open_ended_use_datetime(registry: SchemaRegistry) -> None:
    dp = datapackage("marine-protected-areas")  # temporal.end is null (ongoing)
    meta = {"kind": "tabular", "bbox": [146.0, -22.0, 149.0, -19.0], "rows": 3}
    item = build_item("marine-protected-areas", dp, meta, {})
    assert item["properties"]["datetime"] == dp["temporal"]["start"]
    assert "start_datetime" not in item["properties"]
    assert stac_errors(item, registry) == []
    meta["time_range"] = ["2020-05-01T00:00:00+10:00", "2020-04-30T14:00:00Z"]  # same instant
    item = build_item("marine-protected-areas", dp, meta, {})
    assert item["properties"]["datetime"] == "2020-04-30T14:00:00Z"


def test_point_bbox_gives_point_geometry(registry: SchemaRegistry) -> None:
    meta = {"kind": "tabular", "bbox": [147.5, -19.25, 147.5, -19.25], "time_range": ["2024-01-01", "2024-01-02"]}
    item = build_item("reef-temperature", datapackage("reef-temperature"), meta, {})
    assert item["geometry"] == {"type": "Point", "coordinates": [147.5, -19.25]}
    assert stac_errors(item, registry) == []


def test_missing_time_and_reversed_range_are_clear_errors() -> None:
    dp = datapackage("reef-temperature")
    dp.pop("temporal")
    with pytest.raises(CatalogError) as err:
        build_item("reef-temperature", dp, {"bbox": [1, 2, 3, 4]}, {})
    assert "temporal.start" in str(err.value) and "datapackage.json" in str(err.value)
    meta = {"bbox": [1, 2, 3, 4], "time_range": ["2024-02-01T00:00:00Z", "2024-01-01T00:00:00Z"]}
    with pytest.raises(DataError, match="starts after it ends"):
        build_item("reef-temperature", datapackage("reef-temperature"), meta, {})
    with pytest.raises(DataError, match="not an ISO 8601"):
        build_item(
            "reef-temperature",
            datapackage("reef-temperature"),
            {"bbox": [1, 2, 3, 4], "time_range": ["soon", None]},
            {},
        )


def test_bad_bbox_names_the_field() -> None:
    dp = datapackage("reef-temperature")
    dp["spatial"] = {"bbox": [1, 2, 3]}
    with pytest.raises(CatalogError, match=r"spatial\.bbox"):
        build_item("reef-temperature", dp, {}, {})


def test_multihash_normalisation() -> None:
    digest = "ab" * 32
    assert multihash_sha256(digest) == "1220" + digest
    assert multihash_sha256("SHA256:" + digest.upper()) == "1220" + digest
    assert multihash_sha256("1220" + digest) == "1220" + digest
    with pytest.raises(DataError, match="not hexadecimal"):
        multihash_sha256("not-a-digest")


def test_providers_merge_per_organisation_and_map_roles() -> None:
    providers = providers_from_contributors(
        [
            {"title": "Lab", "role": "publisher", "organization": "Lab", "email": "x@example.org"},
            {"title": "A. Person", "role": "author", "organization": "Lab"},
            {"title": "Helper", "roles": ["contributor"]},
        ]
    )
    assert providers == [{"name": "Lab", "roles": ["licensor", "producer"]}, {"name": "Helper"}]
    assert "x@example.org" not in json.dumps(providers)


def _item(bbox: list[float], **props: str | None) -> dict:
    return {"type": "Feature", "bbox": bbox, "properties": props, "assets": {}}


def test_collection_extent_from_items_unions_space_and_time() -> None:
    items = [
        _item(
            [146.0, -20.0, 148.0, -18.0],
            datetime=None,
            start_datetime="2024-01-01T00:00:00.500000Z",
            end_datetime="2024-02-01T00:00:00Z",
        ),
        _item([145.0, -19.0, 147.0, -17.0], datetime="2024-01-01T00:00:00Z"),
        _item(
            [147.0, -23.0, 149.5, -19.0],
            datetime=None,
            start_datetime="2024-01-15T00:00:00Z",
            end_datetime="2024-03-01T12:00:00+00:00",
        ),
    ]
    extent = collection_extent_from_items(items)
    assert extent == {
        "spatial": {"bbox": [[145.0, -23.0, 149.5, -17.0]]},
        # 00:00:00Z sorts after 00:00:00.5Z as text: the min must compare instants.
        "temporal": {"interval": [["2024-01-01T00:00:00Z", "2024-03-01T12:00:00Z"]]},
    }
    assert collection_extent_from_items([]) is None


def rendered_collection(dataset: str) -> dict:
    """The collection as collection.jsonnet renders it (hand-expanded, for a test independent of jsonnet)."""
    dp = datapackage(dataset)
    start, end = dp["temporal"]["start"], dp["temporal"]["end"]
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "stac_extensions": [],
        "id": dataset,
        "title": dp["title"],
        "description": dp["description"],
        "keywords": dp["keywords"],
        "license": "CC-BY-4.0",
        "providers": [{"name": "Reef Monitoring Laboratory", "roles": ["producer", "licensor"]}],
        "extent": {"spatial": {"bbox": [dp["spatial"]["bbox"]]}, "temporal": {"interval": [[start, end]]}},
        "links": [{"rel": "license", "href": dp["licenses"][0]["path"], "type": "text/html"}],
    }


def test_build_collection_regenerates_extent_and_keeps_curation(tmp_path: Path, registry: SchemaRegistry) -> None:
    curated = rendered_collection("reef-temperature")
    assert build_collection(curated, []) == curated
    item, _, meta = parquet_item(tmp_path)
    collection = build_collection(curated, [item])
    assert stac_errors(collection, registry) == []
    assert collection["extent"]["spatial"]["bbox"] == [meta["bbox"]]
    assert collection["extent"]["temporal"]["interval"] == [
        [item["properties"]["start_datetime"], item["properties"]["end_datetime"]]
    ]
    assert collection["item_assets"]["data"] == {"type": MEDIA_PARQUET, "roles": ["data"], "title": "GeoParquet"}
    untouched = {k: v for k, v in curated.items() if k != "extent"}
    assert {k: v for k, v in collection.items() if k not in {"extent", "item_assets"}} == untouched
    assert curated["extent"]["spatial"]["bbox"] == [datapackage("reef-temperature")["spatial"]["bbox"]]


def test_curated_open_interval_stays_open_in_the_collection(registry: SchemaRegistry) -> None:
    """#13 item 2: a dataset without a time axis and a curated ``[start, null]`` keeps its open end."""
    dp = datapackage("marine-protected-areas")  # temporal.end is null (ongoing), no time in the data
    assert dp["temporal"]["end"] is None
    meta = {"kind": "tabular", "bbox": [146.0, -22.0, 149.0, -19.0], "rows": 3}
    item = build_item("marine-protected-areas", dp, meta, {})
    assert item["properties"][OPEN_END] is True
    collection = build_collection(rendered_collection("marine-protected-areas"), [item])
    assert collection["extent"]["temporal"]["interval"] == [[dp["temporal"]["start"], None]]
    assert stac_errors(collection, registry) == []
    assert stac_errors(item, registry) == []


def test_data_time_range_wins_over_a_curated_open_interval(registry: SchemaRegistry) -> None:
    dp = datapackage("marine-protected-areas")
    meta = {
        "kind": "tabular",
        "bbox": [146.0, -22.0, 149.0, -19.0],
        "rows": 3,
        "time_range": ["2021-01-01T00:00:00Z", "2021-12-31T00:00:00Z"],
    }
    item = build_item("marine-protected-areas", dp, meta, {})
    assert OPEN_END not in item["properties"]
    collection = build_collection(rendered_collection("marine-protected-areas"), [item])
    assert collection["extent"]["temporal"]["interval"] == [["2021-01-01T00:00:00Z", "2021-12-31T00:00:00Z"]]
