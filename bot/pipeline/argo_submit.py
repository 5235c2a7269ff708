"""The Argo engine: submit publishes from the WorkflowTemplate, wait, report.

Why separate from the renderer: rendering is pure and runs in CI and
``catalog-bot check``; submitting needs a server and a token.  Everything a
user can get wrong (unknown dataset, unknown parameter, missing token or
server) is rejected *before* the first request, so nothing half-submits.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bot.adapters.argo import ArgoClient, WorkflowStatus
from bot.catalog.layout import Catalog
from bot.config import CatalogConfig, Settings
from bot.errors import UsageError
from bot.pipeline.argo_render import (
    HARVEST_TEMPLATE,
    LABEL_PREFIX,
    PUBLISH_TEMPLATE,
    service_account_for,
    submit_parameters,
    unknown_parameters,
)


@dataclass(frozen=True)
class Run:
    """One submitted publish: what the GitHub bot links on the PR."""

    dataset: str
    run_id: str
    url: str
    status: str
    engine: str = "argo"

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return asdict(self)


def client_for(catalog: Catalog, env_name: str, settings: Settings) -> ArgoClient:
    """An Argo client for the environment; a clear error when server or token is missing."""
    return client_for_config(catalog.config, env_name, settings)


def client_for_config(config: CatalogConfig, env_name: str, settings: Settings) -> ArgoClient:
    """:func:`client_for` from a configuration alone (the GitHub bot's, read from the default branch)."""
    env = config.environment(env_name)
    url = env.argo.url or settings.argo_server
    if not url:
        raise UsageError(
            f"environment {env_name!r} has no Argo server",
            hint="set environments.<env>.argo.url in catalog-bot.yaml or ARGO_SERVER",
        )
    if settings.argo_token is None:
        raise UsageError(
            "ARGO_TOKEN is not set", hint="export ARGO_TOKEN with a service-account token for the Argo Server"
        )
    return ArgoClient(
        url,
        token=settings.argo_token.get_secret_value(),
        namespace=env.argo.namespace,
        verify_tls=env.argo.verify_tls,
    )


def submit(
    catalog: Catalog,
    dataset_ids: Sequence[str],
    *,
    env_name: str,
    settings: Settings,
    sha: str,
    config_sha: str | None = None,
    pr: int | str | None = None,
    repository: str | None = None,
    extra_parameters: dict[str, str] | None = None,
    client: ArgoClient | None = None,
    wait: bool = False,
    on_update: Callable[[str, WorkflowStatus], None] | None = None,
    workflow: str = "publish",
) -> list[Run]:
    """Submit one workflow per dataset from ``catalog-bot-publish`` (or ``catalog-bot-harvest``).

    All datasets and parameters are checked first; then each dataset gets
    its own workflow (the per-dataset mutex in the template serialises two
    publishes of the same dataset).  ``sha`` is the commit whose datasets
    are published, ``config_sha`` the trusted (default-branch) commit every
    pod takes everything else from (``None``: ``sha`` itself).
    """
    if extra_parameters:
        bad = unknown_parameters(extra_parameters)
        if bad:
            raise UsageError(
                f"unknown workflow parameter(s): {', '.join(bad)}",
                hint="the templates take dataset, sha, config-sha, environment, pr, repository",
            )
    templates = {"publish": PUBLISH_TEMPLATE, "harvest": HARVEST_TEMPLATE}
    if workflow not in templates:
        raise UsageError(f"unknown workflow {workflow!r}", hint="use publish or harvest")
    if not dataset_ids:
        raise UsageError(f"no dataset to {workflow}", hint="name datasets or pass --all")
    datasets = [catalog.dataset(d) for d in dataset_ids]  # raises on unknown ids
    pipelines = {d.id: d.pipeline() for d in datasets}
    env = catalog.config.environment(env_name)
    repo = repository or settings.github_repository or ""
    client = client or client_for(catalog, env_name, settings)
    runs = []
    for dataset in datasets:
        params = submit_parameters(dataset.id, sha, env_name, pr, repo, config_sha)
        labels = {f"{LABEL_PREFIX}/dataset": dataset.id, f"{LABEL_PREFIX}/sha": sha[:63]}
        if pr:
            labels[f"{LABEL_PREFIX}/pr"] = str(pr)
        wf = client.submit(
            templates[workflow],
            params,
            labels=labels,
            service_account=service_account_for(pipelines[dataset.id], env),
            generate_name=f"{workflow}-{dataset.id}-"[:50],
        )
        if wait:
            wf = client.wait(wf.name, on_update=functools.partial(on_update, dataset.id) if on_update else None)
        runs.append(Run(dataset.id, wf.name, client.ui_link(wf.name, env.argo.ui_url), wf.phase))
    return runs


def failure_report(status: str, failures: str, workflow: str, ui_link: str) -> str:
    """Markdown for the exit handler: which step failed, its message, and the log link.

    ``failures`` is Argo's ``{{workflow.failures}}`` JSON (a list of
    ``{displayName, message, templateName, phase, podName}``); anything
    unparseable is shown as text rather than dropped.
    """
    lines = [f"**Argo workflow [{workflow}]({ui_link})**: {status}"]
    if status == "Succeeded":
        return lines[0]
    try:
        items: list[dict[str, Any]] = json.loads(failures) if failures and failures != "null" else []
    except ValueError:
        items = [{"displayName": "?", "message": failures}]
    for item in items:
        name = item.get("displayName") or item.get("templateName") or "?"
        message = (item.get("message") or "").strip() or "no message"
        pod = item.get("podName")
        log = f" ([logs]({ui_link}?nodeId={pod}&tab=logs))" if pod else ""
        lines.append(f"- step `{name}` failed: {message}{log}")
    return "\n".join(lines)
