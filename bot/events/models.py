"""GitHub webhook payloads -> small typed events (pure).

Why typed events: handlers should not dig through 600-field payloads, and a
payload missing a field the bot relies on must fail with a message naming
that field -- not with a ``KeyError`` deep in a handler.  Only the fields the
bot uses are read; the rest of the (large, version-dependent) payload is
kept in ``payload`` for the rare case a handler needs more.  Older real
deliveries that miss newer optional fields are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.errors import UsageError

ZERO_SHA = "0" * 40


@dataclass(frozen=True)
class User:
    """A GitHub account (``type`` is ``User``, ``Bot`` or ``Organization``)."""

    login: str
    type: str = "User"

    @property
    def is_bot(self) -> bool:
        """Bots never drive the bot (no loops, no privilege laundering)."""
        return self.type == "Bot" or self.login.endswith("[bot]")


@dataclass(frozen=True)
class Event:
    """Fields every event has."""

    name: str
    action: str | None
    repository: str
    default_branch: str
    sender: User
    payload: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)


@dataclass(frozen=True)
class PullRequestEvent(Event):
    """``pull_request``: opened, synchronize, reopened, closed, ..."""

    number: int = 0
    title: str = ""
    head_sha: str = ""
    head_ref: str = ""
    head_repo: str | None = None
    base_sha: str = ""
    base_ref: str = ""
    merged: bool = False
    draft: bool = False
    author: User = field(default_factory=lambda: User("unknown"))

    @property
    def from_fork(self) -> bool:
        """A PR whose head lives in another repository (untrusted code)."""
        return self.head_repo is not None and self.head_repo != self.repository


@dataclass(frozen=True)
class IssueCommentEvent(Event):
    """``issue_comment`` on an issue or a pull request."""

    issue_number: int = 0
    is_pull_request: bool = False
    issue_title: str = ""
    issue_body: str = ""
    issue_labels: tuple[str, ...] = ()
    comment_id: int = 0
    comment_body: str = ""
    comment_url: str = ""
    author: User = field(default_factory=lambda: User("unknown"))


@dataclass(frozen=True)
class IssuesEvent(Event):
    """``issues``: opened, edited, labeled, ..."""

    number: int = 0
    title: str = ""
    body: str = ""
    labels: tuple[str, ...] = ()
    author: User = field(default_factory=lambda: User("unknown"))
    is_pull_request: bool = False


@dataclass(frozen=True)
class PushEvent(Event):
    """``push`` to a branch or tag."""

    ref: str = ""
    before: str = ZERO_SHA
    after: str = ZERO_SHA
    created: bool = False
    deleted: bool = False
    forced: bool = False

    @property
    def branch(self) -> str | None:
        """The branch name, None for tags."""
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None


@dataclass(frozen=True)
class WorkflowRunEvent(Event):
    """``workflow_run`` completed: the privileged follow-up of the PR check."""

    run_id: int = 0
    workflow_name: str = ""
    head_sha: str = ""
    head_branch: str | None = None
    conclusion: str | None = None
    trigger: str = ""
    html_url: str = ""
    pull_requests: tuple[int, ...] = ()


@dataclass(frozen=True)
class WorkflowDispatchEvent(Event):
    """``workflow_dispatch``: a manual publish/harvest with inputs."""

    ref: str = ""
    inputs: Mapping[str, Any] = field(default_factory=dict)


def _get(payload: Mapping[str, Any], path: str, kind: type | tuple[type, ...], event: str) -> Any:
    """``payload[a][b]...`` with a clear error naming the missing/mistyped field."""
    node: Any = payload
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            raise UsageError(
                f"{event} payload has no `{path}`",
                hint="pass the webhook payload GitHub delivered (GITHUB_EVENT_PATH) for this event name",
            )
        node = node[key]
    if not isinstance(node, kind):
        raise UsageError(f"{event} payload field `{path}` has the wrong type ({type(node).__name__})")
    return node


def _opt(payload: Mapping[str, Any], path: str, default: Any = None) -> Any:
    node: Any = payload
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node or node[key] is None:
            return default
        node = node[key]
    return node


def _user(data: Any) -> User:
    if not isinstance(data, Mapping):
        return User("unknown")
    return User(str(data.get("login") or "unknown"), str(data.get("type") or "User"))


def _labels(items: Any) -> tuple[str, ...]:
    out = []
    for item in items or []:
        if isinstance(item, Mapping) and item.get("name"):
            out.append(str(item["name"]))
        elif isinstance(item, str):
            out.append(item)
    return tuple(out)


def parse_event(name: str, payload: Mapping[str, Any]) -> Event:
    """Build the typed event for ``name`` (the ``X-GitHub-Event`` header / ``GITHUB_EVENT_NAME``)."""
    if not isinstance(payload, Mapping):
        raise UsageError("the event payload must be a JSON object")
    known = (
        "pull_request",
        "pull_request_target",
        "issue_comment",
        "issues",
        "push",
        "workflow_run",
        "workflow_dispatch",
    )
    repo = (
        _get(payload, "repository.full_name", str, name)
        if name in known
        else str(_opt(payload, "repository.full_name", ""))
    )
    default_branch = str(_opt(payload, "repository.default_branch", "main") or "main")
    base: dict[str, Any] = {
        "name": name,
        "action": payload.get("action") if isinstance(payload.get("action"), str) else None,
        "repository": repo,
        "default_branch": default_branch,
        "sender": _user(payload.get("sender")),
        "payload": payload,
    }
    if name in ("pull_request", "pull_request_target"):
        pr = _get(payload, "pull_request", Mapping, name)
        return PullRequestEvent(
            **base,
            number=int(_get(payload, "pull_request.number", int, name)),
            title=str(pr.get("title") or ""),
            head_sha=_get(payload, "pull_request.head.sha", str, name),
            head_ref=str(_opt(payload, "pull_request.head.ref", "")),
            head_repo=_opt(payload, "pull_request.head.repo.full_name"),
            base_sha=_get(payload, "pull_request.base.sha", str, name),
            base_ref=_get(payload, "pull_request.base.ref", str, name),
            merged=bool(pr.get("merged")),
            draft=bool(pr.get("draft")),
            author=_user(pr.get("user")),
        )
    if name == "issue_comment":
        issue = _get(payload, "issue", Mapping, name)
        comment = _get(payload, "comment", Mapping, name)
        return IssueCommentEvent(
            **base,
            issue_number=int(_get(payload, "issue.number", int, name)),
            is_pull_request="pull_request" in issue,
            issue_title=str(issue.get("title") or ""),
            issue_body=str(issue.get("body") or ""),
            issue_labels=_labels(issue.get("labels")),
            comment_id=int(_get(payload, "comment.id", int, name)),
            comment_body=str(comment.get("body") or ""),
            comment_url=str(comment.get("html_url") or ""),
            author=_user(comment.get("user")),
        )
    if name == "issues":
        issue = _get(payload, "issue", Mapping, name)
        return IssuesEvent(
            **base,
            number=int(_get(payload, "issue.number", int, name)),
            title=str(issue.get("title") or ""),
            body=str(issue.get("body") or ""),
            labels=_labels(issue.get("labels")),
            author=_user(issue.get("user")),
            is_pull_request="pull_request" in issue,
        )
    if name == "push":
        return PushEvent(
            **base,
            ref=_get(payload, "ref", str, name),
            before=_get(payload, "before", str, name),
            after=_get(payload, "after", str, name),
            created=bool(payload.get("created")),
            deleted=bool(payload.get("deleted")),
            forced=bool(payload.get("forced")),
        )
    if name == "workflow_run":
        run = _get(payload, "workflow_run", Mapping, name)
        prs = tuple(
            int(p["number"]) for p in run.get("pull_requests") or [] if isinstance(p, Mapping) and "number" in p
        )
        return WorkflowRunEvent(
            **base,
            run_id=int(_get(payload, "workflow_run.id", int, name)),
            workflow_name=str(run.get("name") or ""),
            head_sha=_get(payload, "workflow_run.head_sha", str, name),
            head_branch=run.get("head_branch"),
            conclusion=run.get("conclusion"),
            trigger=str(run.get("event") or ""),
            html_url=str(run.get("html_url") or ""),
            pull_requests=prs,
        )
    if name == "workflow_dispatch":
        inputs = payload.get("inputs") or {}
        if not isinstance(inputs, Mapping):
            raise UsageError("workflow_dispatch payload field `inputs` must be an object")
        return WorkflowDispatchEvent(**base, ref=_get(payload, "ref", str, name), inputs=dict(inputs))
    return Event(**base)
