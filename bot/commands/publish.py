"""``catalog-bot publish``: run the publish pipeline for datasets of a catalog.

Thin by design: options -> :class:`~bot.pipeline.context.RunContext` ->
:func:`bot.pipeline.executor.publish` (or the Argo submitter) -> a progress
display, a summary table and an exit code.  Output goes to ``--output`` or
the environment's ``output`` folder, relative to the current directory (not
to the catalog: publishing the template catalog inside this repository must
not write into it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.catalog.layout import Catalog, Dataset
from bot.config import Settings, ensure_s3_credentials
from bot.errors import EXIT_PROBLEMS, UsageError
from bot.logging import mask, register_env_secrets
from bot.pipeline.context import RunContext
from bot.pipeline.executor import DatasetOutcome, PublishReport, StepRun, plan, publish

if TYPE_CHECKING:
    from rich.progress import Progress

console = Console(highlight=False, soft_wrap=True)
if not console.is_terminal:  # CI logs: do not squeeze the summary table into 80 columns
    console = Console(highlight=False, soft_wrap=True, width=160)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def select_datasets(catalog: Catalog, ids: list[str], all_: bool, env_name: str | None = None) -> list[Dataset]:
    """The datasets named on the command line, or all of them with ``--all``.

    A dataset whose ``pipeline.yaml`` lists ``environments`` without
    ``env_name`` is left out of ``--all`` with a notice (its source is not
    reachable from there, e.g. it lives on the dev services); naming it is an
    error with the fix.
    """
    if ids and all_:
        raise UsageError("give dataset ids or --all, not both")
    if not ids and not all_:
        raise UsageError("no dataset selected", hint="name datasets (catalog-bot publish ID ...) or pass --all")
    datasets = catalog.select(ids) if ids else catalog.datasets()
    if not datasets:
        raise UsageError(f"catalog {catalog.root} has no datasets", hint="add a folder under datasets/")
    if env_name is None:
        return datasets
    chosen = []
    for dataset in datasets:
        spec = dataset.pipeline() if dataset.path("pipeline.yaml").is_file() else None
        if spec is None or spec.published_in(env_name):
            chosen.append(dataset)
            continue
        only = spec.environments or []
        where = ", ".join(only)
        if ids:
            raise UsageError(
                f"{dataset.id} is published only in {where} ({dataset.rel('pipeline.yaml')} environments)",
                hint=f"publish it with --env {only[0]}, or add {env_name} to environments in its pipeline.yaml",
            )
        err_console.print(f"skipped {dataset.id}: published only in {where} (pipeline.yaml environments)")
    if not chosen:
        raise UsageError(f"no dataset of {catalog.root} is published in {env_name}", hint="choose another --env")
    return chosen


class RichReporter:
    """Progress on stderr, fed by the executor's callbacks: one overall bar, one bar per running dataset.

    Why finished datasets leave the display: rich re-renders every visible
    bar on each refresh, so keeping all of them made a publish of N datasets
    cost O(N^2) in drawing alone (13 s of a 20 s no-change re-run of 102
    datasets, #16).  What happened to each dataset is in the summary table.
    """

    def __init__(self, progress: Progress, datasets: int) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self.overall = progress.add_task("datasets", total=datasets, step="")

    def dataset_started(self, dataset: str, steps: int) -> None:
        """Add a bar for the dataset."""
        self.tasks[dataset] = self.progress.add_task(dataset, total=steps, step="")

    def step_started(self, dataset: str, step: str) -> None:
        """Show the current step."""
        self.progress.update(self.tasks[dataset], step=step)

    def step_finished(self, dataset: str, run: StepRun) -> None:
        """Advance the bar."""
        self.progress.advance(self.tasks[dataset])

    def dataset_finished(self, outcome: DatasetOutcome) -> None:
        """Drop the dataset's bar; the overall bar counts it under its status."""
        self.progress.remove_task(self.tasks.pop(outcome.dataset))
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        colours = {"published": "green", "unchanged": "cyan", "failed": "red", "superseded": "yellow"}
        summary = ", ".join(f"[{colours[k]}]{n} {k}[/{colours[k]}]" for k, n in sorted(self.counts.items()))
        self.progress.update(self.overall, advance=1, step=summary)


def _fmt_bytes(value: Any) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)  # pragma: no cover


def _fmt_bbox(value: Any) -> str:
    if not value:
        return "-"
    return "[" + ", ".join(f"{float(v):.2f}" for v in value) + "]"


def _fmt_time(metrics: dict[str, Any]) -> str:
    start, end = metrics.get("start"), metrics.get("end")
    if not start and not end:
        return "-"
    return f"{str(start or '..')[:10]} .. {str(end or '..')[:10]}"


