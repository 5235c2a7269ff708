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

import fnmatch
import json
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from bot.adapters.download import Limits, not_modified
from bot.adapters.objectstore import file_sha256
from bot.config import NetworkConfig
from bot.errors import BotError, DataError
from bot.pipeline.context import StepContext, write_json_atomic
from bot.sources.addresses import AllowList
from bot.sources.manifest import SourceRecord, Validators, local_name
from bot.sources.uri import glob_prefix, is_glob, parse_source

if TYPE_CHECKING:  # the remote readers import httpx/boto3: a local source never needs them (start-up of a pod)
    from bot.adapters.http_probe import AddressGuard
    from bot.adapters.http_source import HttpSource
    from bot.adapters.s3_source import S3Source

SOURCES_DIR = ".sources"
MANIFEST = "manifest.json"
FETCH_THREADS = 4


def limits_of(cfg: NetworkConfig) -> Limits:
    """The download limits of ``network`` in catalog-bot.yaml."""
    return Limits(
        max_bytes=cfg.max_download_mb * 1024 * 1024,
        timeout=cfg.timeout_s,
        deadline=cfg.deadline_s,
        attempts=cfg.attempts,
    )


class Readers:
    """The adapters of one dataset's source, built once and shared by its files (thread-safe clients)."""

    def __init__(self, ctx: StepContext) -> None:
        cfg = ctx.catalog.config.network
        self.ctx = ctx
        self._allow = cfg.allow
        self._guard: AddressGuard | None = None
        self.limits = limits_of(cfg)
        self._http: HttpSource | None = None
        self._s3: S3Source | None = None
        self._lock = threading.Lock()

    @property
    def guard(self) -> AddressGuard:
        """The address guard of remote reads (built on first use)."""
        if self._guard is None:
            from bot.adapters.http_probe import AddressGuard

            self._guard = AddressGuard(AllowList.parse(self._allow))
        return self._guard

    def http(self) -> HttpSource:
        """The HTTP reader."""
        from bot.adapters.http_source import HttpSource

        with self._lock:
            if self._http is None:
                self._http = HttpSource(self.guard, self.limits)
            return self._http

    def s3(self, uri: str) -> S3Source:
        """The S3 reader (the source's ``endpoint_url`` / ``anonymous``)."""
        from bot.adapters.s3_source import S3Source

        with self._lock:
            if self._s3 is None:
                src = self.ctx.spec.source
                self._s3 = S3Source.open(
                    self.guard, self.limits, endpoint_url=src.endpoint_url, anonymous=src.anonymous, uri=uri
                )
            return self._s3

    def for_uri(self, uri: str) -> HttpSource | S3Source:
        """The reader of one remote URI."""
        return self.s3(uri) if uri.startswith("s3://") else self.http()

    def probe(self, uri: str) -> Validators:
        """One remote file's current validators; http(s) without building the httpx client (see http_probe)."""
        if uri.startswith("s3://"):
            return self.s3(uri).probe(uri)
        from bot.adapters.http_probe import probe

        return probe(self.guard, self.limits, uri)


def _located(ctx: StepContext, exc: BotError) -> DataError:
    """An adapter error re-raised against ``pipeline.yaml`` and the source field (file, field, fix)."""
    message = re.sub(r"^\[[^\]]+\]: ", "", exc.message.split("\n", 1)[0])
    hint = exc.hint or "check the source in pipeline.yaml, or retry if the server was briefly unavailable"
    src = ctx.spec.source
    field = next(f"source.{k}" for k in ("paths", "opendap", "thredds", "path") if getattr(src, k) is not None)
    own = getattr(exc, "field", None)
    if isinstance(own, str) and own.startswith("source.") and own != "source.path":
        field = own  # the adapter knows better (source.variables, source.subset...)
    return DataError(message, file=ctx.dataset.rel("pipeline.yaml"), field=field, hint=hint)


def expand(ctx: StepContext, readers: Readers) -> list[tuple[str, Validators | None]]:
    """Every file of the source, patterns expanded (sorted, each once), with validators a listing gave.

    Local patterns match inside the dataset folder; ``s3://bucket/prefix/*.nc``
    lists the prefix before the first wildcard and matches the keys.  A
    pattern that matches nothing is an error (an empty prefix usually means a
    typo or a missing upload, never "publish nothing").
    """
    if ctx.spec.source.thredds is not None:
        return [(url, None) for url in crawl_thredds(ctx, readers)]
    found: dict[str, Validators | None] = {}
    for entry in ctx.spec.source.entries:
        ref = parse_source(entry)
        if not is_glob(entry):
            found.setdefault(entry, None)
            continue
        if ref.kind == "local":
            base = ctx.dataset.dir.resolve()
            matches = [
                p.relative_to(base).as_posix()
                for p in sorted(base.glob(entry))
                if p.is_file() and p.resolve().is_relative_to(base)
            ]
            hits: dict[str, Validators | None] = dict.fromkeys(matches)
        else:
            listing = readers.s3(entry).list(glob_prefix(entry))
            hits = {uri: v for uri, v in listing if fnmatch.fnmatchcase(uri, entry)}
            if not hits:
                raise DataError(
                    f"{entry} matched no objects ({len(listing)} object(s) under {glob_prefix(entry)})",
                    hint="check the bucket, prefix and pattern in source.path; is the upload missing?",
                )
        if not hits:
            raise DataError(f"pattern {entry!r} matched no files in {ctx.dataset.rel('.')}", hint="check the pattern")
        for key, value in hits.items():
            found.setdefault(key, value)
    return sorted(found.items())


