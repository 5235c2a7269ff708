"""``catalog-bot harvest``: updater mode (datasets with a metadata source) and creator mode (--new)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from bot.errors import EXIT_PROBLEMS, UsageError

console = Console(highlight=False, soft_wrap=True, markup=False)
err_console = Console(highlight=False, soft_wrap=True, markup=False, stderr=True)


def _ids(new: str | None, new_file: Path | None) -> list[str]:
    ids: list[str] = []
    if new:
        ids += [x.strip() for x in new.split(",") if x.strip()]
    if new_file:
        ids += [
            x.strip() for x in new_file.read_text(encoding="utf-8").splitlines() if x.strip() and not x.startswith("#")
        ]
    return ids


def _preview(location: str, record_id: str | None, *, as_json: bool, timeout: float) -> None:
    """Print what a harvest would set from one record, so a curator can judge the mapping first."""
    from bot.adapters.csw import MetadataSource
    from bot.metadata.iso19115 import parse_record, record_to_datapackage_fields

    if location.startswith(("http://", "https://")):
        data = MetadataSource(location, timeout=timeout).get_url()
    else:
        path = Path(location)
        if not path.is_file():
            raise UsageError(f"{location}: no such file", hint="pass an ISO 19139 / 19115-3 XML file or an http(s) URL")
        data = path.read_bytes()
    record = parse_record(data, source=location, record_id=record_id)
    fields = record_to_datapackage_fields(record)
    for warning in record.warnings:
        err_console.print(f"{location}: warning: {warning}")
    if as_json:
        sys.stdout.write(json.dumps(fields, indent=2, ensure_ascii=False) + "\n")
        return
    console.print(f"{location}: {record.standard} record {record.file_identifier or '(no identifier)'}")
    for key, value in fields.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        console.print(f"  {key}: {shown}")


def register(app: typer.Typer) -> None:
    """Add the ``harvest`` verb."""

    @app.command("harvest")
    def harvest(
        datasets: list[str] = typer.Argument(None, help="datasets to harvest (default: all with a metadata source)"),
        catalog: Path = typer.Option(Path("."), "--catalog", "-C", help="catalog repository"),
        new: str = typer.Option(
            None, "--new", help="creator mode: comma-separated record ids to open dataset issues for"
        ),
        new_file: Path = typer.Option(None, "--new-file", help="creator mode: a file with one record id per line"),
        query: str = typer.Option(None, "--query", help="creator mode: a CSW full-text query selecting the records"),
        csw: str = typer.Option(None, "--csw", help="creator mode: the CSW endpoint"),
        repo: str = typer.Option(None, "--repo", help="owner/name on GitHub (default: GITHUB_REPOSITORY)"),
        dry_run: bool = typer.Option(False, "--dry-run", help="harvest and compare; write nothing to GitHub"),
        concurrency: int = typer.Option(8, "--concurrency", min=1, max=64, help="records fetched at once"),
        timeout: float = typer.Option(10.0, "--timeout", help="seconds per CSW request"),
        record: str = typer.Option(
            None, "--record", help="preview: map one ISO record (a file or an http(s) URL); writes nothing"
        ),
        record_id: str = typer.Option(
            None, "--record-id", help="preview: the record to pick when the document holds several"
        ),
        as_json: bool = typer.Option(False, "--json", help="preview: print the mapped datapackage fields as JSON"),
    ) -> None:
        """Harvest ISO 19115 records; open dataset issues (creator) or update PRs (updater)."""
        if record:
            _preview(record, record_id, as_json=as_json, timeout=timeout)
            return
        # Imported here: the harvest machinery (CSW, ISO parsing, diff) loads only when the verb runs.
        from bot.adapters.csw import MetadataSource
        from bot.adapters.notify import notify
        from bot.catalog.layout import Catalog
        from bot.config import Settings
        from bot.pipeline.harvest import create_dataset_issues, harvest_all, propose_updates

        settings = Settings.from_env()
        github = None
        if not dry_run:
            from bot.adapters.github import GitHub

            github = GitHub.connect(settings, repo)
        if new or new_file or query:
            if not csw:
                raise UsageError("creator mode needs --csw URL", hint="pass the CSW endpoint the record ids come from")
            source = MetadataSource(csw, timeout=timeout)
            ids = _ids(new, new_file) + (source.search(query) if query else [])
            if github is None:
                for record_id in ids:
                    console.print(f"would open a dataset issue for record {record_id}")
                return
            actions = create_dataset_issues(ids, source, github, concurrency=concurrency)
            for a in actions:
                console.print(f"{a.dataset}: {a.action} {a.url or ''}")
            created = [a for a in actions if a.action == "issue-created"]
            if created and settings.slack_webhook_url:
                notify(
                    settings.slack_webhook_url.get_secret_value(), f"catalog-bot: {len(created)} new dataset issue(s)"
                )
            if any(a.action.startswith("error") for a in actions):
                raise typer.Exit(EXIT_PROBLEMS)
            return

        cat = Catalog.open(catalog)
        chosen = cat.select(datasets) if datasets else [d for d in cat.datasets() if d.pipeline().metadata_source]
        sources: dict[str, MetadataSource] = {}
        outcomes = harvest_all(
            cat,
            chosen,
            lambda url: sources.setdefault(url, MetadataSource(url, timeout=timeout)),
            concurrency=concurrency,
        )
        table = Table(title="harvest")
        for col in ("dataset", "status", "changes", "extents"):
            table.add_column(col)
        for o in outcomes:
            table.add_row(o.dataset, o.status, o.error or str(len(o.changes)), o.extent_source or "")
        console.print(table)
        if github is not None:
            actions = propose_updates(outcomes, github)
            for a in actions:
                console.print(f"{a.dataset}: {a.action} {a.url or ''}")
            opened = [a for a in actions if a.action in ("pr-created", "pr-updated")]
            if opened and settings.slack_webhook_url:
                notify(
                    settings.slack_webhook_url.get_secret_value(), f"catalog-bot: {len(opened)} metadata update PR(s)"
                )
        if any(o.status == "error" for o in outcomes):
            raise typer.Exit(EXIT_PROBLEMS)
