"""What the bot does for each GitHub event.

Why these rules (see docs/architecture.md and docs/github.md):

- ``pull_request`` runs in the UNPRIVILEGED job: it checks the PR (data only,
  sandboxed Jsonnet), writes the job summary and, without a token, leaves a
  :class:`~bot.events.pr_report.PrReport` artifact; with a token (same-repo
  setups, tests) it posts directly.
- ``workflow_run`` runs in the PRIVILEGED job: it posts that artifact as ONE
  sticky comment (found by its hidden marker and edited in place) and a check
  run with file/line annotations; it never checks out or runs PR code.
- ``issue_comment``: ``/catalog`` commands, authorized per command from the
  DEFAULT branch's ``catalog-bot.yaml`` against the commenter's permission
  from the collaborator API (not ``author_association``); the head SHA is
  pinned when the command is accepted.  Reactions: eyes on receipt, rocket
  when dispatched, hooray/confused at the end.
- ``push`` to the default branch publishes only the datasets the merge
  changed, links the runs on the merged PR and ALWAYS finalizes the commit
  statuses (try/finally), so nothing stays pending.
- ``issues``: dataset issue forms are parsed and answered in the bot's own
  section of the issue body.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.adapters.github import GitHub, open_or_update_bot_pr
from bot.catalog.layout import DATASET_ID
from bot.config import CONFIG_FILE, PERMISSIONS, CatalogConfig, Settings, load_catalog_config
from bot.errors import BotError, CommandError, UsageError
from bot.events.commands import SPECS, Command, help_text, is_command, parse_command
from bot.events.issue_form import (
    dataset_files,
    is_dataset_form,
    parse_dataset_issue,
    replace_bot_section,
    request_summary,
)
from bot.events.models import (
    ZERO_SHA,
    Event,
    IssueCommentEvent,
    IssuesEvent,
    PullRequestEvent,
    PushEvent,
    WorkflowDispatchEvent,
    WorkflowRunEvent,
)
from bot.events.pr_report import CHECK_NAME, PrReport, build_pr_report, load_pr_report
from bot.events.publisher import Publisher, Run, fetch_commit, materialize, publisher_for
from bot.events.routing import Outcome, Router
from bot.logging import get_logger, mask

log = get_logger("events")

CHECK_MARKER = "<!-- catalog-bot:check -->"
PUBLISH_MARKER = "<!-- catalog-bot:publish -->"
STATUS_PREFIX = "catalog-bot/publish"
PR_ACTIONS = ("opened", "synchronize", "reopened", "ready_for_review")
_ANY_MARKER = re.compile(r"<!--\s*catalog-bot:[^>]*-->")

Checker = Callable[[Path, str, str, Settings, str], Any]


def _default_checker(root: Path, base: str, head: str, settings: Settings, env: str) -> Any:
    try:
        from bot.catalog.check import run_check
    except ImportError as exc:  # pragma: no cover - until the check engine is installed
        raise BotError(
            "the check engine (bot.catalog.check) is not available", hint="install catalog-bot completely"
        ) from exc
    from bot.adapters.git import GitRepo

    return run_check(GitRepo(root), base, head, settings, env, label=str(root))


@dataclass
class BotContext:
    """Everything a handler needs; built once per event by ``catalog-bot event``.

    ``gh`` is None in the unprivileged job (no token): handlers then only
    write files (artifact, job summary).  ``repo_dir`` is the local clone (the
    catalog root inside it).  ``publisher_factory`` and ``checker`` are the
    seams for engines and tests.
    """

    settings: Settings
    repo_dir: Path
    gh: GitHub | None = None
    run_url: str = ""
    artifact_out: Path | None = None
    artifact_in: Path | None = None
    publisher_factory: Callable[[str], Publisher] | None = None
    checker: Checker = _default_checker
    record_sources: Callable[[str], Any] | None = None
    environment: str | None = None
    _config: CatalogConfig | None = field(default=None, repr=False)

    def github(self) -> GitHub:
        """The GitHub client; a clear error in the job that has none."""
        if self.gh is None:
            raise UsageError("this event needs GitHub access", hint="set GITHUB_TOKEN for the privileged job")
        return self.gh

    def prefix(self) -> str:
        """The catalog's folder inside the repository (``""`` at the root)."""
        out = subprocess.run(
            ["git", "-C", str(self.repo_dir), "rev-parse", "--show-prefix"], capture_output=True, text=True, check=False
        )
        return out.stdout.strip() if out.returncode == 0 else ""

    def config(self, default_branch: str) -> CatalogConfig:
        """``catalog-bot.yaml`` from the DEFAULT branch (via the API), never from a PR."""
        if self._config is not None:
            return self._config
        if self.gh is None:
            self._config = load_catalog_config(self.repo_dir)
            return self._config
        data = self.gh.get_file(self.prefix() + CONFIG_FILE, ref=default_branch)
        with tempfile.TemporaryDirectory() as tmp:
            if data is not None:
                (Path(tmp) / CONFIG_FILE).write_bytes(data)
            self._config = load_catalog_config(Path(tmp))
        return self._config

    def publisher(self, engine: str) -> Publisher:
        """The publisher for an engine (injected in tests)."""
        if self.publisher_factory is not None:
            return self.publisher_factory(engine)
        repo = self.gh.repo if self.gh else (self.settings.github_repository or "")
        return publisher_for(engine, self.repo_dir, self.settings, run_url=self.run_url, repository=repo)

    def record_source(self, url: str) -> Any:
        """The metadata source (CSW or URL) for ``url`` (injected in tests)."""
        if self.record_sources is not None:
            return self.record_sources(url)
        from bot.adapters.csw import MetadataSource

        return MetadataSource(url)

    def fetch(self, sha: str, refspec: str | None = None) -> None:
        """Make a commit available in the local clone (authenticated, nothing persisted)."""
        token = self.settings.github_token.get_secret_value() if self.settings.github_token else None
        fetch_commit(self.repo_dir, sha, refspec, token)

    def publish_env(self, config: CatalogConfig) -> str:
        """The environment merges and dispatches publish to (``--environment`` or the default)."""
        return self.environment or config.default_environment

    def check(self, base: str, head: str, env: str) -> Any:
        """Run ``catalog-bot check`` between two commits of the local clone."""
        return self.checker(self.repo_dir, base, head, self.settings, env)

    def summary(self, markdown: str) -> None:
        """Append to the job summary when running under Actions."""
        if self.settings.step_summary is not None:
            from bot.catalog.report import write_step_summary

            write_step_summary(self.settings.step_summary, markdown)


