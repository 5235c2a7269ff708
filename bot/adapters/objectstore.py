"""Object store: where ARCO data and Frictionless JSON are published.

Why an interface with two implementations: the local environment publishes
into a folder (a laptop, CI, the example catalog), real environments into S3
buckets; the pipeline steps must not care which.  Both give the same
guarantees, which the publish pipeline relies on:

- **Content checksums.**  Every object carries its sha256 (S3: user metadata
  ``sha256``; local: recomputed from the file).  An object whose size and
  sha256 already match is not written again, so a re-publish of unchanged
  data transfers nothing.
- **Trees appear whole.**  :meth:`ObjectStore.put_tree` publishes a dataset
  version (a Parquet file or a Zarr store of many chunks).  The local store
  builds it in a temporary folder and renames it into place in one step; the
  S3 store uploads every object concurrently and then verifies each one with
  a HEAD before returning.  Callers write metadata only after ``put_tree``
  returned, so metadata never points at data that is not (all) there.
- **Transient failures are retried** (backoff with full jitter, see
  :mod:`bot.adapters.retry`); everything else becomes a
  :class:`~bot.errors.ServiceError` naming the service, the URL (never
  credentials), the status and the server's message.

The S3 client is injected (``boto3.client("s3", ...)``) so tests can point it
at a real S3 server on 127.0.0.1 and production at AWS or SeaweedFS.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import hashlib
import mimetypes
import os
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import EnvironmentConfig
from bot.cores import usable_cores
from bot.errors import ServiceError, UsageError

CHUNK = 1 << 20
STAGE_THREADS = min(4, usable_cores())  # local trees: copies and hashes in parallel
SHA256_META = "sha256"

# Media types the catalog publishes that ``mimetypes`` does not know.
MEDIA_TYPES = {
    ".parquet": "application/vnd.apache.parquet",
    ".geoparquet": "application/vnd.apache.parquet",
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
}


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, streamed (constant memory for any size)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_files(src: Path) -> list[tuple[str, Path]]:
    """``(relative POSIX key, path)`` for every file under ``src`` (a file gives itself), sorted."""
    if src.is_file():
        return [(src.name, src)]
    return sorted((p.relative_to(src).as_posix(), p) for p in src.rglob("*") if p.is_file())


def tree_sha256(src: Path) -> str:
    """One sha256 for a file or a folder tree (names and contents), e.g. a Zarr store.

    Why names too: two stores with the same chunks under different keys are
    different data.
    """
    if src.is_file():
        return file_sha256(src)
    digest = hashlib.sha256()
    for key, path in tree_files(src):
        digest.update(key.encode() + b"\0" + file_sha256(path).encode() + b"\n")
    return digest.hexdigest()


def content_type_of(key: str) -> str:
    """Media type for an object key (Parquet and Zarr JSON included)."""
    suffix = Path(key).suffix.lower()
    if suffix in MEDIA_TYPES:
        return MEDIA_TYPES[suffix]
    if key.endswith((".zarray", ".zattrs", ".zgroup", "zarr.json", ".zmetadata")):
        return "application/json"
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def join_key(*parts: str) -> str:
    """Join key parts with ``/`` (no empty segments, no leading slash)."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def check_key(key: str) -> str:
    """Refuse keys that could escape a prefix or folder (``..``, absolute, backslashes)."""
    if not key or key.startswith("/") or "\\" in key or any(part in ("", ".", "..") for part in key.split("/")):
        raise UsageError(f"invalid object key {key!r}", hint="keys are relative paths without '..' or empty segments")
    return key


@dataclass(frozen=True)
class ObjectInfo:
    """What the store knows about one object."""

    key: str
    size: int
    sha256: str | None


@dataclass(frozen=True)
class PutResult:
    """One object written (``skipped``: it was already there, same size and checksum)."""

    key: str
    size: int
    sha256: str
    skipped: bool


