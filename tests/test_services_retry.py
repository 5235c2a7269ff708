"""Retry policy (bot.adapters.retry) and `${VAR}` expansion in catalog-bot.yaml (bot.config).

The HTTP cases run against a real scripted server on 127.0.0.1 so that the
adapters' status/Retry-After handling is exercised end to end.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from bot.adapters.http import JsonHttp
from bot.adapters.retry import backoff_delay, default_is_transient, parse_rate_limit, parse_retry_after, retry_call
from bot.adapters.stac_api import StacApi
from bot.config import expand_placeholders, load_catalog_config
from bot.errors import AuthError, ConfigError, ServiceError
from bot.structs import load

# --------------------------------------------------------------------------- a scripted server


class Scripted(ThreadingHTTPServer):
    """Answers each request with the next (status, headers, body) of ``script``; records requests."""

    def __init__(self, script: list[tuple[int, dict[str, str], object]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = list(script)
        self.seen: list[tuple[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        server: Scripted = self.server  # type: ignore[assignment]
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        server.seen.append((self.command, self.path))
        status, headers, body = server.script.pop(0) if server.script else (200, {}, {})
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[callable]:
    servers: list[Scripted] = []

    def make(script: list[tuple[int, dict[str, str], object]]) -> Scripted:
        server = Scripted(script)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


class Sleeps(list):
    """A ``sleep`` that records instead of waiting (keeps the tests fast)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# --------------------------------------------------------------------------- retry_call


def test_transient_failures_are_retried_until_success() -> None:
    calls = []
    sleeps = Sleeps()

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError("refused")
        return "ok"

    assert retry_call(flaky, service="t", attempts=5, base=0.5, sleep=sleeps) == "ok"
    assert len(calls) == 3
    assert len(sleeps) == 2
    # full jitter: each delay within [0, base * 2^(n-1)]
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0


def test_permanent_failure_is_not_retried_and_last_error_propagates() -> None:
    sleeps = Sleeps()
    calls = []

    def bad() -> None:
        calls.append(1)
        raise ServiceError("svc", "bad request", status=400)

    with pytest.raises(ServiceError, match="bad request"):
        retry_call(bad, service="svc", sleep=sleeps)
    assert len(calls) == 1 and sleeps == []


def test_attempts_are_bounded() -> None:
    sleeps = Sleeps()
    calls = []

    def down() -> None:
        calls.append(1)
        raise ServiceError("svc", "unavailable", status=503)

    with pytest.raises(ServiceError, match="unavailable"):
        retry_call(down, service="svc", attempts=4, sleep=sleeps)
    assert len(calls) == 4 and len(sleeps) == 3


def test_backoff_is_capped_by_max_delay() -> None:
    assert backoff_delay(30, base=0.5, max_delay=20, rng=lambda: 1.0) == 20
    assert backoff_delay(1, base=0.5, max_delay=20, rng=lambda: 1.0) == 0.5
    assert backoff_delay(3, base=0.5, max_delay=20, rng=lambda: 0.5) == 1.0


def test_auth_errors_and_client_errors_are_not_transient() -> None:
    assert not default_is_transient(AuthError("s3", "denied", status=403))
    assert not default_is_transient(ValueError("x"))
    assert default_is_transient(ServiceError("s", "x", status=502))
    assert default_is_transient(ServiceError("s", "x", transient=True))
    assert default_is_transient(TimeoutError())


def test_botocore_style_errors_are_classified_by_status_and_code() -> None:
    class ClientError(Exception):
        def __init__(self, status: int, code: str) -> None:
            self.response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}

    assert default_is_transient(ClientError(503, "SlowDown"))
    assert default_is_transient(ClientError(400, "RequestTimeout"))
    assert not default_is_transient(ClientError(404, "NoSuchKey"))


def test_retry_after_parsing() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(10.0)


# Real GitHub responses (REST API docs, "Rate limits for the REST API"): header spelling as sent.
PRIMARY = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1764410000"}
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID 8F1A:2B3C:4D5E."
)


def test_rate_limit_parser_primary_limit_waits_until_the_reset_plus_skew() -> None:
    assert parse_rate_limit(403, PRIMARY, "API rate limit exceeded for user ID 1.", now=1764409990.0) == 11.0
    assert parse_rate_limit(429, PRIMARY, "", now=1764410100.0) == 1.0  # reset already passed: one second


