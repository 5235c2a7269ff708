"""The ``Publisher`` seam: how the GitHub bot starts publishes, whatever the engine.

Why a protocol: ``local`` (the in-process executor) and ``argo`` (workflows
submitted to an Argo Server) differ in everything but what the bot needs --
"publish these datasets at this commit into this environment, tell me the
runs".  The environment's ``engine`` picks the implementation; tests inject
their own.  A :class:`Run` is what the bot links on the PR and in the commit
status.
"""

from __future__ import annotations

import base64
import io
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from bot.adapters.git import GitRepo
from bot.config import CatalogConfig, Settings
from bot.errors import BotError, CommandError, ServiceError
from bot.logging import get_logger, mask, register_secret

if TYPE_CHECKING:
    from bot.adapters.argo import ArgoClient
    from bot.adapters.github import GitHub

log = get_logger("events.publisher")

OVERLAY_SUBJECT = "catalog-bot: datasets/ of "
"""Subject of the local commits :meth:`bot.events.context.BotContext.trusted` makes."""

FINAL_OK = {"succeeded", "success", "done", "cached"}
FINAL_BAD = {"failed", "failure", "error", "errored"}


@dataclass(frozen=True)
class Run:
    """One dataset's publish (or harvest) run.

    ``status``: ``succeeded``/``failed`` when the engine ran synchronously,
    ``submitted``/``running`` when it continues elsewhere (Argo).
    """

    dataset: str
    run_id: str
    url: str
    status: str
    engine: str = "local"
    message: str = ""

    @property
    def commit_state(self) -> str:
        """The commit-status state this run maps to.

        ``pending`` while the run continues elsewhere (an Argo workflow was
        only *submitted*): a required check must not turn green before the
        data is published.  The workflow's exit handler (``catalog-bot argo
        report``) replaces it with the outcome; :func:`reconcile_statuses`
        covers workflows that vanished without running their handler.
        """
        if self.status in FINAL_BAD:
            return "failure"
        if self.status in FINAL_OK:
            return "success"
        return "pending"


@runtime_checkable
class Publisher(Protocol):
    """Start publishes; ``workflow`` is ``publish`` or ``harvest``."""

    engine: str

    def submit(
        self, datasets: Sequence[str], sha: str, env: str, *, workflow: str = "publish", pr: int | None = None
    ) -> list[Run]:
        """Run or submit one publish per dataset at commit ``sha`` into environment ``env``."""
        ...


def data_commit(repo_dir: Path, sha: str) -> str:
    """The commit whose datasets ``sha`` holds: the PR head for an overlay commit, else ``sha`` itself."""
    return overlay_parents(repo_dir, sha)[0]


def overlay_parents(repo_dir: Path, sha: str) -> tuple[str, str]:
    """``(data commit, configuration commit)`` of ``sha``.

    An overlay commit (:meth:`bot.events.context.BotContext.trusted`) exists
    only in the bot's clone; its parents are the PR head (``datasets/``) and
    the default-branch commit (everything else), both commits GitHub -- and
    so a cluster -- can fetch.  Any other commit is both at once.
    """
    repo = GitRepo(repo_dir)
    if not repo.subject(sha).startswith(OVERLAY_SUBJECT):
        return sha, sha
    return repo.rev_parse(f"{sha}^1"), repo.rev_parse(f"{sha}^2")


def materialize(repo_dir: Path, sha: str, dest: Path) -> Path:
    """Write the files of commit ``sha`` into ``dest`` with ``git archive``.

    Why not a checkout: no hooks, no git config, no submodules from the
    commit are involved -- the tree is data.  The commit must be present
    locally (see :func:`fetch_commit`).
    """
    repo = GitRepo(repo_dir)
    try:
        tar_bytes = repo.archive(sha)
    except ServiceError as exc:
        raise ServiceError("git", f"cannot read commit {sha[:12]}: {mask(exc.message)}") from None
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        tar.extractall(dest, filter="data")
    return dest / repo.prefix if repo.prefix else dest


