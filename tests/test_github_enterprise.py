"""GitHub Enterprise Server: ``GITHUB_API_URL`` is honoured by every path that talks to GitHub.

Why: on GHES the REST API lives under ``https://HOST/api/v3``; one call built
from a hard-coded ``api.github.com`` (or dropping the prefix) would work in
every test against a root-mounted double and fail on the customer's server.
The double refuses (and records) any request outside its mount point, so
each test below runs the same bot code under ``/api/v3`` and at the root and
must leave no contract error either way.  The other entry points are
covered where they live: the Actions workflows under act and the Argo exit
handler both point at the double under ``/api/v3`` (tests/test_actions_*.py,
tests/test_argo_report.py).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.adapters.github import open_or_update_bot_pr
from bot.cli import app
from bot.config import Settings
from tests.github_server import TOKEN, FakeGitHub, make_client, running

REPO = "octo/catalog"


@pytest.fixture(params=["/api/v3", ""], ids=["ghes", "dotcom"])
def github(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FakeGitHub]:
    gen = running(tmp_path, prefix=request.param)
    server = next(gen)
    src = tmp_path / "src"
    src.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(src)], check=True)
    (src / "README.md").write_text("catalog\n")
    subprocess.run(["git", "-C", str(src), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(src), "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "i"], check=True
    )
    server.add_repo(REPO, src)
    yield server
    next(gen, None)  # asserts no request left the API mount point


def test_settings_read_github_api_url_from_the_environment() -> None:
    settings = Settings.from_env({"GITHUB_API_URL": "https://ghe.example.org/api/v3", "GITHUB_TOKEN": TOKEN})
    assert settings.github_api_url == "https://ghe.example.org/api/v3"


def test_comments_statuses_and_bot_prs_stay_under_the_api_url(github: FakeGitHub) -> None:
    gh = make_client(github, REPO)
    issue = github.add_issue(REPO, "Dataset: coral cover", "form")["number"]
    gh.upsert_comment(issue, "<!-- catalog-bot:test -->", "hello")
    sha = github.rev(REPO, "main")
    gh.set_status(sha, "pending", "catalog-bot/publish/coral-cover", "publishing", "https://ci.example.org/1")
    pr = open_or_update_bot_pr(
        gh, "catalog-bot/generate/coral-cover", {"datasets/coral-cover/a.json": b"{}\n"}, "t", "b"
    )
    assert pr is not None
    assert gh.statuses(sha)[0]["state"] == "pending"
    assert all(r.path.startswith(github.prefix + "/repos/") for r in github.requests)
    assert github.contract_errors == []


def test_the_argo_exit_handler_cli_posts_to_the_api_url(github: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    """``catalog-bot argo report`` builds its client from the environment alone, as in the pod."""
    sha = github.rev(REPO, "main")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", github.base_url)
    args = ["argo", "report", "--workflow", "publish-abc12", "--status", "Succeeded", "--dataset", "coral-cover"]
    args += ["--sha", sha, "--repository", REPO, "--ui-url", "https://argo.example.org", "--namespace", "data"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    [status] = github.repos[REPO].statuses
    assert status["target_url"] == "https://argo.example.org/workflows/data/publish-abc12"
    assert json.loads(result.output.strip().splitlines()[-1])["url"] == status["target_url"]
