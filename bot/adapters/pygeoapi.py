"""pygeoapi admin API: register a dataset's resource and wait until it is live.

Why GET before writing: pygeoapi's own duplicate check reads its in-memory
configuration, which may be stale while a reload is pending, so "POST and
on conflict PUT" is unreliable.  We GET ``/admin/config/resources/{id}``:
absent -> POST, present and different -> PUT, identical -> nothing (a
re-publish of an unchanged dataset causes no config write and no reload).

Why poll after writing: the admin API only rewrites the YAML; the server
picks it up on reload (gunicorn ``--reload`` here, a rollout in production).
We poll ``/collections/{id}`` until it answers with the new title and
description instead of sleeping a fixed time, and give up with a clear error
after ``reload_timeout``.

pygeoapi answers 400 with a JSON ``description`` when it rejects an entry;
that reason is carried into the error unchanged.  The admin API has no
authentication of its own: never expose it publicly (put it behind the
cluster network or an authenticating proxy and inject a client with the
proxy's credentials).
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from bot.adapters.http import JsonHttp, server_message
from bot.config import CONFIG_FILE, EnvironmentConfig, Settings
from bot.errors import ConfigError, ServiceError
from bot.logging import get_logger

SERVICE = "pygeoapi"
log = get_logger("pygeoapi")


class PygeoapiAdmin:
    """Resources of one pygeoapi instance, through its admin API."""

    service = SERVICE

    def __init__(
        self,
        base_url: str,
        client: httpx.Client | None = None,
        *,
        attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 20.0,
        reload_timeout: float = 60.0,
        poll_interval: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = JsonHttp(
            SERVICE, base_url, client, attempts=attempts, base_delay=base_delay, max_delay=max_delay, sleep=sleep
        )
        self.reload_timeout = reload_timeout
        self.poll_interval = poll_interval
        self.sleep = sleep
        self.clock = clock

    @property
    def base_url(self) -> str:
        """The pygeoapi landing page URL."""
        return self.http.base_url

    def get_resource(self, resource_id: str) -> dict[str, Any] | None:
        """The configured resource, or None (pygeoapi answers 400/404 ``ResourceNotFound``)."""
        response = self.http.request("GET", f"admin/config/resources/{resource_id}", ok=(200, 400, 404))
        if response.status_code == 200:
            return response.json()
        if response.status_code == 404 or "notfound" in server_message(response).lower().replace(" ", ""):
            return None
        raise ServiceError(
            SERVICE,
            f"GET resource {resource_id!r}: {server_message(response)}",
            url=self.http.url(f"admin/config/resources/{resource_id}"),
            status=response.status_code,
        )

    def resource_ids(self) -> list[str]:
        """Ids of all configured resources."""
        response = self.http.request("GET", "admin/config/resources")
        body = response.json()
        return sorted(body) if isinstance(body, dict) else []

    def upsert_resource(self, resource_id: str, resource: dict[str, Any], *, wait: bool = True) -> str:
        """Make ``resource_id`` be ``resource``. Returns ``created``, ``updated`` or ``unchanged``.

        With ``wait`` the call returns only once ``/collections/{id}`` serves
        the new entry (or raises after ``reload_timeout``).
        """
        resource = jsonable(resource)
        existing = self.get_resource(resource_id)
        if existing is not None and jsonable(existing) == resource:
            outcome = "unchanged"
        elif existing is None:
            outcome = "created"
            try:
                self._write("POST", "admin/config/resources", {resource_id: resource}, resource_id, resource)
            except ServiceError as exc:
                # A POST retried after a 5xx may find its own first attempt
                # already written ("Resource exists"): replace it instead.
                if exc.status != 400 or "resource exists" not in exc.message.lower():
                    raise
                self._write("PUT", f"admin/config/resources/{resource_id}", resource, resource_id, resource)
        else:
            self._write("PUT", f"admin/config/resources/{resource_id}", resource, resource_id, resource)
            outcome = "updated"
        if wait:
            self.wait_live(resource_id, resource)
        return outcome

    def delete_resource(self, resource_id: str, *, wait: bool = True) -> bool:
        """Remove a resource; False when it was not configured."""
        if self.get_resource(resource_id) is None:
            return False
        self._write("DELETE", f"admin/config/resources/{resource_id}", None, resource_id, None)
        if wait:
            self._poll(lambda: self._collection(resource_id) is None, f"resource {resource_id!r} to disappear")
        return True

    def wait_live(self, resource_id: str, resource: dict[str, Any] | None = None) -> dict[str, Any]:
        """Poll ``/collections/{id}`` until it is served (with ``resource``'s title/description)."""
        expected = _expected_fields(resource or {})
        features = any(p.get("type") == "feature" for p in (resource or {}).get("providers", []) if isinstance(p, dict))
        last: list[str] = []

        def live() -> dict[str, Any] | None:
            doc = self._collection(resource_id)
            if doc is None or any(doc.get(k) != v for k, v in expected.items()):
                return None
            if features:
                # The collection page does not open the data; one item does.
                probe = self.http.request(
                    "GET", f"collections/{resource_id}/items", ok=range(200, 600), params={"f": "json", "limit": 1}
                )
                if probe.status_code != 200:
                    last[:] = [f"HTTP {probe.status_code}: {server_message(probe)}"]
                    return None
            return doc

        try:
            return self._poll(live, f"collection {resource_id!r} to go live")
        except ServiceError as exc:
            if last:
                exc.message += f"; its items fail with {last[0]} (is the data URL readable by pygeoapi?)"
                exc.args = (exc.message,)
            raise

    # -- internals

    def _write(self, method: str, path: str, body: Any, resource_id: str, expected: dict[str, Any] | None) -> None:
        """One admin write; a 400 is pygeoapi rejecting the entry: show its reason, never retry.

        pygeoapi rewrites its config *and then* regenerates the OpenAPI
        document from every resource; when any resource (not necessarily
        ours) cannot be loaded it answers 500 although the write was applied.
        So a 5xx is not blindly retried (a second POST would find "Resource
        exists"): we read the resource back, accept the write when it is
        there, and let :meth:`wait_live` prove it is actually served.
        """
        try:
            response = self.http.request(
                method, path, ok=(200, 201, 204, 400, 422), json_body=body, is_transient=_connection_only
            )
        except ServiceError as exc:
            if exc.status is None or exc.status < 500 or self.get_resource(resource_id) != expected:
                raise
            log.warning(
                "pygeoapi answered %s to %s %s but applied the change; verifying it is served", exc.status, method, path
            )
            return
        if response.status_code in (400, 422):
            raise ServiceError(
                SERVICE,
                f"rejected resource {resource_id!r}: {server_message(response, limit=2000)}",
                url=self.http.url(path),
                status=response.status_code,
                hint="fix the generated pygeoapi entry (generate-pygeoapi-entry) so that it matches the config schema",
            )

    def _collection(self, resource_id: str) -> dict[str, Any] | None:
        response = self.http.request("GET", f"collections/{resource_id}", ok=(200, 400, 404), params={"f": "json"})
        return response.json() if response.status_code == 200 else None

    def _poll(self, check: Callable[[], Any], what: str) -> Any:
        start = self.clock()
        while True:
            result = check()
            if result:
                return result
            if self.clock() - start >= self.reload_timeout:
                raise ServiceError(
                    SERVICE,
                    f"timed out after {self.reload_timeout:.0f}s waiting for {what}",
                    url=self.base_url,
                    hint="check that pygeoapi reloads its configuration after admin changes (gunicorn --reload)",
                )
            self.sleep(self.poll_interval)


_CLIENTS: dict[str, PygeoapiAdmin] = {}
_CLIENTS_LOCK = threading.Lock()


def client_for_environment(env: EnvironmentConfig, settings: Settings | None = None) -> PygeoapiAdmin:
    """The admin client of an environment (``pygeoapi.kind: api``), one per URL per process."""
    url = env.pygeoapi.url
    if env.pygeoapi.kind != "api" or not url:
        raise ConfigError(
            "pygeoapi.kind is api but pygeoapi.url is not set"
            if env.pygeoapi.kind == "api"
            else "pygeoapi.kind is not api",
            file=CONFIG_FILE,
            field="pygeoapi.url",
            hint="set pygeoapi.url to the pygeoapi root (e.g. ${CATALOG_BOT_DEV_PYGEOAPI_URL})",
        )
    with _CLIENTS_LOCK:
        if url not in _CLIENTS:
            _CLIENTS[url] = PygeoapiAdmin(url)
        return _CLIENTS[url]


def jsonable(value: Any) -> Any:
    """``value`` with dates/datetimes as ISO 8601 strings (YAML-loaded entries carry them), recursively.

    Why: JSON has no dates, and comparing what pygeoapi returns with what we
    would send must not see a difference where there is none.
    """
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None and value.utcoffset() == datetime.timedelta(0):
            return value.replace(tzinfo=None).isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _connection_only(exc: BaseException) -> bool:
    """Retry a write only when it never got an HTTP answer."""
    return isinstance(exc, ServiceError) and exc.status is None and exc.transient


def _expected_fields(resource: dict[str, Any]) -> dict[str, str]:
    """Plain-string title/description of a resource: what ``/collections/{id}`` must show once live."""
    out = {}
    for key in ("title", "description"):
        value = resource.get(key)
        if isinstance(value, str):
            out[key] = value
    return out
