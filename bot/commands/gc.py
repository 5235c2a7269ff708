"""``catalog-bot gc``: remove data versions that no published metadata references (after a grace period).

Thin: options -> :func:`bot.pipeline.gc.sweep_store` for the public and the
limited object store of an environment -> a table.  See that module for the
rules (current version kept, half-moved datasets left alone, grace period).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.errors import UsageError


def register(app: typer.Typer) -> None:
    """Add the ``gc`` verb."""

    @app.command("gc")
    def gc(
        datasets: Annotated[
            list[str] | None, typer.Argument(help="dataset ids (default: every dataset in the stores)")
        ] = None,
        catalog: Annotated[Path, typer.Option("--catalog", "-C", help="catalog repository folder")] = Path("."),
        env: Annotated[str | None, typer.Option("--env", help="environment (default: the catalog's)")] = None,
        output: Annotated[
            Path | None, typer.Option("--output", help="output folder (default: the environment's, cwd-relative)")
        ] = None,
        grace: Annotated[
            str, typer.Option("--grace", help="keep unreferenced versions younger than this (90s, 30m, 12h, 7d)")
        ] = "24h",
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="report what would be removed; remove nothing")
        ] = False,
    ) -> None:
        """Remove data versions that no published metadata references (after a grace period)."""
        from rich.console import Console

        from bot.adapters.objectstore import open_store
        from bot.catalog.layout import Catalog
        from bot.pipeline.context import output_folder
        from bot.pipeline.gc import parse_duration, sweep_store

        seconds = parse_duration(grace)
        if seconds < 0:
            raise UsageError("--grace must not be negative")
        cat = Catalog.open(catalog)
        env_name = env or cat.config.default_environment
        env_cfg = cat.config.environment(env_name)
        out = output_folder(cat, env_name, output)
        console = Console(highlight=False, soft_wrap=True, markup=False)
        verb = "would remove" if dry_run else "removed"
        total = 0
        for access in ("public", "limited"):
            store = open_store(env_cfg, out, access)
            for sweep in sweep_store(store, grace=seconds, datasets=datasets or None, dry_run=dry_run):
                total += sweep.objects_removed
                parts = [f"{access} {sweep.dataset}: current {sweep.current or '-'}"]
                if sweep.removed:
                    parts.append(f"{verb} {', '.join(sweep.removed)} ({sweep.objects_removed} objects)")
                if sweep.kept_young:
                    parts.append(f"kept (younger than {grace}) {', '.join(sweep.kept_young)}")
                if sweep.note:
                    parts.append(sweep.note)
                console.print("; ".join(parts))
        console.print(f"{verb} {total} objects in total")