router = Router()


def handle(event: Event, ctx: BotContext) -> list[Outcome]:
    """Dispatch one event; events nobody handles are a quiet no-op."""
    if ctx.gh is not None:
        ctx.gh.set_default_branch(event.default_branch)
    outcomes = router.dispatch(event, ctx)
    return outcomes or [
        Outcome("router", f"nothing to do for {event.name}{'.' + event.action if event.action else ''}")
    ]


# ---------------------------------------------------------------------- pull requests


@router.register("pull_request")
def on_pull_request(ev: PullRequestEvent, ctx: BotContext) -> Outcome:
    """Check the PR; artifact for the privileged job, or post directly when we hold a token."""
    if ev.action not in PR_ACTIONS:
        return Outcome("pull_request", f"nothing to do for pull_request.{ev.action}")
    ctx.fetch(ev.base_sha, ev.base_ref)
    ctx.fetch(ev.head_sha, f"pull/{ev.number}/head")
    config = load_catalog_config(ctx.repo_dir) if ctx.gh is None else ctx.config(ev.default_branch)
    report = ctx.check(ev.base_sha, ev.head_sha, config.default_environment)
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
        title=prr.title,
        summary=_ANY_MARKER.sub("", prr.bodies[0]).strip(),
        annotations=[a.model_dump(exclude_none=True) for a in prr.annotations],
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
    comment = gh.upsert_comment(prr.pr, CHECK_MARKER, body)
    _check_run(gh, prr, ctx.run_url or comment.get("html_url"))
    return comment


@router.register("workflow_run", "completed")
def on_workflow_run(ev: WorkflowRunEvent, ctx: BotContext) -> Outcome:
    """Post the unprivileged job's report; a missing or forged report fails the check (never passes silently)."""
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
        prr = load_pr_report(ctx.artifact_in)
        if prr.head_sha != ev.head_sha:
            raise UsageError(f"the report is for commit {prr.head_sha[:7]}, but the workflow ran for {ev.head_sha[:7]}")
        if ev.pull_requests and prr.pr not in ev.pull_requests:
            raise UsageError(f"the report names PR #{prr.pr}, which this workflow run was not for")
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
    pr = gh.get_pull(prr.pr)
    if pr["head"]["sha"] != ev.head_sha:
        # The PR moved on (or the number is forged): annotate the commit only, never another PR's thread.
        _check_run(gh, prr, link or None)
        return Outcome(
            "workflow_run", f"PR #{prr.pr} head is no longer {ev.head_sha[:7]}: check run only, comment skipped"
        )
    ctx.summary(prr.summary_markdown())
    post_pr_report(ctx, prr)
    return Outcome(
        "workflow_run", f"posted the check of #{prr.pr}: {prr.title}", details={"conclusion": prr.conclusion}
    )