def test_rate_limit_parser_retry_after_wins_in_seconds_or_as_a_date() -> None:
    assert parse_rate_limit(403, {"Retry-After": "30", **PRIMARY}, SECONDARY_MESSAGE, now=1764409990.0) == 30.0
    assert parse_rate_limit(
        429, {"retry-after": "Sat, 29 Nov 2025 10:00:05 GMT"}, "", now=1764410400.0
    ) == pytest.approx(5.0)
    assert parse_rate_limit(429, {"Retry-After": "soon"}, "", now=0.0) == 60.0  # unreadable: a safe minute


def test_rate_limit_parser_secondary_limit_without_header_grows_per_attempt() -> None:
    assert parse_rate_limit(403, {}, SECONDARY_MESSAGE, now=0.0, attempt=1) == 60.0
    assert parse_rate_limit(403, {}, SECONDARY_MESSAGE, now=0.0, attempt=3) == 180.0
    assert parse_rate_limit(429, {}, "Too Many Requests", now=0.0, attempt=2) == 120.0


def test_rate_limit_parser_leaves_other_errors_alone() -> None:
    assert (
        parse_rate_limit(403, {"X-RateLimit-Remaining": "4999"}, "Resource not accessible by integration", now=0)
        is None
    )
    assert parse_rate_limit(404, PRIMARY, "Not Found", now=0.0) is None
    assert parse_rate_limit(502, {"Retry-After": "5"}, "Bad Gateway", now=0.0) is None


