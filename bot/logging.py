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

_SECRETS: set[str] = set()


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
    from bot.config import secret_env_values

    for value in secret_env_values():
        register_secret(value)


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
