"""Secrets never reach log output, whichever bot logger writes them."""

from __future__ import annotations

import logging

import pytest

from bot.logging import get_logger, mask, register_secret


def test_child_loggers_mask_registered_secrets(caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cr3t-token-value-42"
    register_secret(secret)
    with caplog.at_level(logging.INFO, logger="catalog_bot"):
        get_logger("github").warning("calling with %s", secret)
        get_logger("pipeline.steps").info(f"token={secret}")
    text = caplog.text
    assert secret not in text and text.count("***") == 2


def test_bearer_prefix_variants_are_masked() -> None:
    register_secret("Bearer abcdef123456")
    assert mask("Authorization: Bearer abcdef123456") == "Authorization: ***"
    assert "abcdef123456" not in mask("token abcdef123456")
