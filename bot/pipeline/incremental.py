"""Incremental convert: what was already converted is remembered next to the published data.

Why in the object store: an Argo pod (or any fresh machine) starts with an
empty work folder, so ``<work>/.sources/manifest.json`` cannot tell it what
the last publish read.  After the data version is uploaded,
:func:`save_state` writes ``<dataset>/source-state.json`` to the dataset's
store: the convert *recipe* (pipeline settings, schema, code version), the
data version it produced, and the record (validators, sha256) of every
source file in conversion order.  At convert start :func:`plan` compares it
with the source as it is now (the validators the executor's fingerprint
probe already asked for: no data transferred) and picks one of:

- ``reuse``: same recipe, same files, none changed -> the published data
  version is the output (the work folder's copy, else downloaded from the
  store and checked against its sha256); nothing is fetched or converted.
- ``append``: same recipe, every converted file still there and unchanged,
  new files sorting after them (the daily-file case) -> only the new files
  are fetched and converted, then appended to a copy of the previous output
  (:func:`bot.convert.many.append_many`); the previous version stays
  current until the new one is uploaded and published.
- ``full``: anything else (first run, a file removed or changed upstream,
  new settings or code, an OPeNDAP subset) -> everything is fetched and
  converted as usual.

The append result is the same bytes as a full re-convert of all files
(tests/test_sources_incremental.py); where it could not be (a Zarr chunk
plan that the new files would change, a new file dated before the last
converted time), :class:`~bot.convert.many.NotAppendable` falls back to
``full``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec

from bot.adapters.objectstore import file_sha256, tree_sha256
from bot.convert.common import ConversionResult, atomic_output, list_files
from bot.errors import BotError
from bot.pipeline.context import StepContext
from bot.pipeline.digests import DigestCache
from bot.sources.manifest import SourceRecord

STATE_NAME = "source-state.json"
STATE_VERSION = 1

Mode = Literal["full", "append", "reuse"]


@dataclass
class SourceState:
    """What the last uploaded data version was converted from (``<dataset>/source-state.json``)."""

    recipe: str
    data: dict[str, Any]  # the convert record of that version (file, format, rows, sha256) + its store key
    sources: list[SourceRecord]  # in conversion order

    def to_dict(self) -> dict[str, Any]:
        """JSON form stored in the object store."""
        return {
            "version": STATE_VERSION,
            "recipe": self.recipe,
            "data": self.data,
            "sources": [r.to_dict() for r in self.sources],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SourceState:
        """Inverse of :meth:`to_dict` (KeyError/TypeError/ValueError on a malformed document)."""
        if raw.get("version") != STATE_VERSION:
            raise ValueError(f"unknown source-state version {raw.get('version')!r}")
        return cls(
            recipe=str(raw["recipe"]),
            data=dict(raw["data"]),
            sources=[SourceRecord.from_dict(r) for r in raw["sources"]],
        )


@dataclass
class Plan:
    """The convert mode and what it needs (see the module docstring)."""

    mode: Mode
    reason: str
    state: SourceState | None = None
    new: list[str] = field(default_factory=list)  # URIs to fetch and append (append mode)


def state_key(dataset: str) -> str:
    """``<dataset>/source-state.json`` (next to ``datapackage.json``; no data version prunes it)."""
    return f"{dataset}/{STATE_NAME}"


def recipe_of(ctx: StepContext) -> str:
    """What else decides the converted bytes: pipeline settings (not the file list), schema, code version."""
    from bot.pipeline.fingerprint import code_version

    spec = msgspec.to_builtins(ctx.spec)
    source = {k: v for k, v in spec["source"].items() if k not in ("path", "paths", "thredds")}
    keep = {k: spec.get(k) for k in ("output", "coordinates", "converter", "chunks")}
    schema = ctx.dataset.path(ctx.schema_name)
    parts = {
        "source": source,
        **keep,
        "schema": file_sha256(schema) if ctx.kind == "tabular" and schema.is_file() else None,
        "code": code_version(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def load_state(ctx: StepContext) -> SourceState | None:
    """The state of the last uploaded version, or None (none yet, unreadable: a full convert is always safe)."""
    store = ctx.store()
    try:
        if store.head(state_key(ctx.id)) is None:
            return None
        return SourceState.from_dict(json.loads(store.get_bytes(state_key(ctx.id))))
    except (BotError, ValueError, KeyError, TypeError) as exc:
        ctx.log(f"source state of {ctx.id} unreadable ({exc}); converting every file")
        return None


def save_state(ctx: StepContext, store: Any, info: dict[str, Any], key: str) -> None:
    """Remember what the data version at ``key`` (uploaded and verified) was converted from."""
    if not info.get("recipe"):
        return  # a source kind without incremental convert (OPeNDAP subset)
    data = {k: info.get(k) for k in ("file", "format", "rows", "bytes", "files", "sha256")}
    state = SourceState(
        recipe=str(info["recipe"]),
        data={**data, "key": key},
        sources=[SourceRecord.from_dict(r) for r in info.get("sources") or []],
    )
    store.put_bytes(state_key(ctx.id), json.dumps(state.to_dict(), indent=1).encode(), content_type="application/json")


def _sha256(path: Path, digests: DigestCache | None) -> str:
    return digests.file(path) if digests is not None else file_sha256(path)


def _unchanged(ctx: StepContext, old: SourceRecord, now: dict[str, Any], digests: DigestCache | None) -> bool:
    """True when the source file ``now`` (a probe entry) is the one ``old`` recorded."""
    if "://" not in old.uri:  # a catalog file: by content (the digest of an untouched file is remembered)
        path = ctx.dataset.dir / old.uri
        return old.sha256 is not None and path.is_file() and _sha256(path, digests) == old.sha256
    v = old.validators
    if v.etag and now.get("etag"):
        return bool(v.etag == now["etag"] and (v.size is None or now.get("size") in (None, v.size)))
    return bool(v.last_modified and v.last_modified == now.get("last_modified") and v.size == now.get("size"))


def plan(ctx: StepContext, recipe: str, digests: DigestCache | None = None) -> Plan:
    """Decide reuse / append / full from the stored state and the source's current validators."""
    from bot.pipeline.sources import probe_inputs

    if ctx.spec.source.opendap is not None:
        return Plan("full", "an OPeNDAP subset is always re-read when its server's metadata changed")
    state = load_state(ctx)
    if state is None:
        return Plan("full", "no earlier conversion recorded in the object store")
    if state.recipe != recipe:
        return Plan("full", "the pipeline settings, schema or bot version changed", state)
    probe = probe_inputs(ctx)
    if "files" not in probe:
        return Plan("full", f"the source could not be listed ({probe.get('error')})", state)
    now = {f["uri"]: f for f in probe["files"]}
    planned = list(now)
    old = [r.uri for r in state.sources]
    for record in state.sources:
        if record.uri not in now:
            return Plan("full", f"{record.uri} is no longer in the source", state)
        if not _unchanged(ctx, record, now[record.uri], digests):
            return Plan("full", f"{record.uri} changed upstream", state)
    if planned == old:
        return Plan("reuse", f"all {len(old)} source file(s) unchanged", state)
    if planned[: len(old)] != old:
        return Plan("full", "new files sort before files already converted", state)
    if ctx.spec.source.single is not None:
        return Plan("full", "the source file changed", state)
    return Plan(
        "append", f"{len(planned) - len(old)} new file(s) after {len(old)} converted", state, planned[len(old) :]
    )


