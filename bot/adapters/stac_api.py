"""STAC API with the Transactions extension (stac-fastapi-pgstac and friends).

Why these operations and no more: publishing needs "make this collection /
item be exactly this", whether or not it existed -- an *upsert*.  The
Transactions extension only offers create (POST, 409 when it exists) and
replace (PUT, 404 when it does not), so each upsert tries the likely verb and
falls back to the other.  Many items go through ``/collections/{id}/bulk_items``
with ``method: upsert`` in chunks (one request per ~500 items instead of
one per item; measured in docs/performance.md).

pgstac answers **500** (and may drop the connection) when an item's
collection does not exist.  A 500 is otherwise worth retrying, so before the
first item of a collection we check the collection once, and a 5xx on an
item write re-checks it: a missing collection becomes a clear, non-retried
error instead of five retries and an "Internal Server Error".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import httpx

from bot.adapters.http import JsonHttp
from bot.adapters.retry import default_is_transient
from bot.config import CONFIG_FILE, EnvironmentConfig, Settings, StacConfig
from bot.errors import ConfigError, ServiceError

SERVICE = "stac-api"
BULK_CHUNK = 500


class StacApi:
    """Upserts and reads against one STAC API (``base_url`` is the landing page)."""

    service = SERVICE

    def __init__(
        self,
        base_url: str,
        client: httpx.Client | None = None,
        *,
        attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 20.0,
        chunk_size: int = BULK_CHUNK,
        concurrency: int = 2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = JsonHttp(
            SERVICE, base_url, client, attempts=attempts, base_delay=base_delay, max_delay=max_delay, sleep=sleep
        )
        self.chunk_size = chunk_size
        self.concurrency = max(1, concurrency)
        self._known: set[str] = set()

    @property
    def base_url(self) -> str:
        """The API's landing page URL."""
        return self.http.base_url

    # -- collections

    def get_collection(self, collection_id: str) -> dict[str, Any] | None:
        """The collection document, or None when the API does not have it."""
        response = self.http.request("GET", f"collections/{collection_id}", ok=(200, 404))
        if response.status_code == 404:
            self._known.discard(collection_id)
            return None
        self._known.add(collection_id)
        return response.json()

    def collection_exists(self, collection_id: str) -> bool:
        """True when ``GET /collections/{id}`` finds it."""
        return self.get_collection(collection_id) is not None

    def create_collection(self, collection: dict[str, Any]) -> str:
        """POST the collection; when it already exists (409) replace it. Returns ``created``/``updated``."""
        cid = _id_of(collection, "collection")
        response = self.http.request("POST", "collections", ok=(200, 201, 409), json_body=collection)
        if response.status_code == 409:
            self.http.request("PUT", f"collections/{cid}", ok=(200, 201, 204), json_body=collection)
            self._known.add(cid)
            return "updated"
        self._known.add(cid)
        return "created"

    def update_collection(self, collection: dict[str, Any]) -> str:
        """PUT the collection; when it does not exist (404) create it. Returns ``updated``/``created``."""
        cid = _id_of(collection, "collection")
        response = self.http.request("PUT", f"collections/{cid}", ok=(200, 201, 204, 404), json_body=collection)
        if response.status_code == 404:
            return self.create_collection(collection)
        self._known.add(cid)
        return "updated"

    upsert_collection = create_collection

    def delete_collection(self, collection_id: str) -> bool:
        """DELETE the collection (and its items); False when it was not there."""
        response = self.http.request("DELETE", f"collections/{collection_id}", ok=(200, 204, 404))
        self._known.discard(collection_id)
        return response.status_code != 404

    # -- items

    def ensure_collection(self, collection: dict[str, Any]) -> bool:
        """Create the collection only when it is missing; True when it was created.

        An existing collection is left as it is: ``update-collection``
        replaces it later with extents computed from all its items.
        """
        cid = _id_of(collection, "collection")
        if self.collection_exists(cid):
            return False
        return self.create_collection(collection) == "created"

    def upsert_item(self, collection_id: str, item: dict[str, Any]) -> str:
        """Create the item (POST) or replace it (409 -> PUT). Returns ``created``/``updated``."""
        cid = collection_id
        if item.get("collection") not in (None, cid):
            raise ServiceError(
                SERVICE, f"item {item.get('id')!r} belongs to collection {item.get('collection')!r}, not {cid!r}"
            )
        item = {**item, "collection": cid}
        iid = _id_of(item, "item")
        self._require_collection(cid)
        transient = self._item_transient(cid)
        response = self.http.request(
            "POST", f"collections/{cid}/items", ok=(200, 201, 409), json_body=item, is_transient=transient
        )
        if response.status_code == 409:
            self.http.request(
                "PUT", f"collections/{cid}/items/{iid}", ok=(200, 201, 204), json_body=item, is_transient=transient
            )
            return "updated"
        return "created"

    def upsert_items(self, collection_id: str, items: Iterable[dict[str, Any]]) -> int:
        """Upsert many items through ``bulk_items`` in chunks; returns how many were sent.

        Each chunk is idempotent (``method: upsert``), so a retried or re-run
        chunk never duplicates items, and a run interrupted between chunks is
        completed by simply running it again.  Up to ``concurrency`` chunks
        are in flight at once (the server validates one chunk per worker).
        """
        self._require_collection(collection_id)
        transient = self._item_transient(collection_id)
        url = self.http.url(f"collections/{collection_id}/bulk_items")

        def send(body: dict[str, Any]) -> int:
            response = self.http.request(
                "POST", f"collections/{collection_id}/bulk_items", ok=(200, 201), json_body=body, is_transient=transient
            )
            _check_bulk(response, url)
            return len(body["items"])

        bodies = (self._bulk_body(collection_id, chunk, url) for chunk in _chunks(items, self.chunk_size))
        if self.concurrency <= 1:
            return sum(send(body) for body in bodies)
        total = 0
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="stac-bulk") as pool:
            pending: set[Future[int]] = set()
            for body in bodies:
                if len(pending) >= self.concurrency:  # bounded: never more than N chunks in memory
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    total += sum(f.result() for f in done)
                pending.add(pool.submit(send, body))
            total += sum(f.result() for f in pending)
        return total

    @staticmethod
    def _bulk_body(collection_id: str, chunk: list[dict[str, Any]], url: str) -> dict[str, Any]:
        body: dict[str, Any] = {"items": {}, "method": "upsert"}
        for item in chunk:
            item_cid = item.get("collection")
            if item_cid not in (None, collection_id):
                raise ServiceError(
                    SERVICE,
                    f"item {item.get('id')!r} belongs to collection {item_cid!r}, not {collection_id!r}",
                    url=url,
                )
            body["items"][_id_of(item, "item")] = {**item, "collection": collection_id}
        return body

    def get_item(self, collection_id: str, item_id: str) -> dict[str, Any] | None:
        """One item, or None."""
        response = self.http.request("GET", f"collections/{collection_id}/items/{item_id}", ok=(200, 404))
        return response.json() if response.status_code == 200 else None

    def get_items(self, collection_id: str, *, limit: int = 500, max_items: int | None = None) -> list[dict[str, Any]]:
        """All items of a collection, following ``next`` links (bounded by ``max_items``)."""
        out: list[dict[str, Any]] = []
        response = self.http.request("GET", f"collections/{collection_id}/items", params={"limit": limit})
        while True:
            page = response.json()
            out.extend(page.get("features", []))
            if max_items is not None and len(out) >= max_items:
                return out[:max_items]
            nxt = next((link for link in page.get("links", []) if link.get("rel") == "next"), None)
            if not nxt or not page.get("features"):
                return out
            href = nxt["href"]
            if nxt.get("method", "GET").upper() != "GET":
                return out
            response = self.http.request("GET", href.removeprefix(self.base_url).lstrip("/"))

    def items(self, collection_id: str) -> list[dict[str, Any]]:
        """All items of a collection (for recomputing its extents)."""
        return self.get_items(collection_id)

    # -- internals

    def _require_collection(self, collection_id: str) -> None:
        if collection_id in self._known:
            return
        if not self.collection_exists(collection_id):
            raise self._missing_collection(collection_id)

    def _missing_collection(self, collection_id: str) -> ServiceError:
        return ServiceError(
            SERVICE,
            f"collection {collection_id!r} does not exist, so its items cannot be stored",
            url=self.http.url(f"collections/{collection_id}"),
            status=404,
            hint="create the collection first (pipeline step ensure-collection)",
        )

    def _item_transient(self, collection_id: str) -> Callable[[BaseException], bool]:
        """A 5xx on an item write is retried only while the collection still exists."""

        def is_transient(exc: BaseException) -> bool:
            if not default_is_transient(exc):
                return False
            status = getattr(exc, "status", None)
            if status is not None and status >= 500 and not self.collection_exists(collection_id):
                raise self._missing_collection(collection_id) from exc
            return True

        return is_transient


