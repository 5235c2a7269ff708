"""``issue_comment``: ``/catalog`` commands -- parse, authorize, pin, dispatch, answer.

Why authorization here and not in the workflow: the commenter's permission
comes from the collaborator API (not ``author_association``) and the
required role per command from the DEFAULT branch's ``catalog-bot.yaml``;
the head SHA is pinned when a command is accepted.  Reactions: eyes on
receipt, rocket when dispatched, hooray/confused at the end.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from bot.adapters.github import GitHub, open_or_update_bot_pr
from bot.config import PERMISSIONS, CatalogConfig
from bot.errors import BotError, CommandError, UsageError
from bot.events.commands import SPECS, Command, help_text, is_command, parse_command
from bot.events.context import STATUS_PREFIX, BotContext
from bot.events.models import (
    IssueCommentEvent,
)
from bot.events.pr_check import post_pr_report
from bot.events.pr_report import build_pr_report
from bot.events.publisher import materialize
from bot.events.publishing import runs_table, submit
from bot.events.routing import Outcome, Router
from bot.events.sanitize import neutralise
from bot.logging import get_logger, mask
from bot.metadata.issue_form import (
    dataset_files,
    parse_dataset_issue,
    replace_bot_section,
    request_summary,
)

log = get_logger("events.comments")

router = Router()


@dataclass(frozen=True)
class Pinned:
    """The commit a command acts on, fixed when the command was accepted."""

    head_sha: str
    base_sha: str | None = None
    pr: int | None = None
    base_ref: str | None = None


def permission_rank(role: str) -> int:
    """Order of repository roles (unknown -> none)."""
    return PERMISSIONS.index(role) if role in PERMISSIONS else 0


@router.register("issue_comment")
def on_issue_comment(ev: IssueCommentEvent, ctx: BotContext) -> Outcome:
    """Parse, authorize, pin, dispatch and answer a ``/catalog`` command."""
    if ev.action != "created":
        return Outcome("issue_comment", f"ignored: {ev.action} comments are not commands")
    if ev.author.is_bot or ev.sender.is_bot or (ctx.gh and ctx.gh.bot_login in (ev.author.login, ev.sender.login)):
        return Outcome("issue_comment", "ignored: comment written by a bot")
    if not is_command(ev.comment_body):
        return Outcome("issue_comment", "ignored: not a /catalog command")
    gh = ctx.github()
    gh.react(ev.comment_id, "eyes")
    login = ev.author.login
    try:
        cmd = parse_command(ev.comment_body)
    except CommandError as exc:
        return _refuse(ctx, ev, f"I could not read that command: {exc.message}.", None)
    if cmd.name in ctx.skip_commands or (ctx.only_commands is not None and cmd.name not in ctx.only_commands):
        return _refuse(
            ctx,
            ev,
            f"`/catalog {cmd.name}` does not run in this job (it holds other credentials); "
            "write the command alone, on the first line of a new comment.",
            None,
        )
    try:
        config = ctx.config(ev.default_branch)
        needed = getattr(config.commands, cmd.name)
        role = gh.permission(login)
    except BotError as exc:  # e.g. a broken catalog-bot.yaml on the default branch: say so, do not go silent
        gh.react(ev.comment_id, "confused")
        gh.create_comment(
            ev.issue_number, f"> {_quote(cmd.raw)}\n\n@{login}: ❌ cannot run commands: {neutralise(mask(str(exc)))}"
        )
        return Outcome("issue_comment", f"/catalog {cmd.name}: {mask(str(exc))}", ok=False)
    if permission_rank(role) < permission_rank(needed):
        return _refuse(
            ctx,
            ev,
            f"`/catalog {cmd.name}` needs **{needed}** permission on this repository; you have **{role}**.",
            config,
        )
    where = SPECS[cmd.name].where
    if where == "pr" and not ev.is_pull_request:
        return _refuse(ctx, ev, f"`/catalog {cmd.name}` works on pull requests only.", config)
    if where == "issue" and ev.is_pull_request:
        return _refuse(ctx, ev, f"`/catalog {cmd.name}` works on dataset issues only.", config)
    pinned = _pin(gh, ev)
    gh.react(ev.comment_id, "rocket")
    ok = False
    try:
        text, ok = COMMANDS[cmd.name](ctx, ev, cmd, pinned, config)
    except BotError as exc:
        text = f"❌ `/catalog {cmd.name}` failed: {mask(str(exc))}"
    except Exception as exc:
        log.error("command %s crashed: %s", cmd.name, mask(str(exc)))
        where = ctx.run_url or "the job log"
        text = f"❌ `/catalog {cmd.name}` failed with an internal error ({type(exc).__name__}); see {where}."
    finally:
        gh.react(ev.comment_id, "hooray" if ok else "confused")
    sha_note = f" at `{pinned.head_sha[:7]}`" if cmd.name not in ("help", "status", "cancel") else ""
    gh.create_comment(ev.issue_number, f"> {_quote(cmd.raw)}\n\n@{login}{sha_note}: {neutralise(text).strip()}")
    return Outcome(
        "issue_comment",
        f"/catalog {cmd.name} by {login}: {'done' if ok else 'failed'}",
        ok=ok,
        details={"sha": pinned.head_sha},
    )


def _refuse(ctx: BotContext, ev: IssueCommentEvent, reason: str, config: CatalogConfig | None) -> Outcome:
    gh = ctx.github()
    perms = msgspec.structs.asdict(config.commands) if config else None
    gh.create_comment(
        ev.issue_number,
        f"> {_quote(ev.comment_body.strip().splitlines()[0] if ev.comment_body.strip() else '')}\n\n"
        f"Sorry @{ev.author.login}, {reason[0].lower() + reason[1:]}\n\n"
        f"<details><summary>Help</summary>\n\n{help_text(perms)}\n\n</details>",
    )
    gh.react(ev.comment_id, "confused")
    return Outcome("issue_comment", f"refused for {ev.author.login}: {reason}")


def _quote(line: str) -> str:
    """Echo the user's command line: one line, bounded, and no live @mentions (no pinging teams via the bot)."""
    return line.replace("\n", " ")[:200].replace("@", "@\u200b")


