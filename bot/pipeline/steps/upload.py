"""Upload the data version, then the Frictionless JSON that points at it; prune old versions."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bot.errors import BotError
from bot.pipeline.context import StepContext, StepResult
from bot.pipeline.steps.common import (
    DATAPACKAGE,
    FRICTIONLESS,
    UPLOAD_DATA,
    UPLOAD_JSON,
    VERSION_DIGITS,
    convert_record,
    converted,
    metadata_key,
    version_keys,
)


def upload_arco_data(ctx: StepContext) -> StepResult:
    """Upload the data version (all objects, verified) before any metadata."""
    info = convert_record(ctx)
    store = ctx.store()
    prefix, key = version_keys(ctx, info)
    ref = info.get("ref")
    if ref is not None:
        # Promote the convert step's work key: a server-side copy, the data does not pass through this pod.
        from bot.pipeline.steps.refs import prune_work

        results = store.copy_tree(ref["prefix"], prefix)
        prune_work(ctx, keep=info["sha256"])
    else:
        path, _ = converted(ctx)
        # A Zarr folder goes below its own name (``key``); a Parquet file below the version prefix.
        results = store.put_tree(key if path.is_dir() else prefix, path)
    uploaded = [r for r in results if not r.skipped]
    from bot.pipeline.incremental import save_state

    save_state(ctx, store, info, key)  # what this version was converted from: a fresh pod appends to it
    record = {
        "prefix": prefix,
        "key": key,
        "url": store.url(key),
        "objects": len(results),
        "uploaded": len(uploaded),
        "bytes_uploaded": sum(r.size for r in uploaded),
        "bytes": sum(r.size for r in results),
    }
    outputs = [ctx.write_artifact(UPLOAD_DATA, "upload.json", record)]
    local = store.local_path(key)
    if local is not None:
        outputs.append(local)
    return StepResult(
        message=f"{len(uploaded)}/{len(results)} objects uploaded ({record['bytes_uploaded']} bytes)",
        outputs=outputs,
        metrics={"bytes": record["bytes"]},
    )


def upload_frictionless_json(ctx: StepContext) -> StepResult:
    """Upload ``datapackage.json`` and the schema, after checking the data they point at is there."""
    store = ctx.store()
    upload = ctx.read_artifact(UPLOAD_DATA, "upload.json")
    # A Zarr store is a prefix, not an object: its root metadata proves it is there.
    if all(store.head(k) is None for k in (upload["key"], f"{upload['key']}/zarr.json", f"{upload['key']}/.zgroup")):
        raise BotError(
            f"data object {upload['url']} is missing; refusing to publish metadata that points at it",
            hint=f"re-run step upload-arco-data for {ctx.id}",
        )
    previous = _published_version(ctx, store)
    keys = {}
    outputs: list[Path] = []
    for name in (ctx.schema_name, DATAPACKAGE):  # the package last: it references the schema
        src = ctx.artifact(FRICTIONLESS, name)
        key = metadata_key(ctx, name)
        store.put_file(key, src, content_type="application/json")
        keys[name] = store.url(key)
        local = store.local_path(key)
        if local is not None:
            outputs.append(local)
    current = upload["prefix"].rsplit("/", 1)[-1]
    pruned = prune_versions(store, ctx.id, keep={current, previous} - {None})
    outputs.append(ctx.write_artifact(UPLOAD_JSON, "metadata.json", {**keys, "pruned_versions": pruned}))
    note = f"; removed old data versions {', '.join(pruned)}" if pruned else ""
    return StepResult(message=f"metadata published{note}", outputs=outputs)


_VERSION = re.compile(rf"^[0-9a-f]{{{VERSION_DIGITS}}}$")


def _published_version(ctx: StepContext, store: Any) -> str | None:
    """The data version the currently published datapackage points at (None if none/unreadable)."""
    key = metadata_key(ctx, DATAPACKAGE)
    if store.head(key) is None:
        return None
    try:
        package = json.loads(store.get_bytes(key))
        path = str(package["resources"][0]["path"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    head = path.split("/", 1)[0]
    return head if _VERSION.match(head) else None


def prune_versions(store: Any, dataset: str, keep: set[str]) -> list[str]:
    """Delete data versions of ``dataset`` other than ``keep`` (the current and the previous one).

    Why keep the previous one: a reader that fetched the old datapackage a
    moment ago still finds its data; anything older is unreachable.
    """
    versions = set()
    for key in store.list(dataset):
        parts = key.split("/")
        if len(parts) >= 3 and _VERSION.match(parts[1]):
            versions.add(parts[1])
    stale = sorted(versions - keep)
    for version in stale:
        store.delete_prefix(f"{dataset}/{version}")
    return stale