# ---------------------------------------------------------------------- comment commands


@dataclass(frozen=True)
class Pinned:
    """The commit a command acts on, fixed when the command was accepted."""

    head_sha: str
    base_sha: str | None = None
    pr: int | None = None


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
    try:
        config = ctx.config(ev.default_branch)
        needed = getattr(config.commands, cmd.name)
        role = gh.permission(login)
    except BotError as exc:  # e.g. a broken catalog-bot.yaml on the default branch: say so, do not go silent
        gh.react(ev.comment_id, "confused")
        gh.create_comment(ev.issue_number, f"> {_quote(cmd.raw)}\n\n@{login}: ❌ cannot run commands: {mask(str(exc))}")
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
    gh.create_comment(
        ev.issue_number, f"> {_quote(cmd.raw)}\n\n@{login}{sha_note}: {_ANY_MARKER.sub('', text).strip()}"
    )
    return Outcome(
        "issue_comment",
        f"/catalog {cmd.name} by {login}: {'done' if ok else 'failed'}",
        ok=ok,
        details={"sha": pinned.head_sha},
    )


def _refuse(ctx: BotContext, ev: IssueCommentEvent, reason: str, config: CatalogConfig | None) -> Outcome:
    gh = ctx.github()
    perms = config.commands.model_dump() if config else None
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
        return Pinned(pr["head"]["sha"], pr["base"]["sha"], ev.issue_number)
    sha = gh.branch_sha(ev.default_branch)
    if sha is None:
        raise UsageError(f"default branch {ev.default_branch!r} not found")
    return Pinned(sha)


CommandFn = Callable[[BotContext, IssueCommentEvent, Command, Pinned, CatalogConfig], tuple[str, bool]]


def _cmd_help(
    ctx: BotContext, ev: IssueCommentEvent, cmd: Command, pinned: Pinned, config: CatalogConfig
) -> tuple[str, bool]:
    return help_text(config.commands.model_dump()), True


def _pr_check(ctx: BotContext, pinned: Pinned, config: CatalogConfig) -> Any:
    assert pinned.base_sha is not None and pinned.pr is not None
    ctx.fetch(pinned.base_sha)
    ctx.fetch(pinned.head_sha, f"pull/{pinned.pr}/head")
    return ctx.check(pinned.base_sha, pinned.head_sha, config.default_environment)


def _cmd_check(
    ctx: BotContext, ev: IssueCommentEvent, cmd: Command, pinned: Pinned, config: CatalogConfig
) -> tuple[str, bool]:
    report = _pr_check(ctx, pinned, config)
    prr = build_pr_report(report, ev.issue_number)
    post_pr_report(ctx, prr)
    ctx.summary(prr.summary_markdown())
    return f"check done: {prr.title}. The report above is updated.", True


def _cmd_diff(
    ctx: BotContext, ev: IssueCommentEvent, cmd: Command, pinned: Pinned, config: CatalogConfig
) -> tuple[str, bool]:
    dataset = cmd.datasets[0]
    report = _pr_check(ctx, pinned, config)
    entries = [e for e in report.entries if e.dataset == dataset]
    if not entries:
        return f"`{dataset}` is not changed by this pull request.", True
    sub = dataclasses.replace(report, entries=entries, problems=[], notices=[])
    return sub.to_markdown(max_chars=60_000)[0], True


def _runs_table(runs: Sequence[Run]) -> str:
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


