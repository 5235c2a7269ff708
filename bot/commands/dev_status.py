"""``catalog-bot dev status``, the catalog part: what the catalog you are in has published where.

Why: after ``dev up`` and a few publishes a developer asks "is my change in
the dev STAC API yet, and which commit is live in each environment?".  The
answers already exist, written by the publish itself: the environment's
*ledger* (``_catalog-bot/published/<env>.json``, the last default-branch
commit whose publish succeeded), each dataset's *publish record*
(``<dataset>/.catalog-bot/published.json``: ``current`` or half-``moving``,
commit, time) and the targets (static STAC files / pygeoapi resource files,
or the STAC API and pygeoapi admin API).  This module reads them, per
environment of ``catalog-bot.yaml``, and never writes.

An environment that cannot be read (a ``${VAR}`` that is not set, no
credentials, an endpoint that does not answer) is reported as such in one
line, without retries: a status must answer in seconds.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.catalog.layout import Catalog
from bot.config import CONFIG_FILE, EnvironmentConfig, ensure_s3_credentials
from bot.errors import BotError
from bot.logging import mask

PROBE_TIMEOUT = 1.5  # seconds per endpoint: a status answers at once or says "not reachable"


@dataclass
class DatasetStatus:
    """One dataset in one environment: its publish record and whether each catalog lists it."""

    id: str
    access: str
    record: dict[str, Any] | None = None
    stac: bool | None = None  # None: not checked (no target for this access level, or unreachable)
    pygeoapi: bool | None = None


@dataclass
class EnvironmentStatus:
    """What one environment holds, or why it could not be read."""

    name: str
    where: str = ""
    ledger: str | None = None
    datasets: list[DatasetStatus] = field(default_factory=list)
    problem: str | None = None


def find_catalog(start: Path) -> Path | None:
    """The catalog folder at or above ``start`` (the first with ``catalog-bot.yaml``), as git finds its root."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    return None


def reachable(url: str | None, default_port: int = 443) -> bool:
    """A TCP connection to the URL's host and port opens within :data:`PROBE_TIMEOUT`."""
    if not url:
        return False
    parts = urlsplit(url)
    port = parts.port or (80 if parts.scheme == "http" else default_port)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=PROBE_TIMEOUT):
            return True
    except OSError:
        return False


def describe(env: EnvironmentConfig, output: Path) -> str:
    """Where the environment publishes, in one line."""
    store = env.object_store
    if store.kind == "s3":
        objects = f"S3 {store.endpoint_url or 'AWS ' + (store.region or 'us-east-1')} ({store.public_bucket}, {store.limited_bucket})"
    else:
        objects = f"folder {output / store.root}"
    stac = f"STAC API {env.stac.url}" if env.stac.kind == "api" else f"static STAC {output / env.stac.root}"
    geo = (
        f"pygeoapi API {env.pygeoapi.url}"
        if env.pygeoapi.kind == "api"
        else f"pygeoapi config {output / env.pygeoapi.root}"
    )
    return f"engine {env.engine}; {objects}; {stac}; {geo}"


def environment_status(catalog: Catalog, name: str, base: Path) -> EnvironmentStatus:
    """Ledger, publish records and catalog listings of one environment; a failure becomes ``problem``."""
    status = EnvironmentStatus(name)
    try:
        env = catalog.config.environment(name)
        if env.object_store.kind == "s3" and ensure_s3_credentials(name, env) is not None:
            env = catalog.config.environment(name)  # dev.env was loaded: its URLs may differ from the defaults
        output = Path(env.output) if Path(env.output).is_absolute() else (base / env.output).resolve()
        status.where = describe(env, output)
        store = env.object_store
        if store.kind == "s3" and not reachable(
            store.endpoint_url or f"https://s3.{store.region or 'us-east-1'}.amazonaws.com"
        ):
            status.problem = "object store not reachable (dev services: `catalog-bot dev up`)"
            return status
        _read(status, catalog, name, env, output, base)
    except (BotError, OSError) as exc:
        status.problem = mask(str(exc))
    return status