def restore(ctx: StepContext, state: SourceState, dest: Path) -> bool:
    """Put the data version ``state`` describes at ``dest``: the work folder's copy, else from the store.

    Returns False when it is not available (pruned, incomplete): the caller
    converts everything instead.  A downloaded copy is checked against the
    recorded sha256 before use.
    """
    digest = str(state.data.get("sha256"))
    record = dest.parent / "result.json"
    if dest.exists() and record.is_file():
        try:
            if json.loads(record.read_text(encoding="utf-8")).get("sha256") == digest:
                return True  # this work folder produced it (the local engine keeps work folders)
        except ValueError:
            pass
    store = ctx.store()
    key = str(state.data.get("key"))
    try:
        with atomic_output(dest) as tmp:
            local = store.local_path(key)
            if local is not None and local.is_dir():
                shutil.copytree(local, tmp, copy_function=_link_or_copy)  # the store never rewrites in place
            elif local is not None and local.is_file():
                shutil.copyfile(local, tmp)
            else:
                keys = store.list_modified(key + "/") if state.data.get("format") == "zarr" else {key: 0.0}
                if not keys:
                    raise FileNotFoundError(key)
                for name in sorted(keys):
                    target = tmp / name[len(key) + 1 :] if state.data.get("format") == "zarr" else tmp
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(store.get_bytes(name))
            if tree_sha256(tmp) != digest:
                raise ValueError(f"{key} does not match its recorded sha256")
    except (BotError, OSError, ValueError) as exc:
        ctx.log(f"previous version {key} not available ({exc}); converting every file")
        return False
    return True