class ObjectStore(ABC):
    """Interface used by the pipeline steps; see the module docstring for the guarantees."""

    #: short service name for messages (``local``, ``s3``)
    service: str = "objectstore"

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """Size and checksum of ``key``, or None when it does not exist."""

    @abstractmethod
    def put_file(
        self, key: str, path: Path, *, sha256: str | None = None, content_type: str | None = None
    ) -> PutResult:
        """Write one object from a file unless an identical one is there; atomic per object."""

    @abstractmethod
    def put_tree(self, prefix: str, src: Path) -> list[PutResult]:
        """Publish every file under ``src`` below ``prefix``: all of it, verified, or an error."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The content of ``key`` (ServiceError when missing)."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Keys below ``prefix``, sorted."""

    @abstractmethod
    def delete(self, keys: Iterable[str]) -> None:
        """Remove objects (missing ones are ignored)."""

    @abstractmethod
    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        """Content and version tag (S3: ETag) of ``key``, or None when missing."""

    @abstractmethod
    def put_if(self, key: str, data: bytes, *, tag: str | None) -> bool:
        """Write ``data`` only if ``key`` is absent (``tag`` None) or still has ``tag``; False otherwise.

        Atomic against concurrent writers: the lease of
        :mod:`bot.adapters.lease` depends on it.
        """

    @abstractmethod
    def list_modified(self, prefix: str = "") -> dict[str, float]:
        """Keys below ``prefix`` (hidden ones included) with their last-modified time (epoch seconds)."""

    @abstractmethod
    def url(self, key: str) -> str:
        """Where a client finds ``key`` (https/s3 URL, or an absolute path for the local store)."""

    def local_path(self, key: str) -> Path | None:
        """The file behind ``key`` when the store is a local folder (else None)."""
        return None

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object below ``prefix`` (a whole data version); returns how many."""
        keys = self.list(check_key(prefix.strip("/")))
        self.delete(keys)
        return len(keys)

    def uri(self, key: str) -> str:
        """The address a *server* with credentials reads ``key`` from (pygeoapi: ``s3://``, a path locally)."""
        return self.url(key)

    def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> PutResult:
        """Write small content (JSON metadata) through :meth:`put_file`."""
        with tempfile.TemporaryDirectory(prefix="catalog-bot-put-") as tmp:
            path = Path(tmp) / Path(key).name
            path.write_bytes(data)
            return self.put_file(key, path, sha256=hashlib.sha256(data).hexdigest(), content_type=content_type)

    def exists(self, key: str) -> bool:
        """True when ``key`` is there."""
        return self.head(key) is not None

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes of ``key`` from ``start`` (fewer at the end).

        Why: a step that needs a Parquet footer or one Zarr coordinate reads
        those bytes, not the object.  Stores override this with a ranged read;
        the fallback reads the whole object.
        """
        return self.get_bytes(key)[start : start + length]

    def copy_tree(self, src: str, dest: str) -> builtins.list[PutResult]:
        """Copy every object below ``src`` to the same relative key below ``dest``: all, verified, or an error.

        Why: the upload step *promotes* the convert step's content-addressed
        work key to the published version instead of moving the data through
        a pod again.  Objects already identical at ``dest`` are skipped.  The
        fallback goes through this process; stores override it (S3:
        server-side copy, local: one rename of a staged folder).
        """
        src, dest = check_key(src.strip("/")), check_key(dest.strip("/"))
        results = []
        with tempfile.TemporaryDirectory(prefix="catalog-bot-copy-") as tmp:
            for key in self.list(src):
                rel = key[len(src) + 1 :]
                path = Path(tmp) / "obj"
                path.write_bytes(self.get_bytes(key))
                results.append(self.put_file(join_key(dest, rel), path))
        self.verify(r for r in results if not r.skipped)
        return results

    def verify(self, results: Iterable[PutResult]) -> None:
        """HEAD every object and compare size and checksum; ServiceError on the first mismatch."""
        for result in results:
            info = self.head(result.key)
            if info is None:
                raise ServiceError(self.service, "object missing after upload", url=self.url(result.key))
            if info.size != result.size or (info.sha256 is not None and info.sha256 != result.sha256):
                raise ServiceError(
                    self.service,
                    f"object differs after upload (size {info.size} vs {result.size}, "
                    f"sha256 {info.sha256} vs {result.sha256})",
                    url=self.url(result.key),
                )


# --------------------------------------------------------------------------- local


class LocalObjectStore(ObjectStore):
    """A folder as object store: keys are relative paths below ``root``.

    Checksums are recomputed from the files (a folder has no object
    metadata); hashing an existing file is cheaper than rewriting it and keeps
    mtimes stable for downstream tools.
    """

    service = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def local_path(self, key: str) -> Path:
        """The file behind ``key``."""
        return self._path(key)

    def head(self, key: str) -> ObjectInfo | None:
        """Size and sha256 of the file, or None."""
        path = self._path(key)
        if not path.is_file():
            return None
        return ObjectInfo(key, path.stat().st_size, file_sha256(path))

    def _write(self, src: Path, dest: Path) -> None:
        """Copy ``src`` to ``dest`` via a temp file in the same folder + rename (atomic)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(
        self, key: str, path: Path, *, sha256: str | None = None, content_type: str | None = None
    ) -> PutResult:
        """Copy unless an identical file is there."""
        dest = self._path(key)
        size = path.stat().st_size
        digest = sha256 or file_sha256(path)
        if dest.is_file() and dest.stat().st_size == size and file_sha256(dest) == digest:
            return PutResult(key, size, digest, skipped=True)
        try:
            self._write(path, dest)
        except OSError as exc:
            raise ServiceError(self.service, f"cannot write: {exc.strerror or exc}", url=str(dest)) from exc
        return PutResult(key, size, digest, skipped=False)

    def put_tree(self, prefix: str, src: Path) -> list[PutResult]:
        """Build the tree in ``<root>/.tmp-*`` and rename it to ``prefix`` in one step.

        An identical tree already at ``prefix`` is left alone (all skipped).  A
        different one is replaced: the new tree is renamed in, the old one
        moved aside first and removed after, so a reader sees either the old
        or the new tree, never a mix.  On any failure the temp folder is
        removed and nothing at ``prefix`` changed.
        """
        prefix = check_key(prefix.strip("/"))
        dest = self._path(prefix)
        files = tree_files(src)
        if dest.is_dir() and self._same_tree(dest, files):
            return [
                PutResult(join_key(prefix, rel), p.stat().st_size, file_sha256(p), skipped=True) for rel, p in files
            ]
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
        try:
            # Copies (in the kernel) and hashes release the GIL: a store of many chunk files is staged on
            # a few threads, not one file after the other on one core.
            with ThreadPoolExecutor(max_workers=STAGE_THREADS, thread_name_prefix="catalog-bot-stage") as pool:
                results = list(pool.map(lambda item: self._stage_one(staging, prefix, *item), files))
            dest.parent.mkdir(parents=True, exist_ok=True)
            old = None
            if dest.exists():
                old = dest.parent / f".old-{dest.name}-{uuid.uuid4().hex[:8]}"
                os.rename(dest, old)
            os.rename(staging, dest)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            return results
        except OSError as exc:
            raise ServiceError(self.service, f"cannot write: {exc.strerror or exc}", url=str(dest)) from exc
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _stage_one(self, staging: Path, prefix: str, rel: str, path: Path) -> PutResult:
        """Copy one file of a tree into the staging folder (a seam for failure tests)."""
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        return PutResult(join_key(prefix, rel), path.stat().st_size, file_sha256(path), skipped=False)

    @staticmethod
    def _same_tree(dest: Path, files: list[tuple[str, Path]]) -> bool:
        existing = {rel for rel, _ in tree_files(dest)}
        if existing != {rel for rel, _ in files}:
            return False
        for rel, path in files:
            other = dest / rel
            if other.stat().st_size != path.stat().st_size or file_sha256(other) != file_sha256(path):
                return False
        return True

    def get_bytes(self, key: str) -> bytes:
        """The file's content."""
        path = self._path(key)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ServiceError(self.service, f"cannot read: {exc.strerror or exc}", url=str(path)) from exc

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Read ``length`` bytes at ``start`` of the file."""
        path = self._path(key)
        try:
            with path.open("rb") as fh:
                fh.seek(start)
                return fh.read(length)
        except OSError as exc:
            raise ServiceError(self.service, f"cannot read: {exc.strerror or exc}", url=str(path)) from exc

    def copy_tree(self, src: str, dest: str) -> builtins.list[PutResult]:
        """The folder below ``src`` published at ``dest`` the way :meth:`put_tree` does (staged, one rename)."""
        folder = self._path(src.strip("/"))
        if not folder.is_dir():
            raise ServiceError(self.service, "nothing to copy: no objects below the key", url=str(folder))
        return self.put_tree(dest, folder)

    def list(self, prefix: str = "") -> list[str]:
        """Files below ``prefix`` (temp and hidden folders excluded)."""
        base = self._path(prefix) if prefix else self.root
        if base.is_file():
            return [prefix]
        if not base.is_dir():
            return []
        keys = []
        for path in base.rglob("*"):
            rel = path.relative_to(self.root)
            if path.is_file() and not any(part.startswith(".") for part in rel.parts):
                keys.append(rel.as_posix())
        return sorted(keys)

    @contextlib.contextmanager
    def _conditional(self) -> Iterator[None]:
        """One conditional write at a time across processes on this machine (a folder has no ETags)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".conditional.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def get_versioned(self, key: str) -> tuple[bytes, str] | None:
        """Content and its sha256 as the version tag."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        return data, hashlib.sha256(data).hexdigest()

    def put_if(self, key: str, data: bytes, *, tag: str | None) -> bool:
        """Compare the current tag and replace the file atomically, under a file lock."""
        with self._conditional():
            current = self.get_versioned(key)
            if (current is None) != (tag is None) or (current is not None and current[1] != tag):
                return False
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, path)
            return True

    def list_modified(self, prefix: str = "") -> dict[str, float]:
        """Files below ``prefix`` with their mtimes (hidden files included, temp files not)."""
        base = self._path(prefix) if prefix else self.root
        paths = [base] if base.is_file() else base.rglob("*") if base.is_dir() else []
        return {
            p.relative_to(self.root).as_posix(): p.stat().st_mtime
            for p in paths
            if p.is_file() and not p.name.endswith(".tmp") and p.name != ".conditional.lock"
        }

    def delete(self, keys: Iterable[str]) -> None:
        """Remove files (and folders given as keys), then folders left empty (S3 has no folders)."""
        for key in keys:
            path = self._path(key)
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
            parent = path.parent
            while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent

    def delete_prefix(self, prefix: str) -> int:
        """Remove the folder below ``prefix`` in one go (moved aside first, so it vanishes at once)."""
        path = self._path(prefix.strip("/"))
        if not path.exists():
            return 0
        count = len(self.list(prefix.strip("/")))
        if path.is_dir():
            trash = path.parent / f".old-{path.name}-{uuid.uuid4().hex[:8]}"
            os.rename(path, trash)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            path.unlink()
        return count

    def url(self, key: str) -> str:
        """Absolute path of the file (the static catalog makes it relative)."""
        return str(self._path(key))


def open_store(env: EnvironmentConfig, output: Path, access: str, *, client: Any = None) -> ObjectStore:
    """The store for one dataset's ``access`` level in an environment.

    Local: ``<output>/<object_store.root>/<bucket>``; S3: the public or limited
    bucket.  ``client`` overrides the boto3 client (tests, shared pools).
    """
    cfg = env.object_store
    bucket = cfg.limited_bucket if access == "limited" else cfg.public_bucket
    if cfg.kind == "local":
        return LocalObjectStore(Path(output) / cfg.root / bucket)
    from bot.adapters.s3store import S3ObjectStore, make_s3_client, make_transfer_config

    s3 = (
        client if client is not None else make_s3_client(cfg.endpoint_url, cfg.region, max_pool=cfg.max_concurrency * 2)
    )
    base = cfg.public_base_url if access == "public" else None
    return S3ObjectStore(
        s3,
        bucket,
        prefix=cfg.prefix,
        public_base_url=base,
        transfer_config=make_transfer_config(cfg.multipart_threshold_mb, cfg.max_concurrency),
        max_workers=cfg.max_concurrency,
    )
