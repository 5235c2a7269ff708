"""A real OPeNDAP (DAP2) server for the remote-source tests: pydap's server on loopback.

pydap 3.5.9 (the last release for Python 3.11) lives in its own virtual
environment, ``.venv-services/pydap`` (created on first use;
``python -m tests.opendap_server --install`` pre-installs it and
``scripts/test.sh`` calls that).  It serves every NetCDF file of a folder.

One known defect is corrected when the server starts (the launcher below
runs inside pydap's environment): its NetCDF handler reshapes *every* read
to the variable's full shape, so any hyperslab request (``sst[2:5][..]``,
what a client sends to subset on the server) fails and the response carries
no data -- checked with curl against 3.5.9 and 3.5.11.  The fix reshapes
only a full read.  Everything else (DDS/DAS/DODS encoding, constraint
parsing, the WSGI app) is pydap's own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".venv-services" / "pydap"
PACKAGES = ["pydap[server,netcdf]==3.5.9"]

LAUNCHER = """
import sys

import numpy as np
from pydap.handlers import netcdf_handler


def _getitem(self, key):
    with netcdf_handler.netcdf_file(self.filepath, "r") as source:
        source.set_auto_scale(False)
        data = np.asarray(source[self.path][key]).astype(self.dtype)
    full = tuple(self._reshape)
    return data.reshape(full) if data.size == int(np.prod(full)) else data


netcdf_handler.LazyVariable.__getitem__ = _getitem

from pydap.wsgi.app import main

sys.argv[0] = "pydap"
sys.exit(main())
"""


def ensure_venv() -> Path:
    """Create pydap's virtual environment unless it is there with exactly these pins (idempotent)."""
    marker = VENV / ".installed"
    if marker.exists() and marker.read_text() == "\n".join(PACKAGES):
        return VENV
    from tests.services import load_dev_module

    load_dev_module().install_into(VENV, PACKAGES)  # uv when available, else pip (scripts/devsvc/install.py)
    marker.write_text("\n".join(PACKAGES))
    return VENV


@dataclass
class Pydap:
    """pydap serving ``root`` on 127.0.0.1:``port``."""

    root: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, name: str) -> str:
        """The OPeNDAP URL of a file below the root."""
        return f"{self.base}/{name}"

    def stop(self) -> None:
        """Stop the server by its PID."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start(root: Path, port: int, log: Path) -> Pydap:
    """Start pydap on ``root`` and wait until it answers."""
    ensure_venv()
    launcher = log.with_name("pydap_launcher.py")
    launcher.write_text(LAUNCHER)
    handle = log.open("wb")
    process = subprocess.Popen(
        [str(VENV / "bin" / "python"), str(launcher), "-d", str(root), "-b", "127.0.0.1", "-p", str(port)],
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    server = Pydap(root, port, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pydap exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            httpx.get(server.base + "/", timeout=1)
            return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("pydap did not start within 30 s")


@pytest.fixture(scope="session")
def opendap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pydap]:
    """A session pydap server on a folder the tests fill (skipped locally if it cannot be installed)."""
    from tests.source_servers import free_port

    home = tmp_path_factory.mktemp("pydap")
    (home / "root").mkdir()
    try:
        server = start(home / "root", free_port(), home / "pydap.log")
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"pydap server unavailable: {exc}")
        pytest.skip(f"pydap server unavailable: {exc}")
    try:
        yield server
    finally:
        server.stop()


if __name__ == "__main__":
    if "--install" in sys.argv:
        print(ensure_venv())