def _read(
    status: EnvironmentStatus, catalog: Catalog, name: str, env: EnvironmentConfig, output: Path, base: Path
) -> None:
    from bot.adapters.objectstore import open_store
    from bot.events.ledger import PublishLedger
    from bot.pipeline.guard import read_record

    status.ledger = PublishLedger(name, env, base).last()
    stores: dict[str, Any] = {}
    for dataset in catalog.datasets():
        try:
            access = dataset.pipeline().access
        except BotError:  # a broken pipeline.yaml: `check` names it; the records are still readable
            access = "public"
        if access not in stores:
            stores[access] = open_store(env, output, access)
        status.datasets.append(DatasetStatus(dataset.id, access, read_record(stores[access], dataset.id)))
    _stac_listing(status, env, output)
    _pygeoapi_listing(status, env, output)


def _stac_listing(status: EnvironmentStatus, env: EnvironmentConfig, output: Path) -> None:
    """Is each dataset's collection in the STAC catalog its access level goes to (limited: ``limited_stac``)?"""
    from bot.adapters.stac_api import client_for

    for ds in status.datasets:
        cfg = env.limited_stac if ds.access == "limited" else env.stac
        if cfg is None:
            continue  # limited data without a limited catalog is catalogued nowhere, by design
        if cfg.kind == "static":
            ds.stac = (output / cfg.root / ds.id / "collection.json").is_file()
        elif reachable(cfg.url):
            ds.stac = client_for(cfg).collection_exists(ds.id)


def _pygeoapi_listing(status: EnvironmentStatus, env: EnvironmentConfig, output: Path) -> None:
    """Is each public dataset a pygeoapi resource (limited data is never served by pygeoapi)?"""
    public = [ds for ds in status.datasets if ds.access == "public"]
    if not public:
        return
    if env.pygeoapi.kind == "config":
        for ds in public:
            ds.pygeoapi = (output / env.pygeoapi.root / "datasets" / f"{ds.id}.yaml").is_file()
        return
    if not reachable(env.pygeoapi.url):
        return
    from bot.adapters.pygeoapi import client_for_environment

    resources = set(client_for_environment(env).resource_ids())
    for ds in public:
        ds.pygeoapi = ds.id in resources


def _when(value: Any) -> str:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "-"


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def render(catalog: Catalog, statuses: list[EnvironmentStatus]) -> list[str]:
    """The catalog part of ``dev status`` as lines of plain text."""
    lines = [
        f"catalog {catalog.root} ({len(catalog.dataset_dirs)} datasets; "
        f"default environment {catalog.config.default_environment})"
    ]
    width = max([len(ds.id) for s in statuses for ds in s.datasets] + [7])
    for s in statuses:
        lines.append(f"  {s.name}: {s.where}" if s.where else f"  {s.name}:")
        if s.problem:
            lines.append(f"    not read: {s.problem}")
            continue
        lines.append(f"    last published commit of the default branch (ledger): {s.ledger or 'none recorded'}")
        lines.append(f"    {'dataset':{width}}  {'state':8}  {'commit':12}  {'updated':20}  stac  pygeoapi")
        for ds in s.datasets:
            if ds.record is None:
                state, commit, when = "-", "-", "never published"
            else:
                state = str(ds.record.get("state") or "-")
                commit = str(ds.record.get("commit") or "-")[:12]
                when = _when(ds.record.get("updated"))
            lines.append(
                f"    {ds.id:{width}}  {state:8}  {commit:12}  {when:20}  {_yes(ds.stac):4}  {_yes(ds.pygeoapi)}"
            )
    return lines


def catalog_status(root: Path, base: Path, only: str | None = None) -> list[str]:
    """Every environment of the catalog at ``root`` (the default first, ``local`` always), or only ``only``."""
    catalog = Catalog.open(root)
    default = catalog.config.default_environment
    names = [only] if only else [default, *sorted({"local", *catalog.config.environments} - {default})]
    return render(catalog, [environment_status(catalog, name, base) for name in names])
