"""Parquet files assembled from row groups encoded in parallel (bot/convert/parquet_footer.py).

The reference is always another writer's bytes: a footer must re-encode to
exactly what pyarrow or polars (a Rust Thrift implementation) wrote, and an
assembled file must be byte for byte what one ``ParquetWriter`` writes from
the same row groups -- so every reader of Arrow's files reads ours.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bot.adapters.objectstore import file_sha256
from bot.convert.geoparquet import GeoParquetWriter, bbox_struct, points_wkb
from bot.convert.parquet_footer import ParquetAssembler, ThriftList, ThriftStruct, decode, encode, footer


def _table(n: int, seed: int, *, start: int = 0) -> pa.Table:
    """Columns of every kind a converter writes: floats, times, repeated strings, nulls, WKB, a covering struct."""
    rng = np.random.default_rng(seed)
    lon = np.round(rng.uniform(-180, 180, n), 5)
    lat = np.round(rng.uniform(-90, 90, n), 5)
    time = np.datetime64("2024-01-01T00:00:00", "us") + (start + np.arange(n)) * np.timedelta64(37, "s")
    depth = rng.integers(0, 500, n).astype("int32")
    site = rng.choice(["BUOY-A", "BUOY-B", "GLIDER-7", "mooring ñ"], n)
    value = pa.array(np.round(rng.normal(20, 3, n), 3), mask=rng.random(n) < 0.05)
    return pa.table(
        {
            "lon": lon,
            "lat": lat,
            "time": pa.array(time, pa.timestamp("us", tz="UTC")),
            "depth": depth,
            "site": site,
            "value": value,
            "geometry": points_wkb(lon, lat),
            "bbox": bbox_struct(lon, lat, lon, lat),
        }
    )


OPTIONS = {
    "compression": "zstd",
    "compression_level": 2,
    "use_dictionary": ["site", "depth"],
    "column_encoding": {"lon": "BYTE_STREAM_SPLIT", "lat": "BYTE_STREAM_SPLIT", "time": "DELTA_BINARY_PACKED"},
    "write_statistics": ["lon", "lat", "time", "depth", "site", "value", "bbox.xmin"],
    "store_schema": False,
}


def _part(table: pa.Table, **options: object) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, table.schema, **{**OPTIONS, **options}) as writer:
        writer.write_table(table, row_group_size=table.num_rows)
    return sink.getvalue()


def _footer_bytes(data: bytes) -> bytes:
    _, start = footer(data)
    return data[start:-8]


@pytest.mark.parametrize("writer", ["pyarrow", "pyarrow-defaults", "polars"])
def test_footers_of_other_writers_re_encode_to_their_own_bytes(tmp_path: Path, writer: str) -> None:
    """decode/encode is lossless on real footers: every field kept, even those the assembler never reads."""
    table = pa.concat_tables([_table(3000, 1), _table(2000, 2, start=3000)])
    path = tmp_path / "any.parquet"
    if writer == "polars":
        pl = pytest.importorskip("polars")
        pl.from_arrow(table.drop(["bbox"])).write_parquet(path, row_group_size=1000, statistics=True)
    elif writer == "pyarrow":
        pq.write_table(table, path, row_group_size=1500, **OPTIONS)  # type: ignore[arg-type]
    else:  # dictionaries everywhere, snappy, the Arrow schema in the key/value metadata
        pq.write_table(table, path, row_group_size=1500)
    data = path.read_bytes()
    raw = _footer_bytes(data)
    meta = decode(raw)
    assert encode(meta) == raw
    assert meta.get(3) == table.num_rows  # FileMetaData.num_rows: the fields are where parquet.thrift says
    assert len(meta.get(4).items) == pq.ParquetFile(path).metadata.num_row_groups


def test_long_field_ids_long_lists_and_every_scalar_round_trip() -> None:
    """The forms pyarrow's footers seldom use: field-id jumps over 15, lists of 15+, bools in lists, doubles."""
    inner = ThriftStruct([[1, 1, True], [2, 2, False], [3, 3, -7], [4, 4, -300]])
    value = ThriftStruct(
        [
            [1, 5, -(2**31)],
            [2, 6, 2**62],
            [20, 7, -1.5e-300],  # a jump of 18: the field id is written in full
            [21, 8, b"\x00\xffbytes"],
            [40, 9, ThriftList(5, list(range(-8, 12)))],
            [41, 9, ThriftList(1, [True, False])],
            [42, 12, inner],
        ]
    )
    assert decode(encode(value)) == value


