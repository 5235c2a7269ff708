"""Logging and secret masking.

Why: secrets must never reach logs, comments, summaries or artifacts.  Every
text that leaves the process through the bot's own writers passes
:func:`mask`, which replaces the values of known secrets (registered from
:class:`bot.config.Settings` and secret-looking environment variables) with
``***``.  Under GitHub Actions, :func:`register_secret` also emits
``::add-mask::`` so the runner masks them in raw output too.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping

_SECRETS: set[str] = set()
_SECRET_ENV = re.compile(r"(TOKEN|SECRET|PASSWORD|KEY)", re.IGNORECASE)


def register_secret(value: str | None) -> None:
    """Remember ``value`` as a secret to be masked everywhere."""
    if value and len(value) >= 4 and value not in _SECRETS:
        _SECRETS.add(value)
        if value.startswith("Bearer "):
            _SECRETS.add(value.removeprefix("Bearer "))
        if os.environ.get("GITHUB_ACTIONS") == "true":
            sys.stdout.write(f"::add-mask::{value}\n")


def register_env_secrets() -> None:
    """Register the values of secret-looking environment variables."""
    for value in secret_env_values():
        register_secret(value)


def render_sandbox_required(environ: Mapping[str, str] | None = None) -> bool:
    """Whether Jsonnet must be evaluated in the sandbox child (:mod:`bot.catalog.sandbox`).

    Always when this process holds a secret-looking variable (a CI job with a
    token or cloud keys: the rule of docs/github.md), or when
    ``CATALOG_BOT_RENDER_SANDBOX=1``.  A curator's plain shell renders in
    process, which is faster for the edit-render loop.
    """
    env = os.environ if environ is None else environ
    forced = env.get("CATALOG_BOT_RENDER_SANDBOX", "").lower() in ("1", "true", "yes", "on")
    return forced or bool(secret_env_values(env))


def require_render_sandbox() -> None:
    """From now on this process renders Jsonnet only in the sandbox (``catalog-bot event`` calls it)."""
    os.environ["CATALOG_BOT_RENDER_SANDBOX"] = "1"


def secret_env_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of secret-looking environment variables (for the log masker)."""
    env = os.environ if environ is None else environ
    return [v for k, v in env.items() if _SECRET_ENV.search(k) and len(v) >= 6]


_URL_PASSWORD = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@\s:]*):(?P<password>[^/@\s]+)@")


def mask(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``, and passwords in URLs (``user:***@``)."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


class MaskingFilter(logging.Filter):
    """Logging filter that masks secrets in every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the message in place; never drops records."""
        record.msg = mask(record.getMessage())
        record.args = ()
        return True


def get_logger(name: str) -> logging.Logger:
    """A logger under ``catalog_bot`` with the masking filter attached.

    The filter goes on this logger itself: Python applies a logger's filters
    only to records logged *on that logger*, not to its children's.
    """
    logger = logging.getLogger(f"catalog_bot.{name}")
    if not any(isinstance(f, MaskingFilter) for f in logger.filters):
        logger.addFilter(MaskingFilter())
    return logger