def _pin(gh: GitHub, ev: IssueCommentEvent) -> Pinned:
    """Fix the commit now: later pushes must not change what an accepted command acts on."""
    if ev.is_pull_request:
        pr = gh.get_pull(ev.issue_number)
        return Pinned(pr["head"]["sha"], pr["base"]["sha"], ev.issue_number, pr["base"]["ref"])
    sha = gh.branch_sha(ev.default_branch)
    if sha is None:
        raise UsageError(f"default branch {ev.default_branch!r} not found")
    return Pinned(sha)


CommandFn = Callable[[BotContext, IssueCommentEvent, Command, Pinned, CatalogConfig], tuple[str, bool]]


def _cmd_help(
    ctx: BotContext, ev: IssueCommentEvent, cmd: Command, pinned: Pinned, config: CatalogConfig
) -> tuple[str, bool]:
    return help_text(msgspec.structs.asdict(config.commands)), True


def _into_default(pinned: Pinned, default_branch: str) -> None:
    """Privileged commands take configuration from the default branch: the PR must target it."""
    if pinned.base_ref is not None and pinned.base_ref != default_branch:
        raise CommandError(
            f"this pull request targets `{pinned.base_ref}`, not `{default_branch}`",
            hint=f"commands act on pull requests into {default_branch} (its configuration is the trusted one)",
        )


def _pr_check(ctx: BotContext, ev: IssueCommentEvent, pinned: Pinned, config: CatalogConfig) -> Any:
    """The check of the pinned PR head: its datasets/ as data, everything else from the base (default branch)."""
    assert pinned.base_sha is not None and pinned.pr is not None
    _into_default(pinned, ev.default_branch)
    ctx.fetch(pinned.base_sha, ev.default_branch)
    ctx.fetch(pinned.head_sha, f"pull/{pinned.pr}/head")
    return ctx.check_pr(pinned.base_sha, pinned.head_sha, config.default_environment)


