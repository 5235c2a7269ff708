"""``dataset new``: stage a dataset folder from a data file, probe it, write the curated files atomically.

Why a probe, not a conversion: the extents and column types a new dataset
declares must be exactly what ``publish`` computes (bbox to 1e-3 degree,
time to the second, non-standard calendars decoded the same way), but a
1 GB source must not cost a publish.  :mod:`bot.convert.probe` runs the real
converter on a bounded sample (types) and reads the extents from metadata
(footers, layer extents, coordinate variables) or streams the coordinate
columns only.  Nothing is written into ``datasets/ID`` unless every step
succeeded (the folder is staged beside it and renamed into place).  A local
source is copied into the staging folder while the probe reads the user's
file, so the command takes the longer of the two, not their sum.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bot.catalog.layout import DATASETS_DIR, PIPELINE, Catalog, parse_pipeline
from bot.errors import DataError, UsageError

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx")


@dataclass
class NewDataset:
    """What ``dataset new`` wrote and what is left to the curator."""

    folder: Path
    files: list[str]
    inferred: list[str] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)
    extents: dict[str, Any] = field(default_factory=dict)


_FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)


def copy_file(source: Path, target: Path) -> None:
    """Copy one file as cheaply as the file system allows (contents and times, like ``shutil.copy2``).

    Why not a hard link, which would be free: the catalog's copy would alias
    the user's file, and editing either would change both.  A reflink
    (``FICLONE``: a copy-on-write clone, no data written) is what Btrfs, XFS
    and other CoW file systems offer; elsewhere ``shutil.copyfile`` copies
    in the kernel (``sendfile``), never through Python buffers.
    """
    try:
        import fcntl

        with source.open("rb") as src, target.open("wb") as dst:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
    except (ImportError, OSError):  # no reflink here (ext4, tmpfs, another device, not Linux)
        shutil.copyfile(source, target)
    shutil.copystat(source, target)


def _copy_source(source: Path, data_dir: Path, fmt: str) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / source.name
    if source.is_dir():
        shutil.copytree(source, target, copy_function=lambda s, d: copy_file(Path(s), Path(d)))
    elif fmt == "shapefile" and source.suffix.lower() == ".shp":
        for part in source.parent.glob(f"{source.stem}.*"):
            if part.suffix.lower() in _SHAPEFILE_PARTS:
                copy_file(part, data_dir / part.name)
    else:
        copy_file(source, target)
    return target


def _licences(root: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    from bot.metadata.new_dataset import licence_ids

    path = root / "lib" / "licences.libsonnet"
    if not path.is_file():
        return [], {}
    text = path.read_text(encoding="utf-8")
    info: dict[str, dict[str, str]] = {}
    try:
        import json

        import _jsonnet

        info = json.loads(_jsonnet.evaluate_file(str(path)))
    except Exception:  # a licence table we cannot evaluate still gives its ids  # noqa: S110
        pass
    return licence_ids(text), info


class RemoteReader(Protocol):
    """How ``dataset new`` reaches a URI source: given by the command layer, which owns the network adapters.

    Why injected: this module is pure (no network client); the reader applies
    the catalog's address rules, limits and retries exactly as ``publish``
    does (:mod:`bot.pipeline.remote`).
    """

    def fetch(self, uri: str, fmt: str, folder: Path, endpoint_url: str | None, anonymous: bool) -> Path:
        """One local copy of ``uri`` in ``folder``."""
        ...

    def check_opendap(self, url: str) -> str:
        """``url`` when it is an http(s) OPeNDAP URL whose host the address rules allow."""
        ...


def _remote_format(uri: str, fmt: str | None) -> str:
    """The format of a URI source; refuses what one download cannot hold (a Zarr folder, Shapefile parts)."""
    from urllib.parse import urlsplit

    from bot.convert.describe import detect_format
    from bot.sources.uri import parse_source

    try:
        ref = parse_source(uri)
    except ValueError as exc:
        raise UsageError(str(exc), hint="pass a local file, or an https:// or s3:// URI") from None
    if not ref.remote:
        raise UsageError(f"{uri} is not a remote URI", hint="pass a local path without a scheme")
    fmt = detect_format(Path(urlsplit(uri).path), fmt)
    path = urlsplit(uri).path.lower()
    if fmt == "zarr" or (fmt == "shapefile" and not path.endswith(".zip")):
        raise UsageError(
            f"{uri}: a remote {fmt} is a folder or several files, which dataset new cannot fetch as one",
            hint="reference a zipped Shapefile or a single file, or download the data and pass its folder",
        )
    return fmt


def new_dataset(
    catalog: Catalog,
    dataset_id: str,
    source: Path | str,
    *,
    fmt: str | None = None,
    layer: str | None = None,
    crs: str | None = None,
    group: str | None = None,
    force: bool = False,
    endpoint_url: str | None = None,
    anonymous: bool = False,
    opendap: bool = False,
    remote: RemoteReader | None = None,
) -> NewDataset:
    """Create ``datasets/<dataset_id>`` from ``source``, a local path or a URI (see module docstring).

    ``endpoint_url`` / ``anonymous``: how to reach an ``s3://`` source (kept in pipeline.yaml).
    ``opendap``: ``source`` is an OPeNDAP URL, read remotely (coordinates and a two-step sample), never downloaded.
    ``remote``: the reader of URI sources (required for one).
    """
    from bot.convert.describe import describe, detect_format
    from bot.convert.probe import probe_source
    from bot.convert.probe_keys import primary_key
    from bot.metadata.datadriven import check_extents
    from bot.metadata.new_dataset import build_documents

    if not _ID.match(dataset_id):
        raise UsageError(
            f"invalid dataset id {dataset_id!r}", hint="use 2-63 characters: lower-case letters, digits and '-'"
        )
    folder = catalog.root / DATASETS_DIR / dataset_id
    if folder.exists() and not force:
        raise UsageError(f"dataset {dataset_id} already exists ({folder})", hint="pass --force to replace it")
    uri = str(source) if "://" in str(source) or opendap else None
    if uri is not None and remote is None:
        raise UsageError(f"{uri}: no reader for remote sources here", hint="run `catalog-bot dataset new`")
    if opendap:
        assert remote is not None
        uri = remote.check_opendap(str(source))
        fmt = "netcdf"
    elif uri is not None:
        fmt = _remote_format(uri, fmt)
    else:
        source = Path(source).resolve()
        if not source.exists():
            raise DataError("source does not exist", file=str(source), hint="check --source")
        fmt = detect_format(source, fmt)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".new-{dataset_id}-", dir=folder.parent))
    copying: Future[Path] | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="catalog-bot-new-") as tmp:
            if opendap:
                staged, rel = Path(tmp) / "opendap", str(uri)  # nothing is downloaded: the probe reads the URL
            elif uri is not None:
                assert remote is not None
                staged = remote.fetch(uri, fmt, Path(tmp), endpoint_url, anonymous)
                rel = uri
            else:
                # The copy runs beside the probe (a kernel copy: the GIL is free), which reads the user's file
                # (the copy's twin): the command costs the longer of the two, not their sum.
                pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="copy-source")
                copying = pool.submit(_copy_source, Path(source), staging / "data", fmt)
                pool.shutdown(wait=False)
                staged = Path(source)
                rel = f"data/{staged.name}"
            desc = describe(staged, fmt, layer=layer, crs=crs, group=group, opendap=uri if opendap else None)
            if uri is not None and endpoint_url:
                desc.source["endpoint_url"] = endpoint_url
            if uri is not None and anonymous:
                desc.source["anonymous"] = True
            spec = parse_pipeline(desc.pipeline(rel), f"{DATASETS_DIR}/{dataset_id}/{PIPELINE}")
            meta = probe_source(spec, staged, Path(tmp) / "probe", dataset_id)
            key, tried = primary_key(spec, staged, meta)
        if copying is not None:
            copying.result()
        inferred = list(desc.inferred)
        if key:
            inferred.append(f"primaryKey = {' + '.join(key)} (unique in all {meta.rows:,} rows)")
        if tried:
            inferred.append(f"no primary key from: {', '.join(tried)} (not unique or with empty values)")
        problems = check_extents(meta)
        if problems:
            raise DataError("; ".join(problems), file=str(source), hint="fix the data")
        known, info = _licences(catalog.root)
        files, todo = build_documents(
            dataset_id, desc, meta, source_path=rel, licences=known, licence_info=info, primary_key=key
        )
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    except BaseException:
        if copying is not None:  # never remove the folder under a running copy
            with contextlib.suppress(BaseException):
                copying.result()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    extents = {"bbox": meta.bbox, "time": list(meta.time_range) if meta.time_range else None}
    return NewDataset(folder=folder, files=sorted(files), inferred=inferred, todo=todo, extents=extents)