_CLIENTS: dict[str, StacApi] = {}
_CLIENTS_LOCK = threading.Lock()


def client_for_environment(env: EnvironmentConfig, settings: Settings | None = None) -> StacApi:
    """The STAC API client of an environment's public ``stac`` target."""
    return client_for(env.stac)


def client_for(stac: StacConfig, field: str = "stac") -> StacApi:
    """The STAC API client of one STAC target (``kind: api``), one per URL per process.

    Why cached: every pipeline step asks for it; one ``httpx.Client`` keeps
    its connections alive across steps and datasets (it is thread-safe).
    ``field`` names the target in errors (``stac`` or ``limited_stac``).
    """
    url = stac.url
    if stac.kind != "api" or not url:
        raise ConfigError(
            f"{field}.kind is api but {field}.url is not set" if stac.kind == "api" else f"{field}.kind is not api",
            file=CONFIG_FILE,
            field=f"{field}.url",
            hint=f"set {field}.url to the STAC API root (e.g. ${{CATALOG_BOT_DEV_STAC_URL}})",
        )
    with _CLIENTS_LOCK:
        if url not in _CLIENTS:
            _CLIENTS[url] = StacApi(url)
        return _CLIENTS[url]


def _id_of(doc: dict[str, Any], kind: str) -> str:
    value = doc.get("id")
    if not isinstance(value, str) or not value:
        raise ServiceError(SERVICE, f"{kind} has no string 'id'; cannot publish it", hint=f"give the {kind} an id")
    return value


def _chunks(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _check_bulk(response: httpx.Response, url: str) -> None:
    """stac-fastapi-pgstac answers 200 with a summary; surface per-item errors if it lists any."""
    try:
        body = response.json()
    except ValueError:
        return
    if isinstance(body, dict) and body.get("errors"):
        errors = body["errors"]
        raise ServiceError(SERVICE, f"bulk upsert reported {len(errors)} error(s): {str(errors[:3])[:500]}", url=url)
