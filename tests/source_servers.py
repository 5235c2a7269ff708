"""Real servers for the remote-source tests: nginx (Debian's) on loopback.

nginx answers conditional (ETag / Last-Modified -> 304) and Range / If-Range
requests exactly as production file servers do, which is what the HTTP
source adapter relies on.  It runs as one foreground process
(``master_process off``) with its own config, pid file and temp folders in a
test folder, bound to 127.0.0.1 on a free port, and is stopped by its PID.
``scripts/test.sh`` installs it (``apt-get install nginx``); where it is
missing the tests are skipped locally and fail under CI.

Locations: ``/files/`` serves the root folder; ``/slow/`` the same files at
``limit_rate`` (for kill-mid-download tests); ``/private/`` answers 403;
``/nohead/`` refuses HEAD (405) like some servers do;
``/login/`` answers 200 with an HTML login page (the "HTML where NetCDF was
expected" case); ``/metadata-redirect`` redirects to 169.254.169.254.
The access log records the bytes of every response body, so a test can
prove that a re-run downloaded nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

CONFIG = """
daemon off;
master_process off;
worker_processes 1;
pid {home}/nginx.pid;
error_log {home}/error.log warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    types {{ application/x-netcdf nc; }}
    log_format bytes '$request_method $uri $status $body_bytes_sent "$http_range"';
    access_log {home}/access.log bytes;
    client_body_temp_path {home}/tmp/body;
    proxy_temp_path {home}/tmp/proxy;
    fastcgi_temp_path {home}/tmp/fastcgi;
    uwsgi_temp_path {home}/tmp/uwsgi;
    scgi_temp_path {home}/tmp/scgi;
    sendfile off;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        location /files/ {{ alias {root}/; }}
        location /slow/ {{ alias {root}/; limit_rate {rate}; }}
        location /private/ {{ return 403; }}
        location /nohead/ {{ alias {root}/; if ($request_method = HEAD) {{ return 405; }} }}
        location /login/ {{
            default_type text/html;
            return 200 "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>Sign in to download</form></body></html>";
        }}
        location = /metadata-redirect {{ return 302 http://169.254.169.254/latest/meta-data/iam/; }}
    }}
}}
"""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Nginx:
    """One nginx process serving ``root`` under ``/files/`` on 127.0.0.1:``port``."""

    home: Path
    root: Path
    port: int = field(default_factory=free_port)
    rate: str = "256k"
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, rel: str, location: str = "files") -> str:
        """URL of a file below the root."""
        return f"{self.base}/{location}/{rel}"

    def start(self) -> Nginx:
        """Start (or restart on the same port) and wait until it answers."""
        (self.home / "tmp").mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.home / "nginx.conf"
        conf.write_text(CONFIG.format(home=self.home, root=self.root, port=self.port, rate=self.rate))
        self.process = subprocess.Popen(
            [NGINX, "-c", str(conf), "-p", str(self.home)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"nginx exited: {self.process.stderr.read().decode() if self.process.stderr else ''}"
                )
            try:
                httpx.get(f"{self.base}/private/", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start within 10 s")

    def kill(self) -> None:
        """Kill the process at once (SIGKILL): open connections drop mid-transfer."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def stop(self) -> None:
        """Stop the process (SIGQUIT, then SIGKILL)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()

    def body_bytes(self, path_part: str) -> list[tuple[str, int, int]]:
        """``(method, status, body bytes)`` of every logged request whose path contains ``path_part``."""
        log = self.home / "access.log"
        if not log.is_file():
            return []
        out = []
        for line in log.read_text().splitlines():
            method, uri, status, sent = line.split(" ", 4)[:4]
            if path_part in uri:
                out.append((method, int(status), int(sent)))
        return out


@pytest.fixture(scope="session")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    """A session nginx on loopback (skipped locally when nginx is not installed; CI fails)."""
    if not Path(NGINX).exists():
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed (scripts/test.sh installs it with apt-get)")
        pytest.skip("nginx is not installed: apt-get install nginx")
    home = tmp_path_factory.mktemp("nginx")
    server = Nginx(home, home / "root").start()
    try:
        yield server
    finally:
        server.stop()


TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"

PROXY_CONFIG = """
Port {port}
Listen 127.0.0.1
Allow 127.0.0.1
Timeout 30
MaxClients 32
LogFile "{home}/tinyproxy.log"
LogLevel Connect
{auth}
"""


@dataclass
class Tinyproxy:
    """One tinyproxy (Debian's) on 127.0.0.1:``port``: plain requests and ``CONNECT`` to any port.

    No ``ConnectPort`` line, so every port may be tunnelled (the test TLS
    server is not on 443); ``auth`` adds ``BasicAuth`` (407 without the right
    ``Proxy-Authorization``).  Its log (``LogLevel Connect``) has one
    ``Request`` line per request, which is how a test proves the proxy was
    (or was not) used.
    """

    home: Path
    auth: tuple[str, str] | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def url(self, credentials: tuple[str, str] | None = None) -> str:
        """``http://[user:password@]127.0.0.1:PORT``."""
        userinfo = f"{credentials[0]}:{credentials[1]}@" if credentials else ""
        return f"http://{userinfo}127.0.0.1:{self.port}"

    def start(self) -> Tinyproxy:
        """Start in the foreground (``-d``) with its own config and wait until it accepts connections."""
        self.home.mkdir(parents=True, exist_ok=True)
        conf = self.home / "tinyproxy.conf"
        auth = f"BasicAuth {self.auth[0]} {self.auth[1]}" if self.auth else ""
        conf.write_text(PROXY_CONFIG.format(port=self.port, home=self.home, auth=auth))
        self.process = subprocess.Popen(
            [TINYPROXY, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"tinyproxy exited: {self.process.stderr.read().decode() if self.process.stderr else ''}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("tinyproxy did not start within 10 s")

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def requests(self) -> list[str]:
        """The request line of every request the proxy received (``HEAD http://...``, ``CONNECT host:port``)."""
        log = self.home / "tinyproxy.log"
        if not log.is_file():
            return []
        return [line.split("): ", 1)[1] for line in log.read_text().splitlines() if "]: Request (" in line]


def require_tinyproxy() -> None:
    """Skip where tinyproxy is missing (local runs); fail under CI, where scripts/test.sh installs it."""
    if not Path(TINYPROXY).exists():
        if os.environ.get("CI"):
            pytest.fail("tinyproxy is not installed (scripts/test.sh installs it with apt-get)")
        pytest.skip("tinyproxy is not installed: apt-get install tinyproxy")
