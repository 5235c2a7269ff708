"""stac-fastapi-pgstac (Transactions + bulk items) under uvicorn, on the private PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from devsvc.install import venv_bin
from devsvc.process import HOST, free_port, http_status, pid_is, say, spawn, wait_until

PREFERRED_PORT = 8082


def start_stac(state_dir: Path, pg: dict[str, Any], port: int | None = None, *, timeout: float = 120) -> dict[str, Any]:
    """stac-fastapi-pgstac with the Transactions extension (incl. bulk items) under uvicorn."""
    base = state_dir / "stac"
    base.mkdir(parents=True, exist_ok=True)
    api_port = free_port(port or PREFERRED_PORT)
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
