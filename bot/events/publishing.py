"""``push`` to the default branch and ``workflow_dispatch``: publishing.

Why statuses in ``try/finally``: a merge publishes only the datasets it
changed, links the runs on the merged PR and ALWAYS finalizes the commit
statuses, so nothing stays pending.  ``submit`` and ``runs_table`` are shared
with the ``/catalog publish``/``preview`` commands.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.adapters.git import GitRepo
from bot.adapters.github import GitHub
from bot.catalog.layout import DATASET_ID
from bot.config import CatalogConfig, load_catalog_config
from bot.errors import BotError, UsageError
from bot.events.context import PUBLISH_MARKER, STATUS_PREFIX, BotContext
from bot.events.ledger import PublishLedger
from bot.events.models import (
    ZERO_SHA,
    PushEvent,
    WorkflowDispatchEvent,
)
from bot.events.publisher import Run
from bot.events.routing import Outcome, Router
from bot.events.sanitize import with_marker
from bot.logging import get_logger, mask

log = get_logger("events.publishing")

router = Router()


def runs_table(runs: Sequence[Run]) -> str:
    rows = ["| dataset | engine | status | run |", "|---|---|---|---|"]
    for r in runs:
        icon = "✅" if r.status in ("succeeded", "success") else "❌" if r.commit_state == "failure" else "🚀"
        link = f"[{r.run_id}]({r.url})" if r.url else f"`{r.run_id}`"
        rows.append(f"| `{r.dataset}` | {r.engine} | {icon} {r.status} | {link} |")
    failed = [r for r in runs if r.commit_state == "failure" and r.message]
    if failed:
        rows.append("")
        rows += [f"- `{r.dataset}`: {mask(r.message)[:500]}" for r in failed]
    return "\n".join(rows)


def submit(
    ctx: BotContext,
    config: CatalogConfig,
    datasets: Sequence[str],
    sha: str,
    env: str,
    *,
    workflow: str = "publish",
    pr: int | None = None,
) -> tuple[str, bool]:
    env_cfg = config.environment(env)  # unknown env -> ConfigError naming the known ones
    runs = ctx.publisher(env_cfg.engine).submit(list(datasets), sha, env, workflow=workflow, pr=pr)
    ok = all(r.commit_state != "failure" for r in runs)
    verb = "harvest" if workflow == "harvest" else "publish"
    return f"{verb} to `{env}`:\n\n{runs_table(runs)}", ok


@router.register("push")
def on_push(ev: PushEvent, ctx: BotContext) -> Outcome:
    """Publish the datasets a push to the default branch changed; statuses are always finalized."""
    if ev.branch != ev.default_branch or ev.deleted:
        return Outcome("push", f"ignored: push to {ev.ref}, not to {ev.default_branch}")
    if ev.before == ZERO_SHA:
        return Outcome("push", "first push of the default branch: nothing to compare; publish with /catalog publish")
    gh = ctx.github()
    ctx.fetch(ev.after)
    config = ctx.config(ev.default_branch)
    env = ctx.publish_env(config)
    ledger = PublishLedger(env, config.environment(env), ctx.repo_dir)
    _settle_pending(ctx, ledger, config, env)
    base = _catch_up_base(ctx, ledger, ev)
    report = ctx.check(base, ev.after, config.default_environment)
    datasets = list(report.publish_ids())
    since = f" since {base[:7]} (last publish)" if base != ev.before else ""
    if not datasets:
        ledger.advance(ev.after, base, [], ctx.run_url)
        return Outcome("push", f"no dataset to publish in this push{since}")
    prs = gh.pulls_for_commit(ev.after)
    merged = [p for p in prs if p.get("merge_commit_sha") == ev.after] or prs
    pr = int(merged[0]["number"]) if merged else None
    runs: list[Run] = []
    error: BaseException | None = None
    for d in datasets:
        gh.set_status(ev.after, "pending", f"{STATUS_PREFIX}/{d}", f"publishing to {env}", ctx.run_url or None)
    try:
        runs = ctx.publisher(config.environment(env).engine).submit(datasets, ev.after, env, pr=pr)
    except BaseException as exc:
        error = exc
        raise
    finally:
        _finalize(ctx, gh, ev.after, env, datasets, runs, error, pr)
    ok = all(r.commit_state != "failure" for r in runs)
    if ok:  # runs still going (Argo) leave the push pending until they succeed
        ledger.advance(ev.after, base, [r.run_id for r in runs if r.commit_state == "pending"], ctx.run_url)
    return Outcome(
        "push",
        f"published {len(runs)} dataset(s) to {env}{since}",
        ok=ok,
        details={"runs": [r.run_id for r in runs], "base": base},
    )


def _settle_pending(ctx: BotContext, ledger: PublishLedger, config: CatalogConfig, env: str) -> None:
    """Confirm or drop earlier pushes whose runs continued elsewhere (Argo), from the engine's own answer."""
    phases = getattr(ctx.publisher(config.environment(env).engine), "phases", None)
    if phases is None or not ledger.pending():
        return

    def is_ancestor(a: str, b: str) -> bool:
        try:
            ctx.fetch(a)
            ctx.fetch(b)
        except BotError:
            return False
        return GitRepo(ctx.repo_dir).is_ancestor(a, b)

    ledger.reconcile(lambda runs: phases(runs, env, config), is_ancestor)


