"""Render the pipeline DAG as Argo Workflows manifests (pure: dicts in, dicts out).

Why rendered from :mod:`bot.pipeline.dag`: the local executor and Argo must
run the same steps with the same edges.  Each DAG step becomes one container
template that runs ``catalog-bot step NAME`` in the bot's image, so the code
that runs in a pod is exactly the code the local executor calls.

Manifests are plain dicts (hera-style ``to_dict``); nothing here talks to a
cluster -- :mod:`bot.adapters.argo` is the only network code.  Output is
deterministic (sorted keys when dumped) so golden files stay stable and flux
only sees real changes.

Artifacts carry references, not data: every step writes its outputs under
``/work/<step>``; that folder is the step's output artifact ``work`` (stored
in the cluster's S3 artifact repository) and a later step mounts the ``work``
artifact of each step it reads (:meth:`DAG.inputs`) at ``/work/<step>``.
Steps run with ``--data-refs``: the convert step puts the converted data in
the object store under a content-addressed key and its artifact holds only
that key, so downstream pods read Parquet footers / Zarr metadata by range
and the upload step copies server-side (see ``docs/publish.md``).  The
catalog itself comes in as a git artifact pinned to the commit SHA
parameter.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from bot.catalog.layout import Catalog, PipelineSpec
from bot.config import CatalogConfig, EnvironmentConfig
from bot.pipeline.dag import DAG, FANOUTS, HARVEST, PUBLISH, FanOut, Step

API_VERSION = "argoproj.io/v1alpha1"
PUBLISH_TEMPLATE = "catalog-bot-publish"
HARVEST_TEMPLATE = "catalog-bot-harvest"
WORK = "/work"
CATALOG_PATH = "/catalog"
DATA_PATH = "/catalog-data"  # the data commit's checkout: only its datasets/ is used (see the module docstring)
ACTIVE_DEADLINE_SECONDS = 6 * 3600
LABEL_PREFIX = "catalog-bot.io"

# Parameters every run takes; the submitter fills them, CronWorkflows fix them.
PARAMETERS: tuple[tuple[str, str | None, str], ...] = (
    ("dataset", None, "dataset id (folder name under datasets/)"),
    ("sha", None, "catalog commit SHA to publish"),
    ("config-sha", None, "trusted configuration commit (default branch): everything but datasets/ comes from it"),
    ("environment", "prod", "environment name in catalog-bot.yaml"),
    ("pr", "", "pull request number to report back to (empty: none)"),
    ("repository", "", "owner/name of the catalog repository on GitHub"),
)
PARAMETER_NAMES = tuple(p[0] for p in PARAMETERS)


def _param(name: str) -> str:
    return "{{workflow.parameters." + name + "}}"


def _labels(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "catalog-bot",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "catalog-bot",
    }


def _fanouts(dag: DAG) -> dict[str, FanOut]:
    """The Argo maps of ``dag``, by the step they feed (``convert``: plan-sources -> convert-file x N)."""
    return {name: fan for name, fan in FANOUTS.items() if name in dag.names()}


def _reads(dag: DAG, step: Step) -> list[str]:
    """The steps whose ``work`` artifact ``step`` mounts (a combining step also reads its planner's)."""
    if step.name not in dag.names():
        return list(step.reads or ())
    fan = _fanouts(dag).get(step.name)
    return dag.inputs(step.name) + ([fan.plan.name] if fan else [])


def _image(config: CatalogConfig) -> str:
    return f"{config.image.repository}:{config.image.tag}"


def _retry(step: Step) -> dict[str, Any] | None:
    """Network steps retry with exponential backoff; data steps do not (a rerun resumes)."""
    if not step.network:
        return None
    return {
        "limit": 4,
        "retryPolicy": "OnError",
        "backoff": {"duration": "15s", "factor": 2, "maxDuration": "15m", "cap": "5m"},
    }


def _data_artifact(git_url: str) -> dict[str, Any]:
    """The data commit (``sha``) at :data:`DATA_PATH`; ``catalog-bot step`` takes only its ``datasets/``.

    Why two checkouts: a pod must run the same overlay the GitHub bot builds
    (:meth:`bot.events.context.BotContext.trusted`).  The ``catalog``
    artifact is the trusted configuration commit ``config-sha`` (a commit
    of the default branch) at :data:`CATALOG_PATH`; this one is the data
    commit ``sha`` (a PR head for ``/catalog publish`` on a PR), and ``catalog-bot
    step --datasets-from`` copies only its ``datasets/`` into the catalog
    before anything is read -- so no pod reads a pull request's
    ``catalog-bot.yaml``, ``lib/`` or profiles.
    """
    return {
        "name": "catalog-data",
        "path": DATA_PATH,
        "git": {
            "repo": git_url,
            "revision": _param("sha"),
            "depth": 1,
            "usernameSecret": {"name": GITHUB_SECRET, "key": "username"},
            "passwordSecret": {"name": GITHUB_SECRET, "key": "token"},
        },
    }


def _container_template(
    dag: DAG, step: Step, config: CatalogConfig, env: EnvironmentConfig, fan: FanOut | None = None
) -> dict[str, Any]:
    """One step's pod; ``fan`` when ``step`` is that map's planner (outputs the items) or per-item step."""
    inputs = _reads(dag, step)
    git_url = env.argo.git_url or "https://github.com/" + _param("repository") + ".git"
    artifacts: list[dict[str, Any]] = [
        {
            "name": "catalog",
            "path": CATALOG_PATH,
            "git": {
                "repo": git_url,
                "revision": _param("config-sha"),
                "depth": 1,
                "usernameSecret": {"name": "catalog-bot-github", "key": "username"},
                "passwordSecret": {"name": "catalog-bot-github", "key": "token"},
            },
        },
        _data_artifact(git_url),
    ]
    artifacts += [{"name": f"work-{name}", "path": f"{WORK}/{name}"} for name in inputs]
    res = step.resources
    template: dict[str, Any] = {
        "name": step.name,
        "metadata": {"labels": {f"{LABEL_PREFIX}/step": step.name}},
        "inputs": {"artifacts": artifacts},
        # optional: a skipped step (``when``) writes nothing.
        "outputs": {
            "artifacts": [{"name": "work", "path": f"{WORK}/{step.name}", "archive": {"tar": {}}, "optional": True}]
        },
        "container": {
            "image": _image(config),
            "command": ["catalog-bot"],
            "args": [
                "step",
                step.name,
                "--dataset",
                _param("dataset"),
                "--env",
                _param("environment"),
                "--catalog",
                CATALOG_PATH,
                "--datasets-from",
                DATA_PATH,
                "--work",
                WORK,
                "--data-refs",
            ],
            "env": [
                {"name": "CATALOG_BOT_COMMIT", "value": _param("sha")},
                {"name": "CATALOG_BOT_RUN_ID", "value": "{{workflow.name}}"},
            ],
            "envFrom": [{"secretRef": {"name": "catalog-bot-env", "optional": True}}],
            "resources": {
                "requests": {"cpu": res.cpu, "memory": res.memory},
                "limits": {"cpu": res.cpu_limit, "memory": res.memory_limit},
            },
            "securityContext": {
                "runAsNonRoot": True,
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": False,
            },
        },
    }
    if fan is not None and step is fan.each:
        template["inputs"]["parameters"] = [{"name": "item"}]
        template["container"]["args"] += ["--item", "{{inputs.parameters.item}}"]
        del template["outputs"]  # its part goes to the object store; the combining step finds it by the plan
    if fan is not None and step is fan.plan:
        items = {"name": fan.param, "valueFrom": {"path": f"{WORK}/{step.name}/{fan.items_file}"}}
        template["outputs"]["parameters"] = [items]
    retry = _retry(step)
    if retry:
        template["retryStrategy"] = retry
    return template


GITHUB_SECRET = "catalog-bot-github"  # noqa: S105 (a Kubernetes secret name, not a secret)


def _secret_env(name: str, key: str, *, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": GITHUB_SECRET, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def _exit_handler(config: CatalogConfig, env: EnvironmentConfig) -> dict[str, Any]:
    """Reports the final status to GitHub (comment + commit status), always.

    Why explicit ``secretKeyRef`` env and not ``envFrom``: the secret's keys
    are named for the git artifact (``username``, ``token``), so ``envFrom``
    would expose the token as ``$token`` while the bot reads ``GITHUB_TOKEN``
    -- the handler would find no credentials.  ``api_url`` (optional) points
    the bot at GitHub Enterprise Server.  Links are built from the Argo UI
    URL (or the server URL, which serves the UI) + namespace + workflow name.
    """
    ui_url = env.argo.ui_url or env.argo.url or ""
    return {
        "name": "report-status",
        "container": {
            "image": _image(config),
            "command": ["catalog-bot"],
            "args": [
                "argo",
                "report",
                "--workflow",
                "{{workflow.name}}",
                "--namespace",
                "{{workflow.namespace}}",
                "--status",
                "{{workflow.status}}",
                "--failures",
                "{{workflow.failures}}",
                "--dataset",
                _param("dataset"),
                "--sha",
                _param("sha"),
                "--pr",
                _param("pr"),
                "--repository",
                _param("repository"),
                "--ui-url",
                ui_url,
            ],
            "env": [
                _secret_env("GITHUB_TOKEN", "token"),
                _secret_env("GITHUB_API_URL", "api_url", optional=True),
            ],
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "250m", "memory": "256Mi"}},
        },
        "retryStrategy": {"limit": 3, "retryPolicy": "Always", "backoff": {"duration": "10s", "factor": 2}},
    }


