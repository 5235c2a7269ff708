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
:func:`~bot.adapters.download.retry_source`; the proxy of the environment
(``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY``) is chosen
here for the probe and the download alike (:func:`proxy_for`, by httpx's
reading of the variables), so both take the same route to the same address.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import os
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

from bot.adapters.download import SERVICE, Limits, retry_source
from bot.errors import AuthError, DataError, ServiceError, redact_url
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


@dataclass(frozen=True)
class Proxy:
    """An ``http://`` proxy named by the environment: where to connect, what to send, how to name it."""

    host: str
    port: int
    authorization: str | None  # ``Basic ...`` from the URL's ``user:password@``: sent, never shown
    shown: str  # the proxy URL without ``user:password@``: the only form in messages

    @property
    def headers(self) -> dict[str, str]:
        """``Proxy-Authorization`` when the URL carries credentials (on the CONNECT for an https hop)."""
        return {"Proxy-Authorization": self.authorization} if self.authorization else {}

    @property
    def url(self) -> str:
        """``http://host:port`` without credentials (they go in :attr:`headers`)."""
        return f"http://{f'[{self.host}]' if ':' in self.host else self.host}:{self.port}"


def proxy_for(scheme: str, host: str, port: int, address: str | None = None) -> Proxy | None:
    """The proxy for a hop to ``scheme://host:port``; None: connect directly.

    The one place the route is chosen: the probe and the download's httpx
    clients (:class:`~bot.adapters.http_source.HttpSource`, which does not
    let httpx read the variables itself) both ask here, so behind a proxy
    they take the same route.  The variables are read with
    ``urllib.request.getproxies_environment``, the function httpx reads them
    with (``<scheme>_proxy`` else ``all_proxy``, lower case before upper
    case; a value without a scheme is ``http://``); ``no_proxy`` is matched
    as httpx matches it (:func:`_bypassed`), against the URL's ``host`` and
    also the guard's pinned ``address`` for it, so listing either the name
    or the address sends the hop direct.
    """
    if not any(name[-6:].lower() == "_proxy" for name in os.environ):
        return None  # the common case, without importing urllib.request (~3 ms of a no-change re-run)
    from urllib.request import getproxies_environment

    env = getproxies_environment()
    url = env.get(scheme) or env.get("all")
    no_proxy = env.get("no", "")
    if not url or _bypassed(no_proxy, scheme, host, port):
        return None
    if address is not None and address != host and _bypassed(no_proxy, scheme, address, port):
        return None
    return _parse_proxy(url if "://" in url else f"http://{url}")


def _bypassed(no_proxy: str, scheme: str, host: str, port: int) -> bool:
    """Whether ``no_proxy`` sends ``scheme://host:port`` direct, read as httpx 0.28 reads it.

    Where that differs from urllib's ``proxy_bypass_environment``: ``*``
    anywhere in the list bypasses every host; ``.example.org`` matches the
    sub-domains only (``example.org`` matches the domain and its
    sub-domains); an address matches that address exactly, and a network
    (``10.0.0.0/8``) only its first address (httpx parses it as a URL whose
    host is ``10.0.0.0``), so list addresses; ``http://example.org`` matches
    that scheme only, ``example.org:8080`` that port only.
    """
    default = 443 if scheme == "https" else 80
    for entry in (item.strip() for item in no_proxy.split(",")):
        if entry == "*":
            return True
        if not entry:
            continue
        if "://" in entry:
            pattern = entry
        elif _is_address(entry, ipaddress.IPv4Address) or entry.lower() == "localhost":
            pattern = f"all://{entry}"
        elif _is_address(entry, ipaddress.IPv6Address):
            pattern = f"all://[{entry}]"
        else:
            pattern = f"all://*{entry}"
        if _matches(pattern, scheme, host, None if port == default else port):
            return True
    return False


