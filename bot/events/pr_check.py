"""Pull-request check: the unprivileged ``pull_request`` job and the privileged ``workflow_run`` report.

Why two halves: ``pull_request`` runs without secrets (it may evaluate the
PR's Jsonnet in the sandbox) and writes a report; ``workflow_run`` holds the
token and posts ONE sticky comment plus a check run (see docs/github.md).
"""

from __future__ import annotations

from typing import Any

import msgspec

from bot.adapters.github import GitHub
from bot.config import load_catalog_config
from bot.errors import UsageError
from bot.events.context import CHECK_MARKER, PR_ACTIONS, BotContext
from bot.events.models import (
    PullRequestEvent,
    WorkflowRunEvent,
)
from bot.events.pr_report import CHECK_NAME, PrReport, build_pr_report, load_pr_report
from bot.events.routing import Outcome, Router
from bot.events.sanitize import neutralise, with_marker
from bot.logging import get_logger, mask

log = get_logger("events.pr_check")

router = Router()


@router.register("pull_request")
def on_pull_request(ev: PullRequestEvent, ctx: BotContext) -> Outcome:
    """Check the PR; artifact for the privileged job, or post directly when we hold a token."""
    if ev.action not in PR_ACTIONS:
        return Outcome("pull_request", f"nothing to do for pull_request.{ev.action}")
    ctx.fetch(ev.base_sha, ev.base_ref)
    ctx.fetch(ev.head_sha, f"pull/{ev.number}/head")
    if ctx.gh is None:  # unprivileged: no secret, the PR's own configuration shows its effect
        report = ctx.check(ev.base_sha, ev.head_sha, load_catalog_config(ctx.repo_dir).default_environment)
    else:  # holding a token: configuration from the default branch, the PR's datasets/ as data
        report = ctx.check_pr(ev.base_sha, ev.head_sha, ctx.config(ev.default_branch).default_environment)
    prr = build_pr_report(report, ev.number)
    ctx.summary(prr.summary_markdown())
    if ctx.artifact_out is not None:
        path = prr.write(ctx.artifact_out)
        return Outcome(
            "pull_request",
            f"check of #{ev.number}: {prr.title}; report written to {path}",
            details={"report": str(path)},
        )
    post_pr_report(ctx, prr)
    return Outcome("pull_request", f"check of #{ev.number}: {prr.title}", details={"conclusion": prr.conclusion})


def _check_run(gh: GitHub, prr: PrReport, details_url: str | None) -> Any:
    """The check run of a PR report (annotations batched by the adapter)."""
    return gh.create_check_run(
        name=CHECK_NAME,
        head_sha=prr.head_sha,
        conclusion=prr.conclusion,
        title=neutralise(prr.title),
        summary=neutralise(prr.bodies[0]).strip(),
        annotations=[{k: v for k, v in msgspec.structs.asdict(a).items() if v is not None} for a in prr.annotations],
        details_url=details_url,
    )


def post_pr_report(ctx: BotContext, prr: PrReport) -> dict[str, Any]:
    """One sticky comment (edited in place) + one check run with batched annotations."""
    gh = ctx.github()
    body = prr.bodies[0]
    if len(prr.bodies) > 1:
        where = f"[job summary]({ctx.run_url})" if ctx.run_url else "job summary"
        body = (
            body.rstrip()
            + "\n\n> The report is too long for one comment: "
            + f"the full report ({len(prr.bodies)} parts) is in the {where}.\n"
        )
    comment = gh.upsert_comment(prr.pr, CHECK_MARKER, with_marker(CHECK_MARKER, body))
    _check_run(gh, prr, ctx.run_url or comment.get("html_url"))
    return comment


@router.register("workflow_run", "completed")
def on_workflow_run(ev: WorkflowRunEvent, ctx: BotContext) -> Outcome:
    """Recompute and post the check of the PR the unprivileged run was for; never trust its verdict.

    The artifact is attacker-controlled (a PR can change its own unprivileged
    workflow): it only names the PR (GitHub leaves ``pull_requests`` empty for
    forks), which must have this run's commit as its head.  The conclusion and
    every posted text are computed here, from the PR's files fetched as git
    objects with the default branch's configuration, rendering in the sandbox.
    A missing or mismatched report fails the check (never passes silently).
    """
    if ev.trigger != "pull_request":
        return Outcome(
            "workflow_run", f"ignored: run of {ev.workflow_name!r} triggered by {ev.trigger}, not a pull request"
        )
    if ev.conclusion == "cancelled":
        return Outcome("workflow_run", "ignored: the check run was cancelled (superseded by a newer push)")
    gh = ctx.github()
    link = ev.html_url or ctx.run_url
    try:
        if ctx.artifact_in is None:
            raise UsageError("no report artifact was given", hint="pass --artifact DIR with the downloaded pr-report")
        claimed = load_pr_report(ctx.artifact_in)
        if claimed.head_sha != ev.head_sha:
            raise UsageError(
                f"the report is for commit {claimed.head_sha[:7]}, but the workflow ran for {ev.head_sha[:7]}"
            )
        if ev.pull_requests and claimed.pr not in ev.pull_requests:
            raise UsageError(f"the report names PR #{claimed.pr}, which this workflow run was not for")
    except UsageError as exc:
        gh.create_check_run(
            name=CHECK_NAME,
            head_sha=ev.head_sha,
            conclusion="failure",
            title="the PR check produced no usable report",
            summary=f"{mask(str(exc))}\n\nSee the check job: {link} (conclusion: {ev.conclusion})",
            details_url=link or None,
        )
        return Outcome("workflow_run", f"no usable report: {exc}", ok=False)
    number = claimed.pr
    pr = gh.get_pull(number)
    if pr["head"]["sha"] != ev.head_sha:
        # The PR moved on (its new head gets its own run) or the number is forged: post nothing anywhere.
        return Outcome(
            "workflow_run", f"PR #{number} head is no longer {ev.head_sha[:7]}: nothing posted, comment skipped"
        )
    base = pr["base"]["sha"]
    ctx.fetch(base, pr["base"]["ref"])
    ctx.fetch(ev.head_sha, f"pull/{number}/head")
    report = ctx.check_pr(base, ev.head_sha, ctx.config(ev.default_branch).default_environment)
    prr = build_pr_report(report, number)
    ctx.summary(prr.summary_markdown())
    post_pr_report(ctx, prr)
    return Outcome(
        "workflow_run", f"posted the check of #{number}: {prr.title}", details={"conclusion": prr.conclusion}
    )
