"""S3 sources (``s3://bucket/key``) with boto3: unsigned for public buckets, ETag change detection.

Why unsigned by default when no credentials exist: public open-data buckets
(NOAA, Copernicus mirrors...) must be readable from a laptop or CI runner
without any key; ``anonymous: true`` forces it even when keys are present
(so the bot's publishing keys are never sent to a third-party bucket).
``endpoint_url`` per source reaches non-AWS stores (SeaweedFS, MinIO) and
goes through the same address guard as HTTP sources.

Change detection is by ETag: the object is downloaded only when its ETag
differs from the copy we hold, with ``IfMatch`` so an object replaced between
the ``HEAD`` and the ``GET`` fails (412) and is retried rather than mixed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.adapters.download import (
    CHUNK,
    SERVICE,
    Limits,
    finish,
    not_modified,
    resumable_offset,
    retry_source,
    too_big,
    write_stream,
)
from bot.adapters.http_probe import AddressGuard
from bot.adapters.retry import default_is_transient
from bot.errors import DataError, ServiceError
from bot.sources.manifest import SourceRecord, Validators
from bot.sources.uri import parse_source


def make_source_client(endpoint_url: str | None, *, anonymous: bool, timeout: float) -> Any:
    """A boto3 S3 client for reading a source (unsigned when ``anonymous`` or no credentials are set)."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    session = boto3.session.Session()
    unsigned = anonymous or session.get_credentials() is None
    options: dict[str, Any] = {
        "s3": {"addressing_style": "path"},
        "retries": {"max_attempts": 1, "mode": "standard"},
        "connect_timeout": timeout,
        "read_timeout": timeout,
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
    }
    if unsigned:
        options["signature_version"] = UNSIGNED
    return session.client("s3", endpoint_url=endpoint_url, region_name="us-east-1", config=Config(**options))


def _code(exc: BaseException) -> tuple[str, int | None]:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return "", None
    code = str((response.get("Error") or {}).get("Code") or "")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return code, status if isinstance(status, int) else None


class S3Source:
    """Probe and fetch ``s3://`` sources through one boto3 client."""

    def __init__(
        self,
        client: Any,
        limits: Limits,
        *,
        anonymous: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.limits = limits
        self.anonymous = anonymous
        self.sleep = sleep

    @classmethod
    def open(
        cls, guard: AddressGuard, limits: Limits, *, endpoint_url: str | None, anonymous: bool, uri: str
    ) -> S3Source:
        """A source reader for ``endpoint_url`` after checking its host against the address rules."""
        if endpoint_url:
            parts = urlsplit(endpoint_url)
            guard.check(uri, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        client = make_source_client(endpoint_url, anonymous=anonymous, timeout=limits.timeout)
        return cls(client, limits, anonymous=anonymous)

    def _error(self, uri: str, exc: BaseException) -> BaseException:
        code, status = _code(exc)
        if code in ("NoSuchKey", "404", "NotFound") or status == 404:
            return DataError(
                f"{uri}: no such object", field="source.path", hint="check the bucket and key in source.path"
            )
        if code == "NoSuchBucket":
            return DataError(f"{uri}: no such bucket", field="source.path", hint="check the bucket name in source.path")
        if code in ("AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch") or status == 403:
            how = (
                "the request was unsigned (anonymous): the bucket is not public; export AWS_ACCESS_KEY_ID / "
                "AWS_SECRET_ACCESS_KEY of a reader and drop anonymous: true"
                if self.anonymous or _unsigned(self.client)
                else "the credentials in the environment may not read it; use a key with read access"
            )
            return DataError(f"{uri}: access denied", field="source.path", hint=how)
        if code in ("PreconditionFailed", "412") or status == 412:
            return ServiceError(SERVICE, "object changed during download; retrying", url=uri, transient=True)
        if default_is_transient(exc):
            return ServiceError(
                SERVICE,
                f"{type(exc).__name__}: {exc}",
                url=uri,
                transient=True,
                hint="check that the S3 endpoint is up and reachable, then re-run",
            )
        return ServiceError(SERVICE, f"{code or type(exc).__name__}: {exc}", url=uri, status=status)

    def _call(self, uri: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except (DataError, ServiceError):
            raise
        except Exception as exc:
            raise self._error(uri, exc) from exc

    def _retry(self, fn: Callable[[], Any]) -> Any:
        return retry_source(self.limits, fn, sleep=self.sleep)

    def _head(self, uri: str) -> Validators:
        ref = parse_source(uri)
        meta = self._call(uri, lambda: self.client.head_object(Bucket=ref.bucket, Key=ref.key))
        modified = meta.get("LastModified")
        return Validators(
            meta.get("ETag"), modified.isoformat() if modified is not None else None, int(meta["ContentLength"])
        )

    def probe(self, uri: str) -> Validators:
        """ETag / Last-Modified / size of the object (``HeadObject``, retried)."""
        result: Validators = self._retry(lambda: self._head(uri))
        return result

    def list(self, uri_prefix: str) -> list[tuple[str, Validators]]:
        """Objects under ``s3://bucket/prefix`` with their validators (for globs)."""
        parts = urlsplit(uri_prefix)
        bucket, prefix = parts.netloc, parts.path.lstrip("/")

        def once() -> list[tuple[str, Validators]]:
            out: list[tuple[str, Validators]] = []
            paginator = self.client.get_paginator("list_objects_v2")
            for page in self._call(uri_prefix, lambda: list(paginator.paginate(Bucket=bucket, Prefix=prefix))):
                for obj in page.get("Contents", []):
                    modified = obj.get("LastModified")
                    out.append(
                        (
                            f"s3://{bucket}/{obj['Key']}",
                            Validators(obj.get("ETag"), modified.isoformat() if modified else None, int(obj["Size"])),
                        )
                    )
            return out

        result: list[tuple[str, Validators]] = self._retry(once)
        return result

    def fetch(self, uri: str, dest: Path, fmt: str, previous: SourceRecord | None = None) -> SourceRecord:
        """Download the object unless its ETag equals the one of the copy we hold."""
        ref = parse_source(uri)
        deadline_at = time.monotonic() + self.limits.deadline
        transferred = 0

        def once() -> SourceRecord:
            nonlocal transferred
            current = self._head(uri)
            if previous is not None and dest.is_file() and current.etag and current.etag == previous.validators.etag:
                return not_modified(uri, dest, previous)
            if current.size is not None and current.size > self.limits.max_bytes:
                raise too_big(uri, current.size, self.limits)
            offset = resumable_offset(dest, current)
            args: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
            if current.etag:
                args["IfMatch"] = current.etag
            if offset:
                args["Range"] = f"bytes={offset}-"
            response = self._call(uri, lambda: self.client.get_object(**args))
            body = response["Body"]
            try:
                written = write_stream(
                    uri,
                    dest,
                    self._chunks(uri, body),
                    offset=offset,
                    validators=current,
                    fmt=fmt,
                    content_type=response.get("ContentType"),
                    limits=self.limits,
                    deadline_at=deadline_at,
                )
            finally:
                body.close()
            transferred += written
            return finish(uri, dest, current, transferred)

        result: SourceRecord = self._retry(once)
        return result

    def _chunks(self, uri: str, body: Any) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(CHUNK)
        except Exception as exc:
            raise self._error(uri, exc) from exc


def _unsigned(client: Any) -> bool:
    from botocore import UNSIGNED

    return bool(client.meta.config.signature_version is UNSIGNED)
