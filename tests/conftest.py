"""Shared fixtures: paths to the example catalog, the offline schema mirror, the published example."""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# session fixtures: the remote-source test servers (pydap OPeNDAP, nginx on loopback)
from tests.opendap_server import opendap  # noqa: F401

# session fixture: the real dev services (SeaweedFS, pgstac + stac-fastapi, pygeoapi)
from tests.services import dev_services  # noqa: F401
from tests.source_servers import nginx  # noqa: F401


def _cache_bytecode() -> None:
    """Let this run and its subprocesses cache bytecode, outside the source tree, when the shell forbids it.

    Why: a shell with ``PYTHONDONTWRITEBYTECODE=1`` (the shared development
    machine sets it) makes every interpreter of the run compile ``bot/`` and
    makes each xdist worker re-rewrite every test module (pytest's
    assertion-rewrite cache follows the same switch): 2.7 CPU-s of a
    worker's 8.5 s of collection, and 0.1-0.4 s in each of the hundreds of
    ``catalog-bot`` subprocesses.  The switch is usually there to keep
    ``__pycache__`` out of checkouts, so the bytecode goes to a user cache
    instead (``PYTHONPYCACHEPREFIX``, honoured by Python and by pytest);
    xdist workers and CLI subprocesses inherit it through the environment.
    A prefix the user set is kept.  Nothing changes where bytecode is
    already allowed (CI's fresh machine).
    """
    if not sys.dont_write_bytecode:
        return
    prefix = os.environ.get("PYTHONPYCACHEPREFIX") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "catalog-bot" / "pycache"
    )
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = prefix
    sys.pycache_prefix = prefix
    sys.dont_write_bytecode = False


