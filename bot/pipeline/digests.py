"""sha256 of files the convert step already hashed, kept in the dataset's work folder.

Why: an incremental convert (one daily file appended to 365) used to
re-hash everything it had not changed: every catalog source file (to prove
it unchanged by content) and every chunk of the output store (its
``tree_sha256``), most of them hard links to the previous version's files.
That was a quarter of the append's time for a few new bytes.

A digest is reused only for the very same file: same device, inode, size
and modification time (nanoseconds).  A hard link is the same inode, so the
previous version's chunks keep their digests in the new store; anything
rewritten (zarr and git replace files by rename: a new inode) or touched
gets hashed again.  A file whose modification time is within
:data:`RACY_NS` of the moment it was hashed is not remembered (git's "racy"
rule: a second write in the same clock tick would keep size and mtime).

The cache is an optimisation only: a missing, unreadable or foreign file
means hashing as before.  It lives in ``<work>/.digests.json`` (no step's
artifact, so never shipped to Argo; a fresh pod hashes everything) and
keeps only the entries the last run used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from pathlib import Path

from bot.adapters.objectstore import file_sha256, tree_files

DIGESTS = ".digests.json"
RACY_NS = 1_000_000_000  # 1 s: far above any file system's timestamp tick
VERSION = 1


def _identity(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


class DigestCache:
    """File and tree sha256 by stat identity; thread-safe (the source digests run beside the convert)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._known: dict[str, str] = {}
        self._used: dict[str, str] = {}
        self._lock = threading.Lock()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw.get("version") == VERSION and isinstance(raw.get("files"), dict):
                self._known = {str(k): str(v) for k, v in raw["files"].items()}
        except (OSError, ValueError, AttributeError):
            pass  # no cache yet, or unreadable: everything is hashed

    @classmethod
    def of_work(cls, work: Path) -> DigestCache:
        """The cache of a dataset's work folder."""
        return cls(work / DIGESTS)

    def file(self, path: Path) -> str:
        """``file_sha256(path)``, from the cache when this exact file was hashed before."""
        st = path.stat()
        key = _identity(st)
        with self._lock:
            known = self._known.get(key)
        if known is None:
            known = file_sha256(path)
            after = path.stat()
            if _identity(after) != key or time.time_ns() - after.st_mtime_ns < RACY_NS:
                return known  # changed while read, or too fresh to tell a same-tick rewrite apart
        with self._lock:
            self._known[key] = self._used[key] = known
        return known

    def tree(self, src: Path, *, threads: int = 1) -> str:
        """``tree_sha256(src)`` (same digest: names and contents), each file through :meth:`file`.

        ``threads``: files hashed at once (hashlib releases the GIL): with
        ``--jobs 2`` a fresh 1 GB store is hashed on both cores, not one.
        """
        if src.is_file():
            return self.file(src)
        files = tree_files(src)
        if threads > 1 and len(files) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="digest") as pool:
                digests = list(pool.map(self.file, [path for _, path in files]))
        else:
            digests = [self.file(path) for _, path in files]
        digest = hashlib.sha256()
        for (key, _), one in zip(files, digests, strict=True):
            digest.update(key.encode() + b"\0" + one.encode() + b"\n")
        return digest.hexdigest()

    def save(self) -> None:
        """Keep the digests this run used (older ones belong to files no version references any more)."""
        from bot.pipeline.context import write_json_atomic

        with self._lock:
            files = dict(sorted(self._used.items()))
        with contextlib.suppress(OSError):  # a cache not written costs the next run some hashing, nothing else
            write_json_atomic(self.path, {"version": VERSION, "files": files})
