"""A private PostgreSQL 15 cluster with PostGIS, database ``stac`` migrated by pypgstac."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from devsvc.install import PG_BIN, venv_bin
from devsvc.process import HOST, DevError, free_port, pid_is, run, say, stop_group

PREFERRED_PORT = 55432


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
    pg_port = free_port(port or PREFERRED_PORT)
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
