"""Slack-compatible notifications: delivered as JSON, never fatal, the webhook URL never logged."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.adapters.notify import notify


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []
    status = 200

    def log_message(self, *args: object) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(type(self).status)
        self.end_headers()


@pytest.fixture
def hook():
    handler = type("Hook", (_Hook,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/secretpart123"
    server.shutdown()


def test_notification_is_posted_as_slack_json(hook) -> None:
    handler, url = hook
    assert notify(url, "catalog-bot: 2 new dataset issue(s)") is True
    assert handler.received == [{"text": "catalog-bot: 2 new dataset issue(s)"}]


def test_failed_or_unreachable_webhook_is_not_fatal_and_not_logged(hook, caplog: pytest.LogCaptureFixture) -> None:
    handler, url = hook
    handler.status = 500
    with caplog.at_level(logging.WARNING, logger="catalog_bot"):
        assert notify(url, "x") is False
        assert notify("http://127.0.0.1:9/services/T/B/anothersecret99", "x") is False
    assert "secretpart123" not in caplog.text and "anothersecret99" not in caplog.text
    assert "not delivered" in caplog.text
    assert notify(None, "x") is False
