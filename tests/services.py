"""Session fixtures for the real dev services (SeaweedFS S3, pgstac + stac-fastapi, pygeoapi).

Import them into a test module (``from tests.services import dev_services, dev_env``);
pytest then finds them there.  Tests using them carry ``@pytest.mark.services``.

Why attach-or-start: CI runs ``python scripts/dev_services.py up`` once before
pytest (and ``down`` after), and a developer usually has them running too, so
the fixture first attaches to the services described by the state file
(``$CATALOG_BOT_DEV_STATE`` or ``.dev-services``) when all are healthy.  Only
otherwise does it start a private set in a temporary folder for this session
and stop exactly those at the end.  When they cannot be started the tests
are skipped locally but fail under CI (``CI=true``), so a broken install can
never pass as "all skipped".

A private set lives under :func:`private_state_dir`, not pytest's tmp_path:
PostgreSQL runs as the ``postgres`` user, which cannot reach
``/tmp/pytest-of-root`` (pytest keeps that folder at mode 0700 and resets it
whenever any pytest session starts, so fixing the mode once is not enough).
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import stat
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "dev_services.py"
PRIVATE_BASE = Path(tempfile.gettempdir()) / f"catalog-bot-services-{os.geteuid()}"
TRAVERSE = 0o711  # others (the postgres user) may pass through, never list or write


def private_state_dir(prefix: str) -> Path:
    """A fresh folder for privately started services that the ``postgres`` user can reach.

    One base per user under the system temp folder, owned by us and mode
    0711 (checked with lstat: a link or someone else's folder there is
    refused rather than followed); each call gets its own mkdtemp below it.
    The caller removes it (after stopping what runs in it).
    """
    PRIVATE_BASE.mkdir(mode=TRAVERSE, exist_ok=True)
    info = PRIVATE_BASE.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise RuntimeError(f"{PRIVATE_BASE} is not a folder owned by uid {os.geteuid()}; remove it")
    os.chmod(PRIVATE_BASE, TRAVERSE)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=PRIVATE_BASE))
    os.chmod(path, TRAVERSE)
    return path


def load_dev_module() -> ModuleType:
    """``scripts/dev_services.py`` as a module (it is a script, not part of the package)."""
    if "dev_services" in sys.modules:
        return sys.modules["dev_services"]
    spec = importlib.util.spec_from_file_location("dev_services", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["dev_services"] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class DevServices:
    """Where the services are and how to talk to them."""

    state_dir: Path
    state: dict[str, Any]
    owned: bool
    module: ModuleType

    @property
    def env(self) -> dict[str, str]:
        """The variables of ``dev.env`` (URLs and the local S3 key pair)."""
        return dict(self.state["env"])

    @property
    def s3_url(self) -> str:
        return self.state["services"]["s3"]["url"]

    @property
    def stac_url(self) -> str:
        return self.state["services"]["stac"]["url"]

    @property
    def pygeoapi_url(self) -> str:
        return self.state["services"]["pygeoapi"]["url"]

    @property
    def access_key(self) -> str:
        return self.state["credentials"]["access_key"]

    @property
    def secret_key(self) -> str:
        return self.state["credentials"]["secret_key"]

    def s3_client(
        self, access_key: str | None = None, secret_key: str | None = None, endpoint: str | None = None
    ) -> Any:
        """A boto3 client for the dev S3 (other keys or endpoint for fault tests), path-style like the bot's."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=endpoint or self.s3_url,
            region_name="us-east-1",
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )


def _healthy(module: ModuleType, state: dict[str, Any]) -> bool:
    services = state.get("services", {})
    return all(name in services and module.HEALTH[name](services[name]) for name in module.SERVICES)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"dev services unavailable under CI: {reason}")
    pytest.skip(f"dev services unavailable: {reason}")


@pytest.fixture(scope="session")
def dev_services() -> Iterator[DevServices]:
    """Attach to healthy running services, else start a private set for the session."""
    module = load_dev_module()
    candidates = [Path(os.environ["CATALOG_BOT_DEV_STATE"])] if os.environ.get("CATALOG_BOT_DEV_STATE") else []
    candidates.append(REPO / ".dev-services")
    for state_dir in candidates:
        try:
            state = module.load_state(state_dir)
        except module.DevError:
            continue
        if state and _healthy(module, state):
            yield DevServices(state_dir, state, owned=False, module=module)
            return
    state_dir = private_state_dir("dev-services")
    try:
        try:
            state = module.up(state_dir, do_install=not os.environ.get("CATALOG_BOT_DEV_NO_INSTALL"))
        except module.DevError as exc:
            module.down(state_dir)
            _unavailable(str(exc))
        yield DevServices(state_dir, state, owned=True, module=module)
    finally:
        module.down(state_dir)
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture
def dev_env(dev_services: DevServices, monkeypatch: pytest.MonkeyPatch) -> DevServices:
    """The process environment of ``dev.env`` for one test (catalog-bot.yaml's ``dev`` reads it)."""
    for key, value in dev_services.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return dev_services


@pytest.fixture
def pygeoapi_lock(dev_services: DevServices) -> Iterator[None]:
    """Exclusive use of the shared pygeoapi (and the example dataset ids) across xdist workers.

    Why: pygeoapi's admin API rewrites one config file and reloads; two
    writers at once can lose each other's changes, and the e2e tests reset
    and republish fixed dataset ids.  An ``flock`` works whatever the
    ``--dist`` mode (the ``xdist_group`` marks only help with ``loadgroup``).
    """
    with (dev_services.state_dir / ".tests-pygeoapi.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def unique(prefix: str) -> str:
    """A fresh id so tests sharing one set of services never see each other's data."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
