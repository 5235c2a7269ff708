"""The publish targets of one environment, chosen by its ``kind`` settings.

Why a factory: the pipeline steps, the e2e tests and ``catalog-bot dev``
all need "the object store / STAC / pygeoapi of environment X"; building
them in one place keeps the choice (``object_store.kind: local|s3``,
``stac.kind: static|api``, ``pygeoapi.kind: config|api``) consistent.  The
static and config kinds are files written by the steps themselves, so they
have no client here (``None``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import EnvironmentConfig, Settings


@dataclass(frozen=True)
class Targets:
    """``store(access)`` gives the object store for ``public``/``limited``; API clients or None."""

    store: Callable[[str], Any]
    stac: Any | None
    pygeoapi: Any | None


def make_targets(env: EnvironmentConfig, settings: Settings | None = None, output: Path | None = None) -> Targets:
    """Object store factory + STAC API + pygeoapi admin clients for ``env``."""
    from bot.adapters import objectstore, pygeoapi, stac_api

    out = Path(output or env.output)
    stores: dict[str, Any] = {}

    def store(access: str) -> Any:
        if access not in stores:
            stores[access] = objectstore.open_store(env, out, access)
        return stores[access]

    stac = stac_api.client_for_environment(env, settings) if env.stac.kind == "api" else None
    geo = pygeoapi.client_for_environment(env, settings) if env.pygeoapi.kind == "api" else None
    return Targets(store=store, stac=stac, pygeoapi=geo)
