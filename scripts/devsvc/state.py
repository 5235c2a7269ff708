"""The state folder: ``state.json`` (ports, PIDs, URLs, the local S3 key pair) and ``dev.env``.

Why both: ``state.json`` is what ``up``/``down``/``status`` and the tests
read; ``dev.env`` is the same URLs and keys as shell exports, which the
``dev`` environment of a catalog expands (``${CATALOG_BOT_DEV_S3_URL}``)
and ``catalog-bot publish --env dev`` loads when no credentials are set.
Both are mode 0600: they hold the local S3 admin keys.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from devsvc.process import DevError, write_atomic
from devsvc.s3 import PUBLIC_BUCKET


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
