"""Arrow arrays <-> numpy through their buffers, never through pandas.

Why: pyarrow imports pandas (0.3-1 s and ~45-60 MB RSS in a fresh
``catalog-bot step convert`` or ``dataset new`` process) on the first
``Array.to_numpy`` of a non-primitive array and on every ``pa.array`` call,
numpy input included.  The converters only ever need float64 and binary
(WKB) columns both ways, which the buffers give directly.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def _validity(arr: pa.Array) -> np.ndarray | None:
    """Per-row validity of an array (None: no nulls)."""
    if not arr.null_count:
        return None
    bitmap = np.frombuffer(arr.buffers()[0], dtype=np.uint8)
    return np.unpackbits(bitmap, bitorder="little")[arr.offset : arr.offset + len(arr)].astype(bool)


def float_values(column: pa.Array) -> np.ndarray:
    """float64 values of a numeric Arrow array (nulls as NaN)."""
    arr = column.cast(pa.float64())
    values = np.frombuffer(arr.buffers()[1], dtype=np.float64, count=len(arr), offset=arr.offset * 8)
    valid = _validity(arr)
    if valid is not None:
        values = np.where(valid, values, np.nan)
    return values


def float_array(values: np.ndarray) -> pa.Array:
    """A float64 Arrow array of numpy values (NaN stays a NaN value, as ``pa.array`` does)."""
    data = np.ascontiguousarray(values, dtype=np.float64)
    return pa.Array.from_buffers(pa.float64(), len(data), [None, pa.py_buffer(data)])


def binary_values(column: pa.Array) -> np.ndarray:
    """An object array of ``bytes`` (None for nulls) of a binary Arrow array: what shapely.from_wkb takes."""
    arr = column if column.type == pa.large_binary() else column.cast(pa.large_binary())
    n = len(arr)
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64, count=n + 1, offset=arr.offset * 8)
    data = buffers[2].to_pybytes() if buffers[2] is not None else b""
    out = np.empty(n, dtype=object)
    out[:] = [data[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
    valid = _validity(arr)
    if valid is not None:
        out[~valid] = None
    return out


def binary_array(values: np.ndarray) -> pa.Array:
    """A binary Arrow array of an object array of ``bytes``/None (shapely.to_wkb output)."""
    n = len(values)
    valid = np.fromiter((v is not None for v in values), dtype=bool, count=n)
    lengths = np.fromiter((len(v) if v is not None else 0 for v in values), dtype=np.int64, count=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = b"".join(v for v in values if v is not None)
    kind, offset_type = (pa.binary(), np.int32) if offsets[-1] < 2**31 else (pa.large_binary(), np.int64)
    bitmap = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(
        kind,
        n,
        [bitmap, pa.py_buffer(offsets.astype(offset_type)), pa.py_buffer(data)],
        null_count=int(n - valid.sum()),
    )
