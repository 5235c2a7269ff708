"""The static STAC catalog: pystac walks it, it validates offline, writes are idempotent."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pystac
import pytest

from bot.catalog.schemas import SchemaRegistry
from bot.errors import CatalogError
from bot.stac.build import MEDIA_ZARR, AssetInfo, build_collection, build_item
from bot.stac.static import StaticCatalog
from tests.stac_data import stac_errors, tree_bytes, write_grid_zarr, zarr_meta
from tests.test_stac_build import PROVENANCE, datapackage, parquet_item, rendered_collection


@pytest.fixture
def registry(schemas_dir: Path, tmp_path: Path) -> SchemaRegistry:
    return SchemaRegistry(schemas_dir, tmp_path / "schema-cache")


def zarr_item(tmp_path: Path) -> dict:
    store = write_grid_zarr(tmp_path / "sea-surface-temperature.zarr")
    assets = {"data": AssetInfo("../../../data/sst.zarr", MEDIA_ZARR, ("data",), "Zarr", tree_bytes(store))}
    return build_item("sea-surface-temperature", datapackage("sea-surface-temperature"), zarr_meta(store), assets)


def publish(root: Path, tmp_path: Path) -> tuple[StaticCatalog, dict, dict]:
    """Both example-like datasets into a static catalog, the way the pipeline does it."""
    cat = StaticCatalog(root, "example", "Example marine data catalog")
    p_item, _, _ = parquet_item(tmp_path / "parquet")
    z_item = zarr_item(tmp_path)
    for item in (p_item, z_item):
        cid = item["id"]
        cat.upsert_collection(build_collection(rendered_collection(cid), []))
        cat.upsert_item(cid, item)
        cat.upsert_collection(build_collection(rendered_collection(cid), [*cat.items(cid)]))
    cat.save()
    return cat, p_item, z_item


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(root.rglob("*.json"))}


def test_pystac_walks_the_catalog_and_everything_validates(tmp_path: Path, registry: SchemaRegistry) -> None:
    root = tmp_path / "stac"
    cat, p_item, _ = publish(root, tmp_path)
    assert (root / "reef-temperature" / "reef-temperature" / "reef-temperature.json").is_file()
    stac = pystac.Catalog.from_file(str(root / "catalog.json"))
    walked = {c.id: [i.id for i in items] for c, _, items in stac.walk() if c.id != "example"}
    assert walked == {"reef-temperature": ["reef-temperature"], "sea-surface-temperature": ["sea-surface-temperature"]}
    item = next(stac.get_items("reef-temperature", recursive=True))
    assert item.collection_id == "reef-temperature"
    assert item.get_collection() is not None and item.get_collection().id == "reef-temperature"
    for path, doc in cat.iter_documents():
        assert stac_errors(doc, registry) == [], path
        links = doc["links"]
        assert all(not link["href"].startswith(("/", "file:")) for link in links), path
        assert not any(link["rel"] == "self" for link in links), path
    # The collection extent was regenerated from the item.
    collection = json.loads((root / "reef-temperature" / "collection.json").read_text())
    assert collection["extent"]["spatial"]["bbox"] == [p_item["bbox"]]


def test_second_publish_changes_no_bytes(tmp_path: Path) -> None:
    root = tmp_path / "stac"
    publish(root, tmp_path)
    before = snapshot(root)
    publish(root, tmp_path)
    assert snapshot(root) == before
    # A fresh instance upserting the same item writes nothing either.
    again = StaticCatalog(root, "example", "Example marine data catalog")
    again.upsert_item("reef-temperature", again.items("reef-temperature")[0])
    assert again.save() == []


def test_reopen_sees_existing_and_adds_an_item(tmp_path: Path) -> None:
    root = tmp_path / "stac"
    publish(root, tmp_path)
    cat = StaticCatalog(root, "example", "Example marine data catalog")
    assert cat.collection_ids() == ["reef-temperature", "sea-surface-temperature"]
    extra = dict(cat.items("reef-temperature")[0], id="reef-temperature-2023")
    cat.upsert_item("reef-temperature", extra)
    changed = cat.save()
    assert root / "reef-temperature" / "collection.json" in changed
    assert [i["id"] for i in cat.items("reef-temperature")] == ["reef-temperature", "reef-temperature-2023"]
    item_links = [
        link["href"]
        for link in json.loads((root / "reef-temperature" / "collection.json").read_text())["links"]
        if link["rel"] == "item"
    ]
    assert item_links == [
        "./reef-temperature/reef-temperature.json",
        "./reef-temperature-2023/reef-temperature-2023.json",
    ]


def test_remove_collection_drops_folder_and_child_link(tmp_path: Path) -> None:
    root = tmp_path / "stac"
    cat, _, _ = publish(root, tmp_path)
    cat.remove_collection("sea-surface-temperature")
    assert cat.get_collection("sea-surface-temperature") is None
    cat.save()
    assert not (root / "sea-surface-temperature").exists()
    children = [
        link["href"] for link in json.loads((root / "catalog.json").read_text())["links"] if link["rel"] == "child"
    ]
    assert children == ["./reef-temperature/collection.json"]
    assert len(list(pystac.Catalog.from_file(str(root / "catalog.json")).get_items(recursive=True))) == 1


def test_item_without_collection_and_unsafe_ids_are_refused(tmp_path: Path) -> None:
    cat = StaticCatalog(tmp_path / "stac")
    item, _, _ = parquet_item(tmp_path)
    cat.upsert_item("reef-temperature", item)
    with pytest.raises(CatalogError, match="upsert the collection before its items"):
        cat.save()
    assert not (tmp_path / "stac" / "reef-temperature").exists()
    with pytest.raises(CatalogError, match="folder name"):
        cat.upsert_item("../outside", item)
    with pytest.raises(CatalogError, match="folder name"):
        cat.upsert_collection(dict(rendered_collection("reef-temperature"), id="a/b"))


def test_parallel_writers_both_end_up_in_catalog_json(tmp_path: Path) -> None:
    """Two independent writers (like `--jobs 2`) each add a collection; neither is lost."""
    root = tmp_path / "stac"
    p_item, _, _ = parquet_item(tmp_path / "p")
    ids = [f"ds-{i}" for i in range(8)]
    errors: list[BaseException] = []

    def writer(cid: str) -> None:
        try:
            cat = StaticCatalog(root, "example", "Example")
            cat.upsert_collection(dict(rendered_collection("reef-temperature"), id=cid))
            cat.upsert_item(cid, dict(p_item, id=cid))
            cat.save()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(cid,)) for cid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    children = [
        link["href"] for link in json.loads((root / "catalog.json").read_text())["links"] if link["rel"] == "child"
    ]
    assert children == [f"./{cid}/collection.json" for cid in ids]
    assert not list(root.rglob("*.tmp"))
    assert PROVENANCE["commit"] == p_item["properties"]["catalog_bot:commit"]


def test_catalog_json_is_relisted_only_when_collections_come_or_go(tmp_path: Path) -> None:
    """#16: an item or collection update leaves catalog.json alone (no folder listing per save).

    A new collection, a removal, a changed catalog title or a deleted
    catalog.json re-list it from the folder.
    """
    root = tmp_path / "stac"
    cat, p_item, _ = publish(root, tmp_path)
    catalog = root / "catalog.json"
    before = catalog.stat().st_mtime_ns
    cid = p_item["id"]
    cat.upsert_item(cid, {**p_item, "properties": {**p_item["properties"], "title": "changed"}})
    changed = cat.save()
    assert catalog not in changed and catalog.stat().st_mtime_ns == before
    assert root / cid / cid / f"{cid}.json" in changed

    extra = build_collection({**rendered_collection(cid), "id": "extra-collection"}, [])
    cat.upsert_collection(extra)
    assert catalog in cat.save()
    children = [link["href"] for link in json.loads(catalog.read_text())["links"] if link["rel"] == "child"]
    assert "./extra-collection/collection.json" in children and len(children) == 3

    renamed = StaticCatalog(root, "example", "Renamed catalog")
    renamed.upsert_item(cid, p_item)
    assert catalog in renamed.save()
    assert json.loads(catalog.read_text())["title"] == "Renamed catalog"

    catalog.unlink()
    renamed.upsert_item(cid, p_item)
    renamed.save()
    children = [link["href"] for link in json.loads(catalog.read_text())["links"] if link["rel"] == "child"]
    assert len(children) == 3