def _catch_up_base(ctx: BotContext, ledger: PublishLedger, ev: PushEvent) -> str:
    """Where the publish range starts: the last successful publish when it is behind ``before``, else ``before``.

    "Successful" includes pushes whose runs are still going (``PublishLedger.covered``): a failure among
    them is found by the next push's :func:`_settle_pending`, which then starts from the confirmed commit.
    """
    last = ledger.covered()
    if last and last != ev.after:
        try:
            ctx.fetch(last)
        except BotError as exc:
            log.warning("last published commit %s is not fetchable: %s", last[:12], mask(str(exc)))
        else:
            repo = GitRepo(ctx.repo_dir)
            if repo.is_ancestor(last, ev.after) and not repo.is_ancestor(ev.before, last):
                return last  # runs were cancelled or failed since: cover them too
    ctx.fetch(ev.before)
    return ev.before


def _finalize(
    ctx: BotContext,
    gh: GitHub,
    sha: str,
    env: str,
    datasets: Sequence[str],
    runs: Sequence[Run],
    error: BaseException | None,
    pr: int | None,
) -> None:
    """Final status per dataset (each attempted even if another fails) and the PR's status table."""
    by_ds = {r.dataset: r for r in runs}
    for d in datasets:
        run = by_ds.get(d)
        if run is None:
            state, text, url = (
                "error",
                f"not published: {mask(str(error))[:100]}" if error else "not published",
                ctx.run_url or None,
            )
        else:
            state, text, url = run.commit_state, f"{run.status} in {env}", run.url or ctx.run_url or None
        try:
            gh.set_status(sha, state, f"{STATUS_PREFIX}/{d}", text, url)
        except BotError as exc:
            log.error("could not finalize the status of %s: %s", d, mask(str(exc)))
    table = (
        runs_table(runs)
        if runs
        else f"❌ publishing failed before any run started: {mask(str(error)) if error else 'unknown error'}"
    )
    markdown = with_marker(PUBLISH_MARKER, f"## catalog-bot publish of `{sha[:7]}` to `{env}`\n\n{table}\n")
    ctx.summary(markdown)
    if pr is not None:
        try:
            gh.upsert_comment(pr, PUBLISH_MARKER, markdown)
        except BotError as exc:
            log.error("could not comment on PR #%s: %s", pr, mask(str(exc)))


@router.register("workflow_dispatch")
def on_workflow_dispatch(ev: WorkflowDispatchEvent, ctx: BotContext) -> Outcome:
    """Manual publish/harvest: inputs ``datasets`` (space/comma separated), ``environment``, ``workflow``."""
    raw = str(ev.inputs.get("datasets") or "")
    datasets = [d for d in re.split(r"[\s,]+", raw) if d]
    bad = [d for d in datasets if not DATASET_ID.fullmatch(d)]
    if not datasets or bad:
        raise UsageError(
            f"workflow_dispatch input `datasets` {'has invalid ids: ' + ', '.join(bad[:5]) if bad else 'is empty'}",
            hint="give dataset ids (folder names), separated by spaces or commas",
        )
    workflow = str(ev.inputs.get("workflow") or "publish")
    if workflow not in ("publish", "harvest"):
        raise UsageError(f"workflow_dispatch input `workflow` must be publish or harvest, not {workflow[:20]!r}")
    config = ctx.config(ev.default_branch) if ctx.gh else load_catalog_config(ctx.repo_dir)
    env = str(ev.inputs.get("environment") or ctx.publish_env(config))
    sha = GitRepo(ctx.repo_dir).head()
    if not sha:
        raise UsageError(f"{ctx.repo_dir} has no checked-out commit to publish", hint="check out the default branch")
    text, ok = submit(ctx, config, datasets, sha, env, workflow=workflow)
    ctx.summary(f"## catalog-bot {workflow} of `{sha[:7]}`\n\n{text}\n")
    return Outcome("workflow_dispatch", f"{workflow} of {len(datasets)} dataset(s) to {env}", ok=ok)
