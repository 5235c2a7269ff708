"""Shared HTTP plumbing for the JSON adapters (STAC API, pygeoapi admin).

Why a helper and not a base class with behaviour: both adapters need the
same three things -- one request with retries, the server's own message in
errors, and credentials never in messages -- and nothing else in common.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Collection
from typing import Any

import httpx

from bot.adapters.retry import default_is_transient, parse_retry_after, retry_call
from bot.errors import AuthError, ServiceError


def server_message(response: httpx.Response, limit: int = 500) -> str:
    """The server's own explanation: ``description``/``detail``/``message`` of a JSON body, else the text."""
    text = response.text
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("description", "detail", "message", "msg", "error"):
            value = body.get(key)
            if value:
                if not isinstance(value, str):
                    value = json.dumps(value)[:limit]
                code = body.get("code") or body.get("type")
                return f"{code}: {value}" if isinstance(code, str) and code not in value else value
        if body.get("code"):
            return str(body["code"])
    if "<html" in text[:500].lower() or "<!doctype" in text[:500].lower():
        # An HTML error page (Flask, nginx): its visible text, not its markup.
        text = " ".join(re.sub(r"<[^>]+>", " ", re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", text)).split())
    first = text.strip().splitlines()[0] if text.strip() else ""
    return (first or response.reason_phrase or "no message")[:limit]


def status_error(service: str, response: httpx.Response, what: str, *, hint: str | None = None) -> ServiceError:
    """A ServiceError (AuthError for 401/403) for an unexpected status; 5xx/429 are transient."""
    status = response.status_code
    message = f"{what}: {server_message(response)}"
    url = str(response.request.url) if response.request is not None else None
    if status in (401, 403):
        return AuthError(service, message, url=url, status=status, hint=hint or "check the service credentials")
    err = ServiceError(service, message, url=url, status=status, hint=hint, transient=status >= 500 or status == 429)
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if retry_after is not None:
        err.retry_after = retry_after  # read by retry_call
    return err


class JsonHttp:
    """One service's HTTP access: base URL, injected ``httpx.Client``, retry policy."""

    def __init__(
        self,
        service: str,
        base_url: str,
        client: httpx.Client | None = None,
        *,
        attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 20.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.client = client if client is not None else httpx.Client(timeout=timeout)
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep

    def url(self, path: str) -> str:
        """Absolute URL of a path below the base URL."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def send_once(
        self, method: str, path: str, *, ok: Collection[int], json_body: Any = None, params: Any = None
    ) -> httpx.Response:
        """One request; statuses outside ``ok`` raise ServiceError, transport errors a transient one."""
        url = self.url(path)
        try:
            response = self.client.request(method, url, json=json_body, params=params)
        except httpx.TransportError as exc:
            raise ServiceError(
                self.service,
                f"{method} failed: {type(exc).__name__}: {exc or 'no response'}",
                url=url,
                transient=True,
                hint=f"is the {self.service} running and reachable?",
            ) from exc
        if response.status_code not in ok:
            raise status_error(self.service, response, f"{method} {path}")
        return response

    def request(
        self,
        method: str,
        path: str,
        *,
        ok: Collection[int] = (200, 201, 204),
        json_body: Any = None,
        params: Any = None,
        is_transient: Callable[[BaseException], bool] = default_is_transient,
    ) -> httpx.Response:
        """:meth:`send_once` with retries on transient failures."""
        return retry_call(
            lambda: self.send_once(method, path, ok=ok, json_body=json_body, params=params),
            service=self.service,
            attempts=self.attempts,
            base=self.base_delay,
            max_delay=self.max_delay,
            is_transient=is_transient,
            sleep=self.sleep,
        )
