"""``catalog-bot step NAME --dataset ID``: run one pipeline step (the Argo container entry point).

Why a verb of its own: under Argo every DAG node is a pod that runs exactly
one step, reading the artifacts of earlier steps from the work folder
(``--work``, one sub-folder per step) and writing its own.  Locally it is the
tool to re-run or debug a single step after ``catalog-bot publish``: the
default work folder is the one ``publish`` used.
"""

from pathlib import Path
from typing import Annotated

import typer

from bot.errors import UsageError
from bot.logging import mask
from bot.pipeline.dag import step_names


def register(app: typer.Typer) -> None:
    """Add ``step`` to the CLI."""

    @app.command("step")
    def step_command(
        name: Annotated[str, typer.Argument(help=f"step name: {', '.join(step_names())}")],
        dataset: Annotated[str, typer.Option("--dataset", "-d", help="dataset id")],
        catalog: Annotated[Path, typer.Option("--catalog", "-C", help="catalog repository folder")] = Path("."),
        env: Annotated[str | None, typer.Option("--env", help="environment (default: the catalog's, local)")] = None,
        work: Annotated[
            Path | None,
            typer.Option("--work", help="work folder (default: <output>/.catalog-bot/work/<dataset>, as publish uses)"),
        ] = None,
        datasets_from: Annotated[
            Path | None,
            typer.Option(
                "--datasets-from",
                help="checkout of the data commit: its datasets/ replaces the catalog's, nothing else of it is read "
                "(how Argo pods run a PR's data with the default branch's configuration; docs/github.md)",
            ),
        ] = None,
        output: Annotated[
            Path | None, typer.Option("--output", help="output folder (default: the environment's, cwd-relative)")
        ] = None,
        data_refs: Annotated[
            bool,
            typer.Option(
                "--data-refs",
                help="pass data between steps as object-store keys, not files (how Argo runs steps; docs/publish.md)",
            ),
        ] = False,
        item: Annotated[
            str | None, typer.Option("--item", help="the fan-out item of convert-file (a plan-sources index)")
        ] = None,
    ) -> None:
        """Run one step of the publish pipeline for one dataset."""
        # Imported here: start-up is paid by every Argo pod, and --help needs none of this.  The
        # step's own module is imported by the executor when the step runs (bot.pipeline.steps is lazy).
        from bot.catalog.layout import DATASETS_DIR, Catalog
        from bot.config import Settings
        from bot.pipeline.context import RunContext
        from bot.pipeline.executor import run_single_step, work_dir

        if name not in step_names():  # the CLI registered the environment's secrets before this ran (bot.cli)
            raise UsageError(f"unknown step {name!r}", hint=f"steps: {', '.join(step_names())}")
        if datasets_from is not None:  # before anything reads the catalog
            from bot.adapters.git import overlay_checkout  # only pods of a pull request's data need git

            overlay_checkout(catalog, datasets_from, DATASETS_DIR)
        cat = Catalog.open(catalog)
        ds = cat.dataset(dataset)
        env_name = env or cat.config.default_environment
        run = RunContext.open(cat, env_name, Settings.from_env(), output=output)
        run.data_refs = data_refs
        run.item = item
        out = run.output
        result = run_single_step(run, ds, name, work=(work.resolve() if work else work_dir(out, ds.id)))
        message = f": {result.message}" if result.message else ""
        # one plain line for the pod log (rich would add ~20 ms of imports to every pod for no styling)
        print(mask(f"step {name} for {ds.id}: {result.status}{message} ({result.duration:.2f}s)"), flush=True)
