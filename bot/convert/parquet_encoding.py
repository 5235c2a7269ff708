"""How GeoParquet output is encoded and hashed as it is written.

Why apart from :mod:`bot.convert.geoparquet`: the per-column encoding policy
(measured in ``benchmarks/bench_geoparquet_size.py``; docs/publish.md,
"GeoParquet size") and the hashing file are choices about bytes on disk, not
about GeoParquet validity, and are tuned on their own.
"""

from __future__ import annotations

import hashlib
import math
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# zstd with one encoding per column, chosen on the first row group:
# * dictionary for the columns whose values repeat (sites, flags, rounded
#   measurements): point data is then ~1.1x a plain pandas Parquet of the
#   same columns instead of 2.6-2.9x with snappy, no dictionary on floats/WKB
#   and a covering column.  Columns of (nearly) distinct values get none:
#   Arrow would build a dictionary page for each and then fall back to plain
#   pages, which doubled the write CPU of a 1 GB lon/lat/time/value CSV.
# * BYTE_STREAM_SPLIT for the other float columns (positions, measurements):
#   the sign/exponent bytes of neighbouring values then sit together and zstd
#   squeezes them; DELTA_BINARY_PACKED for integers and timestamps (regular
#   time steps cost bits, not bytes).
# * Level 2 (level 1's CPU with these encodings, smaller), WKB points too:
#   zstd matches the repeated header + leading coordinate bytes (big-endian
#   WKB) at level 2 already (10.4 vs 9.8 bytes per uniform point at level 3,
#   8.5 vs 8.1 on tracks; level 1: 13.3 / 11.1, over the size bound).  The
#   WKB column is most of the single writer thread's CPU, and that thread is
#   what bounds a CSV conversion on two cores: level 3 cost ~10-25% more
#   CPU on it (``benchmarks/bench_convert_cli.py``).
# Measured on all-distinct points (tracks, uniform positions) of
# lon/lat/time/value: 1.3-1.7x -> <= 1.2x a plain pandas Parquet, with less
# write CPU than before (plain pages at level 1); see docs/publish.md.  All
# are standard Parquet encodings every Arrow-based reader (pygeoapi,
# geopandas, Frictionless, DuckDB, GDAL) reads.
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 2
POINT_COMPRESSION_LEVEL = 2
DICTIONARY_MAX_DISTINCT = 0.5
"""Dictionary-encode a column when its first row group has at most this share of distinct values."""


def _int_like(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_timestamp(kind) or pa.types.is_date(kind))


def delta_bits(column: pa.Array | pa.ChunkedArray) -> float | None:
    """Bits per value DELTA_BINARY_PACKED would spend on an integer/time column (None: not applicable).

    Delta encoding stores, per miniblock of 32 values, each step minus the
    smallest step at the width of the largest: regular time steps (loggers,
    one track after another) cost ~0 bits, where a dictionary would still
    spend log2(distinct) bits per row.  Read from the Arrow buffers (no
    pandas import, as :mod:`bot.convert.arrow_buffers`).
    """
    if not _int_like(column.type) or column.null_count or len(column) < 64:
        return None
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    try:
        if arr.type.bit_width == 64:
            arr = arr.view(pa.int64())
        else:
            arr = arr.view(pa.int32() if arr.type.bit_width == 32 else arr.type).cast(pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # uint64 beyond int64
        return None
    values = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=len(arr), offset=arr.offset * 8)
    steps = np.diff(values.astype(np.float64))
    blocks = steps[: len(steps) // 32 * 32].reshape(-1, 32)
    return float(np.ceil(np.log2(blocks.max(axis=1) - blocks.min(axis=1) + 1)).mean())


def dictionary_columns(batch: pa.RecordBatch | pa.Table) -> list[str]:
    """The columns worth dictionary encoding, judged on the first row group (see :data:`DICTIONARY_MAX_DISTINCT`).

    Integer and time columns whose delta encoding is smaller (see
    :func:`delta_bits`) are left to DELTA_BINARY_PACKED.
    """
    out = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_nested(column.type) or batch.num_rows == 0:
            continue
        distinct = pc.count_distinct(column, mode="all").as_py()
        if distinct > DICTIONARY_MAX_DISTINCT * batch.num_rows:
            continue
        bits = delta_bits(column)
        if bits is not None and bits < math.log2(max(distinct, 2)):
            continue
        out.append(name)
    return out


def column_encodings(batch: pa.RecordBatch | pa.Table, dictionary: list[str]) -> dict[str, str]:
    """Parquet encodings of the columns not dictionary-encoded (see :data:`COMPRESSION_LEVEL`); others: Arrow's."""
    out: dict[str, str] = {}
    for field in batch.schema:
        kind = field.type
        if field.name in dictionary or pa.types.is_nested(kind):
            continue
        if pa.types.is_float32(kind) or pa.types.is_float64(kind):
            out[field.name] = "BYTE_STREAM_SPLIT"
        elif _int_like(kind):
            out[field.name] = "DELTA_BINARY_PACKED"
    return out


_HASH_READ = 4 << 20
"""Bytes the trailing hasher reads at a time."""
_HASH_POLL = 0.005
"""Seconds the trailing hasher waits when it has caught up with the writer."""


class HashingFile:
    """A new file written by Arrow's native writer and hashed by a thread that reads behind it.

    Why: the convert step records the data's sha256 (the version key); on a
    GB-sized output a second pass after writing costs ~0.3 s per GB of CPU and
    I/O on the critical path.  Hashing must also stay off the Parquet writer
    thread, which bounds a CSV conversion on two cores.  A Python file object
    as the sink (the previous way: hash each write as it went out) made Arrow
    copy every page into a ``bytes`` and take the GIL for each write: ~20% of
    that thread's CPU (docs/performance.md).  So Arrow writes to a native
    file (:attr:`sink`, no GIL, no copy) and a thread reads the bytes back
    from the page cache right behind it.  Parquet is written strictly front to
    back (no seeks), so every byte below the current end of the file is final
    and the digest is that of the finished file.
    """

    def __init__(self, path: Path) -> None:
        self.sink = pa.OSFile(str(path), "wb")
        self._reader = path.open("rb", buffering=0)
        self._digest = hashlib.sha256()
        self._finished = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._follow, name="sha256", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        """Hash what the writer has written so far, until :meth:`close` says it is complete."""
        buf = bytearray(_HASH_READ)
        view = memoryview(buf)
        try:
            while True:
                finished = self._finished.is_set()  # read before the data: nothing is missed after it
                n = self._reader.readinto(buf) or 0
                if n:
                    self._digest.update(view[:n])
                elif finished:
                    return
                else:
                    self._finished.wait(_HASH_POLL)
        except BaseException as exc:  # re-raised by hexdigest()
            self._error = exc

    def close(self) -> None:
        """Close the file (the writer is done with it); the hasher then reads to its end."""
        try:
            if not self.sink.closed:
                self.sink.close()
        finally:
            self._finished.set()

    def hexdigest(self) -> str:
        """The sha256 of the closed file (waits for the hashing thread)."""
        self._thread.join()
        self._reader.close()
        if self._error is not None:
            raise self._error
        return self._digest.hexdigest()

    def abort(self) -> None:
        """Close everything after an error (the caller deletes the file)."""
        self.close()
        self._thread.join()
        self._reader.close()