_cache_bytecode()  # before xdist starts its workers and before any test module is imported

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "catalog_templates" / "example"
SHARED = Path(os.environ.get("CATALOG_BOT_SHARED", REPO.parent / "shared"))
SCHEMAS = Path(os.environ.get("CATALOG_BOT_SCHEMAS", SHARED / "contracts" / "schemas"))
# Fixtures that start or need a program from outside the bot's own environment
# (installed by scripts/test.sh): the dev services; pygeoapi, pycsw/pygeometa
# and pydap from .venv-services; nginx from apt; nektos/act.
SERVICE_FIXTURES = {
    "dev_services",  # tests/services.py: SeaweedFS, pgstac + stac-fastapi, pygeoapi
    "dev_env",
    "pygeoapi_lock",
    "pygeoapi_server",  # tests/test_pygeoapi_entry.py: a private pygeoapi from .venv-services
    "csw",  # tests/test_harvest*.py: pycsw from .venv-services/pycsw
    "records",  # tests/test_harvest.py: ISO records written by pygeometa (.venv-services/pycsw)
    "record_dir",  # tests/test_harvest_github.py: the same
    "opendap",  # tests/opendap_server.py: pydap from .venv-services/pydap
    "nginx",  # tests/source_servers.py: nginx from apt
    "act_session",  # tests/act_harness.py: the catalog's workflows under nektos/act
}
SERVICE_MARKERS = {"actions", "csw"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs a server or runner from outside the bot's environment is a ``services`` test.

    Why: the inner loop, ``pytest -m "not services"``, must run with nothing
    but ``pip install -e ".[test]"`` (no root, no apt, no 1.7 GB of service
    environments, nothing to start) and in about two minutes; those tests
    are the slow ones (servers starting, act installing the action) and run
    in the full suite (``scripts/test.sh``, CI).  This runs before the ``-m``
    selection, so a test that forgot its mark is still classified by the
    fixtures it uses.
    """
    for item in items:
        needs = SERVICE_FIXTURES & set(getattr(item, "fixturenames", ()))
        if (needs or any(item.get_closest_marker(m) for m in SERVICE_MARKERS)) and not item.get_closest_marker(
            "services"
        ):
            item.add_marker(pytest.mark.services)


@pytest.fixture(scope="session")
def schemas_dir() -> Path:
    """The offline mirror of STAC / Frictionless / Argo / pygeoapi schemas."""
    if not SCHEMAS.is_dir():
        pytest.fail(f"schema mirror {SCHEMAS} not found; set CATALOG_BOT_SCHEMAS")
    return SCHEMAS


GITHUB_RUNNER_VARS = ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_EVENT_PATH", "GITHUB_EVENT_NAME")


def _offline_env(cache: Path) -> dict[str, str]:
    """The environment of :func:`_schemas_env` for a subprocess started outside a test (session fixtures)."""
    env = {k: v for k, v in os.environ.items() if k not in GITHUB_RUNNER_VARS}
    env.update(CATALOG_BOT_SCHEMAS=str(SCHEMAS), CATALOG_BOT_CACHE=str(cache), CATALOG_BOT_SCHEMA_FETCH="0")
    return env


@pytest.fixture(autouse=True)
def _environ_restored() -> Iterator[None]:
    """Each test starts from the same process environment.

    Why: in-process CLI runs may load the dev services' env file into
    ``os.environ`` (publish to S3 without credentials), which would leak one
    test's S3 keys into the next test of the same worker.
    """
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def _schemas_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test resolves schemas offline from the shared mirror, with a private cache."""
    monkeypatch.setenv("CATALOG_BOT_SCHEMAS", str(SCHEMAS))
    monkeypatch.setenv("CATALOG_BOT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("CATALOG_BOT_SCHEMA_FETCH", "0")  # offline: the mirror only (a test turns it on)
    for name in GITHUB_RUNNER_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def example_catalog(tmp_path: Path) -> Path:
    """A private copy of the example catalog (tests may edit it)."""
    dest = tmp_path / "catalog"
    shutil.copytree(EXAMPLE, dest)
    return dest


@dataclass
class CliRun:
    """What a ``catalog-bot`` run left: exit code and output (the fields of ``subprocess.CompletedProcess``)."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str) -> CliRun:
    """``catalog-bot ARGS`` through its real entry point (``bot.cli.main``), in this process.

    Why not a fresh interpreter: each one re-imports pyarrow, xarray and the
    validators (2-4 s of CPU), which made the tests that drive ``dataset
    new`` / ``validate --data`` / ``publish`` the slowest of the inner loop,
    while the code under test is the same.  Tests about start-up, imports or
    process boundaries keep their subprocess (``tests/test_cli_startup.py``,
    ``tests/test_perf_paths.py``).  Output is taken from ``sys.stdout`` /
    ``sys.stderr`` (rich and the error printer resolve them when they write).
    """
    from bot.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return CliRun(code, out.getvalue(), err.getvalue())


def frictionless_validate(package: Path) -> dict[str, Any]:
    """``frictionless validate --json datapackage.json`` run beside a published package, as a consumer runs it.

    Why in this process: it is frictionless's own command (its typer program,
    through click's test runner), and a fresh interpreter would only
    re-import frictionless, about 1 CPU-s for each of the packages the tests
    validate; the JSON report is the same (compared for the example's
    packages when this changed).
    """
    from frictionless.console import console
    from typer.testing import CliRunner

    with contextlib.chdir(package.parent):
        result = CliRunner().invoke(console, ["validate", "--json", package.name])
    if not result.stdout.strip():
        raise AssertionError(f"frictionless validate printed no report: {result.output[-2000:]} {result.exception!r}")
    report: dict[str, Any] = json.loads(result.stdout)
    assert result.exit_code == (0 if report["valid"] else 1), (result.exit_code, result.output[-2000:])
    return report


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


def init_repo(path: Path, message: str = "init", files: dict[str, str] | None = None) -> Path:
    """``path`` (with ``files`` written into it) as a git repository with one commit on ``main``."""
    path.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {}).items():
        (path / name).write_text(text)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message)
    return path


@pytest.fixture
def catalog_repo(example_catalog: Path) -> Path:
    """The example catalog as a real git repository with one commit on ``main``."""
    return init_repo(example_catalog, "initial catalog")


@pytest.fixture(scope="session")
def published_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output of ``catalog-bot publish --all`` on the example catalog, made once per test run.

    Why shared: publishing the example (three conversions, metadata, STAC,
    pygeoapi config) is the costliest step of the tests that only *read* its
    output (pygeoapi serving it, Frictionless validating it).  It runs once
    for all xdist workers (a lock and a marker in the run's shared temp
    folder) through the real CLI in a fresh interpreter, as a user runs it.
    Consumers must not modify it; a test that edits output publishes its own.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of this run
    base = root / "published-example"
    base.mkdir(exist_ok=True)
    done = base / "done"
    with (base / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(base / "catalog", ignore_errors=True)
            shutil.rmtree(base / "out", ignore_errors=True)
            catalog, out = base / "catalog", base / "out"
            shutil.copytree(EXAMPLE, catalog)
            proc = subprocess.run(
                [sys.executable, "-m", "bot", "publish", "--catalog", str(catalog), "--output", str(out), "--all"],
                capture_output=True,
                text=True,
                timeout=600,
                cwd=base,
                env=_offline_env(root / "cache"),
            )
            if proc.returncode != 0:
                pytest.fail(f"publish of the example failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
            done.write_text("ok")
    return base / "out"
