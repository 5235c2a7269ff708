"""Optional notifications to a Slack-compatible incoming webhook.

Why best effort: a chat message is a courtesy; a broken webhook must never
fail a harvest or a publish.  The webhook URL is a secret (it authorises
posting), so it is masked and never part of a message or log line.
"""

from __future__ import annotations

import httpx

from bot.logging import get_logger, register_secret

log = get_logger("notify")


def notify(webhook_url: str | None, text: str, *, client: httpx.Client | None = None) -> bool:
    """POST ``{"text": text}``; returns whether it was delivered (never raises)."""
    if not webhook_url:
        return False
    register_secret(webhook_url)
    try:
        response = (client or httpx.Client(timeout=10)).post(webhook_url, json={"text": text})
    except httpx.HTTPError as exc:
        log.warning("notification not delivered: %s", type(exc).__name__)
        return False
    if response.status_code >= 300:
        log.warning("notification not delivered: HTTP %s", response.status_code)
        return False
    return True
