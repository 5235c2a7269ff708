"""Writing a remote object to the work folder: size cap, deadline, content check, resume, atomic rename.

Why shared: the HTTP and S3 source adapters differ in how they ask for
bytes, not in how those bytes must land.  Both stream into ``<file>.part``
(never the final name, so a crash leaves nothing that looks complete), keep
the validators of the response that started the part in ``<file>.part.json``
(so a later attempt resumes with a Range request only if the remote is still
the same version), and rename into place once the byte count is right.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from bot.adapters.retry import retry_call
from bot.errors import DataError, ServiceError
from bot.sources.manifest import SourceRecord, Validators, check_content

SERVICE = "remote source"
CHUNK = 1024 * 1024


@dataclass
class Limits:
    """What one source file may cost (from ``network`` in catalog-bot.yaml)."""

    max_bytes: int
    timeout: float
    deadline: float
    attempts: int = 5
    base_delay: float = 0.5


T = TypeVar("T")


def retry_source(
    limits: Limits, fn: Callable[[], T], *, sleep: Callable[[float], None] = time.sleep, max_delay: float = 10.0
) -> T:
    """Call ``fn`` under the one retry policy of source reads: the catalog's attempts, back-off and deadline."""
    return retry_call(
        fn,
        service=SERVICE,
        attempts=limits.attempts,
        base=limits.base_delay,
        max_delay=max_delay,
        sleep=sleep,
        deadline=limits.deadline,
    )


def now_iso() -> str:
    """Retrieval time as recorded in provenance (UTC, seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def part_paths(dest: Path) -> tuple[Path, Path]:
    """``(<dest>.part, <dest>.part.json)``: the partial download and the validators it belongs to."""
    return dest.with_name(dest.name + ".part"), dest.with_name(dest.name + ".part.json")


def resumable_offset(dest: Path, validators: Validators | None) -> int:
    """Bytes of a partial download that may be continued for ``validators`` (0 = start over).

    Only when the part was started for the very same version (same ETag, or
    same Last-Modified and size): appending bytes of another version would
    silently corrupt the file.
    """
    part, meta = part_paths(dest)
    if validators is None or not validators.known or not part.is_file() or not meta.is_file():
        return 0
    try:
        started = Validators(**json.loads(meta.read_text(encoding="utf-8")))
    except (ValueError, TypeError):
        return 0
    return part.stat().st_size if started == validators else 0


def discard_part(dest: Path) -> None:
    """Remove a partial download and its record."""
    for path in part_paths(dest):
        path.unlink(missing_ok=True)


def too_big(uri: str, size: int, limits: Limits) -> DataError:
    """The error for a file over the cap, with both numbers and the fix."""
    return DataError(
        f"{uri} is {size} bytes, over the limit of {limits.max_bytes} bytes",
        field="source.path",
        hint="raise network.max_download_mb in catalog-bot.yaml if this file is expected to be that large",
    )


def write_stream(
    uri: str,
    dest: Path,
    chunks: Iterable[bytes],
    *,
    offset: int,
    validators: Validators,
    fmt: str,
    content_type: str | None,
    limits: Limits,
    deadline_at: float,
) -> int:
    """Append ``chunks`` to the part file from ``offset``; return the bytes written in this call.

    Raises :class:`DataError` (not retried) for a file over the cap or with
    the wrong content, a transient :class:`ServiceError` when the stream ends
    short of the announced size (the next attempt resumes), and a
    non-transient one when the deadline passes.
    """
    part, meta = part_paths(dest)
    part.parent.mkdir(parents=True, exist_ok=True)
    if offset == 0:
        discard_part(dest)
    meta.write_text(json.dumps(validators.to_dict()), encoding="utf-8")
    written = 0
    checked = offset > 0
    head = b""
    with part.open("ab" if offset else "wb") as handle:
        for chunk in chunks:
            if not chunk:
                continue
            if not checked:
                head += chunk
                if len(head) >= 512:
                    _check_head(uri, dest, head, fmt, content_type)
                    checked = True
            written += len(chunk)
            if offset + written > limits.max_bytes:
                handle.close()
                discard_part(dest)
                raise too_big(uri, offset + written, limits)
            handle.write(chunk)
            if time.monotonic() > deadline_at:
                raise ServiceError(
                    SERVICE,
                    f"download did not finish within network.deadline_s={limits.deadline:g} s "
                    f"({offset + written} bytes so far; the partial file is kept and resumed next time)",
                    url=uri,
                    hint="raise network.deadline_s in catalog-bot.yaml, or check the server's speed",
                )
    if not checked:
        _check_head(uri, dest, head, fmt, content_type)
    total = offset + written
    if validators.size is not None and total != validators.size:
        raise ServiceError(
            SERVICE,
            f"download ended after {total} of {validators.size} bytes (connection dropped); resuming",
            url=uri,
            transient=True,
        )
    return written


def _check_head(uri: str, dest: Path, head: bytes, fmt: str, content_type: str | None) -> None:
    why = check_content(head, fmt, content_type)
    if why is not None:
        discard_part(dest)
        raise DataError(
            f"{uri}: {why}",
            field="source.path",
            hint=f"open {uri} in a browser: the URL must give the {fmt} file itself (no login or error page)",
        )


def finish(uri: str, dest: Path, validators: Validators, transferred: int) -> SourceRecord:
    """Move the complete part into place (atomic) and return its record."""
    part, meta = part_paths(dest)
    os.replace(part, dest)
    meta.unlink(missing_ok=True)
    size = dest.stat().st_size
    return SourceRecord(
        uri=uri,
        file=dest.name,
        validators=Validators(validators.etag, validators.last_modified, size),
        retrieved=now_iso(),
        status="downloaded",
        bytes_transferred=transferred,
    )


def not_modified(uri: str, dest: Path, previous: SourceRecord) -> SourceRecord:
    """The record of a source whose remote did not change (nothing transferred)."""
    return SourceRecord(
        uri=uri,
        file=dest.name,
        validators=previous.validators,
        retrieved=now_iso(),
        sha256=previous.sha256,
        status="not-modified",
        bytes_transferred=0,
    )