def _submit(
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
    return f"{verb} to `{env}`:\n\n{_runs_table(runs)}", ok


def _cmd_preview(
    ctx: BotContext, ev: IssueCommentEvent, cmd: Command, pinned: Pinned, config: CatalogConfig
) -> tuple[str, bool]:
    env = cmd.env or ("dev" if "dev" in config.environments else None)
    if env is None:
        raise CommandError(
            "there is no preview environment", hint="add environments.dev to catalog-bot.yaml or pass env=NAME"
        )
    ctx.fetch(pinned.head_sha, f"pull/{ev.issue_number}/head")
    return _submit(ctx, config, cmd.datasets, pinned.head_sha, env, pr=pinned.pr)


def _cmd_publish(
    ctx: BotContext, ev: IssueCommentEvent, cmd: Command, pinned: Pinned, config: CatalogConfig
) -> tuple[str, bool]:
    env = cmd.env or config.default_environment
    if pinned.pr is not None:
        ctx.fetch(pinned.head_sha, f"pull/{ev.issue_number}/head")
    else:
        ctx.fetch(pinned.head_sha, ev.default_branch)
    return _submit(ctx, config, cmd.datasets, pinned.head_sha, env, pr=pinned.pr)


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
    return ("cancelled:\n\n" + _runs_table(runs)) if runs else f"no running publish of `{cmd.datasets[0]}`.", True


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


# ---------------------------------------------------------------------- merge publishing


@router.register("push")
def on_push(ev: PushEvent, ctx: BotContext) -> Outcome:
    """Publish the datasets a push to the default branch changed; statuses are always finalized."""
    if ev.branch != ev.default_branch or ev.deleted:
        return Outcome("push", f"ignored: push to {ev.ref}, not to {ev.default_branch}")
    if ev.before == ZERO_SHA:
        return Outcome("push", "first push of the default branch: nothing to compare; publish with /catalog publish")
    gh = ctx.github()
    ctx.fetch(ev.before)
    ctx.fetch(ev.after)
    config = ctx.config(ev.default_branch)
    env = ctx.publish_env(config)
    report = ctx.check(ev.before, ev.after, config.default_environment)
    datasets = list(report.publish_ids())
    if not datasets:
        return Outcome("push", "no dataset to publish in this push")
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
    return Outcome(
        "push", f"published {len(runs)} dataset(s) to {env}", ok=ok, details={"runs": [r.run_id for r in runs]}
    )


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
        _runs_table(runs)
        if runs
        else f"❌ publishing failed before any run started: {mask(str(error)) if error else 'unknown error'}"
    )
    markdown = f"{PUBLISH_MARKER}\n## catalog-bot publish of `{sha[:7]}` to `{env}`\n\n{table}\n"
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
    sha = subprocess.run(
        ["git", "-C", str(ctx.repo_dir), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    text, ok = _submit(ctx, config, datasets, sha, env, workflow=workflow)
    ctx.summary(f"## catalog-bot {workflow} of `{sha[:7]}`\n\n{text}\n")
    return Outcome("workflow_dispatch", f"{workflow} of {len(datasets)} dataset(s) to {env}", ok=ok)


# ---------------------------------------------------------------------- dataset issues


@router.register("issues")
def on_issues(ev: IssuesEvent, ctx: BotContext) -> Outcome:
    """Parse a dataset issue form and answer in the bot's section of the issue body."""
    if ev.action not in ("opened", "edited", "labeled", "reopened") or ev.is_pull_request:
        return Outcome("issues", f"nothing to do for issues.{ev.action}")
    if ev.sender.is_bot:
        return Outcome("issues", "ignored: edited by a bot (our own section)")
    config = ctx.config(ev.default_branch)
    if config.labels.get("dataset", "dataset") not in ev.labels and not is_dataset_form(ev.body):
        return Outcome("issues", "ignored: not a dataset issue")
    gh = ctx.github()
    req = parse_dataset_issue(ev.body)
    new_body = replace_bot_section(ev.body, request_summary(req))
    if new_body != ev.body:
        gh.edit_issue(ev.number, body=new_body)
    return Outcome("issues", f"dataset issue #{ev.number}: {'ready' if req.ok else f'{len(req.problems)} problem(s)'}")


# ---------------------------------------------------------------------- Argo exit handler

ARGO_STATES = {"Succeeded": "success", "Failed": "failure", "Error": "error"}


def report_run(
    settings: Settings,
    repository: str,
    *,
    sha: str,
    pr: int | None,
    dataset: str,
    state: str,
    body: str,
    url: str | None,
    gh: GitHub | None = None,
) -> None:
    """Final word of an Argo workflow (its ``onExit`` step): commit status, and a PR comment.

    The status context is the one the merge handler set at submission
    (``catalog-bot/publish/<dataset>``), so the submission's provisional
    state is replaced by the real outcome; the comment is sticky per dataset.
    """
    gh = gh or GitHub.connect(settings, repository)
    gh.set_status(sha, ARGO_STATES.get(state, "error"), f"{STATUS_PREFIX}/{dataset}", f"{state} (Argo)", url or None)
    if pr is not None:
        gh.upsert_comment(pr, f"<!-- catalog-bot:argo:{dataset} -->", mask(body))
