"""The final word of an Argo workflow (its ``onExit`` step): commit status and PR comment."""

from __future__ import annotations

from bot.adapters.github import GitHub
from bot.config import Settings
from bot.events.context import STATUS_PREFIX
from bot.events.sanitize import with_marker
from bot.logging import get_logger, mask

log = get_logger("events.argo_report")

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
        marker = f"<!-- catalog-bot:argo:{dataset} -->"
        gh.upsert_comment(pr, marker, with_marker(marker, mask(body)))
