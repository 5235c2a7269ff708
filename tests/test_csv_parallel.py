"""CSV pieces parsed in parallel (bot/convert/csv_stream.py) read what Arrow's own serial reader reads.

The reference is pyarrow's streaming reader over the whole file; the files
are shaped like real exports: a byte order mark, CRLF line ends, quoted
fields with the delimiter and doubled quotes, empty lines, nulls in several
spellings, a semicolon delimiter, and lines longer than a block.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from bot.catalog.layout import Coordinates
from bot.convert.arrow_types import NULLS
from bot.convert.csv_stream import csv_batches
from bot.errors import DataError

COORDS = Coordinates(x="lon", y="lat", t="time")
SCHEMA = {
    "fields": [
        {"name": "site", "type": "string"},
        {"name": "time", "type": "datetime"},
        {"name": "lon", "type": "number"},
        {"name": "lat", "type": "number"},
        {"name": "temperature", "type": "number"},
    ]
}


def _lines(n: int, delimiter: str = ",") -> list[str]:
    out = []
    for i in range(n):
        site = f'"Buoy {i % 7}{delimiter} ""north"""' if i % 5 == 0 else f"B{i % 7}"
        temperature = ["", "NA", "nan", f"{20 + (i % 300) / 100:.2f}"][i % 4]
        note = "x" * (3000 if i == 777 else i % 13)  # one line longer than the smallest block
        hour = i // 3600 % 24
        fields = [site, f"2024-03-01T{hour:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z", f"{i % 360 - 180:.5f}",
                  f"{(i * 7) % 180 - 90:.5f}", temperature, note]  # fmt: skip
        out.append(delimiter.join(fields))
    return out


def _write(path: Path, lines: list[str], *, delimiter: str = ",", end: str = "\n", bom: bool = False) -> Path:
    header = delimiter.join(["site", "time", "lon", "lat", "temperature", "note"])
    body = end.join([*lines[:100], "", *lines[100:]])  # an empty line, which every reader skips
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (header + end + body + end).encode())
    return path


def _serial(path: Path, delimiter: str) -> pa.Table:
    types = {"site": pa.string(), "time": pa.timestamp("us", tz="UTC"), "lon": pa.float64(), "lat": pa.float64(),
             "temperature": pa.float64()}  # fmt: skip
    convert = pacsv.ConvertOptions(column_types=types, null_values=NULLS, strings_can_be_null=False)
    return pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter=delimiter), convert_options=convert)


@pytest.mark.parametrize(
    ("delimiter", "end", "bom"),
    [(",", "\n", False), (",", "\r\n", True), (";", "\r\n", False), ("\t", "\n", True), (",", "\r", False)],
)
@pytest.mark.parametrize("block_size", [4096, 1 << 20])
def test_pieces_read_what_the_serial_reader_reads(
    tmp_path: Path, delimiter: str, end: str, bom: bool, block_size: int
) -> None:
    path = _write(tmp_path / "x.csv", _lines(5000, delimiter), delimiter=delimiter, end=end, bom=bom)
    got = list(csv_batches(path, COORDS, delimiter=delimiter, schema=SCHEMA, block_size=block_size))
    if block_size == 4096:
        assert len(got) > 50  # many pieces, so the order and the row numbers are tested
    starts = [row for _, row in got]
    sizes = [batch.num_rows for batch, _ in got]
    assert starts == [1 + sum(sizes[:i]) for i in range(len(sizes))]
    table = pa.Table.from_batches([batch for batch, _ in got])
    assert table.equals(_serial(path, delimiter))


def test_an_error_in_a_late_piece_names_its_row_and_value(tmp_path: Path) -> None:
    lines = _lines(4000)
    lines[3210] = lines[3210].replace("2024-03-01T", "2024-13-01T", 1)
    path = _write(tmp_path / "x.csv", lines)
    with pytest.raises(DataError) as err:
        list(csv_batches(path, COORDS, schema=SCHEMA, block_size=4096))
    assert err.value.field == "time"
    assert "at row 3211" in str(err.value)  # data row 3211 of the file, not of its piece


def test_a_malformed_line_in_a_late_piece_is_found_by_its_file_line(tmp_path: Path) -> None:
    lines = _lines(4000)
    lines[2500] = "B1,2024-03-01T00:00:00Z,12.5"  # two fields short
    path = _write(tmp_path / "x.csv", lines)
    with pytest.raises(DataError) as err:
        list(csv_batches(path, COORDS, schema=SCHEMA, block_size=4096))
    assert "malformed or truncated CSV: line 2503" in str(err.value)  # header + empty line + 2501


def test_a_header_with_a_quoted_line_end_falls_back_to_the_serial_reader(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text('site,time,lon,lat,temperature,"note\nsecond line"\n' + "\n".join(_lines(300)) + "\n")
    convert_names = [b.schema.names for b, _ in csv_batches(path, COORDS, schema=SCHEMA, block_size=4096)]
    assert convert_names[0][-1] == "note\nsecond line"
    assert sum(b.num_rows for b, _ in csv_batches(path, COORDS, schema=SCHEMA, block_size=4096)) == 300