def _is_address(entry: str, kind: type[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    try:
        kind(entry.split("/")[0])
    except ValueError:
        return False
    return True


def _matches(pattern: str, scheme: str, host: str, port: int | None) -> bool:
    """httpx's ``URLPattern.matches``: scheme (``all`` = any), host (``*.d`` sub-domains, ``*d`` d too), port."""
    try:
        parts = urlsplit(pattern)
        want_port = parts.port
    except ValueError:
        return False
    want = parts.hostname or ""
    if parts.scheme not in ("all", scheme):
        return False
    if want and want != "*":
        host = host.lower()
        if want.startswith("*."):
            found = re.fullmatch(rf".+\.{re.escape(want[2:])}", host)
        elif want.startswith("*"):
            found = re.fullmatch(rf"(.+\.)?{re.escape(want[1:])}", host)
        else:
            found = re.fullmatch(re.escape(want), host)
        if found is None:
            return False
    return want_port is None or want_port == port


def _parse_proxy(url: str) -> Proxy:
    """The proxy of a URL from the environment (credentials percent-decoded, as httpx sends them)."""
    try:
        shown, parts = redact_url(url), urlsplit(url)
        port = parts.port or 80
    except ValueError:  # a bad port or bracket: shown without any part of it (it may hold a password)
        shown, parts, port = "(not a URL)", urlsplit(""), 0
    if parts.scheme != "http" or not parts.hostname or not port:
        raise ServiceError(
            SERVICE,
            f"the proxy {shown} from the environment is not an http://host:port URL",
            hint="set HTTPS_PROXY / HTTP_PROXY / ALL_PROXY to http://[user:password@]host:port "
            "(remote sources are fetched through http:// proxies only)",
        )
    authorization = None
    if parts.username is not None or parts.password is not None:
        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return Proxy(parts.hostname, port, authorization, shown)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to a pinned address with SNI and certificate check for the URL's name, directly or through a proxy.

    Through a proxy the TCP connection goes to the proxy, which is asked to
    ``CONNECT`` to the pinned address (with ``Proxy-Authorization`` when the
    proxy URL has credentials); the TLS handshake inside the tunnel is the
    same as without a proxy (SNI and certificate for the name).
    """

    def __init__(
        self,
        address: str,
        port: int,
        *,
        name: str,
        timeout: float,
        context: ssl.SSLContext,
        proxy: Proxy | None = None,
    ) -> None:
        if proxy is None:
            super().__init__(address, port, timeout=timeout, context=context)
        else:
            super().__init__(proxy.host, proxy.port, timeout=timeout, context=context)
            # Brackets for an IPv6 address: Python 3.11 writes the CONNECT target as given (3.12+ adds them).
            self.set_tunnel(f"[{address}]" if ":" in address else address, port, headers=proxy.headers)
        self._name = name

    def connect(self) -> None:
        """Connect to the pinned address (or tunnel to it), then handshake for the name (not the address)."""
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


class Hop(NamedTuple):
    """One hop of a request to an http(s) source: where it goes and by which route."""

    parts: SplitResult
    host: str  # the URL's name
    port: int
    pinned: str | None  # the address the guard checked (None: the name was allowed as a name)
    proxy: Proxy | None


def hop(guard: AddressGuard, uri: str, url: str) -> Hop:
    """Check one hop (the source ``uri`` or a redirect to ``url``) and choose its route: the probe's and the download's."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DataError(f"{uri}: redirected to {url!r}, which is not http(s)", field="source.path")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    pinned = guard.check(uri, parts.hostname, port)
    # The proxy is not guarded: it is the operator's configuration (the environment), not something a
    # pull request writes; the hop's target is (above), and the proxy is asked for that checked address.
    return Hop(parts, parts.hostname, port, pinned, proxy_for(parts.scheme, parts.hostname, port, pinned))


def _once(
    guard: AddressGuard, uri: str, method: str, headers: dict[str, str], timeout: float
) -> tuple[int, str, Headers]:
    """One request, its body unread, redirects followed (each hop guarded): ``(status, reason, headers)``."""
    url = uri
    for _ in range(MAX_REDIRECTS + 1):
        parts, name, port, pinned, proxy = hop(guard, uri, url)
        address = pinned or name
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sent = {"Host": parts.netloc.rpartition("@")[2], **headers}
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = _PinnedHTTPS(address, port, name=name, timeout=timeout, context=_tls(), proxy=proxy)
        elif proxy is None:
            conn = http.client.HTTPConnection(address, port, timeout=timeout)
        else:  # absolute form to the proxy, to the checked address (as httpx forwards the download), Host the name
            conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=timeout)
            host = f"[{address}]" if ":" in address else address
            target = f"http://{host}{'' if port == 80 else f':{port}'}{target}"
            sent.update(proxy.headers)
        try:
            try:
                conn.connect()
            except (OSError, http.client.HTTPException) as exc:
                raise _connect_error(uri, proxy, exc) from exc
            try:
                conn.request(method, target, headers=sent)
                response = conn.getresponse()
                status, reason, got = response.status, response.reason, response.headers
            except (OSError, http.client.HTTPException) as exc:
                raise unreachable(uri, exc) from exc
        finally:
            conn.close()  # the body (if any) is never read: a probe transfers no data
        if proxy is not None and (status == 407 or (status == 401 and proxy.authorization)):
            raise _proxy_refused(uri, proxy, status, certain=status == 407)
        location = got.get("location")
        if status in REDIRECTS and location:
            url = urljoin(url, location)
            continue
        return status, reason, got
    raise DataError(f"{uri}: more than {MAX_REDIRECTS} redirects", field="source.path", hint="use the final URL")


def unreachable(uri: str, exc: BaseException, *, proxy: Proxy | None = None) -> ServiceError:
    """A host (or the proxy in front of it) that did not answer: transient (retried), the same words for both readers."""
    if proxy is not None:
        return ServiceError(
            SERVICE,
            f"the proxy {proxy.shown} did not answer: {type(exc).__name__}: {exc or 'no response'}",
            url=uri,
            transient=True,
            hint="check that the proxy in HTTPS_PROXY / HTTP_PROXY / ALL_PROXY is up and reachable from here, "
            "or list the source's host in NO_PROXY to connect directly, then re-run",
        )
    return ServiceError(
        SERVICE,
        f"{type(exc).__name__}: {exc or 'no response'}",
        url=uri,
        transient=True,
        hint="check that the host in source.path is up and reachable, then re-run",
    )


_TUNNEL_FAILED = re.compile(r"Tunnel connection failed: (\d{3})\b ?(.*)")


def _connect_error(uri: str, proxy: Proxy | None, exc: BaseException) -> ServiceError:
    """The error of a failed connect: the host's, the proxy's, or the proxy's answer to ``CONNECT``."""
    import ssl  # loaded already for an https hop; only the error path of an http one pays for it

    if proxy is None or isinstance(exc, ssl.SSLError):  # TLS inside the tunnel is the target's
        return unreachable(uri, exc)
    refused = _TUNNEL_FAILED.match(str(exc))
    if refused is None:
        return unreachable(uri, exc, proxy=proxy)
    status = int(refused.group(1))
    if status in (401, 407):  # before the tunnel only the proxy answers (tinyproxy: 401 to wrong credentials)
        return _proxy_refused(uri, proxy, status, certain=True)
    return ServiceError(
        SERVICE,
        f"the proxy {proxy.shown} refused the tunnel (CONNECT): HTTP {status} {refused.group(2)}".rstrip(),
        url=uri,
        status=status,
        transient=status >= 500,
        hint="the proxy may not allow this host or port: ask its operator, "
        "or list the source's host in NO_PROXY to connect directly",
    )


def _proxy_refused(uri: str, proxy: Proxy, status: int, *, certain: bool) -> AuthError:
    """401/407 from the proxy: its credentials are missing or wrong (never shown).

    ``certain``: a 407, or any answer to ``CONNECT`` (the source is not
    reached yet).  A 401 to a forwarded request that carried
    ``Proxy-Authorization`` may be the proxy's or the source's: some proxies
    (tinyproxy) answer wrong credentials with 401, so both are named.
    """
    what = "refused the user:password of its URL" if proxy.authorization else "asks for credentials"
    if certain:
        reason = "Proxy Authentication Required" if status == 407 else "Unauthorized"
        message = f"the proxy {proxy.shown} {what} (HTTP {status} {reason})"
    else:
        message = f"HTTP 401 through the proxy {proxy.shown}: the proxy {what}, or the source asks for credentials"
    return AuthError(
        SERVICE,
        message,
        url=uri,
        status=status,
        hint="set HTTPS_PROXY / HTTP_PROXY to http://user:password@host:port with the proxy's credentials "
        "(percent-encode @ : / in them); the bot sends none to the source: it must be publicly readable",
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
