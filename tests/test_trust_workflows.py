"""Trust boundary in the workflow files and the action: who runs where, with which secrets, grouped how.

The handler-level attacks are in test_trust_attacks.py; these are the parts GitHub
itself enforces before the bot starts (job ``if:``, concurrency groups) and the
action's argument handling, run for real with bash.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action.yml"
PRIVILEGED = ROOT / "catalog_templates" / ".github" / "workflows" / "catalog-bot.yml"
HARVEST = ROOT / "catalog_templates" / ".github" / "workflows" / "catalog-bot-harvest.yml"
MEMBERS = '["OWNER", "MEMBER", "COLLABORATOR"]'


def _load(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=yaml.BaseLoader)


def test_comment_jobs_are_filtered_by_association_before_their_concurrency_group() -> None:
    jobs = _load(PRIVILEGED)["jobs"]
    members, public = jobs["command"], jobs["command-public"]
    assert f"contains(fromJSON('{MEMBERS}'), github.event.comment.author_association)" in members["if"]
    assert f"!contains(fromJSON('{MEMBERS}'), github.event.comment.author_association)" in public["if"]
    # exactly one of the two runs for any comment, and only members' job holds deploy secrets
    assert "secrets." in yaml.safe_dump(members) and "secrets." not in yaml.safe_dump(public)
    assert "argo-token" not in yaml.safe_dump(public) and "statuses" not in public["permissions"]
    assert public["permissions"]["contents"] == "read"
    # grouped per issue AND commenter: another person's comment never lands in a maintainer's group
    for job, prefix in ((members, "catalog-bot-command-"), (public, "catalog-bot-public-")):
        group = job["concurrency"]["group"]
        assert group.startswith(prefix)
        assert "github.event.issue.number" in group and "github.event.comment.user.id" in group
    assert members["concurrency"]["cancel-in-progress"] == "false"  # a maintainer's pending command is kept


def test_manual_harvest_passes_datasets_as_data() -> None:
    step = next(s for s in _load(HARVEST)["jobs"]["harvest"]["steps"] if s.get("uses", "").startswith("catalog-bot/"))
    assert step["with"]["command"] == "harvest"
    assert step["with"]["datasets"] == "${{ inputs.datasets }}"


def _action_script() -> str:
    action = yaml.safe_load(ACTION.read_text())
    return next(s["run"] for s in action["runs"]["steps"] if s.get("id") == "run")


@pytest.fixture
def fake_bot(tmp_path: Path) -> Path:
    """A `catalog-bot` on PATH that records its argv, one per line."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "catalog-bot"
    exe.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > "$ARGV_FILE"\n')
    exe.chmod(0o755)
    return bindir


def _run_action(fake_bot: Path, tmp_path: Path, **inputs: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    argv = tmp_path / "argv.txt"
    env = {
        "PATH": f"{fake_bot}:{os.environ['PATH']}",
        "ARGV_FILE": str(argv),
        "GITHUB_OUTPUT": str(tmp_path / "out.txt"),
        **{f"INPUT_{k.upper()}": v for k, v in inputs.items()},
    }
    for name in ("INPUT_COMMAND", "INPUT_ENVIRONMENT", "INPUT_ARTIFACT_OUT", "INPUT_ARTIFACT", "INPUT_DATASETS"):
        env.setdefault(name, "")
    proc = subprocess.run(
        [shutil.which("bash") or "bash", "-c", _action_script()], env=env, capture_output=True, text=True
    )
    return proc, argv.read_text().splitlines() if argv.exists() else []


def test_action_puts_dataset_ids_after_the_end_of_options(fake_bot: Path, tmp_path: Path) -> None:
    proc, argv = _run_action(fake_bot, tmp_path, command="harvest", datasets="reef-temperature, marine-protected-areas")
    assert proc.returncode == 0, proc.stderr
    assert argv == ["harvest", "--", "reef-temperature", "marine-protected-areas"]


@pytest.mark.parametrize("smuggled", ["--catalog /etc reef-temperature", "-C ..", "reef-temperature --help", "a;id"])
def test_action_refuses_options_smuggled_in_datasets(fake_bot: Path, tmp_path: Path, smuggled: str) -> None:
    proc, argv = _run_action(fake_bot, tmp_path, command="harvest", datasets=smuggled)
    assert proc.returncode == 2 and "invalid dataset id" in proc.stdout
    assert argv == []  # the bot never started
