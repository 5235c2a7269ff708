"""A data-driven primary key for ``dataset new``: declared only when the whole column(s) are unique.

Why check the data: a ``primaryKey`` in ``tableschema.json`` is a promise
that ``frictionless validate`` (and pygeoapi, which takes a one-column key as
its ``id_field``) holds the publisher to; guessing it from a name alone
fails the first publish of a table whose ``id`` repeats.

Candidates, in order: id-like columns (``id``, ``fid``, ``uuid``,
``*_id``...), then an id- or station-like column together with the time
coordinate (``station`` + ``time``: one observation per station and time).

Why bounded: only the candidate columns are read, batch by batch, and each
row is reduced to a 64-bit hash (8 bytes a row).  When the hashes of all
rows would exceed :data:`HASH_BUDGET`, the rows are split into partitions by
hash value and checked in several passes, so memory stays bounded for any
size.  A hash collision can only make a unique key look duplicated (no key
is declared), never the reverse.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from bot.catalog.layout import PipelineSpec
from bot.metadata.datamodel import DataDrivenMetadata

HASH_BUDGET = 64 << 20
_ID = re.compile(r"^(id|fid|gid|uuid|guid|objectid|ogc_fid|key|.*[_-]id|.*[a-z]Id|.*_uuid|.*_code)$", re.I)
_GROUP = re.compile(r"(station|site|platform|sensor|buoy|mooring|vessel|float|wmo|id$|_id$|code$)", re.I)
_KEY_TYPES = ("integer", "string", "datetime", "date")
_MIX = np.uint64(0x9E3779B97F4A7C15)

Batches = Callable[[list[str]], Iterable[Any]]


def key_candidates(meta: DataDrivenMetadata, time: str | None) -> list[list[str]]:
    """Column lists worth checking, most specific first (see module docstring)."""
    usable = [c for c in meta.columns if c.type in _KEY_TYPES and c.role not in ("geometry", "covering", "x", "y")]
    singles = [[c.name] for c in usable if _ID.match(c.name) and c.type in ("integer", "string")]
    pairs = []
    if time and any(c.name == time for c in meta.columns):
        grouped = [c.name for c in usable if c.name != time and _GROUP.search(c.name)]
        grouped.sort(key=lambda name: bool(_ID.match(name)))  # station, site... before reading_id
        pairs = [[name, time] for name in grouped]
    return singles + pairs


def _mix(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection of 64-bit words (distinct in, distinct out), its output well spread
    over the hash-value partitions of :func:`is_unique` whatever the pattern of the ids."""
    x = values.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _hash(column: Any) -> np.ndarray | None:
    """64-bit hashes of an Arrow column (None when it has nulls: a key column cannot).

    Integers, times and dates are their own 64-bit words, mixed bijectively:
    no collisions at all.  Other values (strings) get Python's 64-bit SipHash,
    the same for equal values within this process -- which is all one
    uniqueness check needs.  No pandas (``hash_array``, or pyarrow's
    ``to_numpy``, which goes through pandas): ~45 MB and ~0.5 s of import.
    """
    import pyarrow as pa

    if column.null_count:
        return None
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        column = column.cast(
            pa.int64() if pa.types.is_timestamp(column.type) or pa.types.is_date64(column.type) else pa.int32()
        )
    if pa.types.is_integer(column.type):
        column = column.cast(pa.int64(), safe=False)  # uint64 past 2**63 wraps: still one word per value
        # The values buffer itself: even a zero-copy to_numpy goes through pyarrow's pandas bridge.
        words = np.frombuffer(column.buffers()[1], dtype=np.uint64, count=len(column), offset=column.offset * 8)
    else:
        words = np.fromiter(map(hash, column.to_pylist()), dtype=np.int64, count=len(column)).view(np.uint64)
    return _mix(words)


def _row_hashes(batches: Iterable[Any], columns: list[str]) -> Iterator[np.ndarray | None]:
    for batch in batches:
        combined: np.ndarray | None = None
        for name in columns:
            h = _hash(batch.column(name))
            if h is None:
                yield None
                return
            combined = h if combined is None else (combined * _MIX) ^ h
        if combined is not None:
            yield combined


def is_unique(batches: Batches, columns: list[str], rows: int, *, budget: int = HASH_BUDGET) -> bool:
    """Whether ``columns`` together are unique and non-null over every row (partitioned passes, bounded memory)."""
    parts = max(1, math.ceil(rows * 8 / budget))
    for part in range(parts):
        kept: list[np.ndarray] = []
        for hashes in _row_hashes(batches(columns), columns):
            if hashes is None:
                return False
            kept.append(hashes if parts == 1 else hashes[hashes % np.uint64(parts) == part])
        if not kept:
            continue
        everything = np.sort(np.concatenate(kept))
        del kept
        if everything.size > 1 and bool((everything[1:] == everything[:-1]).any()):
            return False
    return True


def source_batches(spec: PipelineSpec, source: Path) -> Batches | None:
    """A reader of some columns of the whole source, batch by batch (None: a format without keys)."""
    fmt = spec.source.format
    if fmt == "parquet":
        import pyarrow.parquet as pq

        def parquet(columns: list[str]) -> Iterable[Any]:
            return pq.ParquetFile(source, buffer_size=1 << 20, pre_buffer=False).iter_batches(
                batch_size=1 << 18, columns=columns
            )

        return parquet
    if fmt == "csv":
        from bot.convert.csv_stream import csv_batches

        def csv(columns: list[str]) -> Iterable[Any]:
            # the reader insists on x/y (cheap floats); the time is typed as the converter types it
            coords = spec.coordinates
            coords = msgspec.structs.replace(coords, z=None, t=coords.t if coords.t in columns else None)
            wanted = list(dict.fromkeys([*columns, str(coords.x), str(coords.y)]))
            batches = csv_batches(
                source,
                coords,
                delimiter=spec.source.delimiter,
                timestamp_format=spec.source.timestamp_format,
                columns=wanted,
            )
            return (batch for batch, _ in batches)

        return csv
    if fmt in ("gpkg", "shapefile", "flatgeobuf", "geojsonseq", "geojson"):
        from pyogrio.raw import open_arrow

        from bot.convert.ogr import _gdal_path

        def ogr(columns: list[str]) -> Iterable[Any]:
            with open_arrow(
                _gdal_path(source), layer=spec.source.layer, columns=columns, read_geometry=False, use_pyarrow=True
            ) as (_, reader):
                yield from reader

        return ogr
    return None


def primary_key(spec: PipelineSpec, source: Path, meta: DataDrivenMetadata) -> tuple[list[str] | None, list[str]]:
    """The first candidate unique in the whole source, and what was tried (for ``dataset new``'s report)."""
    if meta.kind != "tabular" or not meta.rows:
        return None, []
    batches = source_batches(spec, source)
    if batches is None:
        return None, []
    tried: list[str] = []
    for columns in key_candidates(meta, spec.coordinates.t):
        if is_unique(batches, columns, meta.rows):
            return columns, tried
        tried.append("+".join(columns))
    return None, tried
