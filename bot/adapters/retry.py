"""One retry policy for every adapter: exponential backoff with full jitter.

Why shared: S3, the STAC API, pygeoapi, Argo and GitHub all fail the same
ways (connection refused while a pod restarts, 502/503 from a proxy, 429 when
throttled).  Retrying the same way everywhere keeps behaviour predictable and
lets one test pin it down.  Full jitter (a random delay between 0 and the
exponential cap) stops many workers from hammering a recovering service in
lock-step; a server's ``Retry-After`` wins over our own guess, because it
knows when it will be ready.

Only *transient* failures are retried: connection errors, timeouts, HTTP
5xx and 429, or a :class:`~bot.errors.ServiceError` raised with
``transient=True``.  Anything else (a 400 with the server's reason, an auth
error) is raised at once -- retrying cannot fix it.  After the last attempt
the last exception is re-raised unchanged, so the adapter's own translation
to ``ServiceError`` (naming service, URL, status and message) stays intact.

Rate limits: :func:`parse_rate_limit` (pure) turns a throttled response's
status, headers and message into the wait it asks for; an adapter sets it as
the error's ``retry_after`` and passes ``max_wait`` so that a limit resetting
too far in the future fails at once with a clear error instead of hanging.

Usage::

    result = retry_call(lambda: client.get(url), service="stac-api")
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from bot.errors import AuthError, ServiceError
from bot.logging import get_logger

T = TypeVar("T")
log = get_logger("retry")

# HTTP statuses worth another try: throttled, or the server/proxy is unwell.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# botocore error codes that mean "try again" even when the status is odd.
_TRANSIENT_S3_CODES = frozenset(
    {"SlowDown", "RequestTimeout", "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable"}
)
# Exception class names (any module) that are connection-level failures; by
# name so that this module imports neither httpx nor botocore.
_TRANSIENT_CLASS_NAMES = frozenset(
    {
        "ConnectError",
        "ConnectTimeout",
        "ReadTimeout",
        "WriteTimeout",
        "PoolTimeout",
        "ReadError",
        "WriteError",
        "RemoteProtocolError",
        "NetworkError",
        "TimeoutException",
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "ResponseStreamingError",
        "IncompleteReadError",
    }
)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status carried by ``exc`` (ServiceError, httpx or botocore), if any."""
    if isinstance(exc, ServiceError):
        return exc.status
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        return status
    if isinstance(response, dict):  # botocore ClientError
        meta = response.get("ResponseMetadata") or {}
        code = meta.get("HTTPStatusCode")
        return code if isinstance(code, int) else None
    return None


def default_is_transient(exc: BaseException) -> bool:
    """True for failures another attempt may cure (see module docstring)."""
    if isinstance(exc, AuthError):
        return False
    if isinstance(exc, ServiceError):
        return exc.transient or (exc.status in TRANSIENT_STATUSES)
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    if any(cls.__name__ in _TRANSIENT_CLASS_NAMES for cls in type(exc).__mro__):
        return True
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        if code in _TRANSIENT_S3_CODES:
            return True
    status = status_of(exc)
    return status in TRANSIENT_STATUSES if status is not None else False


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def parse_rate_limit(
    status: int, headers: Mapping[str, str], message: str, *, now: float, attempt: int = 1
) -> float | None:
    """Seconds a throttled response asks us to wait, or ``None`` when it is not a rate limit.

    GitHub's documented rules (REST API "Rate limits"), which other APIs
    share: ``Retry-After`` wins; a primary limit (``X-RateLimit-Remaining: 0``)
    lasts until ``X-RateLimit-Reset`` (epoch seconds) plus one second of clock
    skew; a secondary limit (429, or 403 saying "secondary rate limit")
    without a header waits at least a minute, one more per ``attempt``
    (1-based).  A plain 403 is a permission error, not a limit.  Header names
    are matched case-insensitively; ``now`` is the current epoch time.
    """
    if status not in (403, 429):
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    if "retry-after" in lowered:
        parsed = parse_retry_after(lowered["retry-after"], now=now)
        return 60.0 if parsed is None else parsed
    if lowered.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in lowered:
        try:
            return max(0.0, float(lowered["x-ratelimit-reset"]) - now) + 1.0
        except ValueError:
            return 60.0
    if status == 429 or "secondary rate limit" in message.lower():
        return 60.0 * max(1, attempt)
    return None


def retry_after_of(exc: BaseException) -> float | None:
    """The server's requested wait: ``exc.retry_after`` or a ``Retry-After`` response header."""
    explicit = getattr(exc, "retry_after", None)
    if isinstance(explicit, int | float):
        return float(explicit)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None and isinstance(response, dict):
        headers = (response.get("ResponseMetadata") or {}).get("HTTPHeaders")
    if headers is None:
        return None
    try:
        return parse_retry_after(headers.get("retry-after") or headers.get("Retry-After"))
    except AttributeError:
        return None


def backoff_delay(attempt: int, *, base: float, max_delay: float, rng: Callable[[], float] = random.random) -> float:
    """Full-jitter delay before retry number ``attempt`` (1-based): U(0, min(max, base*2^(n-1)))."""
    return rng() * min(max_delay, base * (2 ** (attempt - 1)))


def retry_call(
    fn: Callable[[], T],
    *,
    service: str,
    attempts: int = 5,
    base: float = 0.5,
    max_delay: float = 20.0,
    is_transient: Callable[[BaseException], bool] = default_is_transient,
    sleep: Callable[[float], None] = time.sleep,
    deadline: float | None = None,
    max_wait: float | None = None,
) -> T:
    """Call ``fn()`` until it succeeds, retrying transient failures.

    ``attempts`` counts the first call.  A server-requested wait
    (``Retry-After``, or an error's ``retry_after``) replaces the jittered
    delay: capped at ``max_delay`` so a bad header cannot hang a workflow, or,
    with ``max_wait``, honoured in full up to ``max_wait`` and given up on at
    once beyond it (a rate limit that resets in an hour).  ``deadline``
    (seconds of total waiting) stops early.  The last exception propagates
    unchanged.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    waited = 0.0
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt >= attempts or not is_transient(exc):
                raise
            hinted = retry_after_of(exc)
            if hinted is None:
                delay = backoff_delay(attempt, base=base, max_delay=max_delay)
            elif max_wait is None:
                delay = min(max_delay, hinted)
            elif hinted <= max_wait:
                delay = hinted
            else:
                raise
            if deadline is not None and waited + delay > deadline:
                raise
            log.warning(
                "%s: transient failure (%s: %s); retry %d/%d in %.2fs",
                service,
                type(exc).__name__,
                str(exc)[:300],
                attempt,
                attempts - 1,
                delay,
            )
            sleep(delay)
            waited += delay
    raise AssertionError("unreachable")  # pragma: no cover
