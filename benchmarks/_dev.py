"""A dev service for a benchmark: the running one (`scripts/dev_services.py up`), else a private one.

Shared by the S3 and STAC API benchmarks so both find and clean up services the same way.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.services import load_dev_module  # noqa: E402


def dev_service(name: str) -> tuple[str, dict[str, Any], Callable[[], None]]:
    """URL of a healthy ``name`` service, the dev state (credentials), and a cleanup callable."""
    module = load_dev_module()
    state_dir = Path(os.environ.get("CATALOG_BOT_DEV_STATE") or REPO / ".dev-services")
    state = module.load_state(state_dir)
    info = state.get("services", {}).get(name)
    if info and module.HEALTH[name](info):
        return info["url"], state, lambda: None
    private = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    state = module.up(private, [name])
    return state["services"][name]["url"], state, lambda: (module.down(private), shutil.rmtree(private))