def _pr_tree(ctx: BotContext, ev: IssueCommentEvent, pinned: Pinned) -> str:
    """What a PR preview/publish acts on: the default branch now, with the pinned head's datasets/."""
    _into_default(pinned, ev.default_branch)
    tip = ctx.github().branch_sha(ev.default_branch)
    if tip is None:
        raise CommandError(f"default branch {ev.default_branch!r} not found")
    ctx.fetch(tip, ev.default_branch)
    ctx.fetch(pinned.head_sha, f"pull/{ev.issue_number}/head")
    return ctx.trusted(tip, pinned.head_sha)


def _cmd_check(
    ctx: BotContext, ev: IssueCommentEvent, cmd: Command, pinned: Pinned, config: CatalogConfig
) -> tuple[str, bool]:
    report = _pr_check(ctx, ev, pinned, config)
    prr = build_pr_report(report, ev.issue_number)
    post_pr_report(ctx, prr)
    ctx.summary(prr.summary_markdown())
    return f"check done: {prr.title}. The report above is updated.", True


def _cmd_diff(
    ctx: BotContext, ev: IssueCommentEvent, cmd: Command, pinned: Pinned, config: CatalogConfig
) -> tuple[str, bool]:
    dataset = cmd.datasets[0]
    report = _pr_check(ctx, ev, pinned, config)
    entries = [e for e in report.entries if e.dataset == dataset]
    if not entries:
        return f"`{dataset}` is not changed by this pull request.", True
    sub = dataclasses.replace(report, entries=entries, problems=[], notices=[])
    return sub.to_markdown(max_chars=60_000)[0], True


def _cmd_preview(
    ctx: BotContext, ev: IssueCommentEvent, cmd: Command, pinned: Pinned, config: CatalogConfig
) -> tuple[str, bool]:
    from bot.events.preview import preview_environment, publish_preview

    assert pinned.pr is not None  # `preview` is a pull-request command
    env = preview_environment(config, cmd.env)
    return publish_preview(ctx, config, cmd.datasets, _pr_tree(ctx, ev, pinned), env, pinned.pr)


def _cmd_publish(
    ctx: BotContext, ev: IssueCommentEvent, cmd: Command, pinned: Pinned, config: CatalogConfig
) -> tuple[str, bool]:
    env = cmd.env or config.default_environment
    if pinned.pr is not None:
        return submit(ctx, config, cmd.datasets, _pr_tree(ctx, ev, pinned), env, pr=pinned.pr)
    ctx.fetch(pinned.head_sha, ev.default_branch)
    return submit(ctx, config, cmd.datasets, pinned.head_sha, env)


def _cmd_harvest(
    ctx: BotContext, ev: IssueCommentEvent, cmd: Command, pinned: Pinned, config: CatalogConfig
) -> tuple[str, bool]:
    """Harvest the datasets' metadata records now; changes become the usual bot PRs (one per dataset)."""
    from bot.catalog.layout import Catalog
    from bot.pipeline.harvest import harvest_all, propose_updates

    gh = ctx.github()
    sha = gh.branch_sha(ev.default_branch) or pinned.head_sha
    ctx.fetch(sha, ev.default_branch)
    with tempfile.TemporaryDirectory(prefix="catalog-bot-harvest-") as tmp:
        catalog = Catalog.open(materialize(ctx.repo_dir, sha, Path(tmp) / "tree"))
        chosen = catalog.select(cmd.datasets)
        without = [d.id for d in chosen if d.pipeline().metadata_source is None]
        if without:
            names = ", ".join(f"`{d}`" for d in without)
            return f"{names} ha{'s' if len(without) == 1 else 've'} no `metadata_source` in pipeline.yaml.", False
        outcomes = harvest_all(catalog, chosen, ctx.record_source)
    actions = propose_updates(outcomes, gh)
    rows = ["| dataset | harvest | result |", "|---|---|---|"]
    done = {a.dataset: a for a in actions if a.action.startswith("pr-")}
    for o in outcomes:
        act = done.get(o.dataset)
        result = f"[{act.action}]({act.url})" if act and act.url else (act.action if act else "no change")
        rows.append(f"| `{o.dataset}` | {o.status}{': ' + mask(o.error)[:200] if o.error else ''} | {result} |")
    ok = all(o.status not in ("error", "missing-record") for o in outcomes)
    return "harvest:\n\n" + "\n".join(rows), ok


