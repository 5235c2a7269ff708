"""The GitHub test double refuses what GitHub would refuse (its OpenAPI description is the judge).

Why: every other GitHub test trusts the double; these prove that a request
for an endpoint GitHub lacks, an unknown body field or query parameter, a
wrongly typed value, or a response missing a required field is caught --
over real HTTP, with PyGithub-independent raw requests.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import init_repo
from tests.github_contract import contract
from tests.github_routes import ROUTES
from tests.github_server import TOKEN, FakeGitHub, make_client

REPO = "octo/catalog"


@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeGitHub]:
    """A double whose contract errors each test inspects itself (not asserted empty at teardown)."""
    (tmp_path / "github").mkdir()
    server = FakeGitHub(tmp_path / "github").start()
    src = init_repo(tmp_path / "src", "i", {"README.md": "catalog\n"})
    server.add_repo(REPO, src)
    server.add_issue(REPO, "Dataset request: rivers", "body")
    yield server
    server.stop()


def call(server: FakeGitHub, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.host + path, data=data, method=method)
    req.add_header("Authorization", f"token {TOKEN}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_every_simulated_route_is_a_documented_github_operation() -> None:
    documented = {op.key for op in contract().operations}
    assert set(ROUTES) <= documented
    assert len(ROUTES) >= 25


def test_a_valid_request_is_served_and_leaves_no_contract_error(github: FakeGitHub) -> None:
    status, body = call(github, "POST", f"/api/v3/repos/{REPO}/issues/1/comments", {"body": "looks good"})
    assert status == 201
    assert body["body"] == "looks good"
    assert body["html_url"].endswith(f"/{REPO}/issues/1#issuecomment-{body['id']}")
    assert github.contract_errors == []


def test_an_endpoint_github_does_not_have_fails(github: FakeGitHub) -> None:
    status, body = call(github, "POST", f"/api/v3/repos/{REPO}/issues/1/sticky-comment", {"body": "x"})
    assert status == 404
    assert github.contract_errors == [f"GitHub's REST API has no POST /repos/{REPO}/issues/1/sticky-comment"]
    assert "has no POST" in body["message"]


def test_an_unknown_body_field_is_refused_and_nothing_is_written(github: FakeGitHub) -> None:
    status, _ = call(github, "POST", f"/api/v3/repos/{REPO}/issues/1/comments", {"body": "x", "sticky": True})
    assert status == 422
    assert "'sticky' was unexpected" in github.contract_errors[0]
    assert github.issue_comments(REPO, 1) == []


def test_a_nested_unknown_field_and_a_wrong_enum_are_both_reported(github: FakeGitHub) -> None:
    sha = github.rev(REPO, "main")
    annotation = {"path": "datasets/rivers/collection.jsonnet", "start_line": 3, "end_line": 3}
    bad = {
        "name": "catalog-bot",
        "head_sha": sha,
        "status": "finished",
        "output": {"title": "t", "summary": "s", "annotations": [{**annotation, "level": "failure", "message": "m"}]},
    }
    status, _ = call(github, "POST", f"/api/v3/repos/{REPO}/check-runs", bad)
    assert status == 422
    errors = github.contract_errors[0]
    assert "output/annotations/0" in errors and "'level' was unexpected" in errors
    assert "status: 'finished' is not one of" in errors
    assert github.repos[REPO].check_runs == {}


def test_unknown_query_parameters_and_mistyped_values_are_refused(github: FakeGitHub) -> None:
    assert call(github, "GET", f"/api/v3/repos/{REPO}/issues?state=open&since_id=3")[0] == 422
    assert call(github, "GET", f"/api/v3/repos/{REPO}/issues?per_page=many")[0] == 422
    assert "'since_id' is not accepted" in github.contract_errors[0]
    assert "per_page='many'" in github.contract_errors[1]


def test_the_most_literal_template_wins(github: FakeGitHub) -> None:
    """``issues/comments/7`` is the comment endpoint, not issue number "comments"."""
    op, params = contract().match("PATCH", f"/repos/{REPO}/issues/comments/7") or (None, {})
    assert op is not None and op.template == "/repos/{owner}/{repo}/issues/comments/{comment_id}"
    assert params["comment_id"] == "7"
    op, params = contract().match("GET", f"/repos/{REPO}/git/ref/heads/harvest/rivers") or (None, {})
    assert op is not None and params["ref"] == "heads/harvest/rivers"


def test_a_response_missing_a_required_field_is_a_500_and_recorded(
    github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = FakeGitHub._comment_json

    def without_user(self: FakeGitHub, repo: Any, c: dict[str, Any]) -> dict[str, Any]:
        data = real(self, repo, c)
        del data["user"]
        return data

    monkeypatch.setattr(FakeGitHub, "_comment_json", without_user)
    status, _ = call(github, "POST", f"/api/v3/repos/{REPO}/issues/1/comments", {"body": "x"})
    assert status == 500
    assert "'user' is a required property" in github.contract_errors[0]


def test_requests_outside_the_api_prefix_fail(github: FakeGitHub) -> None:
    status, _ = call(github, "GET", f"/repos/{REPO}")
    assert status == 404
    assert "outside the API prefix" in github.contract_errors[0]


def test_the_bot_adapter_speaks_only_documented_github(github: FakeGitHub) -> None:
    """A realistic sequence through the bot's own adapter leaves no contract error."""
    gh = make_client(github, REPO)
    gh.upsert_comment(1, "<!-- catalog-bot:check -->", "| dataset | verdict |\n|---|---|\n| rivers | ok |")
    gh.upsert_comment(1, "<!-- catalog-bot:check -->", "| dataset | verdict |\n|---|---|\n| rivers | error |")
    assert len(github.issue_comments(REPO, 1)) == 1
    assert github.contract_errors == []
