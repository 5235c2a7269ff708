"""Argo reports back to GitHub: merge -> submitted (status pending) -> workflow ends -> exit handler -> final status.

Why end to end: the exit handler's wiring (which secret key becomes which
env variable, which variables reach the CLI, which link it posts) is only
proven by running the *rendered* handler the way Argo would.  The Argo test
server does that (``tests/argo_server.py``: secrets resolved like
Kubernetes, the real ``catalog-bot argo report`` process), against the
GitHub double (OpenAPI-checked).  Driven through success, a failed step, a
workflow deleted mid-run, and an exit handler without credentials.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from bot.adapters.argo import ArgoClient
from bot.catalog.layout import Catalog
from bot.cli import cli
from bot.config import Secret, Settings
from bot.events.handlers import BotContext, handle
from bot.events.models import parse_event
from bot.events.publisher import ArgoPublisher, reconcile_statuses
from bot.pipeline.argo_render import PUBLISH_TEMPLATE, render_all
from tests.argo_server import ArgoTestServer
from tests.conftest import git
from tests.github_server import TOKEN as GH_TOKEN
from tests.github_server import FakeGitHub, RepoState, adapt, load_webhook, make_client, running

REPO = "octo/catalog"
ARGO_TOKEN = "argo-test-token-77aa"
UI = "https://argo.example.org"
DATASET = "reef-temperature"
DP = f"datasets/{DATASET}/datapackage.json"
CONTEXT = f"catalog-bot/publish/{DATASET}"


@dataclass
class Loop:
    github: FakeGitHub
    repo: RepoState
    argo: ArgoTestServer
    client: ArgoClient
    clone: Path
    settings: Settings

    def merge_a_change(self) -> tuple[int, str]:
        """A human PR editing one dataset, merged; the push is handled by the bot (engine: argo)."""
        data = json.loads(self._show("main", DP))
        data["title"] = "Reef temperature, merged edit"
        self.github.commit_files(
            REPO, "feature", {DP: (json.dumps(data, indent=2) + "\n").encode()}, parent=self._main()
        )
        pr = self.github.open_pr(REPO, "feature")["number"]
        before, after = self.github.merge_pr(REPO, pr)
        payload = adapt(
            load_webhook("drone-go-scm/scm/driver/github/testdata/webhooks/push.json"), self.repo, self.github
        )
        payload.update(ref="refs/heads/main", before=before, after=after, created=False, deleted=False)
        ctx = BotContext(
            settings=self.settings,
            repo_dir=self.clone,
            gh=make_client(self.github, REPO),
            publisher_factory=lambda engine: ArgoPublisher(self.clone, self.settings, REPO),
            environment="argo",
        )
        [outcome] = handle(parse_event("push", payload), ctx)
        assert outcome.ok, outcome.message
        return pr, after

    def statuses(self, sha: str) -> list[dict[str, Any]]:
        return [s for s in self.repo.statuses if s["sha"] == sha and s["context"] == CONTEXT]

    def only_workflow(self) -> str:
        [name] = self.argo.state.workflows
        return name

    def _main(self) -> str:
        return self.github.rev(REPO, "main")

    def _show(self, ref: str, path: str) -> str:
        return self.github.file_at(REPO, ref, path)


@pytest.fixture
def loop(tmp_path: Path, catalog_repo: Path, schemas_dir: Path) -> Iterator[Loop]:
    swagger = schemas_dir / "argo-workflows-v4.1.2" / "api" / "openapi-spec" / "swagger.json"
    gen = running(tmp_path)
    github = next(gen)
    with ArgoTestServer(swagger, ARGO_TOKEN) as argo:
        config_path = catalog_repo / "catalog-bot.yaml"
        config = yaml.safe_load(config_path.read_text())
        config["environments"]["argo"] = {"engine": "argo", "argo": {"url": argo.url, "ui_url": UI}}
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        git(catalog_repo, "commit", "-qam", "argo environment")
        repo = github.add_repo(REPO, catalog_repo)
        clone = tmp_path / "clone"
        subprocess.run(["git", "clone", "-q", str(repo.git_dir), str(clone)], check=True)
        # The cluster's secret, keyed as the git artifact needs it; api_url for GitHub Enterprise.
        argo.state.secrets["catalog-bot-github"] = {
            "username": "x-access-token",
            "token": GH_TOKEN,
            "api_url": github.base_url,
        }
        argo.state.exit_base_env = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "CATALOG_BOT_SCHEMAS": str(schemas_dir),
        }
        client = ArgoClient(argo.url, token=ARGO_TOKEN, attempts=3, poll_initial=0.0)
        client.apply_template(render_all(Catalog.open(catalog_repo), "argo", REPO)[f"{PUBLISH_TEMPLATE}.yaml"])
        settings = Settings(
            schemas_dir=schemas_dir,
            github_token=Secret(GH_TOKEN),
            github_api_url=github.base_url,
            github_repository=REPO,
            argo_token=Secret(ARGO_TOKEN),
        )
        yield Loop(github, repo, argo, client, clone, settings)
        assert argo.state.violations == []
    next(gen, None)  # stops the double and asserts it saw no contract violation


def test_status_stays_pending_until_the_exit_handler_reports_success(loop: Loop) -> None:
    pr, sha = loop.merge_a_change()
    name = loop.only_workflow()
    link = f"{UI}/workflows/argo/{name}"
    submitted = loop.statuses(sha)
    assert [s["state"] for s in submitted] == ["pending", "pending"]  # never green on mere submission
    assert submitted[-1]["target_url"] == link
    assert loop.argo.state.exit_runs == []

    assert loop.client.wait(name, timeout=60).phase == "Succeeded"

    [run] = loop.argo.state.exit_runs
    assert run.returncode == 0, run.output
    assert run.env_names == ["GITHUB_API_URL", "GITHUB_TOKEN"]  # from the secret's keys token / api_url
    assert GH_TOKEN not in run.output
    final = loop.statuses(sha)[-1]
    assert (final["state"], final["target_url"], final["description"]) == ("success", link, "Succeeded (Argo)")
    [report] = [c["body"] for c in loop.github.issue_comments(REPO, pr) if "catalog-bot:argo:" in c["body"]]
    assert f"[{name}]({link})" in report and "Succeeded" in report
    assert loop.github.contract_errors == []


def test_a_failed_step_ends_in_failure_with_the_step_and_a_log_link(loop: Loop) -> None:
    loop.argo.state.fail_step = "schema-gate"
    pr, sha = loop.merge_a_change()
    name = loop.only_workflow()
    assert loop.statuses(sha)[-1]["state"] == "pending"

    assert loop.client.wait(name, timeout=60).phase == "Failed"

    [run] = loop.argo.state.exit_runs
    assert run.returncode == 0 and run.status == "Failed", run.output
    final = loop.statuses(sha)[-1]
    assert final["state"] == "failure" and final["target_url"] == f"{UI}/workflows/argo/{name}"
    [report] = [c["body"] for c in loop.github.issue_comments(REPO, pr) if "catalog-bot:argo:" in c["body"]]
    assert "step `schema-gate` failed: Error (exit code 1): step schema-gate failed: data schema changed" in report
    assert f"({UI}/workflows/argo/{name}?nodeId={name}-" in report and "&tab=logs)" in report


def test_a_workflow_deleted_mid_run_is_reconciled_to_error(loop: Loop) -> None:
    _pr, sha = loop.merge_a_change()
    name = loop.only_workflow()
    loop.client.get(name)  # one step ran
    request = urllib.request.Request(f"{loop.argo.url}/api/v1/workflows/argo/{name}", method="DELETE")
    request.add_header("Authorization", f"Bearer {ARGO_TOKEN}")
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200
    assert loop.argo.state.exit_runs == []  # Argo runs no exit handler for a deleted workflow
    assert loop.statuses(sha)[-1]["state"] == "pending"

    gh = make_client(loop.github, REPO)
    changed = reconcile_statuses(gh, loop.client, sha)

    assert changed == [{"context": CONTEXT, "workflow": name, "state": "error"}]
    final = loop.statuses(sha)[-1]
    assert final["state"] == "error" and "deleted before it finished" in final["description"]
    assert reconcile_statuses(gh, loop.client, sha) == []  # nothing pending any more


def test_reconcile_leaves_running_workflows_alone_and_finishes_unreported_ones(loop: Loop) -> None:
    loop.argo.state.exit_base_env = None  # the handler never reports (e.g. it failed all its retries)
    _pr, sha = loop.merge_a_change()
    name = loop.only_workflow()
    gh = make_client(loop.github, REPO)
    loop.client.get(name)
    assert reconcile_statuses(gh, loop.client, sha) == []  # still running: untouched
    loop.client.wait(name, timeout=60)
    assert reconcile_statuses(gh, loop.client, sha) == [{"context": CONTEXT, "workflow": name, "state": "success"}]


def test_an_exit_handler_without_credentials_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The old wiring (token mounted as ``$token``) printed the report and exited 0: now it is an error."""
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("CATALOG_BOT_TOKEN", raising=False)
    monkeypatch.setenv("token", GH_TOKEN)
    args = ["argo", "report", "--workflow", "publish-x1", "--status", "Succeeded", "--dataset", DATASET]
    result = CliRunner().invoke(cli, [*args, "--sha", "a" * 40, "--repository", REPO, "--ui-url", UI])
    assert result.exit_code != 0
    assert "no GITHUB_TOKEN" in str(result.exception) or "no GITHUB_TOKEN" in result.output
    assert GH_TOKEN not in result.output
