"""SeaweedFS as the S3 server: ``weed mini`` with a public (anonymous read) and a limited bucket."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from devsvc.install import venv_bin
from devsvc.process import HOST, free_port, http_status, pid_is, say, spawn, wait_until, write_atomic

PUBLIC_BUCKET = "catalog-public"
LIMITED_BUCKET = "catalog-limited"
PREFERRED_PORT = 8333


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
    s3_port = free_port(port or PREFERRED_PORT)
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