def summary_table(report: PublishReport) -> Table:
    """One row per dataset: status, rows/cells, bbox, time range, bytes, duration, steps that did work."""
    table = Table(title="publish summary", title_justify="left")
    for name, justify in (
        ("dataset", "left"),
        ("status", "left"),
        ("rows/cells", "right"),
        ("bbox", "left"),
        ("time range", "left"),
        ("bytes", "right"),
        ("duration", "right"),
        ("steps ran", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    colours = {"published": "green", "unchanged": "cyan", "failed": "red", "superseded": "yellow"}
    for o in report.outcomes:
        m = o.metrics
        count = m.get("rows") if m.get("rows") is not None else m.get("cells")
        table.add_row(
            o.dataset,
            f"[{colours[o.status]}]{o.status}[/]",
            f"{count:,}" if isinstance(count, int) else "-",
            _fmt_bbox(m.get("bbox")),
            _fmt_time(m),
            _fmt_bytes(m.get("bytes")),
            f"{o.duration:.2f}s",
            f"{o.ran}/{len(o.steps)}",
        )
    return table


def print_report(report: PublishReport, run: RunContext) -> None:
    """Summary table, errors per failed dataset, and where the published catalog is."""
    console.print(summary_table(report))
    for o in report.failed:
        console.print(f"[red]error:[/] {escape(mask(str(o.error)))}")
    if report.finish_error is not None:
        console.print(f"[red]error:[/] pygeoapi: {escape(mask(str(report.finish_error)))}")
    if not report.did_work and not report.failed:
        console.print(f"nothing changed: all {len(report.outcomes)} datasets are up to date, no step ran")
    env = run.env
    if env.object_store.kind == "local":
        console.print(f"data:      {run.output / env.object_store.root}")
    else:
        console.print(f"data:      s3://{env.object_store.public_bucket}/{env.object_store.prefix}")
    if env.stac.kind == "static":
        console.print(f"STAC:      {run.output / env.stac.root / 'catalog.json'}")
    else:
        console.print(f"STAC:      {escape(mask(str(env.stac.url)))}")
    if env.pygeoapi.kind == "config":
        console.print(f"pygeoapi:  {run.output / env.pygeoapi.root / 'config-pygeoapi.yaml'}")
    else:
        console.print(f"pygeoapi:  {escape(mask(str(env.pygeoapi.url)))}")
    console.print(f"finished in {report.duration:.2f}s")


def _submit_argo(catalog: Catalog, datasets: list[Dataset], env_name: str, settings: Settings, sha: str | None) -> None:
    try:
        from bot.pipeline import argo_submit
    except ImportError:
        raise UsageError("the Argo engine is not available in this build", hint="use --engine local") from None
    if not hasattr(argo_submit, "submit"):
        raise UsageError("the Argo engine is not available in this build", hint="use --engine local")
    if not sha:
        raise UsageError(
            "--engine argo needs the catalog commit", hint="pass --sha COMMIT (the commit Argo checks out)"
        )
    runs = argo_submit.submit(catalog, [d.id for d in datasets], env_name=env_name, settings=settings, sha=sha)
    for r in runs:
        console.print(f"{r.dataset}: submitted {r.run_id} ({r.status}) {r.url}")


def register(app: typer.Typer) -> None:
    """Add ``publish`` to the CLI."""

    @app.command("publish")
    def publish_command(
        datasets: Annotated[list[str] | None, typer.Argument(help="dataset ids (or --all)", show_default=False)] = None,
        all_: Annotated[bool, typer.Option("--all", help="publish every dataset of the catalog")] = False,
        catalog: Annotated[Path, typer.Option("--catalog", "-C", help="catalog repository folder")] = Path("."),
        env: Annotated[str | None, typer.Option("--env", help="environment (default: the catalog's, local)")] = None,
        engine: Annotated[str | None, typer.Option("--engine", help="local (in-process) or argo")] = None,
        output: Annotated[
            Path | None, typer.Option("--output", help="output folder (default: the environment's, cwd-relative)")
        ] = None,
        jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=64, help="datasets published in parallel")] = 1,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="print the plan only")] = False,
        force: Annotated[bool, typer.Option("--force", help="re-run every step even when up to date")] = False,
        sha: Annotated[str | None, typer.Option("--sha", help="catalog commit (Argo engine)")] = None,
    ) -> None:
        """Convert, describe and publish datasets (ARCO data, Frictionless, STAC, pygeoapi)."""
        register_env_secrets()
        settings = Settings.from_env()
        cat = Catalog.open(catalog)
        env_name = env or cat.config.default_environment
        env_cfg = cat.config.environment(env_name)
        loaded = None if dry_run or (engine or env_cfg.engine) != "local" else ensure_s3_credentials(env_name, env_cfg)
        if loaded is not None:
            err_console.print(f"loaded S3 credentials of the dev services from {loaded}")
            register_env_secrets()
            cat = Catalog.open(catalog)  # ${CATALOG_BOT_DEV_*} in catalog-bot.yaml now expand to the loaded values
            env_cfg = cat.config.environment(env_name)
        selected = select_datasets(cat, list(datasets or []), all_, env_name)
        chosen_engine = engine or env_cfg.engine
        if chosen_engine not in {"local", "argo"}:
            raise UsageError(f"unknown engine {chosen_engine!r}", hint="use --engine local or --engine argo")
        if chosen_engine == "argo":
            if dry_run:
                for d in selected:
                    console.print(f"would submit a publish workflow for {d.id} ({env_name})")
                return
            _submit_argo(cat, selected, env_name, settings, sha)
            return
        run = RunContext.open(cat, env_name, settings, output=output, jobs=jobs)
        if dry_run:
            table = Table(title=f"plan ({env_name} -> {run.output})", title_justify="left")
            for col in ("dataset", "step", "action", "why"):
                table.add_column(col)
            rows = plan(run, selected, force=force)
            for row in rows:
                colour = "yellow" if row.action == "run" else "dim"
                table.add_row(row.dataset, row.step, f"[{colour}]{row.action}[/]", escape(row.reason))
            console.print(table)
            runs = sum(1 for r in rows if r.action == "run")
            console.print(f"{runs} of {len(rows)} steps would run; nothing was written")
            return
        if not err_console.is_terminal:  # CI logs and Argo pods get the summary table; bars there are waste
            report = publish(run, selected, jobs=jobs, force=force)
        else:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description:<28}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[step]}"),
                TimeElapsedColumn(),
                console=err_console,
                transient=False,
            ) as progress:
                report = publish(run, selected, jobs=jobs, force=force, reporter=RichReporter(progress, len(selected)))
        print_report(report, run)
        if report.failed or report.finish_error is not None:
            raise typer.Exit(EXIT_PROBLEMS)
