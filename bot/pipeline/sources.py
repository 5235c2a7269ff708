"""Resolve a dataset's source to local files in its work folder (the convert step's first half).

Why here, between the pure rules (:mod:`bot.sources`) and the adapters
(:mod:`bot.adapters.http_source`, :mod:`bot.adapters.s3_source`): the
convert step and the executor's fingerprint both need "what is the source
now", one as files, the other as validators, and must agree.

Remote copies live in ``<work>/.sources/`` with ``manifest.json`` (one
:class:`~bot.sources.manifest.SourceRecord` per URI).  That folder belongs to
no step, so it is never shipped as an Argo artifact, and it survives between
local runs: the next run sends conditional requests with the recorded
validators and downloads nothing when the remote is unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.adapters.download import Limits
from bot.adapters.http_source import AddressGuard, HttpSource
from bot.adapters.objectstore import file_sha256
from bot.adapters.s3_source import S3Source
from bot.config import NetworkConfig
from bot.errors import BotError, DataError
from bot.pipeline.context import StepContext, write_json_atomic
from bot.sources.addresses import AllowList
from bot.sources.manifest import SourceRecord, Validators, local_name
from bot.sources.uri import SourceURI, parse_source

SOURCES_DIR = ".sources"
MANIFEST = "manifest.json"


def limits_of(cfg: NetworkConfig) -> Limits:
    """The download limits of ``network`` in catalog-bot.yaml."""
    return Limits(
        max_bytes=cfg.max_download_mb * 1024 * 1024,
        timeout=cfg.timeout_s,
        deadline=cfg.deadline_s,
        attempts=cfg.attempts,
    )


def reader_for(ctx: StepContext, ref: SourceURI) -> HttpSource | S3Source:
    """The adapter for one remote source, with the catalog's address rules and limits."""
    cfg = ctx.catalog.config.network
    guard = AddressGuard(AllowList.parse(cfg.allow))
    limits = limits_of(cfg)
    if ref.kind == "s3":
        src = ctx.spec.source
        return S3Source.open(guard, limits, endpoint_url=src.endpoint_url, anonymous=src.anonymous, uri=ref.text)
    return HttpSource(guard, limits)


def _located(ctx: StepContext, exc: BotError) -> DataError:
    """An adapter error re-raised against ``pipeline.yaml`` ``source.path`` (file, field, fix)."""
    message = str(exc).split("\n", 1)[0]
    message = message.removeprefix("[source.path]: ")
    hint = exc.hint or "check source.path, or retry if the server was briefly unavailable"
    return DataError(message, file=ctx.dataset.rel("pipeline.yaml"), field="source.path", hint=hint)


def probe_inputs(ctx: StepContext) -> dict[str, Any]:
    """The remote source's validators for the convert step's fingerprint (one HEAD, no data).

    Never raises: an unreachable or refused source yields an ``error`` entry,
    so the fingerprint differs from the last good run and the convert step
    runs and reports the error with its location.
    """
    uri = ctx.spec.source.path
    try:
        ref = parse_source(uri)
        reader = reader_for(ctx, ref)
        validators = reader.probe(uri)
    except (BotError, ValueError) as exc:
        return {"uri": uri, "error": str(exc).split("\n", 1)[0]}
    return {"uri": uri, **validators.to_dict()}


def _manifest(folder: Path) -> dict[str, SourceRecord]:
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {uri: SourceRecord.from_dict(rec) for uri, rec in data.get("sources", {}).items()}
    except (ValueError, KeyError, TypeError):
        return {}  # an unreadable record only costs a re-download


def resolve(ctx: StepContext) -> tuple[Path, list[SourceRecord]]:
    """The local file to convert and the provenance records of the source(s).

    A catalog file is used in place; a remote one is brought up to date in
    ``<work>/.sources`` (conditional request, resumable download).  Errors
    name ``pipeline.yaml``, ``source.path``, the URI and the fix.
    """
    uri = ctx.spec.source.path
    pipeline_rel = ctx.dataset.rel("pipeline.yaml")
    ref = parse_source(uri)
    if not ref.remote:
        src = (ctx.dataset.dir / uri).resolve()
        if not src.exists():
            raise DataError(
                f"source file {uri!r} does not exist (looked for {src})",
                file=pipeline_rel,
                field="source.path",
                hint="fix source.path (relative to the dataset folder) or add the file",
            )
        size = src.stat().st_size if src.is_file() else None
        return src, [SourceRecord(uri=uri, file=src.name, validators=Validators(size=size), status="local")]
    folder = ctx.work / SOURCES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    records = _manifest(folder)
    dest = folder / local_name(uri, ref.name)
    previous = records.get(uri)
    try:
        reader = reader_for(ctx, ref)
        record = reader.fetch(uri, dest, ctx.spec.source.format, previous)
    except BotError as exc:
        raise _located(ctx, exc) from exc
    if record.status == "downloaded" or record.sha256 is None:
        record = SourceRecord(**{**record.__dict__, "sha256": file_sha256(dest)})
    records[uri] = record
    write_json_atomic(folder / MANIFEST, {"sources": {k: v.to_dict() for k, v in records.items()}})
    ctx.log(f"source {uri}: {record.status} ({record.bytes_transferred} bytes transferred)")
    return dest, [record]