def _task(dag: DAG, step: Step, depends: list[str]) -> dict[str, Any]:
    task: dict[str, Any] = {"name": step.name, "template": step.name}
    if depends:
        task["dependencies"] = depends
    inputs = _reads(dag, step)
    if inputs:
        task["arguments"] = {
            "artifacts": [
                {"name": f"work-{name}", "from": "{{tasks." + name + ".outputs.artifacts.work}}"} for name in inputs
            ]
        }
    return task


def _dag_template(dag: DAG) -> dict[str, Any]:
    """The DAG; a fanned-out step is preceded by its planner and one task per planned item (``withParam``)."""
    tasks = []
    fans = _fanouts(dag)
    for step in dag:
        fan = fans.get(step.name)
        if fan is None:
            tasks.append(_task(dag, step, list(step.depends)))
            continue
        tasks.append(_task(dag, fan.plan, list(step.depends)))
        each = _task(dag, fan.each, [fan.plan.name])
        each["withParam"] = "{{tasks." + fan.plan.name + ".outputs.parameters." + fan.param + "}}"
        each.setdefault("arguments", {})["parameters"] = [{"name": "item", "value": "{{item}}"}]
        tasks.append(each)
        tasks.append(_task(dag, step, [fan.each.name]))
    return {"name": dag.name, "dag": {"tasks": tasks}}


