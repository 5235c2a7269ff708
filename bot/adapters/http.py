"""Shared HTTP plumbing for the adapters (STAC API, pygeoapi admin, CSW / record URLs).

Why a helper and not a base class with behaviour: the adapters need the
same few things -- one request with retries, the server's own message in
errors, credentials never in messages, and a TOTAL deadline per response
(:func:`read_bounded`) -- and nothing else in common.  A per-read timeout
alone is not enough: a server that drips one byte every two seconds never
trips it and holds the job until GitHub kills it.
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


DEFAULT_DEADLINE = 120.0


class DeadlineExceeded(ServiceError):
    """A response did not complete within its total deadline (transient: worth one more try)."""


def read_bounded(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    service: str,
    what: str,
    deadline: float = DEFAULT_DEADLINE,
    read_timeout: float = 30.0,
    max_bytes: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    **kwargs: Any,
) -> tuple[httpx.Response, bytes]:
    """Send one request and read its whole body within ``deadline`` seconds (connect to last byte).

    Raises :class:`DeadlineExceeded` past the deadline, a :class:`ServiceError`
    when the body exceeds ``max_bytes`` (refused, not transient) and a transient
    one on transport errors.  The response is returned with its body already read.
    """
    started = clock()
    per_read = min(read_timeout, deadline)
    timeout = httpx.Timeout(per_read, connect=min(10.0, deadline))

    def late() -> DeadlineExceeded:
        return DeadlineExceeded(
            service,
            f"{what}: no complete response within {deadline:g} s (the server sends too slowly)",
            url=url,
            transient=True,
            hint="the server is overloaded or hostile; try again later",
        )

    try:
        with client.stream(method, url, timeout=timeout, **kwargs) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():  # decoded: max_bytes also bounds a gzip bomb
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise ServiceError(
                        service,
                        f"{what}: response larger than {max_bytes:,} bytes (refused)",
                        url=url,
                        hint="check the request; huge responses are refused to protect the bot",
                    )
                chunks.append(chunk)
                if clock() - started > deadline:
                    raise late()
            body = b"".join(chunks)
    except httpx.TimeoutException:
        if clock() - started > deadline - 0.001:
            raise late() from None
        raise ServiceError(service, f"{what}: timed out after {per_read:g} s", url=url, transient=True) from None
    except httpx.TransportError as exc:
        raise ServiceError(
            service,
            f"{what}: cannot connect ({type(exc).__name__}: {exc or 'no response'})",
            url=url,
            transient=True,
            hint=f"is the {service} running and reachable?",
        ) from None
    response._content = body  # the body as if read normally: response.text / .json() work
    return response, body


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
        deadline: float = DEFAULT_DEADLINE,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.client = client if client is not None else httpx.Client(timeout=timeout)
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.timeout = timeout
        self.deadline = deadline

    def url(self, path: str) -> str:
        """Absolute URL of a path below the base URL."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def send_once(
        self, method: str, path: str, *, ok: Collection[int], json_body: Any = None, params: Any = None
    ) -> httpx.Response:
        """One request; statuses outside ``ok`` raise ServiceError, transport errors a transient one."""
        url = self.url(path)
        response, _ = read_bounded(
            self.client,
            method,
            url,
            service=self.service,
            what=f"{method} {path}",
            deadline=self.deadline,
            read_timeout=self.timeout,
            json=json_body,
            params=params,
        )
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
