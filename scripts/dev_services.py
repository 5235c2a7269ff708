#!/usr/bin/env python3
"""Bring the real publish targets up on loopback: S3, STAC API, pygeoapi (the code is in ``devsvc/``).

    python scripts/dev_services.py up     [--state DIR] [--only s3,stac,pygeoapi] [--fresh]
    python scripts/dev_services.py status [--state DIR]
    python scripts/dev_services.py env    [--state DIR]      # shell exports (eval "$(...)")
    python scripts/dev_services.py down   [--state DIR]

Why this file stays: it is the command CI, the README and ``catalog-bot dev``
run, and the one module tests and benchmarks load (``tests/services.py``),
so it re-exports the package's public names.  Standard library only.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # loaded by path (tests, `catalog-bot dev`): make the package importable
    sys.path.insert(0, _HERE)

from devsvc.cli import AFTER, DEFAULT_STATE, HEALTH, NEEDS, SERVICES, down, expand, main, status, stop_one, up  # noqa: E402
from devsvc.install import VENV_SPECS, ensure_venv, install, install_into, install_one, venv_bin  # noqa: E402
from devsvc.postgres import postgres_healthy, start_postgres, stop_postgres  # noqa: E402
from devsvc.process import HOST, DevError, free_port, http_status, pid_is, say, stop_group, wait_until  # noqa: E402
from devsvc.pygeoapi import pygeoapi_config, pygeoapi_healthy, start_pygeoapi, update_config  # noqa: E402
from devsvc.s3 import LIMITED_BUCKET, PUBLIC_BUCKET, s3_config, s3_healthy, start_s3  # noqa: E402
from devsvc.stac import stac_healthy, start_stac  # noqa: E402
from devsvc.state import env_vars, load_state, save_state  # noqa: E402

__all__ = [
    "AFTER",
    "DEFAULT_STATE",
    "HEALTH",
    "HOST",
    "LIMITED_BUCKET",
    "NEEDS",
    "PUBLIC_BUCKET",
    "SERVICES",
    "VENV_SPECS",
    "DevError",
    "down",
    "ensure_venv",
    "env_vars",
    "expand",
    "free_port",
    "http_status",
    "install",
    "install_into",
    "install_one",
    "load_state",
    "main",
    "pid_is",
    "postgres_healthy",
    "pygeoapi_config",
    "pygeoapi_healthy",
    "s3_config",
    "s3_healthy",
    "save_state",
    "say",
    "stac_healthy",
    "start_postgres",
    "start_pygeoapi",
    "start_s3",
    "start_stac",
    "status",
    "stop_group",
    "stop_one",
    "stop_postgres",
    "up",
    "update_config",
    "venv_bin",
    "wait_until",
]

if __name__ == "__main__":
    sys.exit(main())
