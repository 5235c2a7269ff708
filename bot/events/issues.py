"""``issues``: dataset issue forms are parsed and answered in the bot's own section of the body."""

from __future__ import annotations

from bot.events.context import BotContext
from bot.events.models import (
    IssuesEvent,
)
from bot.events.routing import Outcome, Router
from bot.logging import get_logger
from bot.metadata.issue_form import (
    is_dataset_form,
    parse_dataset_issue,
    replace_bot_section,
    request_summary,
)

log = get_logger("events.issues")

router = Router()


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
