"""Download schemas by canonical URL into the local cache (the registry stays offline-first).

Why an adapter: :mod:`bot.catalog.schemas` is pure and never does network
I/O; it only calls the function installed here.  Only known schema hosts are
fetched (see ``FETCH_HOSTS``), with a size limit and a timeout, so a pull
request cannot make the bot fetch arbitrary URLs.  ``CATALOG_BOT_SCHEMA_FETCH=0``
turns downloads off (air-gapped runners, tests).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

MAX_SCHEMA_BYTES = 2 * 1024 * 1024


def fetch_schema(url: str, *, client: httpx.Client | None = None, timeout: float = 10.0) -> bytes:
    """GET one schema document (raises on HTTP errors, oversize bodies and timeouts)."""
    import httpx

    http = client or httpx.Client(timeout=timeout, follow_redirects=True)
    with http.stream("GET", url) as response:
        response.raise_for_status()
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_SCHEMA_BYTES:
                raise ValueError(f"schema larger than {MAX_SCHEMA_BYTES} bytes")
        return body


installed = False
"""True once :func:`install` ran; :mod:`bot.catalog.schemas` looks at it when it loads later."""


def install() -> None:
    """Make :class:`~bot.catalog.schemas.SchemaRegistry` download missing schemas into its cache.

    Lazy: the CLI calls this before every verb, but importing the schema
    machinery (jsonschema, referencing) costs ~0.1-0.2 s of start-up that
    verbs such as ``render`` never need.  So the fetcher is set now when
    the registry is loaded, and otherwise by the registry itself when it loads.
    """
    global installed
    installed = True
    schemas = sys.modules.get("bot.catalog.schemas")
    if schemas is not None:
        schemas.set_fetcher(fetch_schema)
