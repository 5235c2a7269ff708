"""The HEAD probe behind an HTTP proxy: a real tinyproxy (Debian's) in front of nginx and of a TLS server.

What #11 asks of a proxied network: the probe that decides "unchanged"
takes the route the download takes (``HTTP_PROXY`` / ``HTTPS_PROXY`` /
``ALL_PROXY`` / ``NO_PROXY``, read by httpx's rules), sends ``CONNECT`` for
https with the TLS check for the name inside the tunnel, authenticates to
the proxy without ever showing its password, and names the proxy (not the
source) when the proxy is down.  The proxy's own log proves which requests
went through it.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters import http_probe
from bot.adapters.download import Limits
from bot.adapters.http_probe import AddressGuard, probe, proxy_for
from bot.adapters.http_source import HttpSource
from bot.errors import AuthError, ServiceError
from bot.pipeline.executor import read_record
from bot.sources.addresses import AllowList
from tests.conftest import EXAMPLE
from tests.source_servers import Nginx, Tinyproxy, free_port, require_tinyproxy
from tests.test_sources_publish import SST, _publish, _remote_catalog

NC = EXAMPLE / "datasets/sea-surface-temperature/data/sea-surface-temperature.nc"
LOOPBACK = AllowList.parse(["127.0.0.1", "localhost", "::1"])
LIMITS = Limits(max_bytes=10**8, timeout=5.0, deadline=60.0, attempts=3, base_delay=0.01)
CREDENTIALS = ("catalog", "Pr0xy-s3cret")
VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets the variables it means: none inherited from the machine running the tests."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tinyproxy]:
    require_tinyproxy()
    server = Tinyproxy(tmp_path_factory.mktemp("tinyproxy")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def auth_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tinyproxy]:
    require_tinyproxy()
    server = Tinyproxy(tmp_path_factory.mktemp("tinyproxy-auth"), auth=CREDENTIALS).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sst(nginx: Nginx) -> str:
    """The example NetCDF in a fresh folder below the nginx root: its URL."""
    folder = f"x{os.urandom(5).hex()}"
    (nginx.root / folder).mkdir()
    shutil.copy(NC, nginx.root / folder / "sst.nc")
    return nginx.url(f"{folder}/sst.nc")


class _Data(BaseHTTPRequestHandler):
    """A file server's answer to HEAD: the validators of one 81-byte "file"."""

    protocol_version = "HTTP/1.1"
    seen: list[str] = []

    def do_HEAD(self) -> None:
        self.seen.append(f"{self.command} {self.path} Host={self.headers['Host']}")
        self.send_response(200 if self.path == "/data/sst.nc" else 404)
        self.send_header("ETag", '"5f2b-81"')
        self.send_header("Last-Modified", "Mon, 02 Nov 2026 06:00:00 GMT")
        self.send_header("Content-Length", "81")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads ``seen``."""


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _serve_tls(ca: Any, host: str) -> ThreadingHTTPServer:
    """``_Data`` over TLS on ``host`` (an IPv4 or IPv6 loopback address), certificate for ``localhost``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    server = (_Server6 if ":" in host else ThreadingHTTPServer)((host, 0), _Data)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def tls_ca() -> Any:
    trustme = pytest.importorskip("trustme")
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_server(tls_ca: Any) -> Iterator[tuple[int, ssl.SSLContext]]:
    """An HTTPS server for ``localhost`` with a certificate from a test CA: ``(port, client context trusting it)``."""
    server = _serve_tls(tls_ca, "127.0.0.1")
    client = ssl.create_default_context()
    tls_ca.configure_trust(client)
    try:
        yield server.server_address[1], client
    finally:
        server.shutdown()
        server.server_close()


def _new(proxy: Tinyproxy, before: list[str]) -> list[str]:
    return proxy.requests()[len(before) :]


