"""pygeoapi with the admin API on, under ``gunicorn --reload`` watching its configuration file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from devsvc.install import venv_bin
from devsvc.process import HOST, free_port, http_status, pid_is, run, say, spawn, wait_until, write_atomic

PREFERRED_PORT = 5055
PLACEHOLDER_ID = "catalog-bot-dev"  # the one resource of an empty dev server, never listed


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
            PLACEHOLDER_ID: {
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


def update_config(python: Path, cfg: Path, url: str, port: int) -> None:
    """Bring an existing (YAML, admin-written) config up to date, keeping its resources.

    Points it at this start's port, and hides the placeholder resource:
    a state folder made before the placeholder was hidden keeps its config
    across ``up`` (only ``--fresh`` rewrites it), so without this the
    placeholder stayed listed under ``/collections`` there.
    """
    code = (
        "import sys, yaml\n"
        "p, url, port, placeholder = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]\n"
        "c = yaml.safe_load(open(p)) or {}\n"
        "c.setdefault('server', {})['url'] = url\n"
        "c['server'].setdefault('bind', {})['port'] = port\n"
        "c['server']['bind']['host'] = '127.0.0.1'\n"
        "if isinstance((c.get('resources') or {}).get(placeholder), dict):\n"
        "    c['resources'][placeholder]['visibility'] = 'hidden'\n"
        "open(p + '.tmp', 'w').write(yaml.safe_dump(c, sort_keys=False))\n"
        "import os; os.replace(p + '.tmp', p)\n"
    )
    run([str(python), "-c", code, str(cfg), url, str(port), PLACEHOLDER_ID], timeout=60)


def start_pygeoapi(
    state_dir: Path, creds: dict[str, str], s3_url: str | None, port: int | None = None, *, timeout: float = 150
) -> dict[str, Any]:
    """pygeoapi (admin API on) under gunicorn --reload watching its config file.

    The admin API only rewrites the YAML; the reload makes changes live.
    S3 credentials + endpoint are passed so ``s3://`` data sources work.
    """
    base = state_dir / "pygeoapi"
    base.mkdir(parents=True, exist_ok=True)
    api_port = free_port(port or PREFERRED_PORT)
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
        update_config(python, cfg, url, api_port)
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
