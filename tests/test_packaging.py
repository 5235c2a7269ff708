"""The wheel (what the Action and the container image install) ships the catalog templates for `init`."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_wheel_ships_templates_workflows_and_profiles(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",  # setuptools and wheel are test dependencies: no isolated build env to download
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("catalog_bot-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    base = "bot/resources/catalog_templates/"
    expected = {
        ".github/workflows/catalog-bot.yml",
        ".github/workflows/catalog-bot-pr.yml",
        ".github/workflows/catalog-bot-harvest.yml",
        ".github/workflows/catalog-bot-preview-cleanup.yml",
        ".github/workflows/catalog-bot-reconcile.yml",
        ".github/ISSUE_TEMPLATE/dataset.yml",
        "example/catalog-bot.yaml",
        "example/lib/catalog.libsonnet",
        "example/profiles/catalog-datapackage.json",
        "example/profiles/gridschema.json",
        "example/pygeoapi/header.yaml",
    }
    assert {base + n for n in expected} <= names
    assert "bot/cli.py" in names and not any(n.startswith("tests/") for n in names)
