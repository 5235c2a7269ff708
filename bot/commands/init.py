"""``catalog-bot init DIR``: a new catalog repository from the templates."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from bot.catalog.init import init_catalog


def register(app: typer.Typer) -> None:
    """Add the ``init`` verb."""

    @app.command("init")
    def init(
        directory: Path = typer.Argument(..., help="folder for the new catalog (created if missing)"),
        example: bool = typer.Option(False, "--example", help="also copy the example datasets"),
        force: bool = typer.Option(False, "--force", help="write into a non-empty folder (never overwrites)"),
        action: str = typer.Option(
            None, "--action", help="pin the workflows to a catalog-bot release: owner/repo@<40-hex commit SHA>"
        ),
    ) -> None:
        """Create a new catalog: catalog-bot.yaml, lib/, profiles/, workflows, issue form."""
        written = init_catalog(directory, with_examples=example, force=force, action=action)
        console = Console(soft_wrap=True)
        console.print(f"created catalog in {directory} ({len(written)} files)")
        if not action:
            console.print(
                "note: the workflows use a placeholder pin (catalog-bot/catalog-bot@000...0);"
                " re-run with --action owner/repo@SHA or edit .github/workflows/*.yml"
            )
        console.print("next: add a dataset folder under datasets/<id>/ and run `catalog-bot validate`")
