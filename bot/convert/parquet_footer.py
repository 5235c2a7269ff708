"""One Parquet file from row groups encoded in parallel: the footer rewritten, the pages copied as they are.

Why: Arrow's Parquet writer encodes and compresses a row group on one
thread (pyarrow does not expose the C++ writer's column-parallel option),
and on a CSV conversion that thread is the critical path -- its zstd pages
are most of the CPU of the run.  So each row group is encoded on its own by
one of several threads into an in-memory, one-row-group Parquet file, and
:class:`ParquetAssembler` appends the row group's bytes to the output in
order.  A column chunk's bytes do not depend on where it sits in the file
(its dictionary, statistics and page headers hold no file offsets); only
the footer does, so the footer of the output is the first part's with every
part's row groups, their file offsets shifted, and the key/value metadata of
the whole file.  The result is byte for byte the file one ``ParquetWriter``
would have written from the same row groups (``tests/test_parquet_footer.py``).

The footer is Thrift's compact protocol (parquet-format's ``FileMetaData``);
:func:`decode` / :func:`encode` round-trip any struct without knowing its
schema, and only the fields that hold file offsets are interpreted.  Page
indexes and bloom filters are written after the last row group, so a part
that has one is refused (the writer enables neither).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

_MAGIC = b"PAR1"

# Thrift compact protocol types.
_STOP, _TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(13)
_BOOLS = (_TRUE, _FALSE)
_INTS = (_I16, _I32, _I64)


@dataclass
class ThriftStruct:
    """A decoded struct: its fields in wire order as ``[field id, type, value]`` (unknown fields kept)."""

    fields: list[list[Any]] = field(default_factory=list)

    def get(self, fid: int) -> Any:
        return next((f[2] for f in self.fields if f[0] == fid), None)

    def set(self, fid: int, kind: int, value: Any) -> None:
        """Replace field ``fid`` (or add it, keeping the ids in ascending order)."""
        for f in self.fields:
            if f[0] == fid:
                f[2] = value
                return
        self.fields.append([fid, kind, value])
        self.fields.sort(key=lambda f: f[0])


@dataclass
class ThriftList:
    elem: int
    items: list[Any]


class _Reader:
    def __init__(self, data: bytes | memoryview) -> None:
        self.data = memoryview(data).cast("B")  # unsigned: an Arrow buffer's view is signed chars
        self.pos = 0

    def byte(self) -> int:
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        out = shift = 0
        while True:
            b = self.byte()
            out |= (b & 0x7F) << shift
            if not b & 0x80:
                return out
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, kind: int) -> Any:
        if kind in _BOOLS:  # a bool inside a list or map is a byte of its own
            return self.byte() == _TRUE
        if kind == _BYTE:
            return struct.unpack("b", bytes([self.byte()]))[0]
        if kind in _INTS:
            return self.zigzag()
        if kind == _DOUBLE:
            self.pos += 8
            return struct.unpack("<d", self.data[self.pos - 8 : self.pos])[0]
        if kind == _BINARY:
            n = self.varint()
            self.pos += n
            return bytes(self.data[self.pos - n : self.pos])
        if kind in (_LIST, _SET):
            head = self.byte()
            size, elem = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            return ThriftList(elem, [self.value(elem) for _ in range(size)])
        if kind == _MAP:
            raise ValueError("Thrift maps are not used by Parquet's footer")
        if kind == _STRUCT:
            return self.struct()
        raise ValueError(f"unknown Thrift compact type {kind}")

    def struct(self) -> ThriftStruct:
        out = ThriftStruct()
        last = 0
        while True:
            head = self.byte()
            kind = head & 0x0F
            if kind == _STOP:
                return out
            delta = head >> 4
            fid = last + delta if delta else self.zigzag()
            if kind in _BOOLS:
                out.fields.append([fid, kind, kind == _TRUE])
            else:
                out.fields.append([fid, kind, self.value(kind)])
            last = fid


def _varint(n: int, out: bytearray) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _zigzag(n: int, out: bytearray) -> None:
    _varint((n << 1) ^ (n >> 63), out)


def _value(kind: int, value: Any, out: bytearray) -> None:
    if kind in _BOOLS:
        out.append(_TRUE if value else _FALSE)
    elif kind == _BYTE:
        out += struct.pack("b", value)
    elif kind in _INTS:
        _zigzag(value, out)
    elif kind == _DOUBLE:
        out += struct.pack("<d", value)
    elif kind == _BINARY:
        _varint(len(value), out)
        out += value
    elif kind in (_LIST, _SET):
        size = len(value.items)
        if size < 15:
            out.append(size << 4 | value.elem)
        else:
            out.append(0xF0 | value.elem)
            _varint(size, out)
        for item in value.items:
            _value(value.elem, item, out)
    elif kind == _STRUCT:
        _struct(value, out)
    else:
        raise ValueError(f"cannot encode Thrift compact type {kind}")


def _struct(value: ThriftStruct, out: bytearray) -> None:
    last = 0
    for fid, kind, item in value.fields:
        wire = (_TRUE if item else _FALSE) if kind in _BOOLS else kind
        if 0 < fid - last <= 15:
            out.append((fid - last) << 4 | wire)
        else:
            out.append(wire)
            _zigzag(fid, out)
        if kind not in _BOOLS:
            _value(kind, item, out)
        last = fid
    out.append(_STOP)


def decode(data: bytes | memoryview) -> ThriftStruct:
    """A compact-protocol struct (e.g. a Parquet ``FileMetaData``)."""
    return _Reader(data).struct()


def encode(value: ThriftStruct) -> bytes:
    out = bytearray()
    _struct(value, out)
    return bytes(out)


# parquet-format field ids (parquet.thrift)
_FMD_NUM_ROWS, _FMD_ROW_GROUPS, _FMD_KEY_VALUE = 3, 4, 5
_RG_COLUMNS, _RG_FILE_OFFSET, _RG_ORDINAL = 1, 5, 7
_CC_FILE_OFFSET, _CC_META, _CC_OFFSET_INDEX, _CC_COLUMN_INDEX = 2, 3, 4, 6
_CMD_OFFSETS = (9, 10, 11)  # data, index and dictionary page offsets
_CMD_BLOOM = 14


def footer(data: bytes | memoryview) -> tuple[ThriftStruct, int]:
    """The ``FileMetaData`` of a complete Parquet file in memory and where it starts."""
    view = memoryview(data).cast("B")
    if bytes(view[:4]) != _MAGIC or bytes(view[-4:]) != _MAGIC:
        raise ValueError("not a Parquet file (no PAR1 magic)")
    length = struct.unpack("<I", view[-8:-4])[0]
    start = len(view) - 8 - length
    return decode(view[start:-8]), start


def _shift_row_group(group: ThriftStruct, delta: int, ordinal: int) -> None:
    """Move a row group's file offsets by ``delta`` bytes and renumber it."""
    if group.get(_RG_FILE_OFFSET) is not None:
        group.set(_RG_FILE_OFFSET, _I64, group.get(_RG_FILE_OFFSET) + delta)
    if group.get(_RG_ORDINAL) is not None:
        group.set(_RG_ORDINAL, _I16, ordinal)
    for chunk in group.get(_RG_COLUMNS).items:
        if chunk.get(_CC_OFFSET_INDEX) is not None or chunk.get(_CC_COLUMN_INDEX) is not None:
            raise ValueError("a part has a page index (written after the row groups): cannot be concatenated")
        if chunk.get(_CC_FILE_OFFSET):  # 0: the deprecated field left unset
            chunk.set(_CC_FILE_OFFSET, _I64, chunk.get(_CC_FILE_OFFSET) + delta)
        meta = chunk.get(_CC_META)
        if meta.get(_CMD_BLOOM) is not None:
            raise ValueError("a part has a bloom filter (written after the row groups): cannot be concatenated")
        for fid in _CMD_OFFSETS:
            if meta.get(fid) is not None:
                meta.set(fid, _I64, meta.get(fid) + delta)