class Throttled(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(f"throttled for {wait}s")
        self.retry_after = wait


def test_max_wait_honours_a_long_server_wait_in_full_and_refuses_a_longer_one() -> None:
    sleeps = Sleeps()
    waits = [45.0]

    def once() -> str:
        if waits:
            raise Throttled(waits.pop())
        return "ok"

    always = lambda exc: True  # noqa: E731
    assert retry_call(once, service="t", max_delay=20.0, max_wait=60.0, is_transient=always, sleep=sleeps) == "ok"
    assert sleeps == [45.0]  # not capped at max_delay: the server said when
    with pytest.raises(Throttled):
        retry_call(
            lambda: (_ for _ in ()).throw(Throttled(3600.0)),
            service="t",
            max_wait=60.0,
            is_transient=always,
            sleep=sleeps,
        )
    assert sleeps == [45.0]  # gave up at once instead of sleeping an hour
    waits.append(45.0)
    assert retry_call(once, service="t", max_delay=20.0, is_transient=always, sleep=sleeps) == "ok"
    assert sleeps == [45.0, 20.0]  # without max_wait a hint is capped, as before


def test_deadline_stops_retrying_early() -> None:
    sleeps = Sleeps()
    with pytest.raises(ServiceError):
        retry_call(
            lambda: (_ for _ in ()).throw(ServiceError("s", "x", status=503, transient=True)),
            service="s",
            attempts=50,
            base=10,
            max_delay=10,
            deadline=0.0,
            sleep=sleeps,
        )
    assert sleeps == []


# --------------------------------------------------------------------------- through a real HTTP server


def test_http_honours_retry_after_then_succeeds(scripted) -> None:
    server = scripted(
        [
            (503, {"Retry-After": "2"}, "busy"),
            (429, {"Retry-After": "1"}, {"detail": "slow down"}),
            (200, {}, {"ok": True}),
        ]
    )
    sleeps = Sleeps()
    http = JsonHttp("svc", server.url, httpx.Client(), sleep=sleeps)
    response = http.request("GET", "x")
    assert response.json() == {"ok": True}
    assert sleeps == [2.0, 1.0]  # exactly what the server asked for, no jitter
    assert len(server.seen) == 3


def test_http_400_carries_the_server_message_and_is_not_retried(scripted) -> None:
    server = scripted([(400, {}, {"code": "InvalidParameterValue", "description": "bbox must have 4 numbers"})])
    sleeps = Sleeps()
    http = JsonHttp("svc", server.url, httpx.Client(), sleep=sleeps)
    with pytest.raises(ServiceError) as info:
        http.request("GET", "collections")
    text = str(info.value)
    assert "bbox must have 4 numbers" in text and "HTTP 400" in text and server.url in text
    assert sleeps == [] and len(server.seen) == 1


def test_http_401_is_an_auth_error(scripted) -> None:
    server = scripted([(401, {}, {"detail": "token expired"})])
    http = JsonHttp("svc", server.url, httpx.Client(), sleep=Sleeps())
    with pytest.raises(AuthError, match="token expired"):
        http.request("GET", "x")


def test_html_error_pages_are_reduced_to_their_text(scripted) -> None:
    page = "<!doctype html><html><title>500 Internal Server Error</title><h1>Internal Server Error</h1></html>"
    server = scripted([(500, {}, page)] * 2)
    http = JsonHttp("svc", server.url, httpx.Client(), attempts=2, sleep=Sleeps())
    with pytest.raises(ServiceError) as info:
        http.request("GET", "x")
    assert "Internal Server Error" in str(info.value) and "<" not in str(info.value)


def test_dead_endpoint_retries_then_names_service_and_url() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    sleeps = Sleeps()
    api = StacApi(f"http://user:pw@127.0.0.1:{port}", httpx.Client(timeout=2), attempts=3, sleep=sleeps)
    with pytest.raises(ServiceError) as info:
        api.collection_exists("x")
    text = str(info.value)
    assert text.startswith("stac-api") and f"127.0.0.1:{port}" in text
    assert "pw" not in text and "user" not in text  # credentials stripped from the URL
    assert len(sleeps) == 2


# --------------------------------------------------------------------------- ${VAR} expansion


def test_placeholders_expand_with_defaults() -> None:
    env = {"A": "http://x:1", "EMPTY": ""}
    data = {"u": "${A}/p", "d": "${MISSING:-fallback}", "e": "${EMPTY:-def}", "n": 3, "l": ["${A}"]}
    assert expand_placeholders(data, env) == {
        "u": "http://x:1/p",
        "d": "fallback",
        "e": "def",
        "n": 3,
        "l": ["http://x:1"],
    }


def test_missing_variable_names_field_and_variable() -> None:
    with pytest.raises(ConfigError) as info:
        expand_placeholders({"stac": {"url": "${NOPE_URL}"}}, {}, field="environments.prod")
    text = str(info.value)
    assert "NOPE_URL" in text and "environments.prod.stac.url" in text and "catalog-bot.yaml" in text


def test_only_the_selected_environment_is_expanded(tmp_path: Path) -> None:
    (tmp_path / "catalog-bot.yaml").write_text(
        "version: 1\n"
        "variables: [DEV_STAC, PROD_STAC]\n"
        "environments:\n"
        "  dev:\n"
        "    stac: {kind: api, url: '${DEV_STAC:-http://127.0.0.1:8082}'}\n"
        "  prod:\n"
        "    stac: {kind: api, url: '${PROD_STAC}'}\n"
        "    object_store: {kind: s3, max_concurrency: 4}\n"
    )
    config = load_catalog_config(tmp_path)
    assert config.environment("dev", {}).stac.url == "http://127.0.0.1:8082"
    assert config.environment("dev", {"DEV_STAC": "http://h:1"}).stac.url == "http://h:1"
    with pytest.raises(ConfigError, match="PROD_STAC"):
        config.environment("prod", {})
    assert config.environment("prod", {"PROD_STAC": "https://stac.example"}).stac.url == "https://stac.example"


def test_example_dev_environment_points_at_loopback_by_default() -> None:
    example = Path(__file__).resolve().parents[1] / "catalog_templates" / "example"
    dev = load_catalog_config(example).environment("dev", {})
    assert dev.object_store.kind == "s3" and dev.stac.kind == "api" and dev.pygeoapi.kind == "api"
    for url in (dev.object_store.endpoint_url, dev.stac.url, dev.pygeoapi.url):
        assert url and url.startswith("http://127.0.0.1:")


# --------------------------------------------------------------------------- targets by environment kind


def test_targets_follow_the_environment_kinds(tmp_path: Path) -> None:
    from bot.adapters.objectstore import LocalObjectStore
    from bot.adapters.pygeoapi import PygeoapiAdmin
    from bot.adapters.targets import make_targets
    from bot.config import EnvironmentConfig

    local = make_targets(EnvironmentConfig(), output=tmp_path)
    assert isinstance(local.store("public"), LocalObjectStore) and local.stac is None and local.pygeoapi is None
    assert local.store("limited").root == (tmp_path / "data" / "catalog-limited").resolve()
    api = load(
        {
            "stac": {"kind": "api", "url": "http://127.0.0.1:9/stac"},
            "pygeoapi": {"kind": "api", "url": "http://127.0.0.1:9"},
        },
        EnvironmentConfig,
    )
    targets = make_targets(api, output=tmp_path)
    assert isinstance(targets.stac, StacApi) and targets.stac.base_url == "http://127.0.0.1:9/stac"
    assert isinstance(targets.pygeoapi, PygeoapiAdmin)
    assert make_targets(api, output=tmp_path).stac is targets.stac  # one client (connection pool) per URL


def test_api_kind_without_url_is_a_config_error(tmp_path: Path) -> None:
    from bot.adapters.targets import make_targets
    from bot.config import EnvironmentConfig

    env = load({"stac": {"kind": "api"}}, EnvironmentConfig)
    with pytest.raises(ConfigError, match=r"stac\.url"):
        make_targets(env, output=tmp_path)
