"""STAC items and collections from the complete datapackage and data-driven metadata.

Why pure: the publish pipeline, the static catalog writer and the STAC API
adapter all need the same item for the same inputs.  Building it from plain
dicts (no network, no clock, no randomness) makes a re-publish of unchanged
inputs produce byte-identical JSON, which is what makes every publish step
idempotent and lets ``catalog-bot check`` preview items offline.

Decisions (see also ``docs/stac.md``):

- **One item per dataset, id = dataset id.**  Published objects live at
  stable keys (``<dataset>/<dataset>.parquet``), so an item per data version
  would point at objects that a later publish overwrote.  A re-publish
  replaces the item in place (upsert), and the item id never changes.
- **Time**: ``datetime`` is null with ``start_datetime``/``end_datetime`` for
  a range, or the instant itself when start == end (or when only a start is
  known, e.g. an ongoing dataset whose curated ``temporal.end`` is null: the
  spec requires both range ends or none).  The data's own time range wins
  over the curated ``temporal`` of the datapackage.
- **Geometry** is the bbox as a polygon (a point for a single location).
- **Provenance** goes under the ``catalog_bot:`` prefix (``catalog_bot:commit``,
  ``catalog_bot:run_id``, ``catalog_bot:environment``...).  STAC allows
  custom prefixed fields; we do not declare a schema for them because no
  published extension covers "which catalog commit produced this" and the
  processing extension is not in the offline schema mirror.
- **Extensions** are declared only when used: table (Parquet), datacube
  (Zarr), file (when an asset carries ``file:size``/``file:checksum``).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.errors import CatalogError, DataError
from bot.stac.datacube import datacube_from_meta, primary_geometry, table_columns_from_meta
from bot.stac.times import dataset_time_range, datetime_properties, instant, to_rfc3339

STAC_VERSION = "1.1.0"

TABLE_EXT = "https://stac-extensions.github.io/table/v1.2.0/schema.json"
# v2.2.0: the version the catalog's lib/catalog.libsonnet and pystac use.
DATACUBE_EXT = "https://stac-extensions.github.io/datacube/v2.2.0/schema.json"
FILE_EXT = "https://stac-extensions.github.io/file/v2.1.0/schema.json"

MEDIA_PARQUET = "application/vnd.apache.parquet"
MEDIA_ZARR = "application/vnd+zarr"
MEDIA_JSON = "application/json"
MEDIA_GEOJSON = "application/geo+json"

PROVENANCE_PREFIX = "catalog_bot:"
# Item property: the curated time range is open-ended (see _curated_open_end).
OPEN_END = PROVENANCE_PREFIX + "open_end"

# Links the catalog structure owns; writers (static catalog, STAC API) set them.
STRUCTURAL_RELS = frozenset({"self", "root", "parent", "child", "item", "collection", "items"})

# Frictionless contributor roles (v1 ``role`` and v2 ``roles``) -> STAC provider roles.
_ROLE_MAP = {
    "author": "producer",
    "creator": "producer",
    "producer": "producer",
    "originator": "producer",
    "publisher": "licensor",
    "licensor": "licensor",
    "rightsholder": "licensor",
    "owner": "licensor",
    "processor": "processor",
    "maintainer": "processor",
    "wrangler": "processor",
    "host": "host",
    "distributor": "host",
}

# sha2-256 multihash prefix: function code 0x12, digest length 0x20.
_SHA256_MULTIHASH = "1220"
_HEX = re.compile(r"^[0-9a-f]+$")


@dataclass(frozen=True)
class AssetInfo:
    """One published file (or Zarr store) to list as a STAC asset.

    ``checksum`` may be a multihash hex string (kept as is), ``sha256:<hex>``
    or a bare 64-hex sha256 digest (both turned into a sha2-256 multihash).
    ``bytes`` is the size in bytes (for a Zarr store: the sum of its objects).
    """

    href: str
    media_type: str
    roles: tuple[str, ...] | list[str] = ("data",)
    title: str | None = None
    bytes: int | None = None
    checksum: str | None = None
    description: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def multihash_sha256(checksum: str) -> str:
    """Normalize a sha256 checksum to the multihash hex the file extension wants.

    Why: object stores and our uploader record plain sha256 hex digests, but
    ``file:checksum`` is defined as a self-describing multihash.
    """
    value = checksum.strip().lower()
    if value.startswith("sha256:"):
        value = value.split(":", 1)[1]
    if not _HEX.fullmatch(value):
        raise DataError(f"checksum {checksum!r} is not hexadecimal", field="file:checksum")
    if len(value) == 64:
        return _SHA256_MULTIHASH + value
    if len(value) == 68 and value.startswith(_SHA256_MULTIHASH):
        return value
    if len(value) > 4:
        # Another multihash (e.g. blake3 / sha512): code + length + digest.
        return value
    raise DataError(f"checksum {checksum!r} is too short to be a digest", field="file:checksum")


# Space ---------------------------------------------------------------------


def dataset_bbox(meta: Mapping[str, Any], datapackage: Mapping[str, Any], dataset_id: str) -> list[float]:
    """[w, s, e, n] from the data (preferred) or the curated ``spatial.bbox``."""
    bbox = meta.get("bbox") or (datapackage.get("spatial") or {}).get("bbox")
    if not bbox or len(bbox) != 4 or not all(isinstance(v, int | float) and math.isfinite(v) for v in bbox):
        raise CatalogError(
            f"dataset {dataset_id} has no usable bbox: {bbox!r}",
            file=f"datasets/{dataset_id}/datapackage.json",
            field="spatial.bbox",
            hint="give spatial.bbox as [west, south, east, north] in degrees",
        )
    return [float(v) for v in bbox]


def bbox_geometry(bbox: Sequence[float]) -> dict[str, Any]:
    """GeoJSON geometry of a 2D bbox: a Point when degenerate, else a closed polygon (CCW)."""
    w, s, e, n = bbox[:4]
    if w == e and s == n:
        return {"type": "Point", "coordinates": [w, s]}
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


# Datapackage-derived properties ------------------------------------------------


def licence_id(datapackage: Mapping[str, Any]) -> str:
    """SPDX licence expression for STAC ``license`` (``other`` when unknown)."""
    names = [
        str(lic["name"]) for lic in datapackage.get("licenses") or [] if isinstance(lic, Mapping) and lic.get("name")
    ]
    if not names:
        return "other"
    return names[0] if len(names) == 1 else " AND ".join(names)


def providers_from_contributors(contributors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """STAC providers from Frictionless contributors, merged per organisation.

    Email addresses are deliberately left out: STAC providers have no contact
    field, and the datapackage (linked as an asset) already carries them.
    """
    merged: dict[str, dict[str, Any]] = {}
    for person in contributors:
        name = person.get("organization") or person.get("title")
        if not name:
            continue
        raw_roles = person.get("roles") or ([person["role"]] if person.get("role") else [])
        roles = [_ROLE_MAP[r.lower()] for r in raw_roles if isinstance(r, str) and r.lower() in _ROLE_MAP]
        entry = merged.setdefault(name, {"name": name, "roles": []})
        for role in roles:
            if role not in entry["roles"]:
                entry["roles"].append(role)
        if person.get("path") and "url" not in entry:
            entry["url"] = person["path"]
    out = []
    for entry in merged.values():
        if not entry["roles"]:
            del entry["roles"]
        out.append(entry)
    return out


def _licence_links(datapackage: Mapping[str, Any]) -> list[dict[str, Any]]:
    links = []
    for lic in datapackage.get("licenses") or []:
        if isinstance(lic, Mapping) and lic.get("path"):
            link = {"rel": "license", "href": lic["path"], "type": "text/html"}
            if lic.get("title"):
                link["title"] = lic["title"]
            links.append(link)
    return links


# Extensions --------------------------------------------------------------------


# Item --------------------------------------------------------------------------


def _asset_dict(info: AssetInfo) -> tuple[dict[str, Any], bool]:
    asset: dict[str, Any] = {"href": info.href, "type": info.media_type}
    if info.title:
        asset["title"] = info.title
    if info.description:
        asset["description"] = info.description
    asset["roles"] = list(info.roles)
    used_file = False
    if info.bytes is not None:
        asset["file:size"] = int(info.bytes)
        used_file = True
    if info.checksum:
        asset["file:checksum"] = multihash_sha256(info.checksum)
        used_file = True
    asset.update(info.extra)
    return asset, used_file


def _kind(meta: Mapping[str, Any], assets: Mapping[str, AssetInfo]) -> str:
    kind = meta.get("kind")
    if kind in {"tabular", "gridded"}:
        return str(kind)
    types = {a.media_type for a in assets.values()}
    if MEDIA_ZARR in types:
        return "gridded"
    return "tabular"


def item_id(dataset_id: str) -> str:
    """The id of a dataset's item (stable across publishes: see module docstring)."""
    return dataset_id