def convert_source(
    ctx: StepContext, out: Path, schema: dict[str, Any] | None
) -> tuple[ConversionResult, list[SourceRecord], dict[str, Any]]:
    """The convert step's work: resolve, then reuse / append / convert; returns the result, provenance, summary.

    The result carries its sha256; digests of unchanged files (sources, the
    previous version's chunks) come from the work folder's
    :class:`~bot.pipeline.digests.DigestCache` instead of being re-read.
    """
    digests = DigestCache.of_work(ctx.work)
    try:
        result, records, summary = _convert(ctx, out, schema, digests)
        if result.sha256 is None:  # the previous version's files keep their digests (hard links)
            result = dataclasses.replace(result, sha256=digests.tree(result.path, threads=ctx.run.jobs))
    finally:
        digests.save()
    return result, records, summary


def _convert(
    ctx: StepContext, out: Path, schema: dict[str, Any] | None, digests: DigestCache
) -> tuple[ConversionResult, list[SourceRecord], dict[str, Any]]:
    from concurrent.futures import ThreadPoolExecutor

    from bot.pipeline.sources import resolve

    recipe = recipe_of(ctx)
    decided = plan(ctx, recipe, digests)
    dest = out / f"{ctx.id}.{ctx.spec.output}"
    state = decided.state
    if decided.mode != "full" and state is not None and not restore(ctx, state, dest):
        decided = Plan("full", "the previous data version could not be restored", state)
    if decided.mode == "reuse" and state is not None:
        ctx.log(f"convert: reusing data version {str(state.data['sha256'])[:16]} ({decided.reason})")
        files, size = list_files(dest)
        rows = state.data.get("rows")
        kept = [_kept(r) for r in state.sources]
        result = ConversionResult(path=dest, format=ctx.spec.output, rows=rows, files=files, bytes=size)
        return result, kept, {"mode": "reuse", "reason": decided.reason, "converted": 0, "recipe": recipe}
    if decided.mode == "append" and state is not None:
        from bot.convert.many import NotAppendable, append_many

        paths, fetched = resolve(ctx, uris=decided.new)
        try:
            result = append_many(ctx.spec, dest, paths, schema, jobs=ctx.run.jobs)
        except NotAppendable as exc:
            ctx.log(f"convert: cannot append ({exc}); converting every file")
            decided = Plan("full", str(exc), state)
        else:
            ctx.log(f"convert: appended {len(paths)} file(s) to version {str(state.data['sha256'])[:16]}")
            records = [_kept(r) for r in state.sources] + [with_digest(ctx, r, digests) for r in fetched]
            summary = {"mode": "append", "reason": decided.reason, "converted": len(paths), "recipe": recipe}
            return result, records, summary
    files, records = resolve(ctx)  # catalog files in place, remote ones fetched into the work folder
    # The sources are hashed on a thread of their own while they convert: hashlib releases the GIL,
    # and a conversion seldom keeps both cores busy (a CSV one is bound by its Parquet writer thread).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="source-digest") as hasher:
        digested = hasher.submit(lambda: [with_digest(ctx, r, digests) for r in records])
        if len(files) == 1 and ctx.spec.source.single is not None:
            from bot.convert import convert_dataset

            result = convert_dataset(ctx.spec, files[0], out, schema, name=ctx.id)
        else:
            from bot.convert.many import convert_many

            result = convert_many(ctx.spec, files, out, schema, name=ctx.id, jobs=ctx.run.jobs)
        records = digested.result()
    incremental = ctx.spec.source.opendap is None
    summary = {
        "mode": "full",
        "reason": decided.reason,
        "converted": len(files),
        "recipe": recipe if incremental else None,
    }
    return result, records, summary


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link (no data copied), or a copy when the store is on another file system."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _kept(record: SourceRecord) -> SourceRecord:
    """A source converted by an earlier run and unchanged since (nothing transferred now)."""
    status = "local" if "://" not in record.uri else "not-modified"
    return SourceRecord(**{**record.__dict__, "status": status, "bytes_transferred": 0})


def with_digest(ctx: StepContext, record: SourceRecord, digests: DigestCache | None = None) -> SourceRecord:
    """Catalog files get their sha256 recorded, so the next run can tell them unchanged by content."""
    if "://" in record.uri or record.sha256 is not None:
        return record
    path = ctx.dataset.dir / record.uri
    return SourceRecord(**{**record.__dict__, "sha256": _sha256(path, digests) if path.is_file() else None})
