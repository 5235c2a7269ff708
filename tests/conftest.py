"""Shared fixtures: paths to the example catalog and the offline schema mirror."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

# session fixtures: the remote-source test servers (pydap OPeNDAP, nginx on loopback)
from tests.opendap_server import opendap  # noqa: F401

# session fixture: the real dev services (SeaweedFS, pgstac + stac-fastapi, pygeoapi)
from tests.services import dev_services  # noqa: F401
from tests.source_servers import nginx  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "catalog_templates" / "example"
SHARED = Path(os.environ.get("CATALOG_BOT_SHARED", REPO.parent / "shared"))
SCHEMAS = Path(os.environ.get("CATALOG_BOT_SCHEMAS", SHARED / "contracts" / "schemas"))


@pytest.fixture(scope="session")
def schemas_dir() -> Path:
    """The offline mirror of STAC / Frictionless / Argo / pygeoapi schemas."""
    if not SCHEMAS.is_dir():
        pytest.fail(f"schema mirror {SCHEMAS} not found; set CATALOG_BOT_SCHEMAS")
    return SCHEMAS


@pytest.fixture(autouse=True)
def _schemas_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test resolves schemas offline from the shared mirror, with a private cache."""
    monkeypatch.setenv("CATALOG_BOT_SCHEMAS", str(SCHEMAS))
    monkeypatch.setenv("CATALOG_BOT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("CATALOG_BOT_SCHEMA_FETCH", "0")  # offline: the mirror only (a test turns it on)
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_EVENT_PATH", "GITHUB_EVENT_NAME"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def example_catalog(tmp_path: Path) -> Path:
    """A private copy of the example catalog (tests may edit it)."""
    dest = tmp_path / "catalog"
    shutil.copytree(EXAMPLE, dest)
    return dest


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` and return stdout (raises on failure)."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
    }
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env=env).stdout


@pytest.fixture
def catalog_repo(example_catalog: Path) -> Path:
    """The example catalog as a real git repository with one commit on ``main``."""
    git(example_catalog, "init", "-q", "-b", "main")
    git(example_catalog, "add", "-A")
    git(example_catalog, "commit", "-q", "-m", "initial catalog")
    return example_catalog
