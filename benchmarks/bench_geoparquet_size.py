"""GeoParquet point output size vs a plain pandas Parquet of the same columns (issue #13 item 4).

Why this benchmark: the size goal (<= 1.2x plain pandas) was decided by
measuring the encodings pygeoapi can serve against the ones it cannot.
Contenders, on three realistic shapes of point data written through
``convert_csv`` (the real converter):

* ``ours``: what the bot writes -- WKB ``geometry`` (big-endian, zstd 3) plus
  the lon/lat columns (BYTE_STREAM_SPLIT), see ``bot/convert/geoparquet.py``;
* ``geoarrow``: GeoParquet 1.1 native ``encoding: point`` (struct<x, y>),
  lon/lat not stored twice -- the smallest, but pygeoapi 0.21's Parquet
  provider cannot serve it (it decodes ``geometry`` as WKB and filters bbox
  on flat x/y columns);
* ``wkb-only``: WKB without the lon/lat columns (same pygeoapi problem: no
  x_field/y_field to filter on).

Shapes: ``stations`` (150 loggers, many readings), ``tracks`` (40 vessels,
a fix a minute, every position distinct), ``uniform`` (the CLI benchmark's
lon/lat/time/value: positions drawn uniformly, nothing repeats).

    python benchmarks/bench_geoparquet_size.py            # 1 M rows per shape, ~1 min
    python benchmarks/bench_geoparquet_size.py --rows 5000000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bot.catalog.layout import Coordinates
from bot.convert.geoparquet import points_wkb
from bot.convert.parquet_encoding import COMPRESSION_LEVEL, column_encodings, dictionary_columns
from bot.convert.tabular import convert_csv
from tests.test_geoparquet import _stations, _tracks, _uniform_points

SHAPES = {"stations": _stations, "tracks": _tracks, "uniform": _uniform_points}


def _write_alternative(table: pa.Table, path: Path, geometry: pa.Array, encoding: str) -> int:
    """The same columns minus lon/lat plus ``geometry``, with the bot's per-column encodings."""
    table = table.drop(["lon", "lat"]).append_column("geometry", geometry)
    dictionary = dictionary_columns(table)
    enc = column_encodings(table, dictionary)
    if encoding == "point":
        enc.update({"geometry.x": "BYTE_STREAM_SPLIT", "geometry.y": "BYTE_STREAM_SPLIT"})
    geo = {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": {"encoding": encoding}}}
    pq.write_table(
        table.replace_schema_metadata({b"geo": json.dumps(geo)}),
        path,
        compression="zstd",
        compression_level=COMPRESSION_LEVEL,
        use_dictionary=dictionary,
        column_encoding=enc,
        row_group_size=256_000,
    )
    return path.stat().st_size


def measure(shape: str, rows: int, work: Path) -> str:
    df = SHAPES[shape](rows)
    plain = work / "plain.parquet"
    df.to_parquet(plain, index=False)
    csv = work / "points.csv"
    df.to_csv(csv, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
    ours = convert_csv(
        csv, work / "ours.parquet", Coordinates(x="lon", y="lat", t="time"), timestamp_format="%Y-%m-%dT%H:%M:%SZ"
    )
    table = pq.read_table(ours.path).drop(["geometry"])
    x, y = df["lon"].to_numpy(), df["lat"].to_numpy()
    struct = pa.StructArray.from_arrays([pa.array(x), pa.array(y)], names=["x", "y"])
    sizes = {
        "ours (WKB + lon/lat)": ours.bytes,
        "geoarrow point, no lon/lat": _write_alternative(table, work / "ga.parquet", struct, "point"),
        "WKB, no lon/lat": _write_alternative(table, work / "wkb.parquet", points_wkb(x, y), "WKB"),
    }
    base = plain.stat().st_size
    cells = ", ".join(f"{k} {v / base:.2f}x" for k, v in sizes.items())
    return f"| {shape} | {len(df):,} | {base / 1e6:,.1f} MB | {cells} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    print("| shape | rows | plain pandas Parquet | size / plain |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for shape in SHAPES:
            print(measure(shape, args.rows, Path(tmp)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
