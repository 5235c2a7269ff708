"""The GitHub adapter against the local GitHub simulation (real git underneath).

GitHub itself cannot run here; ``tests/github_server.py`` simulates the REST
endpoints the bot uses, validates every request and response against GitHub's
OpenAPI description (tests/github_contract.py), and keeps git data in a real bare repository.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.github import BOT_EMAIL, open_or_update_bot_pr
from bot.errors import AuthError, ServiceError
from tests.conftest import init_repo
from tests.github_server import TOKEN, FakeGitHub, make_client, running

REPO = "octo/catalog"


@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeGitHub]:
    yield from running(tmp_path)


@pytest.fixture
def repo(github: FakeGitHub, tmp_path: Path) -> FakeGitHub:
    src = init_repo(tmp_path / "src", "init", {"README.md": "catalog\n"})
    github.add_repo(REPO, src)
    github.add_issue(REPO, "PR-like thread", "body")
    return github


def test_sticky_comment_is_edited_in_place_never_duplicated(repo: FakeGitHub) -> None:
    gh = make_client(repo, REPO)
    first = gh.upsert_comment(1, "<!-- catalog-bot:check -->", "report v1")
    repo.add_comment(REPO, 1, "a human reply that quotes <!-- catalog-bot:check -->", user="alice")
    second = gh.upsert_comment(1, "<!-- catalog-bot:check -->", "report v2")
    third = gh.upsert_comment(1, "<!-- catalog-bot:check -->", "report v2")
    bodies = [c["body"] for c in repo.issue_comments(REPO, 1)]
    assert first["id"] == second["id"] == third["id"]
    assert sum("catalog-bot:check" in b and "report" in b for b in bodies) == 1
    assert any(b.endswith("report v2") for b in bodies)
    # the unchanged third call only read
    assert repo.count("PATCH", r"/issues/comments/") == 1


def test_server_errors_are_retried_then_succeed(repo: FakeGitHub) -> None:
    sleeps: list[float] = []
    gh = make_client(repo, REPO, sleeps)
    repo.inject("PATCH", r"/issues/1$", 502, count=2)
    issue = gh.edit_issue(1, body="new body")
    assert issue["body"] == "new body"
    # the shared policy: full jitter under an exponential cap (base, then 2 * base)
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= gh.retry.base and 0 <= sleeps[1] <= 2 * gh.retry.base


def test_exhausted_retries_name_the_url_and_status_but_never_the_token(repo: FakeGitHub) -> None:
    gh = make_client(repo, REPO)
    repo.inject("GET", r"/issues/1$", 502, count=50, message="Bad Gateway")
    with pytest.raises(ServiceError) as err:
        gh.get_issue(1)
    text = str(err.value)
    assert "HTTP 502" in text and f"{repo.base_url}/repos/{REPO}/issues/1" in text and "Bad Gateway" in text
    assert TOKEN not in text
    assert repo.count("GET", r"/issues/1$") == gh.retry.attempts


def test_primary_rate_limit_waits_for_the_reset(repo: FakeGitHub) -> None:
    sleeps: list[float] = []
    gh = make_client(repo, REPO, sleeps)
    reset = int(time.time()) + 7
    gh.clock = lambda: reset - 7.0
    repo.inject(
        "GET",
        r"/issues/1$",
        403,
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
        message="API rate limit exceeded for installation ID 1.",
    )
    assert gh.get_issue(1)["number"] == 1
    assert sleeps == [8.0]  # until the reset, plus one second


def test_secondary_rate_limit_honours_retry_after(repo: FakeGitHub) -> None:
    sleeps: list[float] = []
    gh = make_client(repo, REPO, sleeps)
    repo.inject(
        "POST", r"/reactions$", 403, headers={"Retry-After": "3"}, message="You have exceeded a secondary rate limit."
    )
    comment = gh.create_comment(1, "hi")
    gh.react(comment["id"], "eyes")
    assert sleeps == [3.0]
    assert repo.reactions_of(REPO, comment["id"]) == ["eyes"]


def test_rate_limit_too_far_away_is_a_clear_error(repo: FakeGitHub) -> None:
    gh = make_client(repo, REPO)
    reset = int(time.time()) + 3600
    repo.inject(
        "GET",
        r"/issues/1$",
        403,
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
        message="API rate limit exceeded",
    )
    with pytest.raises(ServiceError) as err:
        gh.get_issue(1)
    assert "rate limited" in str(err.value) and "HTTP 403" in str(err.value)


def test_plain_403_is_an_auth_error_with_a_hint(repo: FakeGitHub) -> None:
    gh = make_client(repo, REPO)
    repo.inject("POST", r"/check-runs$", 403, message="Resource not accessible by integration")
    with pytest.raises(AuthError) as err:
        gh.create_check_run(name="x", head_sha=repo.rev(REPO, "main"), conclusion="success", title="t", summary="s")
    assert "permissions" in str(err.value)


def test_lost_response_to_a_comment_post_does_not_duplicate_it(repo: FakeGitHub) -> None:
    """GitHub stored the comment but the answer was a 502: the upsert re-reads instead of posting twice."""
    gh = make_client(repo, REPO)
    repo.inject("POST", r"/issues/1/comments$", 502, after=True)
    gh.upsert_comment(1, "<!-- m -->", "only once")
    assert [c["body"] for c in repo.issue_comments(REPO, 1)] == ["<!-- m -->\nonly once"]


def test_annotations_are_sent_in_batches_of_50(repo: FakeGitHub) -> None:
    gh = make_client(repo, REPO)
    notes = [
        {
            "path": "datasets/x/datapackage.json",
            "start_line": i + 1,
            "end_line": i + 1,
            "annotation_level": "failure",
            "message": f"m{i}",
        }
        for i in range(120)
    ]
    run = gh.create_check_run(
        name="catalog-bot",
        head_sha=repo.rev(REPO, "main"),
        conclusion="failure",
        title="120 errors",
        summary="s",
        annotations=notes,
    )
    stored = repo.repos[REPO].check_runs[run["id"]]
    assert [a["start_line"] for a in stored["annotations"]] == list(range(1, 121))
    assert repo.count("POST", r"/check-runs$") == 1 and repo.count("PATCH", r"/check-runs/") == 2
    assert stored["conclusion"] == "failure"


def test_permission_uses_the_collaborator_api_role(repo: FakeGitHub) -> None:
    gh = make_client(repo, REPO)
    repo.set_permission(REPO, "mia", "maintain")
    assert gh.permission("mia") == "maintain"  # role_name, not the legacy "write"
    assert gh.permission("stranger") == "read"
    assert gh.permission("octo") == "admin"


# ---------------------------------------------------------------------- bot pull requests

BRANCH = "catalog-bot/harvest/reef-temperature"


def test_bot_pr_lifecycle_create_update_unchanged_close(repo: FakeGitHub) -> None:
    gh = make_client(repo, REPO)
    files = {"datasets/reef-temperature/datapackage.json": b'{"title": "v1"}\n'}
    created = open_or_update_bot_pr(gh, BRANCH, files, "Update reef-temperature", "harvested v1")
    assert created.action == "created"
    pr = repo.repos[REPO].pulls[created.number]
    assert pr["head_ref"] == BRANCH
    show = subprocess.run(
        [
            "git",
            "--git-dir",
            str(repo.repos[REPO].git_dir),
            "show",
            f"{BRANCH}:datasets/reef-temperature/datapackage.json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert show.stdout == '{"title": "v1"}\n'

    updated = open_or_update_bot_pr(
        gh, BRANCH, {**files, "datasets/reef-temperature/datapackage.json": b'{"title": "v2"}\n'}, "Update", "v2"
    )
    assert (updated.action, updated.number) == ("updated", created.number)
    assert repo.repos[REPO].issues[created.number]["body"] == "v2"
    # one bot commit on top of the base, force-updated (not a growing chain)
    count = subprocess.run(
        ["git", "--git-dir", str(repo.repos[REPO].git_dir), "rev-list", "--count", f"main..{BRANCH}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert count.stdout.strip() == "1"

    same = open_or_update_bot_pr(
        gh, BRANCH, {"datasets/reef-temperature/datapackage.json": b'{"title": "v2"}\n'}, "Update", "v2"
    )
    assert same.action == "unchanged"

    # the base catches up (the change was merged by other means): no diff left -> PR closed
    repo.commit_files(REPO, "main", {"datasets/reef-temperature/datapackage.json": b'{"title": "v2"}\n'})
    closed = open_or_update_bot_pr(
        gh, BRANCH, {"datasets/reef-temperature/datapackage.json": b'{"title": "v2"}\n'}, "Update", "v2"
    )
    assert closed.action == "closed"
    assert repo.repos[REPO].issues[created.number]["state"] == "closed"
    assert len(repo.repos[REPO].pulls) == 1


def test_bot_pr_never_overwrites_a_branch_a_human_pushed_to(repo: FakeGitHub) -> None:
    gh = make_client(repo, REPO)
    created = open_or_update_bot_pr(gh, BRANCH, {"a.json": b"1\n"}, "Update", "v1")
    human = repo.commit_files(REPO, BRANCH, {"a.json": b"fixed by hand\n"}, author=("Ana", "ana@example.org"))
    result = open_or_update_bot_pr(gh, BRANCH, {"a.json": b"2\n"}, "Update", "v2")
    assert result.action == "blocked"
    assert repo.rev(REPO, BRANCH) == human  # untouched
    comments = [c["body"] for c in repo.issue_comments(REPO, created.number)]
    assert any("will not overwrite" in b and "Ana" in b for b in comments)
    # bot commits are recognised by the bot identity
    assert (
        BOT_EMAIL
        in subprocess.run(
            ["git", "--git-dir", str(repo.repos[REPO].git_dir), "log", "--format=%ae", f"main..{BRANCH}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )


def test_bot_pr_rejects_paths_outside_the_repository(repo: FakeGitHub) -> None:
    from bot.errors import UsageError

    gh = make_client(repo, REPO)
    with pytest.raises(UsageError):
        open_or_update_bot_pr(gh, BRANCH, {"../escape": b"x"}, "t", "b")
    with pytest.raises(UsageError):
        open_or_update_bot_pr(gh, "feature/x", {"a": b"x"}, "t", "b")


def test_issues_by_label_and_new_issues(repo: FakeGitHub) -> None:
    gh = make_client(repo, REPO)
    created = gh.create_issue("New dataset: corals", "### Dataset id\n\ncorals", ["dataset", "harvest"])
    repo.add_issue(REPO, "unrelated", "x")
    found = gh.list_issues(labels="dataset", state="open")
    assert [i["number"] for i in found] == [created["number"]]
    assert [label["name"] for label in found[0]["labels"]] == ["dataset", "harvest"]
    assert gh.list_issues(labels="dataset,other", state="all") == []