class ParquetAssembler:
    """Write one Parquet file from complete one-part Parquet files appended in order; sha256 as it goes.

    ``append`` takes a part's bytes (what ``ParquetWriter`` wrote to a
    ``BufferOutputStream``); every part must have the schema of the first.
    ``close`` writes the footer with ``metadata`` (key/value pairs) and
    returns the file's sha256: the bytes are hashed as they are written, so
    the output is never read back.
    """

    def __init__(self, path: Path) -> None:
        self._file: BinaryIO = path.open("wb")
        self._digest = hashlib.sha256()
        self._template: ThriftStruct | None = None
        self._groups: list[ThriftStruct] = []
        self._rows = 0
        self._offset = 0
        self._write(_MAGIC)

    def _write(self, data: bytes | memoryview) -> None:
        self._file.write(data)
        self._digest.update(data)
        self._offset += len(data)

    def append(self, part: bytes | memoryview) -> None:
        meta, start = footer(part)
        if self._template is None:
            self._template = meta
        elif meta.get(2) != self._template.get(2):  # field 2: the schema
            raise ValueError("a part's schema differs from the first part's")  # a converter bug
        delta = self._offset - len(_MAGIC)  # the part's row groups start right after its own magic
        for group in meta.get(_FMD_ROW_GROUPS).items:
            _shift_row_group(group, delta, len(self._groups))
            self._groups.append(group)
        self._rows += meta.get(_FMD_NUM_ROWS)
        self._write(memoryview(part)[len(_MAGIC) : start])

    def close(self, metadata: dict[str, str]) -> str:
        """Write the footer (``metadata``: the file's key/value metadata) and return the sha256 of the file."""
        try:
            if self._template is None:
                raise ValueError("no part was appended")
            meta = self._template
            meta.set(_FMD_NUM_ROWS, _I64, self._rows)
            meta.set(_FMD_ROW_GROUPS, _LIST, ThriftList(_STRUCT, self._groups))
            pairs = [ThriftStruct([[1, _BINARY, k.encode()], [2, _BINARY, v.encode()]]) for k, v in metadata.items()]
            meta.set(_FMD_KEY_VALUE, _LIST, ThriftList(_STRUCT, pairs))
            body = encode(meta)
            self._write(body)
            self._write(struct.pack("<I", len(body)) + _MAGIC)
        finally:
            self._file.close()
        return self._digest.hexdigest()

    def abort(self) -> None:
        """Close the file after an error (the caller deletes it)."""
        self._file.close()
