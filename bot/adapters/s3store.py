"""The S3 implementation of :class:`bot.adapters.objectstore.ObjectStore`.

Why its own module: boto3/botocore are heavy to import and only the S3
environments need them; the interface, the checksum helpers and the local
store stay importable without them.  The guarantees (checksums, trees that
appear whole, retries) are described in :mod:`bot.adapters.objectstore`.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bot.adapters.objectstore import (
    SHA256_META,
    ObjectInfo,
    ObjectStore,
    PutResult,
    check_key,
    content_type_of,
    file_sha256,
    join_key,
    tree_files,
)
from bot.adapters.retry import default_is_transient, retry_call
from bot.errors import AuthError, ServiceError


def unwrap_s3_error(exc: BaseException) -> BaseException:
    """The botocore error behind boto3's transfer wrappers (``S3UploadFailedError`` hides the status)."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 5:
        if isinstance(getattr(current, "response", None), dict):
            return current
        current = current.__cause__ or current.__context__
        seen += 1
    return exc


class S3ObjectStore(ObjectStore):
    """One bucket (+ optional key prefix) on S3 or an S3-compatible server.

    ``client`` is a ``boto3.client("s3")``; ``transfer_config`` a
    ``boto3.s3.transfer.TransferConfig`` (multipart threshold / part size /
    per-file concurrency).  Files of a tree are uploaded concurrently by a
    thread pool of ``max_workers`` (boto3 clients are thread-safe).
    """

    service = "s3"

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        prefix: str = "",
        public_base_url: str | None = None,
        transfer_config: Any = None,
        max_workers: int = 8,
        attempts: int = 5,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.transfer_config = transfer_config
        self.max_workers = max_workers
        self.attempts = attempts
        self._sleep = sleep
        self._endpoint = str(getattr(getattr(client, "meta", None), "endpoint_url", "") or "s3")

    # -- helpers

    def _full(self, key: str) -> str:
        return join_key(self.prefix, check_key(key))

    def _where(self, key: str | None = None) -> str:
        base = f"{self._endpoint.rstrip('/')}/{self.bucket}"
        return f"{base}/{self._full(key)}" if key else base

    def _call(self, what: str, key: str | None, fn: Callable[[], Any]) -> Any:
        """Run one S3 call with retries; translate botocore errors into ServiceError."""
        kwargs: dict[str, Any] = {
            "service": "s3",
            "attempts": self.attempts,
            "is_transient": lambda exc: default_is_transient(unwrap_s3_error(exc)),
        }
        if self._sleep is not None:
            kwargs["sleep"] = self._sleep
        try:
            return retry_call(fn, **kwargs)
        except ServiceError:
            raise
        except Exception as exc:
            raise self._translate(what, key, exc) from exc

    def _translate(self, what: str, key: str | None, exc: BaseException) -> ServiceError:
        exc = unwrap_s3_error(exc)
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            error = response.get("Error") or {}
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            code = error.get("Code") or "error"
            message = error.get("Message") or code
            text = f"{what} failed: {code}: {message}"
            # HEAD responses have no body: a bare 403 is the only sign of bad keys there.
            if code in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken"} or status in (
                401,
                403,
            ):
                return AuthError(
                    "s3",
                    text,
                    url=self._where(key),
                    status=status,
                    hint="check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
                )
            hint = "create the bucket or fix object_store in catalog-bot.yaml" if code == "NoSuchBucket" else None
            return ServiceError("s3", text, url=self._where(key), status=status, hint=hint)
        transient = default_is_transient(exc)
        return ServiceError(
            "s3", f"{what} failed: {type(exc).__name__}: {exc}", url=self._where(key), transient=transient
        )

    # -- interface

    def head(self, key: str) -> ObjectInfo | None:
        """HEAD the object; the checksum comes from its ``sha256`` metadata."""

        def call() -> Any:
            try:
                return self.client.head_object(Bucket=self.bucket, Key=self._full(key))
            except Exception as exc:
                response = getattr(exc, "response", None)
                if isinstance(response, dict):
                    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
                    code = (response.get("Error") or {}).get("Code")
                    if status == 404 or code in {"404", "NoSuchKey", "NotFound"}:
                        return None
                raise

        meta = self._call("HEAD", key, call)
        if meta is None:
            return None
        return ObjectInfo(key, int(meta.get("ContentLength", 0)), (meta.get("Metadata") or {}).get(SHA256_META))

    def put_file(
        self, key: str, path: Path, *, sha256: str | None = None, content_type: str | None = None
    ) -> PutResult:
        """Upload (multipart above the threshold) unless size and sha256 already match."""
        size = path.stat().st_size
        digest = sha256 or file_sha256(path)
        info = self.head(key)
        if info is not None and info.size == size and info.sha256 == digest:
            return PutResult(key, size, digest, skipped=True)
        extra = {"Metadata": {SHA256_META: digest}, "ContentType": content_type or content_type_of(key)}

        def call() -> None:
            kwargs: dict[str, Any] = {"ExtraArgs": extra}
            if self.transfer_config is not None:
                kwargs["Config"] = self.transfer_config
            self.client.upload_file(str(path), self.bucket, self._full(key), **kwargs)

        self._call("PUT", key, call)
        return PutResult(key, size, digest, skipped=False)

    def put_tree(self, prefix: str, src: Path) -> list[PutResult]:
        """Upload every file concurrently, then HEAD-verify each; the first failure is raised.

        Objects of a failed tree may remain (S3 has no rename); they are
        harmless because dataset versions are content-addressed prefixes and
        metadata is written only after this returns.
        """
        prefix = prefix.strip("/")
        files = tree_files(src)
        results: list[PutResult] = []
        stop = threading.Event()

        def one(item: tuple[str, Path]) -> PutResult | None:
            if stop.is_set():
                return None
            rel, path = item
            try:
                return self.put_file(join_key(prefix, rel), path)
            except BaseException:
                stop.set()
                raise

        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="s3-put") as pool:
            futures = [pool.submit(one, item) for item in files]
            error: BaseException | None = None
            for future in futures:
                try:
                    result = future.result()
                except BaseException as exc:
                    error = error or exc
                    continue
                if result is not None:
                    results.append(result)
        if error is not None:
            raise error
        self.verify(r for r in results if not r.skipped)
        return results

    def get_bytes(self, key: str) -> bytes:
        """GET the object body."""
        response = self._call("GET", key, lambda: self.client.get_object(Bucket=self.bucket, Key=self._full(key)))
        return response["Body"].read()

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """A ranged GET (``Range: bytes=start-end``): only those bytes cross the network."""
        if length <= 0:
            return b""
        rng = f"bytes={start}-{start + length - 1}"

        def call() -> bytes:
            response = self.client.get_object(Bucket=self.bucket, Key=self._full(key), Range=rng)
            return bytes(response["Body"].read())

        return bytes(self._call("GET", key, call))

    def copy_tree(self, src: str, dest: str) -> list[PutResult]:
        """Server-side copies (multipart above the threshold), concurrent, then HEAD-verified.

        The data never passes through this process.  The ``sha256`` metadata
        is set on each copy, so an identical object at ``dest`` is skipped and
        a later ``put_tree`` of the same data transfers nothing.
        """
        src, dest = src.strip("/"), dest.strip("/")
        keys = self.list(src)
        if not keys:
            raise ServiceError("s3", "nothing to copy: no objects below the key", url=self._where(src))

        def one(key: str) -> PutResult:
            target = join_key(dest, key[len(src) + 1 :])
            info = self.head(key)
            if info is None or info.sha256 is None:
                raise ServiceError("s3", "object vanished or has no sha256 metadata", url=self._where(key))
            existing = self.head(target)
            if existing is not None and existing.size == info.size and existing.sha256 == info.sha256:
                return PutResult(target, info.size, info.sha256, skipped=True)
            extra = {
                "Metadata": {SHA256_META: info.sha256},
                "ContentType": content_type_of(target),
                "MetadataDirective": "REPLACE",
            }

            def call() -> None:
                kwargs: dict[str, Any] = {"ExtraArgs": extra}
                if self.transfer_config is not None:
                    kwargs["Config"] = self.transfer_config
                source = {"Bucket": self.bucket, "Key": self._full(key)}
                self.client.copy(source, self.bucket, self._full(target), **kwargs)

            self._call("COPY", target, call)
            return PutResult(target, info.size, info.sha256, skipped=False)

        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="s3-copy") as pool:
            results = list(pool.map(one, keys))
        self.verify(r for r in results if not r.skipped)
        return results

    def list(self, prefix: str = "") -> list[str]:
        """Keys below ``prefix`` (relative to the store prefix), paginated."""
        full = join_key(self.prefix, prefix) if prefix else self.prefix
        keys: list[str] = []

        def pages() -> Iterator[dict[str, Any]]:
            paginator = self.client.get_paginator("list_objects_v2")
            yield from paginator.paginate(Bucket=self.bucket, Prefix=full)

        for page in self._call("LIST", prefix or None, lambda: list(pages())):
            for obj in page.get("Contents", []) or []:
                key = obj["Key"]
                keys.append(key[len(self.prefix) + 1 :] if self.prefix else key)
        return sorted(keys)

    def delete(self, keys: Iterable[str]) -> None:
        """DeleteObjects in batches of 1,000."""
        batch = [{"Key": self._full(k)} for k in keys]
        for start in range(0, len(batch), 1000):
            chunk = batch[start : start + 1000]
            self._call(
                "DELETE",
                None,
                functools.partial(self.client.delete_objects, Bucket=self.bucket, Delete={"Objects": chunk}),
            )

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        """Body and ETag of ``key`` (None when missing): the tag for :meth:`put_if`."""

        def call() -> Any:
            try:
                return self.client.get_object(Bucket=self.bucket, Key=self._full(key))
            except Exception as exc:
                if _status(exc) == 404:
                    return None
                raise

        response = self._call("GET", key, call)
        if response is None:
            return None
        return response["Body"].read(), str(response["ETag"])

    def put_if(self, key: str, data: bytes, *, tag: str | None) -> bool:
        """Conditional PUT: ``If-None-Match: *`` (tag None) or ``If-Match: tag``; False on 412/409.

        S3 (and SeaweedFS >= 4) evaluate the condition atomically on the
        server, which is what makes :mod:`bot.adapters.lease` a real lock.
        """
        condition = {"IfNoneMatch": "*"} if tag is None else {"IfMatch": tag}

        def call() -> bool:
            try:
                self.client.put_object(
                    Bucket=self.bucket, Key=self._full(key), Body=data, ContentType="application/json", **condition
                )
            except Exception as exc:
                if _status(exc) in (409, 412):  # 409: a concurrent conditional write won
                    return False
                raise
            return True

        return bool(self._call("PUT", key, call))

    def list_modified(self, prefix: str = "") -> dict[str, float]:
        """Keys below ``prefix`` with their last-modified time (epoch seconds)."""
        full = join_key(self.prefix, prefix) if prefix else self.prefix
        out: dict[str, float] = {}

        def pages() -> list[dict[str, Any]]:
            return list(self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full))

        for page in self._call("LIST", prefix or None, pages):
            for obj in page.get("Contents", []) or []:
                key = obj["Key"]
                out[key[len(self.prefix) + 1 :] if self.prefix else key] = obj["LastModified"].timestamp()
        return out

    def uri(self, key: str) -> str:
        """``s3://bucket/key`` whatever the public URL: servers read through S3 with their own keys."""
        return f"s3://{self.bucket}/{self._full(key)}"

    def url(self, key: str) -> str:
        """``public_base_url/key`` when configured, else ``s3://bucket/key``."""
        full = self._full(key)
        if self.public_base_url:
            return f"{self.public_base_url}/{full}"
        return f"s3://{self.bucket}/{full}"


