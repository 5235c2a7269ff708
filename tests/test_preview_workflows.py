"""The workflow side of previews and of the scheduled Argo reconcile.

* ``/catalog preview`` runs in its own job with the ``PREVIEW_*`` secrets
  only; the members' command job (production secrets) never runs it, and
  the bot enforces the split itself (``--only-command`` / ``--skip-command``)
  whatever the comment's spacing.
* The cleanup workflow (``pull_request_target`` ``closed``) checks out the
  default branch, runs nothing from the PR, holds the preview secrets only.
* The scheduled reconcile runs ``catalog-bot argo reconcile`` with exactly
  the command line of the workflow file, against the Argo test server and
  the GitHub double.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.events.context import BotContext
from bot.events.handlers import handle
from bot.events.models import parse_event
from tests.github_server import TOKEN as GH_TOKEN
from tests.github_server import make_client
from tests.test_argo_report import ARGO_TOKEN, CONTEXT, Loop, loop  # noqa: F401  (fixtures)
from tests.test_events_flow import REPO, World, bot_comments, github, world  # noqa: F401  (fixtures)

WORKFLOWS = Path(__file__).resolve().parents[1] / "catalog_templates" / ".github" / "workflows"
PRIVILEGED = WORKFLOWS / "catalog-bot.yml"
CLEANUP = WORKFLOWS / "catalog-bot-preview-cleanup.yml"
RECONCILE = WORKFLOWS / "catalog-bot-reconcile.yml"
PREVIEW_SECRETS = {"${{ secrets.PREVIEW_AWS_ACCESS_KEY_ID }}", "${{ secrets.PREVIEW_AWS_SECRET_ACCESS_KEY }}"}


def _load(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=yaml.BaseLoader)  # `on` stays a string key


def _bot_step(job: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in job["steps"] if s.get("uses", "").startswith("catalog-bot/"))


def _secrets_of(job: dict[str, Any]) -> set[str]:
    text = yaml.safe_dump(job)
    return {f"${{{{ secrets.{part.split('}')[0].strip()} }}}}" for part in text.split("secrets.")[1:]}


def test_preview_job_holds_preview_secrets_only_and_answers_only_preview() -> None:
    jobs = _load(PRIVILEGED)["jobs"]
    preview, command = jobs["preview"], jobs["command"]
    assert _secrets_of(preview) == PREVIEW_SECRETS  # no CATALOG_AWS_*, no ARGO_TOKEN
    step = _bot_step(preview)
    assert step["with"]["command"] == "event --only-command preview" and "argo-token" not in step["with"]
    assert set(step["env"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert "contains(github.event.comment.body, '/catalog preview')" in preview["if"]
    assert "github.event.issue.pull_request" in preview["if"]
    assert "author_association" in preview["if"]  # members only, before the concurrency group
    assert "statuses" not in preview["permissions"] and preview["permissions"]["contents"] == "read"
    # the production job never sees a preview comment, and the bot refuses one there anyway
    assert "!contains(github.event.comment.body, '/catalog preview')" in command["if"]
    assert _bot_step(command)["with"]["command"] == "event --skip-command preview"
    assert not any("PREVIEW_" in s for s in _secrets_of(command))


def test_cleanup_workflow_runs_no_pr_code_with_preview_secrets_only() -> None:
    wf = _load(CLEANUP)
    assert wf["on"] == {"pull_request_target": {"types": ["closed"]}}
    assert wf["permissions"] == {}
    text = CLEANUP.read_text()
    for marker in ("pull_request.head", "head_ref", "refs/pull/", "run:"):
        assert marker not in text, marker
    [job] = wf["jobs"].values()
    assert _secrets_of(job) == PREVIEW_SECRETS
    assert job["permissions"] == {"contents": "read", "issues": "write", "pull-requests": "write"}
    checkout = job["steps"][0]
    assert checkout["with"]["ref"] == "${{ github.event.repository.default_branch }}"
    assert checkout["with"]["persist-credentials"] == "false"
    assert _bot_step(job)["with"]["command"] == "event"


def test_reconcile_workflow_is_scheduled_with_least_privilege() -> None:
    wf = _load(RECONCILE)
    assert "schedule" in wf["on"] and wf["on"]["schedule"][0]["cron"]
    [job] = wf["jobs"].values()
    assert job["permissions"] == {"contents": "read", "statuses": "write"}
    assert _secrets_of(job) == {"${{ secrets.ARGO_TOKEN }}"}
    assert _bot_step(job)["with"]["command"].startswith("argo reconcile --recent ")


@pytest.mark.parametrize(
    ("skip", "only", "body"),
    [
        # the members' job: a preview that slipped past the `if:` (two spaces) is refused, not run
        (frozenset({"preview"}), None, "/catalog  preview reef-temperature"),
        # the preview job: any other command is refused, not run with the preview credentials
        (frozenset(), frozenset({"preview"}), "/catalog publish reef-temperature\n/catalog preview x"),
    ],
)
def test_a_command_outside_its_job_is_refused_and_nothing_runs(
    world: World,  # noqa: F811
    skip: frozenset[str],
    only: frozenset[str] | None,
    body: str,
) -> None:
    world.change("feature", title="x")
    pr = world.server.open_pr(REPO, "feature")["number"]
    ctx = world.ctx(skip_commands=skip, only_commands=only)
    [outcome] = handle(parse_event("issue_comment", world.comment_payload(pr, body, "mia")), ctx)
    assert "does not run in this job" in bot_comments(world, pr)[-1]
    assert "refused" in outcome.message
    assert world.publisher.calls == [] and not (world.clone / "_published").exists()


def test_event_cli_refuses_an_unknown_command_name(tmp_path: Path) -> None:
    payload = tmp_path / "event.json"
    payload.write_text("{}")
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "event", "--event", "issues", "--payload", str(payload), "--only-command", "x1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "unknown /catalog command 'x1'" in proc.stderr, proc.stderr


def _workflow_command() -> list[str]:
    [job] = _load(RECONCILE)["jobs"].values()
    return shlex.split(_bot_step(job)["with"]["command"])


def test_scheduled_reconcile_command_finishes_a_deleted_workflows_status(loop: Loop) -> None:  # noqa: F811
    """The workflow's own command line, in a checkout of the default branch whose default environment is Argo."""
    _pr, sha = loop.merge_a_change()
    name = loop.only_workflow()
    loop.client.get(name)
    request = urllib.request.Request(f"{loop.argo.url}/api/v1/workflows/argo/{name}", method="DELETE")
    request.add_header("Authorization", f"Bearer {ARGO_TOKEN}")
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200
    subprocess.run(["git", "-C", str(loop.clone), "pull", "-q", "--ff-only"], check=True)
    config_path = loop.clone / "catalog-bot.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["default_environment"] = "argo"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(loop.clone.parent),
        "GITHUB_TOKEN": GH_TOKEN,
        "GITHUB_API_URL": loop.github.base_url,
        "GITHUB_REPOSITORY": REPO,
        "ARGO_TOKEN": ARGO_TOKEN,
        "CATALOG_BOT_SCHEMAS": str(loop.settings.schemas_dir),
    }
    cmd = [sys.executable, "-m", "bot", *_workflow_command()]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=loop.clone, env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["reconciled"] == [{"sha": sha, "context": CONTEXT, "workflow": name, "state": "error"}]
    final = [s for s in loop.repo.statuses if s["sha"] == sha and s["context"] == CONTEXT][-1]
    assert final["state"] == "error" and "deleted before it finished" in final["description"]
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=loop.clone, env=env)
    assert json.loads(again.stdout)["reconciled"] == []  # nothing pending any more
    assert GH_TOKEN not in proc.stdout + proc.stderr and ARGO_TOKEN not in proc.stdout + proc.stderr