def render_workflow_template(dag: DAG, config: CatalogConfig, env: EnvironmentConfig, name: str) -> dict[str, Any]:
    """A WorkflowTemplate running ``dag``; the default service account is the *public* one.

    Fail closed: a limited dataset submitted without the limited service
    account cannot read the limited bucket.  The submitter picks the account
    by the dataset's access level.
    """
    params: list[dict[str, Any]] = []
    for pname, default, description in PARAMETERS:
        entry: dict[str, Any] = {"name": pname, "description": description}
        if default is not None:
            entry["value"] = default
        params.append(entry)
    spec: dict[str, Any] = {
        "entrypoint": dag.name,
        "onExit": "report-status",
        "serviceAccountName": env.argo.service_account_public,
        "activeDeadlineSeconds": ACTIVE_DEADLINE_SECONDS,
        "arguments": {"parameters": params},
        "synchronization": {"mutexes": [{"name": "catalog-bot-" + _param("dataset")}]},
        "podGC": {"strategy": "OnWorkflowSuccess"},
        "ttlStrategy": {"secondsAfterSuccess": 3 * 86400, "secondsAfterFailure": 14 * 86400},
        "workflowMetadata": {
            "labels": {
                f"{LABEL_PREFIX}/dataset": _param("dataset"),
                f"{LABEL_PREFIX}/sha": _param("sha"),
                f"{LABEL_PREFIX}/pr": _param("pr"),
                f"{LABEL_PREFIX}/environment": _param("environment"),
            }
        },
        "templates": [_dag_template(dag)]
        + [
            _container_template(dag, extra, config, env, fan)
            for fan in _fanouts(dag).values()
            for extra in (fan.plan, fan.each)
        ]
        + [_container_template(dag, step, config, env) for step in dag]
        + [_exit_handler(config, env)],
    }
    if env.argo.artifact_repository:
        spec["artifactRepositoryRef"] = {"configMap": "artifact-repositories", "key": env.argo.artifact_repository}
    return {
        "apiVersion": API_VERSION,
        "kind": "WorkflowTemplate",
        "metadata": {"name": name, "labels": _labels(dag.name)},
        "spec": spec,
    }


