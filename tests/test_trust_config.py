"""Trust boundary, configuration side: ``${VAR}`` reaches only variables the catalog declares non-secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_catalog_config

SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "ARGO_TOKEN": "argo-token-value-123456",
    "GITHUB_TOKEN": "ghs_abcdefghijklmnopqrstuvwx",
    "S3_CREDS": "creds-that-do-not-look-secret",
    "CATALOG_BOT_DEV_STAC_URL": "http://127.0.0.1:9999",
}


def _config(tmp_path: Path, body: str) -> Path:
    (tmp_path / "catalog-bot.yaml").write_text(body, encoding="utf-8")
    return tmp_path


def test_undeclared_variable_is_refused_even_when_set(tmp_path: Path) -> None:
    """The attack of issue #10: ext_vars pulling a secret out of the job's environment."""
    root = _config(
        tmp_path,
        "version: 1\nenvironments:\n  dev:\n    ext_vars: {a: '${S3_CREDS}'}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_catalog_config(root).environment("dev", SECRETS)
    text = str(info.value)
    assert "S3_CREDS" in text and "variables" in text and "environments.dev.ext_vars.a" in text
    assert SECRETS["S3_CREDS"] not in text


@pytest.mark.parametrize("name", ["AWS_SECRET_ACCESS_KEY", "ARGO_TOKEN", "GITHUB_TOKEN", "MY_API_KEY", "DB_PASSWORD"])
def test_secret_looking_names_cannot_be_declared(tmp_path: Path, name: str) -> None:
    root = _config(tmp_path, f"version: 1\nvariables: [{name}]\n")
    with pytest.raises(ConfigError) as info:
        load_catalog_config(root)
    assert "variables" in str(info.value) and "secret" in str(info.value)


def test_declared_variable_expands(tmp_path: Path) -> None:
    root = _config(
        tmp_path,
        "version: 1\nvariables: [CATALOG_BOT_DEV_STAC_URL]\nenvironments:\n"
        "  dev:\n    stac: {kind: api, url: '${CATALOG_BOT_DEV_STAC_URL:-http://127.0.0.1:8082}'}\n",
    )
    assert load_catalog_config(root).environment("dev", SECRETS).stac.url == "http://127.0.0.1:9999"
    assert load_catalog_config(root).environment("dev", {}).stac.url == "http://127.0.0.1:8082"


def test_render_limits_are_bounded(tmp_path: Path) -> None:
    assert load_catalog_config(_config(tmp_path, "version: 1\nrender: {timeout_s: 5}\n")).render.timeout_s == 5
    with pytest.raises(ConfigError, match=r"render\.memory_mb"):
        load_catalog_config(_config(tmp_path, "version: 1\nrender: {memory_mb: 100000}\n"))
