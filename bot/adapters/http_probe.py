"""The address guard of every remote read, and the ``HEAD`` probe of an http(s) source.

Why apart from :mod:`bot.adapters.http_source`: the probe is all an
unchanged remote's re-run does over the network (the convert step's
fingerprint is its validators; no step runs when they match).  Built on the
standard library's ``http.client``, it costs that run no httpx import; httpx
pulls in httpcore, which imports trio and anyio whenever they are installed
(~0.2 s and an ``ldconfig`` subprocess per CLI run on a machine that has
them).  Downloads stay in :class:`~bot.adapters.http_source.HttpSource`
(streaming, resume, conditional GET), which probes through this module too,
so there is one probe and one guard.

Same rules as the downloads: every hop (redirects followed here) is checked
by :class:`AddressGuard` and the connection goes to the address it checked
(DNS rebinding), ``https`` verifies the certificate for the name against
certifi's bundle (what httpx trusts) and builds its TLS context only for an
``https`` URL; transient faults are retried by
:func:`~bot.adapters.download.retry_source`.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin, urlsplit

from bot.adapters.download import SERVICE, Limits, retry_source
from bot.errors import DataError, ServiceError
from bot.sources.addresses import AddressRefused, AllowList, check_addresses
from bot.sources.manifest import Validators

if TYPE_CHECKING:
    import ssl

MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
Resolver = Callable[[str, int], Sequence[str]]


class Headers(Protocol):
    """Case-insensitive response headers (httpx's ``Headers`` and ``http.client``'s message both fit)."""

    def get(self, name: str, default: Any = None) -> Any:
        """The header's value, or ``default``."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), as text."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise ServiceError(
            SERVICE,
            f"host {host!r} cannot be resolved ({exc.strerror})",
            url=f"//{host}",
            hint="check the host name in source.path",
        ) from None
    return sorted({str(info[4][0]) for info in infos})


class AddressGuard:
    """Checks a host against the address rules before any connection is made."""

    def __init__(self, allow: AllowList, resolver: Resolver = system_resolver) -> None:
        self.allow = allow
        self.resolver = resolver

    def check(self, uri: str, host: str, port: int) -> str | None:
        """Raise :class:`DataError` naming ``uri`` when ``host`` is not allowed; else the address to connect to.

        The address returned is one of those just checked: connecting to it
        instead of resolving the name again defeats DNS rebinding (a name that
        answers a public address for the check and 169.254.169.254 for the
        connection).  None: the host is allow-listed by name (or a literal
        address), nothing to pin.
        """
        try:
            literal = [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            literal = []
        addresses = literal or ([] if self.allow.allows_host(host) else list(self.resolver(host, port)))
        try:
            check_addresses(host, addresses or [host], self.allow)
        except AddressRefused as exc:
            raise DataError(f"{uri}: {exc}", field="source.path", hint="use a public host") from None
        return addresses[0] if addresses and not literal else None


def validators_of(status: int, headers: Headers) -> Validators:
    """ETag / Last-Modified / full size from a 200, 206 or HEAD response."""
    size: int | None = None
    content_range = headers.get("content-range") or ""
    length = headers.get("content-length") or ""
    if "/" in content_range and not content_range.endswith("/*"):
        size = int(content_range.rsplit("/", 1)[1])
    elif length.isdigit() and status != 206:
        size = int(length)
    return Validators(headers.get("etag"), headers.get("last-modified"), size)


def status_error(uri: str, status: int, reason: str) -> BaseException:
    """The error of a non-success answer: 404/410 and 401/403 name the fix, 5xx/408/425/429 are retried."""
    if status == 404 or status == 410:
        return DataError(f"{uri}: HTTP {status} not found", field="source.path", hint="check the URL in source.path")
    if status in (401, 403):
        return DataError(
            f"{uri}: HTTP {status} access denied",
            field="source.path",
            hint="the bot sends no credentials: point source.path at a publicly readable URL",
        )
    transient = status >= 500 or status in (408, 425, 429)
    return ServiceError(
        SERVICE,
        f"unexpected HTTP {status} {reason}",
        url=uri,
        status=status,
        transient=transient,
        hint="the server failed; retry later" if transient else "check the URL in source.path",
    )


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to a pinned address with SNI and certificate check for the URL's name."""

    def __init__(self, address: str, port: int, *, name: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(address, port, timeout=timeout, context=context)
        self._name = name

    def connect(self) -> None:
        """Connect to the pinned address, then handshake for the name (not the address)."""
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._name)  # type: ignore[attr-defined]


_TLS: ssl.SSLContext | None = None


def _tls() -> ssl.SSLContext:
    """The TLS context of https probes: certifi's bundle, like httpx (built once, and only for https)."""
    global _TLS
    if _TLS is None:
        import ssl

        import certifi

        _TLS = ssl.create_default_context(cafile=certifi.where())
    return _TLS


def _once(
    guard: AddressGuard, uri: str, method: str, headers: dict[str, str], timeout: float
) -> tuple[int, str, Headers]:
    """One request, its body unread, redirects followed (each hop guarded): ``(status, reason, headers)``."""
    url = uri
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DataError(f"{uri}: redirected to {url!r}, which is not http(s)", field="source.path")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        pinned = guard.check(uri, parts.hostname, port)
        address = pinned or parts.hostname
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = _PinnedHTTPS(address, port, name=parts.hostname, timeout=timeout, context=_tls())
        else:
            conn = http.client.HTTPConnection(address, port, timeout=timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(method, target, headers={"Host": parts.netloc.rpartition("@")[2], **headers})
            response = conn.getresponse()
            status, reason, got = response.status, response.reason, response.headers
        except (OSError, http.client.HTTPException) as exc:
            raise unreachable(uri, exc) from exc
        finally:
            conn.close()  # the body (if any) is never read: a probe transfers no data
        location = got.get("location")
        if status in REDIRECTS and location:
            url = urljoin(url, location)
            continue
        return status, reason, got
    raise DataError(f"{uri}: more than {MAX_REDIRECTS} redirects", field="source.path", hint="use the final URL")


def unreachable(uri: str, exc: BaseException) -> ServiceError:
    """A host that did not answer: transient (retried), in the same words for the probe and the download."""
    return ServiceError(
        SERVICE,
        f"{type(exc).__name__}: {exc or 'no response'}",
        url=uri,
        transient=True,
        hint="check that the host in source.path is up and reachable, then re-run",
    )


def probe(guard: AddressGuard, limits: Limits, uri: str, *, sleep: Callable[[float], None] = time.sleep) -> Validators:
    """The remote's current validators: ``HEAD`` (or the first byte where HEAD is refused); no data transferred."""

    def once() -> Validators:
        status, reason, headers = _once(guard, uri, "HEAD", {"Accept-Encoding": "identity"}, limits.timeout)
        if status in (405, 501):  # no HEAD here: the first byte tells the same
            status, reason, headers = _once(
                guard, uri, "GET", {"Accept-Encoding": "identity", "Range": "bytes=0-0"}, limits.timeout
            )
            if status == 206:
                return validators_of(status, headers)
        if status != 200:
            raise status_error(uri, status, reason)
        return validators_of(status, headers)

    return retry_source(limits, once, sleep=sleep)