def test_assembled_file_is_byte_for_byte_what_one_writer_writes(tmp_path: Path) -> None:
    groups = [_table(n, seed, start=seed * 10_000) for seed, n in enumerate([4000, 1, 2500, 4000])]
    metadata = {"geo": json.dumps({"version": "1.1.0", "primary_column": "geometry"}), "catalog_bot": "{}"}
    one = tmp_path / "one.parquet"
    with pq.ParquetWriter(one, groups[0].schema, **OPTIONS) as writer:  # type: ignore[arg-type]
        for group in groups:
            writer.write_table(group, row_group_size=group.num_rows)
        writer.add_key_value_metadata(metadata)
    assembled = tmp_path / "assembled.parquet"
    assembler = ParquetAssembler(assembled)
    for i, group in enumerate(groups):
        part = _part(group)
        assembler.append(part if i % 2 else part.to_pybytes())  # an Arrow buffer or bytes
    digest = assembler.close(metadata)
    assert assembled.read_bytes() == one.read_bytes()
    assert digest == file_sha256(assembled)
    read = pq.read_table(assembled)
    assert read.replace_schema_metadata().equals(pa.concat_tables(groups))
    assert pq.ParquetFile(assembled).metadata.row_group(2).num_rows == 2500
    assert json.loads(pq.read_schema(assembled).metadata[b"geo"])["version"] == "1.1.0"


def test_parts_that_cannot_be_concatenated_are_refused(tmp_path: Path) -> None:
    """A page index sits after the last row group, and parts of another schema would make a corrupt file."""
    table = _table(100, 3)
    assembler = ParquetAssembler(tmp_path / "out.parquet")
    with pytest.raises(ValueError, match="page index"):
        assembler.append(_part(table, write_page_index=True))
    assembler.append(_part(table))
    with pytest.raises(ValueError, match="schema differs"):
        assembler.append(_part(table.drop(["site"])))
    assembler.abort()
    with pytest.raises(ValueError, match="not a Parquet file"):
        ParquetAssembler(tmp_path / "other.parquet").append(b"PAR1 truncated")


def _geoparquet(path: Path, groups: list[pa.Table], threads: int) -> str:
    writer = GeoParquetWriter(path, "geometry", {"descriptions": {"value": "sea temperature"}}, threads=threads)
    for group in groups:
        lon, lat = group.column("lon").to_numpy(), group.column("lat").to_numpy()
        writer.write(group, (lon.min(), lat.min(), lon.max(), lat.max()), ["Point"])
    writer.close()
    assert writer.sha256 is not None
    return writer.sha256


def test_geoparquet_is_the_same_file_with_one_or_many_encoder_threads(tmp_path: Path) -> None:
    groups = [_table(3000, seed, start=seed * 3000) for seed in range(7)]
    digests = {n: _geoparquet(tmp_path / f"{n}.parquet", groups, n) for n in (1, 2, 4)}
    assert len(set(digests.values())) == 1
    assert digests[1] == hashlib.sha256((tmp_path / "1.parquet").read_bytes()).hexdigest()
    geo = json.loads(pq.read_schema(tmp_path / "4.parquet").metadata[b"geo"])
    lon = pa.concat_tables(groups).column("lon").to_numpy()
    assert geo["columns"]["geometry"]["bbox"][0] == lon.min() and geo["columns"]["geometry"]["bbox"][2] == lon.max()


def test_a_failing_row_group_surfaces_and_stops_the_threads(tmp_path: Path) -> None:
    """An error on an encoder thread is raised to the caller; abort leaves no thread behind."""
    before = threading.active_count()
    writer = GeoParquetWriter(tmp_path / "out.parquet", "geometry", threads=2)
    good = _table(500, 1)
    writer.write(good, (0, 0, 0, 0), ["Point"])
    bad = good.set_column(0, "lon", pa.array(["not a number"] * good.num_rows))  # another schema: Arrow refuses it
    with pytest.raises(ValueError, match="schema"):
        for _ in range(8):  # queued: raised by a later write or by close
            writer.write(bad, (0, 0, 0, 0), ["Point"])
        writer.close()
    writer.abort()
    assert threading.active_count() == before
