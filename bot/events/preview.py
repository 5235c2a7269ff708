"""Isolated previews: ``/catalog preview`` publishes a PR's datasets into its own namespace; closing removes it.

Why a namespace and not "the dev environment": a preview converts and
publishes pull-request-controlled data, and several pull requests (and the
production publish) share the same servers.  So a preview of PR ``n``

* publishes ``datasets/<id>`` as ``pr-<n>-<id>``: the STAC collection and
  item, the pygeoapi resource and the object keys all carry that id
  (lowercase letters, digits and dashes: every STAC API and OGC API path
  takes it), so no production collection, resource or object is written;
* puts its objects below ``preview/pr-<n>/`` of the environment's buckets
  (the store prefix) and its local state, static catalog and pygeoapi
  files below ``<output>/preview/pr-<n>/``;
* goes to the environment named ``preview`` when ``catalog-bot.yaml``
  defines one (its own endpoints and buckets), else ``env=NAME``, else the
  default environment; ``engine: local`` only (an Argo cluster would clone
  the PR head and apply its configuration);
* is recorded in a sticky comment per environment (marker
  ``<!-- catalog-bot:preview:<env> -->``) that also holds the links.

When the pull request is closed or merged (``pull_request_target``
``closed``, the privileged preview workflow), every environment named by
those markers is emptied of ``pr-<n>-*``: STAC collections (with their
items), pygeoapi resources, the objects below ``preview/pr-<n>/`` and the
local preview folder.  The trust rule stays: configuration comes from the
default branch, only ``datasets/`` from the PR head (``BotContext.trusted``),
and the job that runs this holds the preview credentials only.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from bot.config import CatalogConfig, EnvironmentConfig
from bot.errors import BotError, CommandError
from bot.events.context import BotContext
from bot.events.models import PullRequestEvent
from bot.events.publisher import data_commit, materialize
from bot.events.routing import Outcome, Router
from bot.events.sanitize import with_marker
from bot.logging import get_logger, mask

log = get_logger("events.preview")

router = Router()

PREVIEW_ENV = "preview"
_MARKER = "<!-- catalog-bot:preview:{env} -->"
_MARKER_RE = re.compile(r"<!-- catalog-bot:preview:([a-z][a-z0-9_-]{0,31}) -->")


@dataclass(frozen=True)
class Namespace:
    """Where the preview of pull request ``pr`` lives: ids ``pr-<n>-<id>``, keys below ``preview/pr-<n>/``."""

    pr: int

    @property
    def key_prefix(self) -> str:
        """The object-key (and local folder) prefix of this preview."""
        return f"preview/pr-{self.pr}"

    @property
    def id_prefix(self) -> str:
        """What every published id of this preview starts with."""
        return f"pr-{self.pr}-"

    def published_id(self, dataset: str) -> str:
        """The id ``datasets/<dataset>`` is published under."""
        return self.id_prefix + dataset

    def environment(self, env: EnvironmentConfig) -> EnvironmentConfig:
        """``env`` with the store prefix and the output folder moved below :attr:`key_prefix`."""
        store = env.object_store
        prefix = "/".join(p for p in (store.prefix.strip("/"), self.key_prefix) if p)
        return msgspec.structs.replace(
            env,
            object_store=msgspec.structs.replace(store, prefix=prefix),
            output=f"{env.output.rstrip('/')}/{self.key_prefix}",
        )


def preview_environment(config: CatalogConfig, requested: str | None) -> str:
    """``preview`` when the catalog defines it, else ``env=``, else the default environment."""
    if PREVIEW_ENV in config.environments:
        if requested and requested != PREVIEW_ENV:
            raise CommandError(
                f"previews go to the `{PREVIEW_ENV}` environment of catalog-bot.yaml, not `{requested}`",
                hint="leave out env= (or use /catalog publish to publish somewhere else)",
            )
        return PREVIEW_ENV
    return requested or config.default_environment


def marker(env: str) -> str:
    """The hidden marker of the sticky preview comment of ``env`` (also the record closing reads)."""
    return _MARKER.format(env=env)


def publish_preview(
    ctx: BotContext, config: CatalogConfig, datasets: Sequence[str], sha: str, env: str, pr: int
) -> tuple[str, bool]:
    """Publish ``datasets`` of commit ``sha`` (trusted overlay) as the preview of ``pr``; the reply text."""
    from bot.catalog.layout import Catalog
    from bot.pipeline.context import RunContext, output_folder
    from bot.pipeline.dag import DAGS
    from bot.pipeline.executor import publish

    env_cfg = config.environment(env)
    if env_cfg.engine != "local":
        raise CommandError(
            f"environment `{env}` uses engine {env_cfg.engine}; previews run on the local engine only",
            hint=f"define environments.{PREVIEW_ENV} with engine: local in catalog-bot.yaml",
        )
    ns = Namespace(pr)
    gh = ctx.github()
    gh.upsert_comment(pr, marker(env), with_marker(marker(env), _pending(ns, env, datasets)))  # record first
    with tempfile.TemporaryDirectory(prefix="catalog-bot-preview-") as tmp:
        catalog = Catalog.open(materialize(ctx.repo_dir, sha, Path(tmp) / "tree"))
        provenance = {**ctx.settings.provenance(), "commit": data_commit(ctx.repo_dir, sha)}
        if ctx.run_url:
            provenance["run_url"] = ctx.run_url
        output = output_folder(catalog, env, None, base=ctx.repo_dir) / ns.key_prefix
        run = RunContext(catalog, env, ns.environment(env_cfg), output, ctx.settings, provenance=provenance)
        chosen = catalog.select(list(datasets))
        report = publish(
            run, [msgspec.structs.replace(d, id=ns.published_id(d.id)) for d in chosen], dag=DAGS["publish"]
        )
        access = {ns.published_id(d.id): d.pipeline().access for d in chosen}
        rows = [_row(run, o, access.get(o.dataset, "public")) for o in report.outcomes]
    ok = not report.failed and report.finish_error is None
    table = _table(rows)
    if report.finish_error is not None:
        table += f"\n\n❌ {mask(str(report.finish_error))[:500]}"
    body = (
        f"## catalog-bot preview of #{pr} in `{env}`\n\n{table}\n\n"
        f"Published as `{ns.id_prefix}<id>` with objects below `{ns.key_prefix}/`; "
        "removed when this pull request is closed or merged."
    )
    gh.upsert_comment(pr, marker(env), with_marker(marker(env), body))
    return f"preview in `{env}` (removed when this pull request closes):\n\n{table}", ok


def _pending(ns: Namespace, env: str, datasets: Sequence[str]) -> str:
    names = ", ".join(f"`{ns.published_id(d)}`" for d in datasets)
    return f"## catalog-bot preview of #{ns.pr} in `{env}`\n\n⏳ publishing {names} ..."


def _row(run: Any, outcome: Any, access: str) -> dict[str, str]:
    """Status and links of one previewed dataset: STAC collection + item, OGC API collection, data."""
    from bot.pipeline.executor import work_dir
    from bot.pipeline.steps.common import UPLOAD_DATA
    from bot.stac.build import item_id

    ident = outcome.dataset
    row = {"dataset": ident, "status": "✅ published" if outcome.status != "failed" else "❌ failed"}
    if outcome.status == "failed":
        row["error"] = mask(str(outcome.error))[:300] if outcome.error else "failed"
        return row
    env = run.env
    stac = env.limited_stac if access == "limited" else env.stac
    if stac is not None and stac.kind == "api" and stac.url:
        base = f"{stac.url.rstrip('/')}/collections/{ident}"
        row["collection"], row["item"] = base, f"{base}/items/{item_id(ident)}"
    if access != "limited" and env.pygeoapi.kind == "api" and env.pygeoapi.url:
        row["ogc"] = f"{env.pygeoapi.url.rstrip('/')}/collections/{ident}"
    upload = work_dir(run.output, ident) / UPLOAD_DATA / "upload.json"
    if upload.is_file():
        row["data"] = str(json.loads(upload.read_text(encoding="utf-8")).get("url") or "")
    return row


def _table(rows: Sequence[dict[str, str]]) -> str:
    lines = ["| dataset | status | STAC collection | STAC item | OGC API | data |", "|---|---|---|---|---|---|"]
    for r in rows:
        links = [_link(r.get(k)) for k in ("collection", "item", "ogc", "data")]
        lines.append(f"| `{r['dataset']}` | {r['status']} | " + " | ".join(links) + " |")
    failed = [r for r in rows if "error" in r]
    if failed:
        lines += ["", *[f"- `{r['dataset']}`: {r['error']}" for r in failed]]
    return "\n".join(lines)


def _link(url: str | None) -> str:
    if not url:
        return "—"
    return f"[link]({url})" if url.startswith(("http://", "https://")) else f"`{url}`"


@dataclass
class Removed:
    """What closing a pull request removed from one environment."""

    env: str
    collections: list[str] = dataclasses.field(default_factory=list)
    resources: list[str] = dataclasses.field(default_factory=list)
    objects: int = 0

    def summary(self) -> str:
        return (
            f"`{self.env}`: {len(self.collections)} STAC collection(s), "
            f"{len(self.resources)} pygeoapi resource(s), {self.objects} object(s)"
        )


def remove_preview(config: CatalogConfig, env: str, pr: int, base: Path) -> Removed:
    """Delete every trace of PR ``pr``'s preview in environment ``env`` (idempotent)."""
    from bot.adapters.objectstore import open_store
    from bot.pipeline.context import STATE_DIR

    ns = Namespace(pr)
    env_cfg = ns.environment(config.environment(env))
    output = (base / env_cfg.output).resolve()  # an absolute output stays itself
    removed = Removed(env)
    work = output / STATE_DIR / "work"  # the datasets this machine published (a local store keeps no keys)
    ids: set[str] = {p.name for p in work.iterdir() if p.name.startswith(ns.id_prefix)} if work.is_dir() else set()
    for access in ("public", "limited"):
        if env_cfg.object_store.kind != "s3":
            continue  # a local store lives in the preview's output folder, removed below
        store = open_store(env_cfg, output, access)
        keys = store.list("")
        ids |= {k.split("/", 1)[0] for k in keys if k.startswith(ns.id_prefix)}
        store.delete(keys)
        removed.objects += len(keys)
    if env_cfg.pygeoapi.kind == "api":
        from bot.adapters.pygeoapi import client_for_environment

        admin = client_for_environment(env_cfg)
        for rid in admin.resource_ids():
            if rid.startswith(ns.id_prefix):
                ids.add(rid)
                admin.delete_resource(rid, wait=True)
                removed.resources.append(rid)
    from bot.adapters.stac_api import client_for

    for field in ("stac", "limited_stac"):
        stac = getattr(env_cfg, field)
        if stac is None or stac.kind != "api":
            continue
        client = client_for(stac, field)
        removed.collections += [i for i in sorted(ids) if client.delete_collection(i)]
    if output.is_dir():  # state, static catalog, local store and pygeoapi files of the preview
        shutil.rmtree(output)
    return removed