def service_account_for(pipeline: PipelineSpec, env: EnvironmentConfig) -> str:
    """The Kubernetes service account by access level (limited data needs the limited one)."""
    return env.argo.service_account_limited if pipeline.access == "limited" else env.argo.service_account_public


def render_cron_workflow(
    dataset_id: str, pipeline: PipelineSpec, env: EnvironmentConfig, env_name: str, repository: str, branch: str
) -> dict[str, Any]:
    """A CronWorkflow that re-publishes one dataset on its ``pipeline.yaml`` schedule.

    ``sha`` is the branch name: the scheduled run publishes the tip of the
    default branch at run time.
    """
    if not pipeline.schedule:
        raise ValueError(f"dataset {dataset_id} has no schedule")
    return {
        "apiVersion": API_VERSION,
        "kind": "CronWorkflow",
        "metadata": {
            "name": f"catalog-bot-{dataset_id}",
            "labels": {**_labels("schedule"), f"{LABEL_PREFIX}/dataset": dataset_id},
        },
        "spec": {
            "schedules": [pipeline.schedule],
            "timezone": pipeline.timezone,
            "concurrencyPolicy": "Replace",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 5,
            "workflowMetadata": {"labels": {f"{LABEL_PREFIX}/dataset": dataset_id}},
            "workflowSpec": {
                "workflowTemplateRef": {"name": PUBLISH_TEMPLATE},
                "serviceAccountName": service_account_for(pipeline, env),
                "arguments": {
                    "parameters": [
                        {"name": "dataset", "value": dataset_id},
                        {"name": "sha", "value": branch},
                        {"name": "config-sha", "value": branch},
                        {"name": "environment", "value": env_name},
                        {"name": "pr", "value": ""},
                        {"name": "repository", "value": repository},
                    ]
                },
            },
        },
    }


def render_all(catalog: Catalog, env_name: str, repository: str = "") -> dict[str, dict[str, Any]]:
    """Every manifest for the GitOps folder, keyed by file name."""
    config = catalog.config
    env = config.environment(env_name)
    out = {
        f"{PUBLISH_TEMPLATE}.yaml": render_workflow_template(PUBLISH, config, env, PUBLISH_TEMPLATE),
        f"{HARVEST_TEMPLATE}.yaml": render_workflow_template(HARVEST, config, env, HARVEST_TEMPLATE),
    }
    for dataset in catalog.datasets():
        pipeline = dataset.pipeline()
        if pipeline.schedule and pipeline.published_in(env_name):
            out[f"cron-{dataset.id}.yaml"] = render_cron_workflow(
                dataset.id, pipeline, env, env_name, repository, config.default_branch
            )
    return out


def to_yaml(manifest: dict[str, Any]) -> str:
    """Deterministic YAML (sorted keys) for golden files and flux."""
    return yaml.safe_dump(manifest, sort_keys=True, default_flow_style=False, width=1000)


def dag_edges(manifest: dict[str, Any]) -> tuple[list[str], set[tuple[str, str]]]:
    """Task names and ``(dependency, task)`` edges of a rendered WorkflowTemplate's DAG."""
    spec = manifest["spec"]
    dag_tpl = next(t for t in spec["templates"] if t["name"] == spec["entrypoint"])
    tasks = dag_tpl["dag"]["tasks"]
    names = [t["name"] for t in tasks]
    edges = {(d, t["name"]) for t in tasks for d in t.get("dependencies", [])}
    return names, edges


def submit_parameters(
    dataset: str, sha: str, env_name: str, pr: str | int | None, repository: str, config_sha: str | None = None
) -> list[str]:
    """``name=value`` strings for the Argo submit API, in PARAMETERS order.

    ``config_sha`` is the trusted configuration commit; ``None`` when ``sha``
    is itself a default-branch commit (a merge, a dispatch, a schedule).
    """
    values = {
        "dataset": dataset,
        "sha": sha,
        "config-sha": config_sha or sha,
        "environment": env_name,
        "pr": "" if pr is None else str(pr),
        "repository": repository,
    }
    return [f"{name}={values[name]}" for name in PARAMETER_NAMES]


def unknown_parameters(names: Iterable[str]) -> list[str]:
    """Names that the templates do not declare (rejected before submission)."""
    return sorted(set(names) - set(PARAMETER_NAMES))
