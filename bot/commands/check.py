"""``catalog-bot check``: render, validate and diff what a branch changes; print the publish plan.

Thin by design: arguments -> :func:`bot.catalog.check.run_check` -> one of the
report renderers.  Exit 0 = clean, 1 = problems, 2 = usage/internal error
(raised as :class:`bot.errors.UsageError` and mapped in :mod:`bot.cli`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from bot.errors import CatalogError, UsageError
from bot.logging import mask, register_secret

if TYPE_CHECKING:  # the check machinery (git, render, diff -> deepdiff, pandas) loads only when the verb runs
    from bot.catalog.report import Report
    from bot.config import Settings

WORKTREE = "WORKTREE"  # bot.adapters.git.WORKTREE (checked equal by tests/test_cli_startup.py)

Format = Literal["text", "markdown", "json"]


def register(app: typer.Typer) -> None:
    """Add the ``check`` verb."""

    @app.command("check")
    def check(
        path: Annotated[
            Path | None, typer.Argument(help="catalog folder (default: --catalog or the current folder)")
        ] = None,
        catalog: Annotated[
            Path | None, typer.Option("--catalog", "-C", help="catalog folder (inside a git repository)")
        ] = None,
        base: Annotated[
            str | None,
            typer.Option("--base", "-b", help="base branch/commit (default: default_branch of catalog-bot.yaml)"),
        ] = None,
        head: Annotated[
            str, typer.Option("--head", help=f"head commit/branch; {WORKTREE} = the files on disk incl. uncommitted")
        ] = WORKTREE,
        env: Annotated[str, typer.Option("--env", "-e", help="environment whose ext vars are used")] = "local",
        fmt: Annotated[str, typer.Option("--format", "-f", help="text | markdown | json")] = "text",
        all_datasets: Annotated[bool, typer.Option("--all", help="check every dataset, not only touched ones")] = False,
        dataset: Annotated[
            list[str] | None, typer.Option("--dataset", "-d", help="also check this dataset (repeatable)")
        ] = None,
        max_chars: Annotated[int, typer.Option("--max-chars", help="markdown: split bodies above this size")] = 65000,
    ) -> None:
        """Show which datasets a change touches, their problems, diffs and the publish plan."""
        if fmt not in ("text", "markdown", "json"):
            raise UsageError(f"unknown --format {fmt!r}", hint="use text, markdown or json")
        if path is not None and catalog is not None and path.resolve() != catalog.resolve():
            raise UsageError("give the catalog folder either as argument or as --catalog, not both")
        from bot.config import Settings

        root = path or catalog or Path.cwd()
        settings = Settings.from_env()
        for secret in settings.secrets():
            register_secret(secret)
        base_ref = base or _default_base(root)
        err = Console(stderr=True, highlight=False)
        report = _run_with_progress(root, base_ref, head, settings, env, all_datasets, dataset or [], err)
        emit(report, fmt, settings, max_chars=max_chars)  # type: ignore[arg-type]
        raise typer.Exit(report.exit_code)


def _default_base(root: Path) -> str:
    """The catalog's default branch (from catalog-bot.yaml on disk), else ``main``."""
    from bot.config import load_catalog_config

    try:
        return load_catalog_config(Path(root)).default_branch
    except CatalogError:
        return "main"


def _run_with_progress(
    root: Path,
    base: str,
    head: str,
    settings: Settings,
    env: str,
    all_datasets: bool,
    datasets: list[str],
    err: Console,
) -> Report:
    """Run the check; a progress bar on stderr when it is a terminal (long runs: ``--all``)."""
    from bot.adapters.git import GitRepo
    from bot.catalog.check import run_check

    repo, shown = GitRepo(root), str(root)
    if not err.is_terminal:
        return run_check(repo, base, head, settings, env, all_datasets=all_datasets, datasets=datasets, label=shown)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("rendering", total=None)

        def progress(label: str, done: int, total: int) -> None:
            bar.update(task, description=f"rendering {label}", completed=done, total=total)

        return run_check(
            repo,
            base,
            head,
            settings,
            env,
            all_datasets=all_datasets,
            datasets=datasets,
            progress=progress,
            label=shown,
        )


def emit(report: Report, fmt: Format, settings: Settings, *, max_chars: int = 65000) -> None:
    """Print the report in ``fmt``; under GitHub Actions also annotations and the job summary."""
    from bot.catalog.report import write_step_summary

    if fmt == "json":
        sys.stdout.write(report.to_json() + "\n")
    elif fmt == "markdown":
        bodies = report.to_markdown(max_chars=max_chars)
        sys.stdout.write("\n".join(bodies))
    else:
        report.to_text(Console(highlight=False, soft_wrap=True))
    if settings.github_actions:
        # The runner reads workflow commands from stdout and stderr; keep JSON on stdout parseable.
        stream = sys.stderr if fmt == "json" else sys.stdout
        for line in report.workflow_commands():
            stream.write(mask(line) + "\n")
        if settings.step_summary:
            write_step_summary(settings.step_summary, "\n".join(report.to_markdown(max_chars=1_000_000)))
    sys.stdout.flush()
