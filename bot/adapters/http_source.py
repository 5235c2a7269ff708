"""HTTP(S) sources: guarded, conditional, resumable downloads with httpx.

Why each piece:

- **Address guard** on the first URL and on every redirect hop (redirects
  are followed here, not by httpx), so neither ``source.path`` nor a server's
  ``Location`` can reach loopback, link-local or private addresses unless
  ``network.allow`` lists them (:mod:`bot.sources.addresses`).  The
  connection goes to the address the guard checked (the name is resolved
  once), so a DNS answer that changes in between (rebinding) cannot
  redirect it.
- **Conditional GET** (``If-None-Match`` / ``If-Modified-Since``) with the
  validators of the copy we hold: an unchanged remote costs one 304, never a
  download.  :meth:`HttpSource.probe` (``HEAD``) gives the validators for the
  convert step's fingerprint without transferring data; it and the guard
  live in :mod:`bot.adapters.http_probe` (standard library only, so an
  unchanged re-run never imports httpx).
- **Resume**: a dropped connection leaves ``<file>.part``; the retry asks for
  the rest with ``Range`` + ``If-Range`` so a changed remote restarts from 0.
- **Limits**: per-read timeout, a total deadline, a size cap checked against
  ``Content-Length`` before and against the byte count during the transfer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx

from bot.adapters.download import (
    SERVICE,
    Limits,
    finish,
    not_modified,
    resumable_offset,
    retry_source,
    too_big,
    write_stream,
)
from bot.adapters.http_probe import (
    MAX_REDIRECTS,
    AddressGuard,
    Proxy,
    hop,
    probe,
    status_error,
    unreachable,
    validators_of,
)
from bot.errors import DataError, ServiceError
from bot.sources.manifest import SourceRecord, Validators


class HttpSource:
    """Fetch and probe ``http(s)://`` sources into a work folder."""

    def __init__(
        self,
        guard: AddressGuard,
        limits: Limits,
        client: httpx.Client | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.guard = guard
        self.limits = limits
        self._injected = client
        self._clients: dict[tuple[bool, Proxy | None], httpx.Client] = {}
        self.sleep = sleep

    def _client(self, tls: bool, proxy: Proxy | None) -> httpx.Client:
        """The injected client, else one per scheme and route, built on first use.

        Why several: an httpx client loads the CA bundle when it is built
        (~30 ms), which an ``http://`` source never needs.  The plain one
        never makes a TLS connection (every hop picks its client by its own
        scheme, so a redirect to ``https`` goes through the verifying one).
        The route is :func:`~bot.adapters.http_probe.proxy_for`'s, chosen on
        the URL's name before the pinned address replaces it, and httpx is
        told it explicitly: left to the environment, httpx would match
        ``NO_PROXY`` against the pinned address only.  ``trust_env`` stays on
        for the CA settings (``SSL_CERT_FILE``).
        """
        if self._injected is not None:
            return self._injected
        key = (tls, proxy)
        if key not in self._clients:
            timeout = httpx.Timeout(self.limits.timeout)
            if proxy is None:  # a transport of its own: httpx then reads no proxy variable
                direct = httpx.HTTPTransport(verify=tls)
                self._clients[key] = httpx.Client(timeout=timeout, follow_redirects=False, transport=direct)
            else:
                route = httpx.Proxy(proxy.url, headers=proxy.headers)
                self._clients[key] = httpx.Client(timeout=timeout, follow_redirects=False, verify=tls, proxy=route)
        return self._clients[key]

    def _send(self, method: str, uri: str, headers: dict[str, str]) -> httpx.Response:
        """One request (streamed) after the guard, following redirects ourselves (each hop guarded)."""
        url = uri
        for _ in range(MAX_REDIRECTS + 1):
            parts, name, _, pinned, proxy = hop(self.guard, uri, url)
            client = self._client(parts.scheme == "https", proxy)
            request = client.build_request(method, url, headers=headers)  # Host: the name, as sent
            if pinned is not None:
                request.url = request.url.copy_with(host=pinned)  # connect to the checked address only
                if parts.scheme == "https":
                    request.extensions["sni_hostname"] = name  # TLS: SNI and certificate for the name
            try:
                response = client.send(request, stream=True)
            except httpx.TransportError as exc:
                raise unreachable(uri, exc) from exc
            if response.is_redirect and "location" in response.headers:
                response.close()
                url = urljoin(url, response.headers["location"])
                continue
            return response
        raise DataError(f"{uri}: more than {MAX_REDIRECTS} redirects", field="source.path", hint="use the final URL")

    def _retry(self, fn: Callable[[], SourceRecord | Validators]) -> SourceRecord | Validators:
        return retry_source(self.limits, fn, sleep=self.sleep)

    def probe(self, uri: str) -> Validators:
        """The remote's current validators (``HEAD``; no data transferred): :func:`bot.adapters.http_probe.probe`."""
        return probe(self.guard, self.limits, uri, sleep=self.sleep)

    def get_small(self, uri: str, limit: int = 4 * 1024 * 1024) -> tuple[bytes, httpx.Headers]:
        """A small document (a DAP ``.dds``/``.das``, a THREDDS catalog), guarded and retried, in memory."""

        def once() -> tuple[bytes, httpx.Headers]:
            response = self._send("GET", uri, {})
            try:
                if response.status_code != 200:
                    raise status_error(uri, response.status_code, response.reason_phrase)
                body = b""
                for chunk in _guarded_chunks(uri, response.iter_bytes()):
                    body += chunk
                    if len(body) > limit:
                        raise DataError(f"{uri}: larger than {limit} bytes", field="source", hint="check the URL")
                return body, response.headers
            finally:
                response.close()

        return retry_source(self.limits, once, sleep=self.sleep)

    def fetch(self, uri: str, dest: Path, fmt: str, previous: SourceRecord | None = None) -> SourceRecord:
        """Bring ``dest`` up to date with ``uri``: 304 keeps it, else download (resuming a part)."""
        started = time.monotonic()
        deadline_at = started + self.limits.deadline
        transferred = 0

        def once() -> SourceRecord:
            nonlocal transferred
            headers = {"Accept-Encoding": "identity"}
            have = previous is not None and dest.is_file() and previous.validators.known
            if have:
                assert previous is not None
                if previous.validators.etag:
                    headers["If-None-Match"] = previous.validators.etag
                if previous.validators.last_modified:
                    headers["If-Modified-Since"] = previous.validators.last_modified
            part_validators = _part_validators(dest)
            offset = 0 if have else resumable_offset(dest, part_validators)
            if offset and part_validators is not None:
                headers["Range"] = f"bytes={offset}-"
                strong = part_validators.etag and not part_validators.etag.startswith("W/")
                headers["If-Range"] = str(part_validators.etag if strong else part_validators.last_modified)
            response = self._send("GET", uri, headers)
            try:
                if response.status_code == 304 and have:
                    assert previous is not None
                    return not_modified(uri, dest, previous)
                if response.status_code == 206 and offset:
                    if not response.headers.get("content-range", "").startswith(f"bytes {offset}-"):
                        offset = 0  # the server answered another range: start over
                elif response.status_code == 200:
                    offset = 0
                else:
                    raise status_error(uri, response.status_code, response.reason_phrase)
                validators = validators_of(response.status_code, response.headers)
                if validators.size is not None and validators.size > self.limits.max_bytes:
                    raise too_big(uri, validators.size, self.limits)
                written = write_stream(
                    uri,
                    dest,
                    _guarded_chunks(uri, response.iter_raw()),
                    offset=offset,
                    validators=validators,
                    fmt=fmt,
                    content_type=response.headers.get("content-type"),
                    limits=self.limits,
                    deadline_at=deadline_at,
                )
                transferred += written
                return finish(uri, dest, validators, transferred)
            finally:
                response.close()

        result = self._retry(once)
        assert isinstance(result, SourceRecord)
        return result

    def close(self) -> None:
        """Close the connection pools."""
        for client in [self._injected, *self._clients.values()]:
            if client is not None:
                client.close()


def _part_validators(dest: Path) -> Validators | None:
    """Validators recorded when the current part file was started (None if no part)."""
    meta = dest.with_name(dest.name + ".part.json")
    try:
        return Validators(**json.loads(meta.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _guarded_chunks(uri: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Transport errors in the middle of the body become transient ServiceErrors (resumed by the retry)."""
    try:
        yield from chunks
    except httpx.TransportError as exc:
        raise ServiceError(
            SERVICE, f"connection lost during download: {type(exc).__name__}: {exc}", url=uri, transient=True
        ) from exc