def listing(ctx: StepContext, readers: Readers) -> list[tuple[str, Validators | None]]:
    """:func:`expand`, once per step context: the probe and ``plan-sources`` share one S3 listing / THREDDS crawl."""
    if ctx.source_listing is None:
        ctx.source_listing = expand(ctx, readers)
    return list(ctx.source_listing)


def probe_inputs(ctx: StepContext) -> dict[str, Any]:
    """What identifies the source's current version, for the convert step's fingerprint.

    Remote files by their validators (one ``HEAD`` each, or the S3 listing
    for patterns: no data transferred), local files by size and mtime.
    Never raises: an unreachable or refused source yields an ``error`` entry
    with a random part, so the fingerprint matches no recorded run and the
    convert step runs and reports the error with its location.
    """
    cached = getattr(ctx, "_source_probe", None)  # the executor asks once per step group: probe once per run
    if cached is not None:
        return dict(cached)
    result = _probe(ctx)
    object.__setattr__(ctx, "_source_probe", result)
    return dict(result)


def _probe(ctx: StepContext) -> dict[str, Any]:
    if ctx.spec.source.opendap is not None:
        from bot.adapters.opendap_source import dap_validators

        url = ctx.spec.source.opendap
        try:
            return {"opendap": url, **dap_validators(Readers(ctx).http(), url).to_dict()}
        except (BotError, ValueError, OSError) as exc:
            return {"opendap": url, "error": str(exc).split("\n", 1)[0], "unknown": uuid.uuid4().hex}
    try:
        readers = Readers(ctx)
        files = []
        for uri, listed in listing(ctx, readers):
            if "://" not in uri:
                st = (ctx.dataset.dir / uri).stat()
                files.append({"uri": uri, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
                continue
            validators = listed or readers.probe(uri)
            files.append({"uri": uri, **validators.to_dict()})
    except (BotError, ValueError, OSError) as exc:
        # Unknown state never matches a recorded run: convert runs (its conditional requests keep an
        # unchanged remote from downloading) and reports the error if it persists.
        return {"entries": ctx.spec.source.entries, "error": str(exc).split("\n", 1)[0], "unknown": uuid.uuid4().hex}
    return {"entries": ctx.spec.source.entries, "files": files}


def _manifest(folder: Path) -> dict[str, SourceRecord]:
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {uri: SourceRecord.from_dict(rec) for uri, rec in data.get("sources", {}).items()}
    except (ValueError, KeyError, TypeError):
        return {}  # an unreadable record only costs a re-download


def _local(ctx: StepContext, rel: str) -> tuple[Path, SourceRecord]:
    src = (ctx.dataset.dir / rel).resolve()
    if src.exists() and not src.is_relative_to(ctx.catalog.root.resolve()):
        raise DataError(
            f"source file {rel!r} resolves outside the catalog ({src})",
            file=ctx.dataset.rel("pipeline.yaml"),
            field="source.paths" if ctx.spec.source.paths is not None else "source.path",
            hint="commit the file itself, not a link to a file elsewhere on the machine",
        )
    if not src.exists():
        raise DataError(
            f"source file {rel!r} does not exist (looked for {src})",
            file=ctx.dataset.rel("pipeline.yaml"),
            field="source.paths" if ctx.spec.source.paths is not None else "source.path",
            hint="fix the path (relative to the dataset folder) or add the file",
        )
    size = src.stat().st_size if src.is_file() else None
    return src, SourceRecord(uri=rel, file=src.name, validators=Validators(size=size), status="local")


def resolve(
    ctx: StepContext, *, threads: int = FETCH_THREADS, uris: list[str] | None = None
) -> tuple[list[Path], list[SourceRecord]]:
    """The local files to convert (in source order) and one provenance record per file.

    ``uris``: only these files of the source (the new ones an incremental
    convert appends, :mod:`bot.pipeline.incremental`), not the whole listing.

    Catalog files are used in place; remote ones are brought up to date in
    ``<work>/.sources`` (conditional requests, resumable downloads, up to
    ``threads`` at once).  The manifest is written even when a file fails, so
    a re-run downloads only what is still missing.  Errors name
    ``pipeline.yaml``, the source field, the URI and the fix.
    """
    readers = Readers(ctx)
    if ctx.spec.source.opendap is not None:
        try:
            path, record = _resolve_opendap(ctx, readers)
        except BotError as exc:
            raise _located(ctx, exc) from exc
        return [path], [record]
    try:
        planned = listing(ctx, readers) if uris is None else [(uri, None) for uri in uris]
    except BotError as exc:
        raise _located(ctx, exc) from exc
    folder = ctx.work / SOURCES_DIR
    records = _manifest(folder) if any("://" in uri for uri, _ in planned) else {}
    lock = threading.Lock()

    def one(uri: str) -> tuple[Path, SourceRecord]:
        if "://" not in uri:
            return _local(ctx, uri)
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / local_name(uri, parse_source(uri).name)
        record = readers.for_uri(uri).fetch(uri, dest, ctx.spec.source.format, records.get(uri))
        if record.status == "downloaded" or record.sha256 is None:
            record = SourceRecord(**{**record.__dict__, "sha256": file_sha256(dest)})
        with lock:
            records[uri] = record
        ctx.log(f"source {uri}: {record.status} ({record.bytes_transferred} bytes transferred)")
        return dest, record

    try:
        if len(planned) == 1 or threads <= 1:
            results = [one(uri) for uri, _ in planned]
        else:
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fetch") as pool:
                results = list(pool.map(one, [uri for uri, _ in planned]))
    except BotError as exc:
        raise _located(ctx, exc) from exc
    finally:
        if records:
            write_json_atomic(folder / MANIFEST, {"sources": {k: v.to_dict() for k, v in sorted(records.items())}})
    return [path for path, _ in results], [record for _, record in results]


def _resolve_opendap(ctx: StepContext, readers: Readers) -> tuple[Path, SourceRecord]:
    """The server-side subset as a local NetCDF; re-read only when the grid or the request changed."""
    from bot.adapters.opendap_source import dap_validators, fetch_subset

    src = ctx.spec.source
    url = src.opendap or ""
    ref = parse_source(url)
    readers.guard.check(url, ref.host or "", ref.port or 80)
    validators = dap_validators(readers.http(), url)
    request = json.dumps(
        {"variables": src.variables, "subset": msgspec.to_builtins(src.subset) if src.subset else None},
        sort_keys=True,
    )
    folder = ctx.work / SOURCES_DIR
    records = _manifest(folder)
    dest = folder / local_name(url + request, ref.name + ".subset.nc")
    key = f"{url} {request}"
    previous = records.get(key)
    if previous is not None and dest.is_file() and previous.validators.etag == validators.etag:
        record = not_modified(url, dest, previous)
    else:
        c = ctx.spec.coordinates
        record = fetch_subset(
            url,
            dest,
            variables=src.variables,
            bbox=src.subset.bbox if src.subset else None,
            time=src.subset.time if src.subset else None,
            coords=(c.x, c.y, c.t),
            limits=readers.limits,
            validators=validators,
        )
        record = SourceRecord(**{**record.__dict__, "sha256": file_sha256(dest)})
    records[key] = record
    write_json_atomic(folder / MANIFEST, {"sources": {k: v.to_dict() for k, v in sorted(records.items())}})
    ctx.log(f"opendap {url}: {record.status} ({record.bytes_transferred} bytes)")
    return dest, record


MAX_CATALOGS = 50


def crawl_thredds(ctx: StepContext, readers: Readers) -> list[str]:
    """The HTTPServer URLs of the datasets a ``thredds:`` source selects (catalogRefs followed, bounded).

    Every catalog document is fetched through the HTTP source adapter (address
    rules, size cap, retries) and parsed with the hardened XML parser.
    """
    # Imported here: the THREDDS parser (and the ISO metadata module it uses) costs every
    # publish of a plain file source ~20 ms of start-up for nothing (#11 no-change re-run).
    from bot.sources.thredds import MAX_CATALOG_BYTES, ThreddsDataset, parse_catalog, select

    spec = ctx.spec.source.thredds
    assert spec is not None
    queue: list[str] = [spec.catalog]
    seen: set[str] = set()
    datasets: list[ThreddsDataset] = []
    while queue and len(seen) < MAX_CATALOGS:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        body, _ = readers.http().get_small(url, limit=MAX_CATALOG_BYTES)
        parsed = parse_catalog(body, url)
        datasets += parsed.datasets
        queue += [ref for ref in parsed.refs if ref not in seen]
    chosen = select(datasets, spec.match, spec.since)
    if not chosen:
        raise DataError(
            f"THREDDS catalog {spec.catalog} has no dataset matching match={spec.match!r}"
            + (f" since {spec.since}" if spec.since else "")
            + f" ({len(datasets)} dataset(s) in {len(seen)} catalog(s))",
            hint="check thredds.match (a regular expression searched in each dataset's urlPath) and thredds.since",
        )
    missing = [d.name for d in chosen if d.http_url is None]
    if missing:
        raise DataError(
            f"THREDDS catalog {spec.catalog}: dataset {missing[0]!r} has no HTTPServer access",
            hint="use a catalog whose datasets offer the HTTPServer service, or an opendap: source",
        )
    return [d.http_url for d in chosen if d.http_url]
