"""``catalog-bot converters``: the dataset-specific converters installed (entry-point group ``catalog_bot.converters``)."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.markup import escape


def register(app: typer.Typer) -> None:
    """Add the ``converters`` verb."""

    @app.command("converters")
    def converters(
        as_json: bool = typer.Option(False, "--json", help="print name -> entry point as JSON"),
    ) -> None:
        """List installed converters (select one with `converter: NAME` in pipeline.yaml)."""
        from bot.convert.plugins import ENTRY_POINT_GROUP, installed

        found = {name: f"{ep.value} ({ep.dist.name if ep.dist else '?'})" for name, ep in installed().items()}
        if as_json:
            sys.stdout.write(json.dumps(found, indent=2) + "\n")
            return
        console = Console(highlight=False, soft_wrap=True)
        if not found:
            console.print(f"no converters installed (entry-point group {ENTRY_POINT_GROUP!r})")
            return
        for name, target in found.items():
            console.print(f"{escape(name)}  {escape(target)}")
