"""``catalog-bot argo render|lint|status|stop|report|reconcile``: the Argo engine from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from bot.adapters.argo import WorkflowStatus, workflow_url
from bot.catalog.layout import Catalog
from bot.config import Settings
from bot.errors import EXIT_PROBLEMS, AuthError, Severity, UsageError
from bot.pipeline.argo_lint import find_argo_schema, lint_path
from bot.pipeline.argo_render import render_all, to_yaml
from bot.pipeline.argo_submit import client_for, failure_report

argo_app = typer.Typer(help="Argo Workflows: render manifests, lint them, follow and stop runs.", no_args_is_help=True)
console = Console(highlight=False, soft_wrap=True, markup=False)


def print_status(status: WorkflowStatus, link: str | None = None) -> None:
    """A per-node table of a workflow (used by status and publish --wait)."""
    table = Table(title=f"{status.name}: {status.phase}" + (f"  {link}" if link else ""))
    for col in ("step", "phase", "message"):
        table.add_column(col)
    for node in status.nodes:
        if node.type == "Pod":
            table.add_row(node.display_name, node.phase, node.message)
    console.print(table)


@argo_app.command("render")
def render(
    out: Path = typer.Option(..., "--out", help="folder for the manifests (the flux path)"),
    catalog: Path = typer.Option(Path("."), "--catalog", "-C", help="catalog repository"),
    env: str | None = typer.Option(
        None, "--env", help="environment whose Argo settings to use (default: the catalog's default_environment)"
    ),
    repository: str = typer.Option("", "--repository", help="owner/name of the catalog repository"),
) -> None:
    """Write the WorkflowTemplates and one CronWorkflow per scheduled dataset."""
    cat = Catalog.open(catalog)
    manifests = render_all(
        cat, env or cat.config.default_environment, repository or Settings.from_env().github_repository or ""
    )
    out.mkdir(parents=True, exist_ok=True)
    stale = {p.name for p in out.glob("*.yaml")} - set(manifests)
    for name, manifest in manifests.items():
        tmp = out / f".{name}.tmp"
        tmp.write_text(to_yaml(manifest), encoding="utf-8")
        tmp.replace(out / name)
    for name in sorted(stale):
        if name.startswith("cron-"):  # a dataset lost its schedule: flux prunes it
            (out / name).unlink()
    console.print(f"wrote {len(manifests)} manifests to {out}")


@argo_app.command("lint")
def lint(path: Path = typer.Argument(..., help="manifest file or folder")) -> None:
    """Validate manifests offline against the Argo CRD JSON schema (strict: unknown fields fail)."""
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    schema = find_argo_schema(Settings.from_env().schemas_dir)
    problems = lint_path(path, schema)
    for problem in problems:
        console.print(problem.format(), markup=False, highlight=False)
    if any(p.severity == Severity.ERROR for p in problems):
        raise typer.Exit(EXIT_PROBLEMS)
    console.print(f"{path}: ok")


@argo_app.command("status")
def status(
    name: str = typer.Argument(..., help="workflow name"),
    catalog: Path = typer.Option(Path("."), "--catalog", "-C", help="catalog repository"),
    env: str = typer.Option("prod", "--env"),
) -> None:
    """Show a workflow's phase and per-step progress."""
    cat = Catalog.open(catalog)
    client = client_for(cat, env, Settings.from_env())
    wf = client.get(name)
    print_status(wf, client.ui_link(name, cat.config.environment(env).argo.ui_url))
    if wf.phase in {"Failed", "Error"}:
        raise typer.Exit(EXIT_PROBLEMS)


@argo_app.command("stop")
def stop(
    name: str = typer.Argument(..., help="workflow name"),
    catalog: Path = typer.Option(Path("."), "--catalog", "-C", help="catalog repository"),
    env: str = typer.Option("prod", "--env"),
) -> None:
    """Stop a running workflow (exit handlers still report to GitHub)."""
    cat = Catalog.open(catalog)
    wf = client_for(cat, env, Settings.from_env()).stop(name)
    console.print(f"{wf.name}: {wf.phase}")


