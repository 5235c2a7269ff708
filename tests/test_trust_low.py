"""The low findings of issue #10: URL passwords in summaries, hidden dataset folders, option errors, smuggled ids."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.commands import publish as publish_cmd
from bot.config import EnvironmentConfig
from bot.logging import mask
from bot.pipeline.executor import PublishReport
from bot.structs import load
from tests.conftest import REPO


def test_passwords_in_urls_are_masked() -> None:
    text = "STAC https://admin:s3cr3t-pw@stac.example.org/api, db postgresql://u:pgpass@db:5432/x, ok http://u@h/"
    out = mask(text)
    assert "s3cr3t-pw" not in out and "pgpass" not in out
    assert "https://admin:***@stac.example.org/api" in out and "http://u@h/" in out


def test_publish_summary_never_prints_a_url_password(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    env = load(
        {
            "stac": {"kind": "api", "url": "https://bot:stac-pass-123@stac.example.org"},
            "pygeoapi": {"kind": "api", "url": "https://bot:geo-pass-456@geo.example.org"},
        },
        EnvironmentConfig,
    )
    run = SimpleNamespace(env=env, output=tmp_path)
    publish_cmd.print_report(PublishReport(outcomes=[], output=tmp_path), run)  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "stac-pass-123" not in out and "geo-pass-456" not in out
    assert "https://bot:***@stac.example.org" in out


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("catalog-bot")
    assert exe is not None
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True)


def test_validate_rejects_a_hidden_dataset_folder_like_check(tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    shutil.copytree(REPO / "catalog_templates" / "example", root)
    shutil.copytree(root / "datasets" / "reef-temperature", root / "datasets" / "..a")
    proc = _cli(["validate"], root)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "datasets/..a" in proc.stdout and "not a valid dataset id" in proc.stdout


def test_unknown_short_option_is_a_usage_error_not_an_internal_error(tmp_path: Path) -> None:
    proc = _cli(["publish", "-rf"], tmp_path)
    assert proc.returncode == 2
    assert "No such option: -r" in proc.stderr and "internal error" not in proc.stderr
