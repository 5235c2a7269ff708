"""Shared pieces of the converters: the result type and atomic outputs.

Why atomic: a publish that dies half-way (OOM kill, bad row in the last
gigabyte) must not leave a truncated Parquet file or a partial Zarr store at
the path the upload step reads.  Every converter writes into a hidden
sibling temp path in the same folder (same file system, so ``os.replace`` is
atomic) and only renames it into place once the whole output is written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bot.errors import DataError

# Coordinate reference systems we accept as "longitude/latitude in degrees"
# (axis order is given by coordinates.x / coordinates.y, so EPSG:4326 data
# written as x=lon, y=lat is OGC:CRS84 in practice).
LONLAT_CRS = {"EPSG:4326", "OGC:CRS84", "CRS84", "WGS84", "urn:ogc:def:crs:OGC:1.3:CRS84"}


@dataclass(frozen=True)
class ConversionResult:
    """What a converter wrote: the final path and what is in it."""

    path: Path
    format: Literal["parquet", "zarr"]
    rows: int | None
    files: list[Path] = field(default_factory=list)
    bytes: int = 0
    sha256: str | None = None
    """Hex sha256 of the output file, when the converter hashed it while writing (else the step reads it back)."""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (paths as strings) for step outputs and logs."""
        return {
            "path": str(self.path),
            "format": self.format,
            "rows": self.rows,
            "files": [str(p) for p in self.files],
            "bytes": self.bytes,
        }


def require_source(path: Path) -> None:
    """Fail early, and clearly, when the source is missing or empty."""
    if not path.exists():
        raise DataError(
            "source file does not exist",
            file=str(path),
            hint="check source.path in pipeline.yaml (it is relative to the dataset folder)",
        )
    if path.is_file() and path.stat().st_size == 0:
        raise DataError("source file is empty (0 bytes)", file=str(path), hint="upload the complete source file")


def open_parquet(path: Path, **options: Any) -> Any:
    """``pyarrow.parquet.ParquetFile(path)``, or a located error for a file that is not (complete) Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path, **options)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(
            f"not a readable Parquet file (truncated?): {exc}", file=str(path), hint="upload a complete Parquet file"
        ) from None


def require_lonlat_crs(crs: str | None, source: Path) -> None:
    """Gridded data is published as it is stored: its CRS must be longitude/latitude (None: the default, EPSG:4326)."""
    if crs is not None and crs not in LONLAT_CRS and lonlat_transform(crs, file=str(source)) is not None:
        raise DataError(
            f"source CRS {crs!r} is not longitude/latitude",
            file=str(source),
            field="source.crs",
            hint="gridded data is not reprojected: provide it on a longitude/latitude grid, or write a converter",
        )


class LonLatTransform:
    """Coordinates in a source CRS -> longitude/latitude (pyproj, ``always_xy``), one Transformer per run.

    Call it with ``(n, 2)`` coordinates (what ``shapely.transform`` passes), or
    use :meth:`xy` on separate x/y arrays: it transforms copies in place
    (``inplace=True`` on contiguous float64 arrays: no stacking, no strided
    views, no result arrays allocated by pyproj).  pyproj releases the GIL
    while it transforms, so this can run beside the CSV reader and the
    Parquet writer.
    """

    def __init__(self, transformer: Any) -> None:
        self.transformer = transformer

    def xy(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Longitudes and latitudes of ``x``/``y`` (new arrays; NaN where either input is NaN)."""
        lon = np.array(x, dtype=np.float64, order="C")  # a copy: the inputs are often read-only Arrow buffers
        lat = np.array(y, dtype=np.float64, order="C")
        missing = np.isnan(lon) | np.isnan(lat)
        self.transformer.transform(lon, lat, inplace=True)
        if missing.any():  # PROJ turns NaN into inf; a missing coordinate stays missing
            lon[missing] = np.nan
            lat[missing] = np.nan
        return lon, lat

    def __call__(self, coords: np.ndarray) -> np.ndarray:
        lon, lat = self.transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])


def lonlat_transform(crs: Any, *, file: str, field: str = "source.crs") -> LonLatTransform | None:
    """The transform of coordinates in ``crs`` to longitude/latitude, or None when already lon/lat.

    Why pyproj with ``always_xy``: EPSG:4326 is latitude-first by
    definition, but every file format we read stores x = longitude; without
    ``always_xy`` the axes would be swapped silently.  ``crs`` is anything
    pyproj reads: ``EPSG:25833``, WKT, PROJJSON (dict or text).
    """
    import json

    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        source = CRS.from_user_input(json.dumps(crs) if isinstance(crs, dict) else crs)
    except (CRSError, TypeError) as exc:
        raise DataError(
            f"unknown CRS {str(crs)[:80]!r}: {exc}",
            file=file,
            field=field,
            hint="give the CRS as an EPSG code (e.g. EPSG:25833), WKT or PROJJSON",
        ) from None
    if source.equals(CRS.from_user_input("OGC:CRS84"), ignore_axis_order=True):
        return None
    return LonLatTransform(Transformer.from_crs(source, "OGC:CRS84", always_xy=True))


def temp_sibling(final: Path) -> Path:
    """A hidden, unique path next to ``final`` (same file system)."""
    return final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")


def remove_path(path: Path) -> None:
    """Remove a file or a directory tree if present (best effort)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_output(final: Path) -> Iterator[Path]:
    """Yield a temp path; on success move it to ``final``, on error delete it.

    A directory output (Zarr) replaces an existing one via a second temp
    name, so a reader never sees a mix of old and new chunks; the old tree is
    deleted only after the new one is in place.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(final)
    try:
        yield tmp
    except BaseException:
        remove_path(tmp)
        raise
    if tmp.is_dir() and final.exists():
        old = temp_sibling(final)
        os.replace(final, old)
        os.replace(tmp, final)
        remove_path(old)
    else:
        os.replace(tmp, final)


def list_files(path: Path) -> tuple[list[Path], int]:
    """All regular files of an output (itself, or a tree) and their total size."""
    if path.is_file():
        return [path], path.stat().st_size
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return files, sum(p.stat().st_size for p in files)