def _cmd_status(
    ctx: BotContext, ev: IssueCommentEvent, cmd: Command, pinned: Pinned, config: CatalogConfig
) -> tuple[str, bool]:
    dataset = cmd.datasets[0]
    gh = ctx.github()
    context = f"{STATUS_PREFIX}/{dataset}"
    statuses = [s for s in gh.statuses(ev.default_branch) if s.get("context") == context]
    if not statuses:
        return f"no publish of `{dataset}` is recorded on `{ev.default_branch}`.", True
    s = statuses[0]
    link = f" ([run]({s['target_url']}))" if s.get("target_url") else ""
    return (
        f"latest publish of `{dataset}` on `{ev.default_branch}`: "
        f"**{s['state']}** — {s.get('description') or ''}{link}",
        True,
    )


def _cmd_cancel(
    ctx: BotContext, ev: IssueCommentEvent, cmd: Command, pinned: Pinned, config: CatalogConfig
) -> tuple[str, bool]:
    env = cmd.env or config.default_environment
    publisher = ctx.publisher(config.environment(env).engine)
    cancel = getattr(publisher, "cancel", None)
    if cancel is None:
        return f"nothing to cancel: the `{publisher.engine}` engine runs publishes synchronously, within the job.", True
    runs = cancel(cmd.datasets[0], env)
    return ("cancelled:\n\n" + runs_table(runs)) if runs else f"no running publish of `{cmd.datasets[0]}`.", True


def _cmd_generate(
    ctx: BotContext, ev: IssueCommentEvent, cmd: Command, pinned: Pinned, config: CatalogConfig
) -> tuple[str, bool]:
    gh = ctx.github()
    issue = gh.get_issue(ev.issue_number)  # the body as it is now, not as the event saw it
    req = parse_dataset_issue(issue.get("body") or "")
    if not req.ok or req.dataset_id is None:
        return "the issue form has problems:\n\n" + "\n".join(f"- {p}" for p in req.problems), False
    ident = req.dataset_id
    prefix = ctx.prefix()
    if gh.get_file(f"{prefix}datasets/{ident}/datapackage.json", ref=ev.default_branch) is not None:
        return f"dataset `{ident}` already exists on `{ev.default_branch}`.", False
    files = {prefix + path: data for path, data in dataset_files(req).items()}
    body = (
        f"Adds dataset `{ident}` as described in #{ev.issue_number}.\n\n"
        "Generated by catalog-bot: complete `pipeline.yaml` (source, coordinates) and the table schema, "
        f"then the check on this PR shows what will be published.\n\nCloses #{ev.issue_number}"
    )
    result = open_or_update_bot_pr(gh, f"catalog-bot/generate/{ident}", files, f"Add dataset {ident}", body)
    if result.action == "blocked":
        return (
            f"the branch `catalog-bot/generate/{ident}` has commits by a person, so I left it alone (see the PR).",
            False,
        )
    link = f"#{result.number}" if result.number else "(no PR: nothing to add)"
    gh.edit_issue(
        ev.issue_number, body=replace_bot_section(issue.get("body"), request_summary(req) + f"\n\nPull request: {link}")
    )
    return f"pull request {link} ({result.action}).", True


COMMANDS: dict[str, CommandFn] = {
    "help": _cmd_help,
    "check": _cmd_check,
    "diff": _cmd_diff,
    "preview": _cmd_preview,
    "publish": _cmd_publish,
    "harvest": _cmd_harvest,
    "status": _cmd_status,
    "cancel": _cmd_cancel,
    "generate": _cmd_generate,
}
