"""A self-contained static STAC catalog on the local file system (the ``local`` environment).

Layout (pystac's "best practices" layout, so pystac, stac-browser and
``stac-validator`` read it without configuration)::

    <root>/catalog.json
    <root>/<collection>/collection.json
    <root>/<collection>/<item>/<item>.json

Why these choices:

- **Relative links, no ``self``.**  STAC requires ``self`` hrefs to be
  absolute, and an absolute path would break as soon as the folder is copied,
  uploaded or served under another URL.  A *self-contained* catalog (STAC
  best practices) has only relative ``root``/``parent``/``child``/``item``/
  ``collection`` links; readers set ``self`` from where they loaded a file.
- **Structural links are derived from the folder at save time**, under an
  exclusive lock on the root folder: parallel publishes (``--jobs``, or two
  processes) each write their own collection folder, and whoever adds or
  removes a collection re-lists ``catalog.json`` from everything on disk
  (a save that adds none leaves it alone: publishing stays linear).
- **Atomic, idempotent writes**: every file goes through a temporary file in
  the same folder plus ``os.replace``, and a file whose bytes would not change
  is not written at all (same bytes, same mtime: a re-publish is a no-op).
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot.errors import CatalogError, DataError
from bot.stac.build import MEDIA_JSON, STAC_VERSION, strip_structural_links

CATALOG_FILE = "catalog.json"
COLLECTION_FILE = "collection.json"
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


def dump_json(doc: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a STAC document (stable: 2-space indent, UTF-8, final newline)."""
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically replace ``path`` with ``data`` unless it already holds exactly these bytes.

    Returns whether the file was written.
    """
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def _check_id(value: Any, what: str) -> str:
    """Ids become folder names: refuse anything that could escape the catalog root."""
    if not isinstance(value, str) or not _SAFE_ID.fullmatch(value) or value in {".", ".."}:
        raise CatalogError(
            f"{what} id {value!r} cannot be used as a folder name in the static catalog",
            field="id",
            hint="use letters, digits, '.', '_' and '-' only, starting with a letter or digit",
        )
    return value


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(
            f"not a valid JSON document: {exc}",
            file=str(path),
            hint="delete the file (it is generated) and publish again",
        ) from None
    if not isinstance(doc, dict):
        raise DataError("not a JSON object", file=str(path), hint="delete the file and publish again")
    return doc


class StaticCatalog:
    """Read, stage and save a static STAC catalog under ``root``.

    Changes (``upsert_*``, ``remove_*``) are staged in memory and written by
    :meth:`save`; reads see staged changes first, then the folder.
    """

    def __init__(
        self,
        root: Path,
        catalog_id: str = "catalog",
        title: str = "Data catalog",
        description: str | None = None,
        stac_version: str = STAC_VERSION,
    ) -> None:
        self.root = Path(root)
        self.catalog_id = catalog_id
        self.title = title
        self.description = description or title
        self.stac_version = stac_version
        self._collections: dict[str, dict[str, Any]] = {}
        self._items: dict[str, dict[str, dict[str, Any]]] = {}
        self._removed: set[str] = set()
        self._removed_items: dict[str, set[str]] = {}

    # Paths -----------------------------------------------------------------

    @property
    def catalog_path(self) -> Path:
        """``<root>/catalog.json``."""
        return self.root / CATALOG_FILE

    def collection_path(self, collection_id: str) -> Path:
        """``<root>/<collection>/collection.json``."""
        return self.root / _check_id(collection_id, "collection") / COLLECTION_FILE

    def item_path(self, collection_id: str, item_id: str) -> Path:
        """``<root>/<collection>/<item>/<item>.json``."""
        iid = _check_id(item_id, "item")
        return self.root / _check_id(collection_id, "collection") / iid / f"{iid}.json"

    # Staging ---------------------------------------------------------------

    def upsert_collection(self, collection: Mapping[str, Any]) -> None:
        """Stage a collection (created or replaced on :meth:`save`)."""
        if collection.get("type") != "Collection":
            raise CatalogError(
                f"expected a STAC Collection, got type {collection.get('type')!r}",
                field="type",
                hint="pass the rendered collection.jsonnet",
            )
        cid = _check_id(collection.get("id"), "collection")
        self._removed.discard(cid)
        self._collections[cid] = copy.deepcopy(dict(collection))

    def upsert_item(self, collection_id: str, item: Mapping[str, Any]) -> None:
        """Stage an item of ``collection_id`` (created or replaced on :meth:`save`)."""
        if item.get("type") != "Feature":
            raise CatalogError(f"expected a STAC Item, got type {item.get('type')!r}", field="type")
        cid = _check_id(collection_id, "collection")
        iid = _check_id(item.get("id"), "item")
        self._items.setdefault(cid, {})[iid] = copy.deepcopy(dict(item))
        self._removed_items.get(cid, set()).discard(iid)

    def remove_collection(self, collection_id: str) -> None:
        """Stage the removal of a collection and all its items."""
        cid = _check_id(collection_id, "collection")
        self._collections.pop(cid, None)
        self._items.pop(cid, None)
        self._removed.add(cid)

    def remove_item(self, collection_id: str, item_id: str) -> None:
        """Stage the removal of one item."""
        cid = _check_id(collection_id, "collection")
        iid = _check_id(item_id, "item")
        self._items.get(cid, {}).pop(iid, None)
        self._removed_items.setdefault(cid, set()).add(iid)

    # Reads -----------------------------------------------------------------

    def collection_ids(self) -> list[str]:
        """Ids of all collections (on disk or staged, minus staged removals), sorted."""
        ids = set(self._disk_collection_ids()) | set(self._collections)
        return sorted(ids - self._removed)

    def get_collection(self, collection_id: str) -> dict[str, Any] | None:
        """The collection (staged version first), or ``None``."""
        cid = _check_id(collection_id, "collection")
        if cid in self._removed:
            return None
        if cid in self._collections:
            return copy.deepcopy(self._collections[cid])
        path = self.collection_path(cid)
        return _read_json(path) if path.is_file() else None

    def items(self, collection_id: str) -> list[dict[str, Any]]:
        """All items of a collection (staged versions first), sorted by id."""
        cid = _check_id(collection_id, "collection")
        if cid in self._removed:
            return []
        found: dict[str, dict[str, Any]] = {}
        for iid in self._disk_item_ids(cid):
            found[iid] = _read_json(self.item_path(cid, iid))
        found.update(copy.deepcopy(self._items.get(cid, {})))
        for iid in self._removed_items.get(cid, set()):
            found.pop(iid, None)
        return [found[k] for k in sorted(found)]

    def _disk_collection_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if _SAFE_ID.fullmatch(p.name) and (p / COLLECTION_FILE).is_file()
        )

    def _disk_item_ids(self, collection_id: str) -> list[str]:
        base = self.root / collection_id
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if _SAFE_ID.fullmatch(p.name) and (p / f"{p.name}.json").is_file())

    # Documents -------------------------------------------------------------

    def _catalog_doc(self, collection_ids: list[str]) -> dict[str, Any]:
        links = [{"rel": "root", "href": f"./{CATALOG_FILE}", "type": MEDIA_JSON, "title": self.title}]
        links += [{"rel": "child", "href": f"./{cid}/{COLLECTION_FILE}", "type": MEDIA_JSON} for cid in collection_ids]
        return {
            "type": "Catalog",
            "id": self.catalog_id,
            "stac_version": self.stac_version,
            "title": self.title,
            "description": self.description,
            "links": links,
        }

    def _collection_doc(self, collection: Mapping[str, Any], item_ids: list[str]) -> dict[str, Any]:
        doc = dict(collection)
        links = [
            {"rel": "root", "href": f"../{CATALOG_FILE}", "type": MEDIA_JSON, "title": self.title},
            {"rel": "parent", "href": f"../{CATALOG_FILE}", "type": MEDIA_JSON, "title": self.title},
        ]
        links += [{"rel": "item", "href": f"./{iid}/{iid}.json", "type": "application/geo+json"} for iid in item_ids]
        doc["links"] = links + strip_structural_links(collection.get("links") or [])
        return doc

    def _item_doc(self, collection_id: str, item: Mapping[str, Any], title: str | None) -> dict[str, Any]:
        doc = dict(item)
        doc["collection"] = collection_id
        coll_link: dict[str, Any] = {"rel": "collection", "href": f"../{COLLECTION_FILE}", "type": MEDIA_JSON}
        parent_link: dict[str, Any] = {"rel": "parent", "href": f"../{COLLECTION_FILE}", "type": MEDIA_JSON}
        if title:
            coll_link["title"] = parent_link["title"] = title
        links = [
            {"rel": "root", "href": f"../../{CATALOG_FILE}", "type": MEDIA_JSON, "title": self.title},
            parent_link,
            coll_link,
        ]
        doc["links"] = links + strip_structural_links(item.get("links") or [])
        # Keep the key order of a STAC item stable whatever order the input had.
        order = ["type", "stac_version", "stac_extensions", "id", "collection", "geometry", "bbox", "properties"]
        return {k: doc[k] for k in order if k in doc} | {k: v for k, v in doc.items() if k not in order}

    # Save ------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive lock on the root folder (no lock file left behind in the catalog)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def save(self) -> list[Path]:
        """Write staged changes; returns the files that were (re)written or removed."""
        changed: list[Path] = []
        with self._locked():
            # Refuse before touching anything: no half-applied save.
            for cid in sorted(self._items):
                on_disk = cid not in self._removed and self.collection_path(cid).is_file()
                if cid not in self._collections and not on_disk:
                    raise CatalogError(
                        f"collection {cid!r} does not exist in the static catalog {self.root}",
                        hint="upsert the collection before its items (ensure-collection step)",
                    )
            for cid in sorted(self._removed):
                folder = self.root / cid
                if folder.is_dir() and folder.resolve().parent == self.root.resolve():
                    shutil.rmtree(folder)
                    changed.append(folder)
            for cid, removed in sorted(self._removed_items.items()):
                for iid in sorted(removed):
                    folder = self.item_path(cid, iid).parent
                    if folder.is_dir():
                        shutil.rmtree(folder)
                        changed.append(folder)
            touched = sorted(set(self._collections) | set(self._items) | set(self._removed_items))
            # catalog.json lists every collection: rebuilt from the folder only when the set may have changed
            relist = bool(self._removed) or any(not self.collection_path(c).is_file() for c in self._collections)
            for cid in touched:
                if cid in self._removed:
                    continue
                collection = self._collections.get(cid)
                if collection is None:
                    path = self.collection_path(cid)
                    if not path.is_file():
                        continue
                    collection = _read_json(path)
                title = collection.get("title")
                for iid, item in sorted(self._items.get(cid, {}).items()):
                    path = self.item_path(cid, iid)
                    if write_if_changed(path, dump_json(self._item_doc(cid, item, title))):
                        changed.append(path)
                doc = self._collection_doc(collection, self._disk_item_ids(cid))
                if write_if_changed(self.collection_path(cid), dump_json(doc)):
                    changed.append(self.collection_path(cid))
            if relist or not self._catalog_head_current():
                catalog = self._catalog_doc(self._disk_collection_ids())
                if write_if_changed(self.catalog_path, dump_json(catalog)):
                    changed.append(self.catalog_path)
        self._collections.clear()
        self._items.clear()
        self._removed.clear()
        self._removed_items.clear()
        return changed

    def _catalog_head_current(self) -> bool:
        """Whether ``catalog.json`` exists with this catalog's id, title, description and version.

        Why: with no collection added or removed, only these fields can
        change ``catalog.json``; checking them (one JSON parse) instead of
        listing the folder and re-encoding every child link keeps a save
        O(1) in the number of collections, so publishing N datasets (three
        saves each) is not quadratic (#16).
        """
        try:
            current = json.loads(self.catalog_path.read_bytes())
        except (OSError, ValueError):
            return False
        head = self._catalog_doc([])
        return isinstance(current, dict) and all(current.get(k) == v for k, v in head.items() if k != "links")

    def iter_documents(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Every saved document (catalog, collections, items) with its path: for validation."""
        if self.catalog_path.is_file():
            yield self.catalog_path, _read_json(self.catalog_path)
        for cid in self._disk_collection_ids():
            yield self.collection_path(cid), _read_json(self.collection_path(cid))
            for iid in self._disk_item_ids(cid):
                yield self.item_path(cid, iid), _read_json(self.item_path(cid, iid))