def test_probe_goes_through_the_proxy_and_sees_what_a_direct_probe_sees(
    proxy: Tinyproxy, nginx: Nginx, sst: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    guard = AddressGuard(LOOPBACK)
    direct = probe(guard, LIMITS, sst)
    assert direct.etag and direct.size == NC.stat().st_size

    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    before = proxy.requests()
    assert probe(guard, LIMITS, sst) == direct
    assert _new(proxy, before) == [f"HEAD {sst} HTTP/1.1"]  # absolute form, through the proxy
    # The download (httpx) takes the same route: what the probe answers is what is downloaded.
    record = HttpSource(guard, LIMITS).fetch(sst, tmp_path / "sst.nc", "netcdf")
    assert record.validators == direct and record.status == "downloaded"
    assert [line.split(" ", 1)[0] for line in _new(proxy, before)] == ["HEAD", "GET"]


def test_no_proxy_sends_the_probe_direct(proxy: Tinyproxy, nginx: Nginx, sst: str, monkeypatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    monkeypatch.setenv("NO_PROXY", "example.org, 127.0.0.1")
    before = proxy.requests()
    validators = probe(AddressGuard(LOOPBACK), LIMITS, sst)
    assert validators.etag and validators.size == NC.stat().st_size
    assert _new(proxy, before) == []  # the proxy saw nothing
    assert nginx.body_bytes(sst.rsplit("/", 2)[1])[-1][:2] == ("HEAD", 200)  # nginx did


def test_pinned_name_is_asked_of_the_proxy_by_its_checked_address(
    proxy: Tinyproxy, nginx: Nginx, sst: str, monkeypatch, tmp_path: Path
) -> None:
    """``localhost`` resolved by the guard: the proxy is asked for the address checked, ``Host`` keeps the name."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    uri = sst.replace("127.0.0.1", "localhost")
    guard = AddressGuard(AllowList.parse(["127.0.0.1"]), resolver=lambda host, port: ["127.0.0.1"])
    before = proxy.requests()
    assert probe(guard, LIMITS, uri).size == NC.stat().st_size
    assert _new(proxy, before) == [f"HEAD {sst} HTTP/1.1"]  # 127.0.0.1, not localhost

    monkeypatch.delenv("NO_PROXY", raising=False)
    before = proxy.requests()
    assert HttpSource(guard, LIMITS).fetch(uri, tmp_path / "proxied.nc", "netcdf").status == "downloaded"
    assert _new(proxy, before) == [f"GET {sst} HTTP/1.1"]  # the download: the same route and address

    # NO_PROXY naming the host or its checked address sends both the probe and the download direct
    # (httpx left to the environment matched the pinned address only; the route is now chosen by proxy_for)
    for entry in ("localhost", "127.0.0.1"):
        monkeypatch.setenv("NO_PROXY", entry)
        before = proxy.requests()
        assert probe(guard, LIMITS, uri).size == NC.stat().st_size
        assert HttpSource(guard, LIMITS).fetch(uri, tmp_path / f"{entry}.nc", "netcdf").status == "downloaded"
        assert _new(proxy, before) == []


def test_https_probe_tunnels_with_connect_and_checks_the_certificate_for_the_name(
    proxy: Tinyproxy, tls_server: tuple[int, ssl.SSLContext], monkeypatch
) -> None:
    port, trusted = tls_server
    monkeypatch.setattr(http_probe, "_TLS", trusted)  # the test CA instead of certifi's bundle
    monkeypatch.setenv("HTTPS_PROXY", proxy.url())
    guard = AddressGuard(AllowList.parse(["127.0.0.1"]), resolver=lambda host, port: ["127.0.0.1"])
    before, seen = proxy.requests(), len(_Data.seen)
    validators = probe(guard, LIMITS, f"https://localhost:{port}/data/sst.nc")
    assert (validators.etag, validators.size) == ('"5f2b-81"', 81)
    assert _new(proxy, before) == [f"CONNECT 127.0.0.1:{port} HTTP/1.0"]  # the tunnel goes to the checked address
    assert _Data.seen[seen:] == [f"HEAD /data/sst.nc Host=localhost:{port}"]  # the request inside: the name

    # The certificate is for "localhost": asked for another name through the same tunnel, TLS refuses.
    with pytest.raises(ServiceError, match="CERTIFICATE_VERIFY_FAILED") as err:
        probe(guard, Limits(10**8, 5, 60, 1), f"https://data.example.test:{port}/data/sst.nc")
    assert "data.example.test" in str(err.value)


def test_https_tunnel_to_an_ipv6_address(proxy: Tinyproxy, tls_ca: Any, tls_server, monkeypatch) -> None:
    """The CONNECT target of a pinned IPv6 address is bracketed (``CONNECT [::1]:PORT``), on every Python."""
    server = _serve_tls(tls_ca, "::1")
    try:
        port = server.server_address[1]
        monkeypatch.setattr(http_probe, "_TLS", tls_server[1])
        monkeypatch.setenv("HTTPS_PROXY", proxy.url())
        guard = AddressGuard(AllowList.parse(["::1"]), resolver=lambda host, port: ["::1"])
        before = proxy.requests()
        assert probe(guard, LIMITS, f"https://localhost:{port}/data/sst.nc").etag == '"5f2b-81"'
        assert _new(proxy, before) == [f"CONNECT [::1]:{port} HTTP/1.0"]
    finally:
        server.shutdown()
        server.server_close()


def test_proxy_credentials_are_sent_and_never_shown(
    auth_proxy: Tinyproxy, nginx: Nginx, sst: str, tls_server: tuple[int, ssl.SSLContext], monkeypatch
) -> None:
    guard = AddressGuard(LOOPBACK)
    monkeypatch.setenv("HTTP_PROXY", auth_proxy.url(CREDENTIALS))
    assert probe(guard, LIMITS, sst).size == NC.stat().st_size  # http: Proxy-Authorization on the request

    port, trusted = tls_server
    monkeypatch.setattr(http_probe, "_TLS", trusted)
    monkeypatch.setenv("HTTPS_PROXY", auth_proxy.url(CREDENTIALS))
    assert probe(guard, LIMITS, f"https://localhost:{port}/data/sst.nc").size == 81  # https: on the CONNECT

    for scheme, uri in (("HTTP_PROXY", sst), ("HTTPS_PROXY", f"https://localhost:{port}/data/sst.nc")):
        monkeypatch.setenv(scheme, auth_proxy.url((CREDENTIALS[0], "wrong-Passw0rd")))
        sleeps: list[float] = []
        with pytest.raises(AuthError) as err:
            probe(guard, LIMITS, uri, sleep=sleeps.append)
        text = f"{err.value} {err.value.hint} {err.value!r}"
        assert f"proxy http://127.0.0.1:{auth_proxy.port}" in str(err.value)
        assert "refused the user:password of its URL" in str(err.value)
        assert err.value.status == 401  # tinyproxy 1.11 answers wrong credentials 401 (407 when none are sent)
        assert "wrong-Passw0rd" not in text and CREDENTIALS[1] not in text and "catalog:" not in text
        assert "HTTPS_PROXY" in (err.value.hint or "") and sleeps == []  # wrong credentials are not retried

    monkeypatch.setenv("HTTP_PROXY", auth_proxy.url())
    with pytest.raises(AuthError, match=r"asks for credentials \(HTTP 407") as err:
        probe(guard, LIMITS, sst)
    assert err.value.status == 407


def test_proxy_down_is_named_without_its_credentials_and_retried(monkeypatch) -> None:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("http_proxy", f"http://ops:Sup3r-secret@{dead}")
    uri = "http://data.example.test/files/sst.nc"
    guard = AddressGuard(AllowList.parse(["127.0.0.1"]), resolver=lambda host, port: ["127.0.0.1"])
    sleeps: list[float] = []
    with pytest.raises(ServiceError) as err:
        probe(guard, LIMITS, uri, sleep=sleeps.append)
    text = f"{err.value} {err.value.hint} {err.value!r}"
    assert f"the proxy http://{dead} did not answer" in str(err.value) and "ConnectionRefusedError" in str(err.value)
    assert uri in str(err.value) and err.value.transient
    assert "Sup3r-secret" not in text and "ops:" not in text
    assert "NO_PROXY" in (err.value.hint or "") and "HTTP_PROXY" in (err.value.hint or "")
    assert len(sleeps) == LIMITS.attempts - 1  # retried like any unreachable host


def test_without_proxy_variables_the_probe_loads_no_proxy_machinery(nginx: Nginx, sst: str) -> None:
    """A fresh interpreter, as a CLI re-run: no ``*_proxy`` variable, no ``urllib.request`` import (~3 ms)."""
    code = (
        "import sys\n"
        "from bot.adapters.download import Limits\n"
        "from bot.adapters.http_probe import AddressGuard, probe\n"
        "from bot.sources.addresses import AllowList\n"
        f"v = probe(AddressGuard(AllowList.parse(['127.0.0.1'])), Limits(10**8, 5, 60, 1), {sst!r})\n"
        "print(v.size, 'urllib.request' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == [str(NC.stat().st_size), "False"]


def test_unchanged_re_run_behind_the_proxy_reuses_every_step(
    proxy: Tinyproxy, example_catalog: Path, nginx: Nginx, tmp_path: Path, monkeypatch
) -> None:
    """The whole pipeline with only a proxy route named: first run downloads, the re-run asks HEAD and re-uses."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    url, remote = _remote_catalog(example_catalog, nginx)
    output = tmp_path / "out"
    before = proxy.requests()
    assert _publish(example_catalog, output) == 0
    first = read_record(output, SST, "convert")
    assert first is not None
    assert f"GET {url} HTTP/1.1" in _new(proxy, before)  # downloaded through the proxy

    before = proxy.requests()
    assert _publish(example_catalog, output) == 0
    assert _new(proxy, before) == [f"HEAD {url} HTTP/1.1"]  # the re-run: one HEAD, through the proxy
    assert read_record(output, SST, "convert") == first  # convert re-used
    assert nginx.body_bytes(remote.parent.name)[-1] == ("HEAD", 200, 0)


ENVIRONMENTS = [
    ({"HTTP_PROXY": "http://p.test:3128"}, ["http://data.example.org/a.nc", "https://data.example.org/a.nc"]),
    ({"ALL_PROXY": "p.test:3128", "HTTPS_PROXY": "http://tls.test:8443"}, ["http://a.test/x", "https://a.test/x"]),
    ({"http_proxy": "http://lower.test:1", "HTTP_PROXY": "http://upper.test:2"}, ["http://a.test/x"]),
    ({"ALL_PROXY": "http://p.test", "NO_PROXY": ".example.org"}, ["http://example.org/", "http://www.example.org/"]),
    ({"ALL_PROXY": "http://p.test", "NO_PROXY": "example.org"}, ["http://example.org/", "http://notexample.org/"]),
    ({"ALL_PROXY": "http://p.test", "NO_PROXY": "a.test, *"}, ["http://b.test/", "https://c.test/"]),
    ({"ALL_PROXY": "http://p.test", "NO_PROXY": "10.0.0.0/8,10.1.2.3"}, ["http://10.0.0.0/", "http://10.9.9.9/"]),
    ({"ALL_PROXY": "http://p.test", "NO_PROXY": "10.1.2.3"}, ["http://10.1.2.3:8080/", "http://10.1.2.4/"]),
    ({"ALL_PROXY": "http://p.test", "no_proxy": "::1,localhost"}, ["http://[::1]:80/", "http://localhost/"]),
    ({"ALL_PROXY": "http://p.test", "NO_PROXY": "a.test:8080"}, ["http://a.test:8080/", "http://a.test/"]),
    ({"ALL_PROXY": "http://p.test", "NO_PROXY": "http://a.test"}, ["http://a.test/", "https://a.test/"]),
    ({"ALL_PROXY": "http://u:p@p.test:99", "NO_PROXY": "A.Test"}, ["http://a.test/", "https://B.a.test/"]),
]


@pytest.mark.parametrize(("env", "urls"), ENVIRONMENTS)
def test_the_proxy_chosen_is_the_one_httpx_chooses_for_the_download(env: dict[str, str], urls: list[str], monkeypatch):
    """Same variables, same decisions: the probe's rules against the installed httpx's own choice."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with httpx.Client() as client:  # trust_env: how HttpSource builds its clients
        for url in urls:
            parts = httpx.URL(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            transport = client._transport_for_url(parts)
            ours = proxy_for(parts.scheme, parts.host, port)
            if transport is client._transport:
                assert ours is None, url
            else:
                theirs = transport._pool._proxy_url  # type: ignore[attr-defined]
                assert ours is not None, url
                assert (ours.host, ours.port) == (theirs.host.decode(), theirs.port or 80), url
                assert ("@" in env.get("ALL_PROXY", "")) == (ours.authorization is not None)
                assert "u:p" not in ours.shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("socks5://ops:Pw-s3cret@p.test:1080", "socks5://p.test:1080"),
        ("https://ops:Pw-s3cret@p.test:3129", "https://p.test:3129"),
        ("http://ops:Pw-s3cret@p.test:99999", "(not a URL)"),
        ("http://ops:Pw-s3cret@[::1", "(not a URL)"),
    ],
)
def test_a_proxy_the_probe_cannot_speak_to_is_named_without_credentials(value: str, shown: str, monkeypatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", value)
    guard = AddressGuard(AllowList.parse(["127.0.0.1"]), resolver=lambda host, port: ["127.0.0.1"])
    sleeps: list[float] = []
    with pytest.raises(ServiceError) as err:
        probe(guard, LIMITS, "https://data.example.test/sst.nc", sleep=sleeps.append)
    assert f"the proxy {shown} from the environment is not an http://host:port URL" in str(err.value)
    assert "Pw-s3cret" not in f"{err.value} {err.value.hint}" and "http://[user:password@]host:port" in (
        err.value.hint or ""
    )
    assert sleeps == []  # configuration: not retried
