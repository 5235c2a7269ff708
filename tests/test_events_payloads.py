"""Real webhook deliveries (shared contracts) -> typed events; the router's matching rules."""

from __future__ import annotations

import pytest

from bot.errors import UsageError
from bot.events.models import (
    IssueCommentEvent,
    IssuesEvent,
    PullRequestEvent,
    PushEvent,
    WorkflowDispatchEvent,
    WorkflowRunEvent,
    parse_event,
)
from bot.events.routing import Outcome, Router
from tests.github_server import load_webhook, webhook_errors

OCTOKIT = [
    ("pull_request", "pull_request/opened.payload.json", PullRequestEvent),
    ("pull_request", "pull_request/synchronize.payload.json", PullRequestEvent),
    ("pull_request", "pull_request/closed.payload.json", PullRequestEvent),
    ("issue_comment", "issue_comment/created.payload.json", IssueCommentEvent),
    ("issue_comment", "issue_comment/edited.payload.json", IssueCommentEvent),
    ("issues", "issues/opened.payload.json", IssuesEvent),
    ("issues", "issues/edited.payload.json", IssuesEvent),
    ("push", "push/with-new-branch.payload.json", PushEvent),
    ("push", "push/payload.json", PushEvent),
    ("workflow_run", "workflow_run/completed.payload.json", WorkflowRunEvent),
    ("workflow_dispatch", "workflow_dispatch/payload.json", WorkflowDispatchEvent),
]
CAPTURES = [
    ("issue_comment", "drone-go-scm/scm/driver/github/testdata/webhooks/comment.json", IssueCommentEvent),
    ("push", "drone-go-scm/scm/driver/github/testdata/webhooks/push.json", PushEvent),
    ("pull_request", "drone-go-scm/scm/driver/github/testdata/webhooks/pr_opened.json", PullRequestEvent),
    ("pull_request", "drone-go-scm/scm/driver/github/testdata/webhooks/pr_sync.json", PullRequestEvent),
    ("pull_request", "drone-go-scm/scm/driver/github/testdata/webhooks/pr_closed.json", PullRequestEvent),
    ("issue_comment", "atlantis/server/controllers/events/testdata/githubIssueCommentEvent.json", IssueCommentEvent),
    ("pull_request", "atlantis/server/controllers/events/testdata/githubPullRequestClosedEvent.json", PullRequestEvent),
]


@pytest.mark.parametrize(("name", "rel", "kind"), OCTOKIT)
def test_octokit_examples_are_valid_and_parse(name: str, rel: str, kind: type) -> None:
    payload = load_webhook(rel)
    assert webhook_errors(name, payload) == []
    event = parse_event(name, payload)
    assert isinstance(event, kind)
    assert event.repository == payload["repository"]["full_name"]
    assert event.sender.login == payload["sender"]["login"]


@pytest.mark.parametrize(("name", "rel", "kind"), CAPTURES)
def test_older_real_captures_are_accepted(name: str, rel: str, kind: type) -> None:
    """Real deliveries predating now-required schema fields: accepted (only missing fields are tolerated)."""
    payload = load_webhook(rel)
    assert webhook_errors(name, payload, lenient=True) == []
    assert isinstance(parse_event(name, payload), kind)


def test_fields_the_bot_relies_on() -> None:
    pr = parse_event("pull_request", load_webhook("drone-go-scm/scm/driver/github/testdata/webhooks/pr_opened.json"))
    raw = load_webhook("drone-go-scm/scm/driver/github/testdata/webhooks/pr_opened.json")["pull_request"]
    assert isinstance(pr, PullRequestEvent)
    assert (pr.number, pr.head_sha, pr.base_ref) == (raw["number"], raw["head"]["sha"], raw["base"]["ref"])
    comment = parse_event(
        "issue_comment", load_webhook("drone-go-scm/scm/driver/github/testdata/webhooks/comment.json")
    )
    assert isinstance(comment, IssueCommentEvent) and comment.is_pull_request
    on_issue = parse_event("issue_comment", load_webhook("issue_comment/created.payload.json"))
    assert isinstance(on_issue, IssueCommentEvent) and not on_issue.is_pull_request
    push = parse_event("push", load_webhook("drone-go-scm/scm/driver/github/testdata/webhooks/push.json"))
    assert isinstance(push, PushEvent) and push.branch == "master" == push.default_branch
    tag = parse_event("push", load_webhook("push/payload.json"))
    assert isinstance(tag, PushEvent) and tag.branch is None and tag.deleted
    dispatch = parse_event("workflow_dispatch", load_webhook("workflow_dispatch/payload.json"))
    assert isinstance(dispatch, WorkflowDispatchEvent) and dispatch.inputs == {"name": "Mona the Octocat"}


def test_a_payload_missing_a_used_field_names_it() -> None:
    payload = load_webhook("pull_request/opened.payload.json")
    del payload["pull_request"]["head"]["sha"]
    with pytest.raises(UsageError) as err:
        parse_event("pull_request", payload)
    assert "pull_request.head.sha" in str(err.value)
    with pytest.raises(UsageError):
        parse_event("push", {"repository": {"full_name": "a/b"}, "ref": 5, "before": "x", "after": "y"})


def test_router_matches_event_and_action() -> None:
    router = Router()
    seen: list[str] = []

    @router.register("pull_request", "opened")
    def opened(ev: object, ctx: object) -> Outcome:
        seen.append("opened")
        return Outcome("a", "x")

    @router.register("pull_request")
    def any_action(ev: object, ctx: object) -> None:
        seen.append("any")

    opened_ev = parse_event("pull_request", load_webhook("pull_request/opened.payload.json"))
    closed_ev = parse_event("pull_request", load_webhook("pull_request/closed.payload.json"))
    push_ev = parse_event("push", load_webhook("push/payload.json"))
    assert [o.handler for o in router.dispatch(opened_ev, None)] == ["a"]
    router.dispatch(closed_ev, None)
    assert router.dispatch(push_ev, None) == []
    assert seen == ["opened", "any", "any"]
