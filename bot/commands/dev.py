"""``catalog-bot dev up|down|status|env``: the loopback publish targets for local work.

Why a wrapper: the real work is ``scripts/dev_services.py`` (stdlib only, so
CI can run it before anything else is installed); this verb makes it
discoverable next to ``publish --env dev``.  It needs a source checkout,
where the script lives beside the ``bot`` package.  ``status`` adds what
only the bot can read: the file to source for the services' variables, and
what the catalog you are in (or ``--catalog``) has published in each of its
environments (:mod:`bot.commands.dev_status`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import typer

from bot.errors import UsageError

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "dev_services.py"


def _script() -> ModuleType:
    if not SCRIPT.is_file():
        raise UsageError(
            f"{SCRIPT} not found: `catalog-bot dev` works from a source checkout of catalog-bot",
            hint="clone the catalog-bot repository and run it there (or run scripts/dev_services.py directly)",
        )
    spec = importlib.util.spec_from_file_location("dev_services", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def register(app: typer.Typer) -> None:
    """Add the ``dev`` verb."""

    @app.command("dev")
    def dev(
        action: str = typer.Argument(..., help="up | down | status | env"),
        state: Path | None = typer.Option(None, "--state", help="state folder (default .dev-services)"),
        only: str | None = typer.Option(None, "--only", help="up: comma-separated subset of s3,postgres,stac,pygeoapi"),
        fresh: bool = typer.Option(False, "--fresh", help="up: stop and wipe all service data first"),
        catalog: Path | None = typer.Option(
            None,
            "--catalog",
            "-C",
            help="status: the catalog to report on (default: the one around the current folder)",
        ),
        env: str | None = typer.Option(None, "--env", help="status: report on this environment only"),
    ) -> None:
        """Start/stop/check the local S3 (SeaweedFS), STAC API (pgstac) and pygeoapi used by `--env dev`."""
        if action not in ("up", "down", "status", "env"):
            raise UsageError(f"unknown action {action!r}", hint="use up, down, status or env")
        argv = [action]
        if state is not None:
            argv += ["--state", str(state)]
        if only and action == "up":
            argv += ["--only", only]
        if fresh and action == "up":
            argv.append("--fresh")
        module = _script()
        code = module.main(argv)
        if action == "status":
            _catalog_part(module, state, catalog, env)
        raise typer.Exit(code)


def _catalog_part(module: ModuleType, state: Path | None, catalog: Path | None, env: str | None) -> None:
    """After the services' health: the variables file, then the catalog's publish state per environment."""
    from bot.commands.dev_status import catalog_status, find_catalog

    env_file = (state or module.DEFAULT_STATE).resolve() / "dev.env"
    if env_file.is_file():
        typer.echo(
            f"variables: source {env_file}  (publish --env dev loads it by itself when AWS_ACCESS_KEY_ID is unset)"
        )
    root = catalog if catalog is not None else find_catalog(Path.cwd())
    if root is None:
        typer.echo("catalog: none here (no catalog-bot.yaml in this folder or above); pass --catalog DIR")
        return
    typer.echo("")
    for line in catalog_status(root, Path.cwd(), env):
        typer.echo(line)
