"""What the bot does for each GitHub event: the composed router and :func:`handle`.

Why composed: each event family lives in its own module with its own
:class:`~bot.events.routing.Router` (``pr_check``: pull_request and
workflow_run; ``comments``: ``/catalog`` commands; ``publishing``: push and
workflow_dispatch; ``issues``: dataset issue forms; ``preview``: removing a
closed PR's preview; ``argo_report``: the Argo exit handler, called by
``catalog-bot argo report``).  This module only
joins them, so a new family is one module plus one line here.  The trust
rules every handler follows are in docs/github.md.
"""

from __future__ import annotations

from bot.events import comments, issues, pr_check, preview, publishing
from bot.events.context import BotContext
from bot.events.models import Event
from bot.events.routing import Outcome, Router

router = Router.compose(pr_check.router, comments.router, publishing.router, issues.router, preview.router)


def handle(event: Event, ctx: BotContext) -> list[Outcome]:
    """Dispatch one event; events nobody handles are a quiet no-op."""
    if ctx.gh is not None:
        ctx.gh.set_default_branch(event.default_branch)
    outcomes = router.dispatch(event, ctx)
    return outcomes or [
        Outcome("router", f"nothing to do for {event.name}{'.' + event.action if event.action else ''}")
    ]
