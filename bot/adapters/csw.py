"""CSW 2.0.2 / plain-URL metadata sources (the harvester's only network code).

Why httpx for record fetches: we stream the body with a hard size limit and
hand the bytes to the hardened parser in :mod:`bot.metadata.iso19115`; a
client library that parses XML itself would parse an untrusted (maybe
billion-laughs) document before we could refuse it.  OWSLib is used where
it adds value and the input is the catalogue's own answer to a query we
built: ``GetRecords`` searches (``harvest --new --query``), with its filter
encoding.
"""

from __future__ import annotations

from typing import Any

import httpx

from bot.adapters.http import read_bounded
from bot.adapters.retry import retry_call
from bot.errors import ServiceError
from bot.metadata.iso19115 import MAX_RECORD_BYTES

GMD = "http://www.isotc211.org/2005/gmd"
SERVICE = "CSW"


class MetadataSource:
    """Fetch ISO records by id from a CSW endpoint, or a record from a plain URL."""

    def __init__(
        self,
        url: str,
        *,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        attempts: int = 3,
        max_bytes: int = MAX_RECORD_BYTES,
        deadline: float = 60.0,
    ) -> None:
        self.url = url
        self.deadline = deadline
        self.timeout = timeout
        self.attempts = attempts
        self.max_bytes = max_bytes
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=True)

    def _get(self, params: dict[str, str] | None, what: str) -> bytes:
        def once() -> bytes:
            response, body = read_bounded(
                self._client,
                "GET",
                self.url,
                service=SERVICE,
                what=what,
                deadline=self.deadline,
                read_timeout=self.timeout,
                max_bytes=self.max_bytes,
                params=params,
            )
            if response.status_code >= 400:
                raise ServiceError(
                    SERVICE,
                    f"{what}: {response.text[:300].strip() or response.reason_phrase}",
                    url=self.url,
                    status=response.status_code,
                    transient=response.status_code >= 500 or response.status_code == 429,
                )
            return body

        return retry_call(once, service=SERVICE, attempts=self.attempts, base=0.2, max_delay=2.0)

    def get_record(self, record_id: str) -> bytes:
        """``GetRecordById`` in ISO 19139 (the raw response; parse with ``parse_record``)."""
        params = {
            "service": "CSW",
            "version": "2.0.2",
            "request": "GetRecordById",
            "id": record_id,
            "outputschema": GMD,
            "elementsetname": "full",
        }
        return self._get(params, f"GetRecordById {record_id}")

    def get_url(self) -> bytes:
        """The document at the source URL itself (an ISO 19139 / 19115-3 file)."""
        return self._get(None, "GET record")

    def search(self, text: str, *, max_records: int = 100) -> list[str]:
        """Identifiers of records whose full text matches ``text`` (CSW GetRecords through OWSLib)."""
        from owslib.csw import CatalogueServiceWeb
        from owslib.fes import PropertyIsLike

        try:
            csw = CatalogueServiceWeb(self.url, skip_caps=True, timeout=int(self.timeout))
            csw.getrecords2(
                constraints=[PropertyIsLike("csw:AnyText", f"%{text}%")], maxrecords=max_records, esn="brief"
            )
        except Exception as exc:  # OWSLib raises many types; all mean the query failed
            raise ServiceError(SERVICE, f"GetRecords {text!r}: {exc}", url=self.url) from None
        records: dict[str, Any] = csw.records
        return list(records)