def build_item(
    dataset_id: str,
    datapackage: Mapping[str, Any],
    meta: Mapping[str, Any],
    assets: Mapping[str, AssetInfo],
    provenance: Mapping[str, Any] | None = None,
    stac_version: str = STAC_VERSION,
    *,
    coordinates: Mapping[str, str | None] | None = None,
    table_columns: list[dict[str, Any]] | None = None,
    datacube: Mapping[str, Any] | None = None,
    collection_href: str | None = "../collection.json",
) -> dict[str, Any]:
    """The STAC item (a JSON-ready dict) for one published dataset.

    ``meta`` is ``DataDrivenMetadata.to_dict()``; ``table_columns`` /
    ``datacube`` override what is derived from it (pass
    ``meta_obj.to_stac_table_columns()`` / ``meta_obj.to_stac_datacube()``
    when you hold the object).  ``coordinates`` is the pipeline's
    ``coordinates`` mapping (axis -> variable name) for the datacube axes.
    ``collection_href`` is where the item's collection is, relative to the
    item (static layout default); the STAC API rewrites it on ingest.
    """
    bbox = dataset_bbox(meta, datapackage, dataset_id)
    start, end = dataset_time_range(meta, datapackage)
    props: dict[str, Any] = {}
    if datapackage.get("title"):
        props["title"] = str(datapackage["title"])
    if datapackage.get("description"):
        props["description"] = str(datapackage["description"])
    props.update(datetime_properties(start, end, dataset_id))
    if _curated_open_end(meta, datapackage):
        props[OPEN_END] = True
    if datapackage.get("keywords"):
        props["keywords"] = [str(k) for k in datapackage["keywords"]]
    props["license"] = licence_id(datapackage)
    providers = providers_from_contributors(datapackage.get("contributors") or [])
    if providers:
        props["providers"] = providers

    extensions: set[str] = set()
    kind = _kind(meta, assets)
    if kind == "tabular":
        cols = table_columns if table_columns is not None else table_columns_from_meta(meta)
        if cols:
            props["table:columns"] = cols
        rows = meta.get("rows", meta.get("row_count"))
        if rows is not None:
            props["table:row_count"] = int(rows)
        geom = primary_geometry(meta)
        if geom:
            props["table:primary_geometry"] = geom
        if any(k.startswith("table:") for k in props):
            extensions.add(TABLE_EXT)
    else:
        cube = (
            dict(datacube)
            if datacube is not None
            else datacube_from_meta(meta, coordinates=coordinates, start=start, end=end, bbox=bbox)
        )
        if cube.get("cube:dimensions"):
            props["cube:dimensions"] = cube["cube:dimensions"]
            if cube.get("cube:variables"):
                props["cube:variables"] = cube["cube:variables"]
            extensions.add(DATACUBE_EXT)

    for key in sorted(provenance or {}):
        value = (provenance or {})[key]
        if value is not None:
            name = key if key.startswith(PROVENANCE_PREFIX) else PROVENANCE_PREFIX + key
            props[name] = value
    if datapackage.get("access"):
        props[PROVENANCE_PREFIX + "access"] = str(datapackage["access"])

    out_assets: dict[str, Any] = {}
    for key in sorted(assets):
        asset, used_file = _asset_dict(assets[key])
        out_assets[key] = asset
        if used_file:
            extensions.add(FILE_EXT)

    links = _licence_links(datapackage)
    item: dict[str, Any] = {
        "type": "Feature",
        "stac_version": stac_version,
        "stac_extensions": sorted(extensions),
        "id": item_id(dataset_id),
        "geometry": bbox_geometry(bbox),
        "bbox": bbox,
        "properties": props,
        "links": links,
        "assets": out_assets,
    }
    if collection_href:
        item["collection"] = dataset_id
        item["links"] = [{"rel": "collection", "href": collection_href, "type": MEDIA_JSON}, *links]
    return item


