"""Data by reference: the converted data lives in the object store, steps pass its key.

Why: under Argo each step is a pod, and a step's inputs are the artifacts of
earlier steps.  Shipping the converted data (GB of Parquet or Zarr) as an
artifact to every downstream pod moved it ~13 times per publish.  With
``--data-refs`` (what the rendered templates pass) the convert step uploads
the data once, under the content-addressed key
``work/<dataset>/<sha256>/<file>``, and its artifact holds only that key
(``result.json``'s ``ref``).  Downstream steps read what they need:

- Parquet: the footer and, only when a statistic is missing, the coordinate
  column chunks, through ranged GETs (:class:`RangeFile`);
- Zarr: the metadata documents and the 1-D coordinate arrays, into a sparse
  local view of the store (no data chunk is fetched);
- the upload step promotes the key to the published version with a
  server-side copy (:meth:`~bot.adapters.objectstore.ObjectStore.copy_tree`).

Idempotent: a key whose marker (``work/<dataset>/refs/<sha256>.json``,
written last) exists is not uploaded again, so a re-run of convert on
unchanged data transfers nothing.  Old work keys of a dataset are removed by
the upload step once a newer one is published.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from bot.errors import BotError
from bot.pipeline.context import StepContext

WORK_ROOT = "work"
VIEW_DIR = ".data-view"  # hidden: belongs to no step, never shipped as an artifact
ZARR_METADATA = frozenset({".zmetadata", ".zgroup", ".zattrs", ".zarray", "zarr.json"})


def work_prefix(dataset: str, sha256: str) -> str:
    """Where the convert step's data of content ``sha256`` lives in the object store."""
    return f"{WORK_ROOT}/{dataset}/{sha256}"


def _marker(dataset: str, sha256: str) -> str:
    return f"{WORK_ROOT}/{dataset}/refs/{sha256}.json"


def put_work_data(ctx: StepContext, path: Path, sha256: str) -> dict[str, Any]:
    """Upload the converted ``path`` under its content-addressed key (unless there already); the reference."""
    store = ctx.store()
    prefix = work_prefix(ctx.id, sha256)
    key = f"{prefix}/{path.name}"
    marker = _marker(ctx.id, sha256)
    uploaded = 0
    if store.head(marker) is None:
        results = store.put_tree(key if path.is_dir() else prefix, path)
        uploaded = sum(r.size for r in results if not r.skipped)
        doc = {"key": key, "objects": len(results), "bytes": sum(r.size for r in results)}
        store.put_bytes(marker, json.dumps(doc).encode(), content_type="application/json")
    return {"key": key, "prefix": prefix, "bytes_uploaded": uploaded}


def prune_work(ctx: StepContext, keep: str) -> list[str]:
    """Remove the dataset's work keys other than ``keep`` (a sha256): they are published or superseded.

    The fan-out's parts (``work/<dataset>/parts/``) go too: they were combined
    into ``keep``, which is published by now.
    """
    store = ctx.store()
    base = f"{WORK_ROOT}/{ctx.id}"
    stale = sorted({k.split("/")[2] for k in store.list(base) if k.count("/") >= 3} - {keep, "refs"})
    for sha in stale:
        store.delete_prefix(work_prefix(ctx.id, sha))
        store.delete([_marker(ctx.id, sha)])
    return stale


class RangeFile(io.RawIOBase):
    """A read-only, seekable file over one object, read with ranged GETs (what pyarrow needs for a footer)."""

    def __init__(self, store: Any, key: str, size: int) -> None:
        super().__init__()
        self.store, self.key, self.size, self.pos = store, key, size, 0
        self.name = key

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self.size - self.pos)
        if want <= 0:
            return 0
        data = self.store.get_range(self.key, self.pos, want)
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def zarr_view(ctx: StepContext, key: str) -> Path:
    """A local Zarr store holding only the metadata documents and the 1-D coordinate arrays of ``key``.

    Enough for :func:`~bot.metadata.zarr_extents.extract_zarr_metadata` and
    the entry point; a data array's chunks are never fetched.
    """
    store = ctx.store()
    local = store.local_path(key)
    if local is not None:
        if not local.is_dir():
            raise BotError(f"converted data {local} is missing", hint=f"re-run step convert for {ctx.id}")
        return local  # a folder store on this machine: nothing to transfer
    dest = ctx.work / VIEW_DIR / key
    done = dest / ".view-complete"
    if done.is_file():
        return dest
    keys = store.list(key)
    if not keys:
        raise BotError(f"converted data {store.url(key)} is missing", hint=f"re-run step convert for {ctx.id}")
    rels = [k[len(key) + 1 :] for k in keys]

    def fetch(rel: str) -> bytes:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        data = store.get_bytes(f"{key}/{rel}")
        target.write_bytes(data)
        return data

    docs = {rel: fetch(rel) for rel in rels if rel.rsplit("/", 1)[-1] in ZARR_METADATA}
    coords = set()
    for rel, data in docs.items():
        folder, _, name = rel.rpartition("/")
        if not folder or "/" in folder:
            continue
        meta = json.loads(data)
        dims = meta.get("_ARRAY_DIMENSIONS") if name == ".zattrs" else meta.get("dimension_names")
        if name in (".zattrs", "zarr.json") and dims == [folder]:
            coords.add(folder)
    for rel in rels:
        if rel.split("/", 1)[0] in coords and rel not in docs:
            fetch(rel)
    dest.mkdir(parents=True, exist_ok=True)
    done.touch()
    return dest
