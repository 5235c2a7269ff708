"""How GeoParquet output is encoded: per-column encodings, compression, encoder threads.

Why apart from :mod:`bot.convert.geoparquet`: the per-column encoding policy
(measured in ``benchmarks/bench_geoparquet_size.py``; docs/publish.md,
"GeoParquet size") is a choice about bytes on disk, not about GeoParquet
validity, and is tuned on its own.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bot.cores import usable_cores

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
#   WKB column is ~60% of the encoders' CPU, which is most of a CSV
#   conversion's: level 3 cost ~10-25% more (``benchmarks/bench_convert_cli.py``).
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


ENCODER_THREADS_MAX = 4
"""Most threads encoding row groups at once (each holds a row group in memory)."""


def encoder_threads() -> int:
    """Threads to encode row groups on: the usable cores, at most :data:`ENCODER_THREADS_MAX`.

    Why as many as the cores: zstd pages are most of a conversion's CPU, and
    one encoder thread was the critical path of a CSV conversion on two
    cores (docs/performance.md).
    """
    return min(usable_cores(), ENCODER_THREADS_MAX)