def previewed_environments(ctx: BotContext, pr: int) -> list[str]:
    """The environments the bot's own sticky preview comments on ``pr`` name (its record of previews)."""
    gh = ctx.github()
    envs = []
    for comment in gh.comments(pr):
        match = _MARKER_RE.search(str(comment.get("body") or ""))
        if match and gh.is_own(comment.get("user")) and match.group(1) not in envs:
            envs.append(match.group(1))
    return envs


@router.register("pull_request_target", "closed")
def on_pull_request_closed(ev: PullRequestEvent, ctx: BotContext) -> Outcome:
    """Remove the previews of a closed or merged pull request; answers in the sticky preview comments."""
    envs = previewed_environments(ctx, ev.number)
    if not envs:
        return Outcome("preview", f"#{ev.number} closed: it has no preview to remove")
    gh = ctx.github()
    config = ctx.config(ev.default_branch)
    done, failed = [], []
    for env in envs:
        try:
            removed = remove_preview(config, env, ev.number, ctx.repo_dir)
        except BotError as exc:
            failed.append(env)
            log.error("could not remove the preview of #%s in %s: %s", ev.number, env, mask(str(exc)))
            text = f"❌ removing this preview failed: {mask(str(exc))[:300]}; close and reopen to retry."
        else:
            done.append(removed.summary())
            text = f"🧹 preview removed ({'merged' if ev.merged else 'closed'}): {removed.summary()}."
        gh.upsert_comment(
            ev.number, marker(env), with_marker(marker(env), f"## catalog-bot preview of #{ev.number}\n\n{text}")
        )
    return Outcome("preview", f"#{ev.number} closed: removed {'; '.join(done) or 'nothing'}", ok=not failed)