def fetch_commit(repo_dir: Path, sha: str, refspec: str | None = None, token: str | None = None) -> None:
    """Make ``sha`` available locally (``git fetch origin <refspec or sha>`` when missing).

    ``token`` authenticates the fetch through an HTTP header passed in the
    environment (``GIT_CONFIG_*``), never written to ``.git/config`` -- the
    workflows check out with ``persist-credentials: false`` so that no file
    a rendered template could read holds a token.
    """
    repo = GitRepo(repo_dir)
    if repo.has_commit(sha):
        return
    env: dict[str, str] = {}
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        register_secret(basic)
        env.update(
            GIT_CONFIG_COUNT="1",
            GIT_CONFIG_KEY_0="http.extraheader",
            GIT_CONFIG_VALUE_0=f"AUTHORIZATION: basic {basic}",
        )
    for spec in [s for s in (refspec, sha) if s]:
        if repo.fetch(spec, env=env) and repo.has_commit(sha):
            return
    raise ServiceError("git", f"commit {sha[:12]} is not available in {repo_dir} and could not be fetched from origin")


def _head(repo_dir: Path) -> str:
    """The checked-out commit (empty when unknown)."""
    return GitRepo(repo_dir).head()


def _published_in(dataset: Any, env: str) -> bool:
    """``environments`` of the dataset's pipeline.yaml; an unreadable one is published (and its error reported)."""
    try:
        return bool(dataset.pipeline().published_in(env))
    except BotError:
        return True


@dataclass
class LocalPublisher:
    """The in-process executor (``bot.pipeline.executor``) as a publisher.

    Runs synchronously, so every run it returns is final.  The catalog at
    ``sha`` is materialized from git when it is not the checked-out commit.
    """

    repo_dir: Path
    settings: Settings
    run_url: str = ""
    engine: str = "local"

    def submit(
        self, datasets: Sequence[str], sha: str, env: str, *, workflow: str = "publish", pr: int | None = None
    ) -> list[Run]:
        """Publish each dataset in-process; failures are runs with status ``failed`` (never raises for them)."""
        from bot.catalog.layout import Catalog
        from bot.pipeline.context import RunContext
        from bot.pipeline.dag import DAGS
        from bot.pipeline.executor import publish

        if workflow not in DAGS:
            raise CommandError(f"unknown workflow {workflow!r}")
        head = _head(self.repo_dir)
        with tempfile.TemporaryDirectory(prefix="catalog-bot-") as tmp:
            root = self.repo_dir if head == sha else materialize(self.repo_dir, sha, Path(tmp) / "tree")
            catalog = Catalog.open(root)
            # The commit that names the data: an overlay (default-branch configuration + a PR's
            # datasets/) exists only here, so items record its first parent, the PR head.
            provenance = {**self.settings.provenance(), "commit": data_commit(self.repo_dir, sha)}
            if self.run_url:
                provenance["run_url"] = self.run_url
            run = RunContext.open(catalog, env, self.settings, base=self.repo_dir, provenance=provenance)
            # A dataset whose pipeline.yaml lists other environments is not published here.
            selected = [d for d in catalog.select(list(datasets)) if _published_in(d, env)]
            report = publish(run, selected, dag=DAGS[workflow])
        runs = []
        for outcome in report.outcomes:
            message = mask(str(outcome.error)) if outcome.error else f"{outcome.ran} steps ran"
            runs.append(
                Run(
                    dataset=outcome.dataset,
                    run_id=f"local-{workflow}-{outcome.dataset}-{sha[:7]}",
                    url=self.run_url,
                    status="failed" if outcome.status == "failed" else "succeeded",
                    engine="local",
                    message=message,
                )
            )
        return runs