def _status(exc: BaseException) -> int | None:
    """The HTTP status of a botocore error (None for anything else)."""
    response = getattr(unwrap_s3_error(exc), "response", None)
    if not isinstance(response, dict):
        return None
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    code = str((response.get("Error") or {}).get("Code") or "")
    if code in {"404", "NoSuchKey", "NotFound"}:
        return 404
    if code in {"PreconditionFailed", "412"}:
        return 412
    if code in {"ConditionalRequestConflict", "409"}:
        return 409
    return int(status) if status else None


def make_s3_client(endpoint_url: str | None, region: str | None, *, max_pool: int = 16) -> Any:
    """A boto3 S3 client from the environment's credentials (never from the catalog).

    Path-style addressing because SeaweedFS/MinIO endpoints do not serve
    virtual-host buckets; botocore's own retries are kept low as
    :func:`bot.adapters.retry.retry_call` handles them with jitter.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 2, "mode": "standard"},
        max_pool_connections=max_pool,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region or "us-east-1", config=config)


def make_transfer_config(threshold_mb: int, concurrency: int) -> Any:
    """Multipart settings: parts of ``threshold_mb`` MiB, ``concurrency`` parts in flight per file."""
    from boto3.s3.transfer import TransferConfig

    size = threshold_mb * 1024 * 1024
    return TransferConfig(multipart_threshold=size, multipart_chunksize=size, max_concurrency=concurrency)