# Collection --------------------------------------------------------------------


def _curated_open_end(meta: Mapping[str, Any], datapackage: Mapping[str, Any]) -> bool:
    """True when the time comes from the curated ``temporal`` block and its end is open (ongoing).

    Why a marker: a STAC item cannot say "from X, no end" (``datetime`` is an
    instant, and ``start_datetime`` needs ``end_datetime``), so the item
    carries the instant plus :data:`OPEN_END`, and the collection keeps the
    curated open interval instead of collapsing it to ``[start, start]``.
    Data with its own time range never gets it: data-derived intervals win.
    """
    rng = meta.get("time_range")
    if isinstance(rng, Mapping):
        rng = [rng.get("start"), rng.get("end")]
    if isinstance(rng, Sequence) and not isinstance(rng, str) and any(v is not None for v in rng):
        return False
    temporal = datapackage.get("temporal") or {}
    return bool(temporal.get("start")) and temporal.get("end") in (None, "")


def _item_interval(item: Mapping[str, Any]) -> tuple[str | None, str | None]:
    props = item.get("properties") or {}
    start = props.get("start_datetime") or props.get("datetime")
    end = props.get("end_datetime") or props.get("datetime")
    return to_rfc3339(start), to_rfc3339(end)


def collection_extent_from_items(items: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """STAC collection ``extent`` covering ``items`` (union bbox, min start, max end).

    Returns ``None`` for an empty list so the caller keeps the curated
    extent: a collection without items still describes its intended extent.
    Antimeridian-crossing bboxes are not special-cased (not needed here).
    """
    boxes = [list(i["bbox"]) for i in items if i.get("bbox")]
    if not items or not boxes:
        return None
    west = min(b[0] for b in boxes)
    south = min(b[1] for b in boxes)
    east = max(b[2 if len(b) == 4 else 3] for b in boxes)
    north = max(b[3 if len(b) == 4 else 4] for b in boxes)
    starts, ends = [], []
    for item in items:
        start, end = _item_interval(item)
        if start:
            starts.append(start)
        if end:
            ends.append(end)
    open_end = any((i.get("properties") or {}).get(OPEN_END) for i in items)
    interval = [
        min(starts, key=instant) if starts else None,
        max(ends, key=instant) if ends and not open_end else None,
    ]
    return {"spatial": {"bbox": [[west, south, east, north]]}, "temporal": {"interval": [interval]}}


def item_assets_from_items(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``item_assets`` (STAC 1.1 core): asset keys with their shared type, roles and title."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        for key, asset in (item.get("assets") or {}).items():
            entry = {k: asset[k] for k in ("type", "roles", "title") if k in asset}
            if key not in out:
                out[key] = entry
            else:
                out[key] = {k: v for k, v in out[key].items() if entry.get(k) == v}
    # item_assets entries need at least two fields to be meaningful (schema: minProperties 2).
    return {k: v for k, v in sorted(out.items()) if len(v) >= 2}


def build_collection(rendered_collection: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The curated collection with its extent regenerated from its items.

    Everything curated (title, providers, links, extensions...) is kept; only
    ``extent`` (when there are items) and ``item_assets`` are generated.
    """
    collection = copy.deepcopy(dict(rendered_collection))
    extent = collection_extent_from_items(items)
    if extent is not None:
        collection["extent"] = extent
    item_assets = item_assets_from_items(items)
    if item_assets and "item_assets" not in collection:
        collection["item_assets"] = item_assets
    return collection


def strip_structural_links(links: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Curated links without the ones a catalog writer owns (self/root/parent/child/item/collection)."""
    return [dict(link) for link in links if link.get("rel") not in STRUCTURAL_RELS]