def test_scheduled_reconcile_on_a_local_engine_catalog_does_nothing(world: World) -> None:  # noqa: F811
    """The template's example publishes with the local engine: the schedule must pass quietly, no API call."""
    before = len(world.server.requests)
    env = {"PATH": os.environ["PATH"], "HOME": str(world.tmp), "GITHUB_TOKEN": GH_TOKEN}
    env["GITHUB_API_URL"] = world.server.base_url
    proc = subprocess.run(
        [sys.executable, "-m", "bot", *_workflow_command()], capture_output=True, text=True, cwd=world.clone, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "does not use engine argo" in json.loads(proc.stdout)["note"]
    assert len(world.server.requests) == before


def test_preview_job_context_never_builds_a_publisher_for_other_commands(world: World) -> None:  # noqa: F811
    """Belt and braces for the split: a help command in the preview job is refused too (only preview runs)."""
    issue = world.server.add_issue(REPO, "t", "b")["number"]
    ctx = BotContext(
        settings=world.settings,
        repo_dir=world.clone,
        gh=make_client(world.server, REPO),
        only_commands=frozenset({"preview"}),
    )
    [outcome] = handle(parse_event("issue_comment", world.comment_payload(issue, "/catalog help", "mia")), ctx)
    assert "refused" in outcome.message and "does not run in this job" in bot_comments(world, issue)[-1]
