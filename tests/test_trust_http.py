"""HTTP reads have a TOTAL deadline (issue #10): a real local server that drips its answer cannot hold the bot.

The server is a real socket server in a thread (no mocks): it answers the request
line, then sends one byte of body every 0.5 s, so no single read ever times out.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from bot.adapters.csw import MetadataSource
from bot.adapters.http import DeadlineExceeded, JsonHttp, read_bounded
from bot.errors import ServiceError


class DripServer:
    """HTTP/1.1 server that sends headers at once and then ``body`` one byte every ``interval`` seconds."""

    def __init__(self, body: bytes, interval: float) -> None:
        self.body = body
        self.interval = interval
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/csw"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                head = f"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {len(self.body)}\r\n\r\n"
                conn.sendall(head.encode())
                for i in range(len(self.body)):
                    if self._stop.is_set():
                        return
                    conn.sendall(self.body[i : i + 1])
                    time.sleep(self.interval)
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def drip() -> Iterator[DripServer]:
    server = DripServer(b"<gmd:MD_Metadata>" + b"x" * 200 + b"</gmd:MD_Metadata>", interval=0.5)
    yield server
    server.close()


def test_a_dripping_server_is_cut_at_the_total_deadline(drip: DripServer) -> None:
    started = time.monotonic()
    with httpx.Client() as client, pytest.raises(DeadlineExceeded) as info:
        read_bounded(client, "GET", drip.url, service="CSW", what="GetRecordById x", deadline=2.0, read_timeout=5.0)
    elapsed = time.monotonic() - started
    assert 1.9 <= elapsed < 4.0, elapsed
    assert "within 2 s" in str(info.value) and info.value.transient


def test_csw_source_and_json_adapter_use_the_deadline(drip: DripServer) -> None:
    started = time.monotonic()
    source = MetadataSource(drip.url, timeout=5.0, attempts=2, deadline=1.5)
    with pytest.raises(ServiceError, match=r"no complete response within 1\.5 s"):
        source.get_record("abc")
    assert time.monotonic() - started < 8  # two attempts of 1.5 s plus backoff, not 100 s of dripping
    api = JsonHttp("STAC API", drip.url.rsplit("/", 1)[0], attempts=1, timeout=5.0, deadline=1.0)
    with pytest.raises(DeadlineExceeded):
        api.send_once("GET", "csw", ok=(200,))


def test_a_normal_response_is_read_whole(drip: DripServer) -> None:
    fast = DripServer(b'{"id": "catalog"}', interval=0.0)
    try:
        with httpx.Client() as client:
            response, body = read_bounded(client, "GET", fast.url, service="x", what="GET", deadline=5.0)
        assert body == b'{"id": "catalog"}' and response.json() == {"id": "catalog"}
        with httpx.Client() as client, pytest.raises(ServiceError, match="larger than 5 bytes"):
            read_bounded(client, "GET", fast.url, service="x", what="GET", max_bytes=5)
    finally:
        fast.close()
