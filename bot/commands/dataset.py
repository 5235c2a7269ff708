"""``catalog-bot dataset new ID --source PATH``: a complete, valid dataset folder from its data."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape


def register(app: typer.Typer) -> None:
    """Add the ``dataset`` group (``dataset new``)."""
    group = typer.Typer(help="Create datasets from their data.", no_args_is_help=True)

    @group.command("new")
    def new(
        dataset_id: str = typer.Argument(..., metavar="ID", help="dataset id (folder name: a-z, 0-9, -)"),
        source: str = typer.Option(
            ..., "--source", "-s", help="local data file or folder (Zarr), or an https:// or s3:// URI (referenced)"
        ),
        fmt: str = typer.Option(None, "--format", help="source format (default: from the suffix)"),
        layer: str = typer.Option(None, "--layer", help="layer of a multi-layer file (GeoPackage)"),
        crs: str = typer.Option(None, "--crs", help="source CRS when the file has none (EPSG code, WKT, PROJJSON)"),
        group: str = typer.Option(None, "--group", help="NetCDF group holding the variables"),
        catalog: Path = typer.Option(Path("."), "--catalog", "-C", help="catalog folder"),
        force: bool = typer.Option(False, "--force", help="replace an existing dataset folder"),
        endpoint_url: str = typer.Option(None, "--endpoint-url", help="S3 endpoint of an s3:// source (non-AWS)"),
        anonymous: bool = typer.Option(False, "--anonymous", help="read a public s3:// source without signing"),
        opendap: bool = typer.Option(False, "--opendap", help="--source is an OPeNDAP URL (read remotely, not copied)"),
    ) -> None:
        """Read the source's metadata and a bounded sample, and write pipeline.yaml, the schema, datapackage.json
        and collection.jsonnet; print what was inferred and what a curator still has to fill in."""
        from bot.catalog.layout import Catalog
        from bot.convert.new import new_dataset
        from bot.pipeline.remote import CatalogRemoteReader

        cat = Catalog.open(catalog)
        result = new_dataset(
            cat,
            dataset_id,
            source if "://" in source else Path(source),
            fmt=fmt,
            layer=layer,
            crs=crs,
            group=group,
            force=force,
            endpoint_url=endpoint_url,
            anonymous=anonymous,
            opendap=opendap,
            remote=CatalogRemoteReader(cat),
        )
        console = Console(highlight=False, soft_wrap=True)
        console.print(f"created {escape(str(result.folder))} ({', '.join(sorted(result.files))})")
        for line in result.inferred:
            console.print(f"  inferred: {escape(line)}")
        if result.extents:
            console.print(f"  extents: {escape(json.dumps(result.extents))}")
        for line in result.todo:
            console.print(f"  [yellow]TODO[/]: {escape(line)}")
        if not result.todo:
            console.print("  nothing left to fill in")

    app.add_typer(group, name="dataset")
