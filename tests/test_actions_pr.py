"""Pull requests through the real workflow files under act: unprivileged check, then the privileged report.

Scenario (a): a PR touching two datasets, one of them broken: the
``pull_request`` workflow runs with no token and makes no API call, uploads
its report; GitHub's ``workflow_run`` delivery then runs the privileged job,
which posts ONE sticky comment and a check run with annotations.
Scenario (b): a second push edits that same comment.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.events.handlers import CHECK_MARKER
from tests.act_harness import REPO, ActWorld, act_session, act_world  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.actions, pytest.mark.slow]

BROKEN = "reef-temperature"
FINE = "marine-protected-areas"


def check_pr(world: ActWorld, pr: int, action: str) -> tuple[str, Path]:
    """The unprivileged workflow for the PR's head; returns (head sha, uploaded report)."""
    head = world.github.rev(REPO, world.repo.pulls[pr]["head_ref"])
    writes = world.github.count("POST") + world.github.count("PATCH")
    result = world.act.run("pull_request", world.pr_payload(pr, action), sha=world.main())
    assert "check (unprivileged)" in result.jobs, result.output[-3000:]
    assert world.github.count("POST") + world.github.count("PATCH") == writes  # no token, no API write
    [report] = [p for p in world.act.artifacts.glob("*/catalog-bot-report/pr-report.json") if p.parts[-3].isdigit()]
    assert json.loads(report.read_text())["head_sha"] == head
    return head, report


def report_pr(world: ActWorld, head: str, report: Path, conclusion: str) -> None:
    """GitHub's workflow_run delivery -> the privileged job posts the report."""
    run_id = int(report.parent.parent.name)
    result = world.act.run("workflow_run", world.workflow_run_payload(head, run_id, conclusion), sha=world.main())
    assert result.jobs.get("post the PR check") == "succeeded", result.output[-4000:]
    assert set(result.jobs) == {"post the PR check"}  # the other privileged jobs stay skipped
    report.parent.parent.rename(report.parent.parent.with_name(f"done-{run_id}-{head[:7]}"))


def test_a_pr_touching_two_datasets_one_broken_gets_one_comment_and_an_annotated_check(world: ActWorld) -> None:
    world.edit_datapackage("feature", BROKEN, access="secret")  # not public|limited: the profile refuses it
    world.edit_datapackage("feature", FINE, title="Marine protected areas (2026 boundaries)")
    pr = world.github.open_pr(REPO, "feature", user="alice")["number"]

    head, report = check_pr(world, pr, "opened")
    report_pr(world, head, report, "failure")

    [comment] = world.bot_comments(pr)
    assert comment.startswith(CHECK_MARKER) and BROKEN in comment and FINE in comment
    [check] = world.repo.check_runs.values()
    assert check["head_sha"] == head and check["conclusion"] == "failure"
    path = f"datasets/{BROKEN}/datapackage.json"
    notes = [a for a in check["annotations"] if a["path"] == path and a["annotation_level"] == "failure"]
    assert notes and any("access" in a["message"] for a in notes)
    assert not [a for a in check["annotations"] if FINE in a["path"] and a["annotation_level"] == "failure"]


def test_a_second_push_edits_the_same_comment(world: ActWorld) -> None:
    world.edit_datapackage("feature", BROKEN, access="secret")
    pr = world.github.open_pr(REPO, "feature", user="alice")["number"]
    head, report = check_pr(world, pr, "opened")
    report_pr(world, head, report, "failure")
    [first] = [dict(c) for c in world.github.issue_comments(REPO, pr)]
    assert "❌" in first["body"]

    world.edit_datapackage("feature", BROKEN, access="public", title="Reef temperature, fixed")
    head2, report2 = check_pr(world, pr, "synchronize")
    report_pr(world, head2, report2, "success")

    [second] = world.github.issue_comments(REPO, pr)
    assert second["id"] == first["id"] and second["body"] != first["body"]
    assert second["body"].startswith(CHECK_MARKER) and "✅ no problems" in second["body"]
    runs = sorted(world.repo.check_runs.values(), key=lambda r: r["id"])
    assert [(r["head_sha"], r["conclusion"]) for r in runs] == [(head, "failure"), (head2, "success")]


@pytest.fixture
def world(act_world: ActWorld) -> ActWorld:  # noqa: F811
    return act_world