@dataclass
class ArgoPublisher:
    """Argo workflows (``bot.pipeline.argo_submit``) as a publisher: returns submitted runs."""

    repo_dir: Path
    settings: Settings
    repository: str = ""
    engine: str = "argo"

    def submit(
        self, datasets: Sequence[str], sha: str, env: str, *, workflow: str = "publish", pr: int | None = None
    ) -> list[Run]:
        """Submit one workflow per dataset (the Argo engineer's submitter does the checks)."""
        from bot.catalog.layout import Catalog
        from bot.pipeline import argo_submit

        # A PR's overlay commit (default-branch configuration + the PR's datasets/) exists only here: the
        # cluster gets its two parents and every pod rebuilds it (argo_render._data_artifact), so the PR's
        # configuration applies neither here (the submitter reads the overlay) nor in the pods.
        data_sha, config_sha = overlay_parents(self.repo_dir, sha)
        with tempfile.TemporaryDirectory(prefix="catalog-bot-") as tmp:
            root = self.repo_dir if _head(self.repo_dir) == sha else materialize(self.repo_dir, sha, Path(tmp) / "tree")
            runs = argo_submit.submit(
                Catalog.open(root),
                list(datasets),
                env_name=env,
                settings=self.settings,
                sha=data_sha,
                config_sha=config_sha,
                pr=pr,
                repository=self.repository,
                workflow=workflow,
            )
        return [Run(r.dataset, r.run_id, r.url, r.status.lower() or "submitted", "argo") for r in runs]

    def phases(self, run_ids: Sequence[str], env: str, config: CatalogConfig) -> dict[str, str | None]:
        """Each workflow's phase (``Succeeded``, ``Failed``, ``Running``...), ``None`` when it was deleted.

        Why: the publish ledger confirms a push only once its workflows
        succeeded (:meth:`bot.events.ledger.PublishLedger.reconcile`).
        """
        from bot.pipeline import argo_submit

        client = argo_submit.client_for_config(config, env, self.settings)
        phases: dict[str, str | None] = {}
        for name in dict.fromkeys(run_ids):
            try:
                phases[name] = client.get(name).phase
            except ServiceError as exc:
                if exc.status != 404:
                    raise
                phases[name] = None
        return phases

    def cancel(self, dataset: str, env: str) -> list[Run]:
        """Stop the running publishes of ``dataset`` (found by the workflow label the submitter sets)."""
        from bot.catalog.layout import Catalog
        from bot.pipeline import argo_submit
        from bot.pipeline.argo_render import LABEL_PREFIX

        catalog = Catalog.open(self.repo_dir)
        client = argo_submit.client_for(catalog, env, self.settings)
        ui = catalog.config.environment(env).argo.ui_url
        stopped = []
        for wf in client.list_workflows({f"{LABEL_PREFIX}/dataset": dataset}):
            done = client.stop(wf.name, message=f"cancelled by /catalog cancel {dataset}")
            stopped.append(Run(dataset, done.name, client.ui_link(done.name, ui), "cancelled", "argo"))
        return stopped


def publisher_for(
    engine: str, repo_dir: Path, settings: Settings, *, run_url: str = "", repository: str = ""
) -> Publisher:
    """The publisher for an environment's ``engine``."""
    if engine == "local":
        return LocalPublisher(repo_dir, settings, run_url)
    if engine == "argo":
        return ArgoPublisher(repo_dir, settings, repository)
    raise BotError(f"unknown engine {engine!r}", hint="use engine: local or engine: argo in catalog-bot.yaml")


def reconcile_statuses(gh: GitHub, client: ArgoClient, sha: str) -> list[dict[str, Any]]:
    """Finish ``pending`` publish statuses of ``sha`` whose Argo workflow ended without reporting.

    Why: an exit handler runs only when the workflow itself ends; a workflow
    deleted mid-run (or whose handler failed all retries) leaves its status
    ``pending`` forever.  The status link names the workflow
    (``<ui>/workflows/<namespace>/<name>``): gone -> ``error``, finished ->
    its phase, running -> untouched.  Returns what was changed.
    """
    from bot.events.argo_report import ARGO_STATES
    from bot.events.context import STATUS_PREFIX

    latest: dict[str, dict[str, Any]] = {}
    for status in gh.statuses(sha):  # newest first
        latest.setdefault(str(status.get("context")), status)
    changed = []
    for context, status in sorted(latest.items()):
        url = str(status.get("target_url") or "")
        if not context.startswith(STATUS_PREFIX + "/") or status.get("state") != "pending" or "/workflows/" not in url:
            continue
        name = url.rstrip("/").rsplit("/", 1)[-1]
        try:
            wf = client.get(name)
        except ServiceError as exc:
            if exc.status != 404:
                raise
            state, text = "error", f"Argo workflow {name} was deleted before it finished"
        else:
            if not wf.finished:
                continue
            state, text = ARGO_STATES.get(wf.phase, "error"), f"{wf.phase} (Argo; exit handler did not report)"
        gh.set_status(sha, state, context, text, url)
        changed.append({"context": context, "workflow": name, "state": state})
    return changed