@argo_app.command("report")
def report(
    workflow: str = typer.Option(..., "--workflow"),
    status_: str = typer.Option(..., "--status"),
    failures: str = typer.Option("", "--failures"),
    dataset: str = typer.Option(..., "--dataset"),
    sha: str = typer.Option(..., "--sha"),
    pr: str = typer.Option("", "--pr"),
    repository: str = typer.Option("", "--repository"),
    namespace: str = typer.Option("argo", "--namespace", help="the workflow's namespace (for the UI link)"),
    ui_url: str = typer.Option("", "--ui-url", help="Argo UI base URL for links"),
) -> None:
    """Exit handler: report the final status to GitHub (commit status + PR comment).

    Fails (non-zero, so Argo retries and the run shows the error) when the
    credentials are missing: printing the report instead would leave the
    commit status ``pending`` forever with nobody told.
    """
    settings = Settings.from_env()
    link = workflow_url(ui_url, namespace, workflow) if ui_url else None
    body = failure_report(status_, failures, workflow, link or workflow)
    repo_name = repository or settings.github_repository
    if not repo_name:
        raise UsageError("no repository to report to", hint="pass --repository owner/name or set GITHUB_REPOSITORY")
    if settings.github_token is None:
        raise AuthError(
            "GitHub",
            f"no GITHUB_TOKEN in the exit handler of {workflow}: cannot report {status_} of {dataset}",
            hint="give the key 'token' in the secret catalog-bot-github (mounted as GITHUB_TOKEN)",
        )
    from bot.events.argo_report import report_run  # GitHub access only when posting

    report_run(
        settings, repo_name, sha=sha, pr=int(pr) if pr else None, dataset=dataset, state=status_, body=body, url=link
    )
    console.print(json.dumps({"reported": workflow, "status": status_, "url": link}))


@argo_app.command("reconcile")
def reconcile(
    sha: str | None = typer.Option(None, "--sha", help="commit whose pending publish statuses to check"),
    recent: int = typer.Option(
        20, "--recent", min=1, max=500, help="without --sha: check the last N commits of the checked-out branch"
    ),
    catalog: Path = typer.Option(Path("."), "--catalog", "-C", help="catalog repository"),
    env: str | None = typer.Option(
        None, "--env", help="environment merges publish to (default: the catalog's default_environment)"
    ),
    repository: str = typer.Option("", "--repository"),
) -> None:
    """Finish commit statuses left ``pending`` by workflows that ended without their exit handler.

    A workflow deleted mid-run never runs ``onExit``; its status would stay
    ``pending`` (a required check blocked forever).  Each pending
    ``catalog-bot/publish/<dataset>`` status names its workflow in its link:
    gone -> ``error``, finished -> its real outcome, still running -> left alone.
    Without ``--sha`` the last ``--recent`` commits of the checkout are
    checked, which is what the scheduled workflow (``catalog-bot-reconcile.yml``)
    runs; an environment on the local engine has nothing to reconcile (exit 0).
    """
    from bot.adapters.git import GitRepo

    settings = Settings.from_env()
    cat = Catalog.open(catalog)
    env = env or cat.config.default_environment
    if cat.config.environment(env).engine != "argo":
        console.print(json.dumps({"reconciled": [], "note": f"environment {env!r} does not use engine argo"}))
        return
    shas = [sha] if sha else GitRepo(catalog).recent_commits(recent)
    if not shas:
        raise UsageError(f"{catalog} has no commits to check", hint="run it in a checkout of the default branch")
    client = client_for(cat, env, settings)
    from bot.adapters.github import GitHub
    from bot.events.publisher import reconcile_statuses

    gh = GitHub.connect(settings, repository or settings.github_repository or "")
    changed = [{"sha": s, **c} for s in shas for c in reconcile_statuses(gh, client, s)]
    console.print(json.dumps({"reconciled": changed, "commits": len(shas)}))


def register(app: typer.Typer) -> None:
    """Add the ``argo`` verb group."""
    app.add_typer(argo_app, name="argo")
