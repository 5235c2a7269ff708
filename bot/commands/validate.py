"""``catalog-bot validate``: validate datasets of a catalog, or any JSON files.

Thin: argument wiring and output only; the work is in
:mod:`bot.catalog.validate`.  Also registers ``catalog-bot schemas`` (show
where a schema URL resolves offline, add one to the local cache), because
"schema not found" is the one validation failure whose fix is not an edit
in the catalog.
"""

from __future__ import annotations

import contextlib
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from bot.catalog.layout import Catalog
from bot.catalog.schemas import SchemaRegistry, derive_mirror_path, normalize_url
from bot.catalog.validate import has_errors, validate_file, validate_many
from bot.config import Settings
from bot.errors import EXIT_PROBLEMS, Problem, Severity, UsageError
from bot.logging import mask


class OutputFormat(StrEnum):
    """How problems are printed."""

    text = "text"
    json = "json"


_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.NOTICE: "cyan"}


def _is_file_target(target: str) -> bool:
    """A target is a file when it exists as one or looks like a path; otherwise a dataset id."""
    path = Path(target)
    return path.is_file() or path.suffix in {".json", ".yaml", ".yml"} or "/" in target or "\\" in target


def print_problems(problems: list[Problem], checked: int, what: str, output: OutputFormat) -> None:
    """Print problems as text (grouped by file, errors first) or JSON, masked."""
    errors = sum(p.severity is Severity.ERROR for p in problems)
    warnings = sum(p.severity is Severity.WARNING for p in problems)
    if output is OutputFormat.json:
        data = {
            "problems": [p.to_dict() for p in problems],
            "summary": {"checked": checked, "what": what, "errors": errors, "warnings": warnings, "ok": errors == 0},
        }
        sys.stdout.write(mask(json.dumps(data, indent=2, ensure_ascii=False)) + "\n")
        return
    console = Console(highlight=False, soft_wrap=True)
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTICE: 2}
    for p in sorted(problems, key=lambda p: (p.file or "", p.line or 0, order[p.severity])):
        style = _STYLE[p.severity]
        text = f"{escape(p.location())}: [{style}]{p.severity.value}[/] \\[{p.code}] {escape(mask(p.message))}"
        if p.pointer:
            text += f" [dim](at {escape(p.pointer)})[/]"
        if p.hint:
            text += f"\n    fix: {escape(mask(p.hint))}"
        console.print(text)
    status = "[bold red]FAILED[/]" if errors else "[bold green]OK[/]"
    console.print(f"{status}: {checked} {what} checked, {errors} error(s), {warnings} warning(s)")


def register(app: typer.Typer) -> None:
    """Add the ``validate`` verb and the ``schemas`` group."""

    @app.command("validate")
    def validate(
        targets: Annotated[
            list[str] | None,
            typer.Argument(help="dataset ids (default: all) or JSON files (STAC, datapackage, table/grid schema)"),
        ] = None,
        catalog: Annotated[Path, typer.Option("--catalog", "-C", help="catalog folder (for dataset ids)")] = Path("."),
        env: Annotated[
            str | None, typer.Option("--env", "-e", help="environment whose ext vars render collections")
        ] = None,
        output: Annotated[OutputFormat, typer.Option("--format", "-f", help="text or json")] = OutputFormat.text,
        jobs: Annotated[
            int | None, typer.Option("--jobs", "-j", min=1, help="worker processes (default: all cores)")
        ] = None,
        data: Annotated[
            bool, typer.Option("--data", help="also read each dataset's local source data (types, ranges, truncation)")
        ] = False,
    ) -> None:
        """Validate datasets (render + STAC/Frictionless schemas + cross-checks) or files; exit 1 on errors."""
        settings = Settings.from_env()
        registry = SchemaRegistry.from_settings(settings)
        targets = targets or []
        files = [t for t in targets if _is_file_target(t)]
        ids = [t for t in targets if not _is_file_target(t)]
        problems: list[Problem] = []
        checked = 0
        what = "files"
        for name in files:
            path = Path(name)
            if not path.is_file():
                raise UsageError(f"file {name} does not exist", hint="pass an existing file or a dataset id")
            problems += validate_file(path, registry)
            checked += 1
        if ids or not files:
            cat = Catalog.open(catalog)
            results = validate_many(
                cat, ids, registry=registry, environment=env, engine=settings.jsonnet_engine, processes=jobs
            )
            for dataset_id, found in results.items():
                problems += found
                checked += 1 if dataset_id else 0
            from bot.metadata.new_dataset import placeholder_problems

            for ds in [cat.dataset(i) for i in ids] if ids else cat.datasets():
                with contextlib.suppress(OSError, ValueError):  # an unreadable file is reported above
                    package = json.loads(ds.path("datapackage.json").read_text(encoding="utf-8"))
                    problems += placeholder_problems(ds.id, ds.rel("datapackage.json"), package)
            if data:
                from bot.convert.check import check_dataset_data

                for ds in [cat.dataset(i) for i in ids] if ids else cat.datasets():
                    problems += check_dataset_data(ds)
            what = "datasets" if not files else "datasets/files"
        print_problems(problems, checked, what, output)
        if has_errors(problems):
            raise typer.Exit(EXIT_PROBLEMS)

    schemas = typer.Typer(help="Inspect and extend the offline schema registry.", no_args_is_help=True)

    @schemas.command("where")
    def where(url: Annotated[str, typer.Argument(help="canonical schema URL")]) -> None:
        """Show where a schema URL is looked up offline and whether it is found."""
        registry = SchemaRegistry.from_settings(Settings.from_env())
        console = Console(highlight=False)
        console.print(f"url:         {normalize_url(url)}")
        console.print(f"mirror rule: {derive_mirror_path(url) or '(no rule for this host)'}")
        for path in registry.candidates(url):
            console.print(f"{'found' if path.is_file() else 'absent':<12} {path}")
        if not registry.has(url):
            raise typer.Exit(EXIT_PROBLEMS)

    @schemas.command("add")
    def add(
        url: Annotated[str, typer.Argument(help="canonical schema URL")],
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="the schema file (downloaded by you)")],
    ) -> None:
        """Put a schema file into the local cache under its URL (the bot never downloads)."""
        registry = SchemaRegistry.from_settings(Settings.from_env())
        dest = registry.add(url, file)
        Console(highlight=False).print(f"added {url} -> {dest}")

    app.add_typer(schemas, name="schemas")
