"""CSV -> GeoParquet, streamed with pyarrow (bounded memory on multi-GB files).

See :mod:`bot.convert.tabular` for why pyarrow, the block size and the
timestamp rule.  Errors name the file, the column, the row (1-based data row;
line = row + 1 when no value contains a newline) and the offending value.
"""

from __future__ import annotations

import csv
import os
import re
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from bot.catalog.layout import Coordinates
from bot.convert.arrow_types import NULLS, UTC_US, schema_types
from bot.convert.common import ConversionResult, require_source
from bot.convert.geoparquet import DEFAULT_GEOMETRY, ROW_GROUP_ROWS, coordinate_names, require_columns, write_points
from bot.cores import usable_cores
from bot.errors import DataError

# The size of the pieces parsed in parallel (at most two per thread in flight,
# so this bounds memory) and of the first block the column types are inferred
# from; several pieces are then grouped into one row group of ROW_GROUP_ROWS.
BLOCK_SIZE = 4 << 20
_ZONE_ERROR = re.compile(
    r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to (timestamp[^:]*): expected a zone offset in '(.*?)'",
    re.S,
)
_CONVERSION_ERROR = re.compile(
    r"In CSV column #(\d+): (?:Row #(\d+): )?CSV conversion error to ([^:]+): invalid value '(.*)'", re.S
)
_PARSE_ERROR = re.compile(r"CSV parse error: (?:Row #(\d+): )?(.*)", re.S)


# ---------------------------------------------------------------------------
# CSV


def _csv_error(
    exc: pa.ArrowInvalid,
    source: Path,
    names: list[str],
    delimiter: str,
    timestamp_format: str | None = None,
    *,
    rows_known: bool = True,
) -> DataError:
    """Translate a pyarrow CSV error into a DataError with column, row and value.

    ``rows_known``: the error's row numbers count from the file's start (not
    so for a chunk parsed on its own: the bad line is then found by a rescan).
    """
    text = str(exc)
    conv = _CONVERSION_ERROR.search(text) or _ZONE_ERROR.search(text)
    if conv:
        col = names[int(conv.group(1))] if int(conv.group(1)) < len(names) else f"#{conv.group(1)}"
        value = conv.group(conv.re.groups)
        row = _find_value_row(source, col, value, delimiter)
        where = f" at row {row}" if row else ""
        if conv.group(2 if conv.re is _ZONE_ERROR else 3).startswith("timestamp"):
            expected = (
                f"the format {timestamp_format!r} (source.timestamp_format)"
                if timestamp_format
                else "ISO 8601 with a zone offset, e.g. 2024-01-01T00:00:00Z"
            )
            return DataError(
                f"unparseable timestamp {value!r}{where}: expected {expected}",
                file=str(source),
                field=col,
                hint="fix the value, or set source.timestamp_format in pipeline.yaml to the format the file uses",
            )
        return DataError(
            f"value {value!r}{where} is not of the column's type {conv.group(3)} (the column mixes types)",
            file=str(source),
            field=col,
            hint=f"fix the value, or declare {col} with the right type in tableschema.json",
        )
    parse = _PARSE_ERROR.search(text)
    if parse:
        line = int(parse.group(1)) if parse.group(1) and rows_known else _find_bad_line(source, delimiter)
        where = f"line {line}: " if line else ""
        return DataError(
            f"malformed or truncated CSV: {where}{parse.group(2).strip()}",
            file=str(source),
            hint=f"every line needs {len(names)} {delimiter!r}-separated values; re-export or re-upload the file",
        )
    return DataError(f"cannot read CSV: {text}", file=str(source), hint="check the file is a complete, UTF-8 CSV")


def _header(source: Path, delimiter: str) -> list[str]:
    """Column names from the first line (used when pyarrow fails before giving a schema)."""
    try:
        with source.open(newline="", encoding="utf-8", errors="replace") as fh:
            return next(csv.reader(fh, delimiter=delimiter), [])
    except (OSError, csv.Error):
        return []


def _find_value_row(source: Path, column: str, value: str, delimiter: str) -> int | None:
    """1-based data row of the first ``value`` in ``column`` (error path only: a streamed rescan)."""
    try:
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(block_size=BLOCK_SIZE),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(include_columns=[column], column_types={column: pa.string()}),
        )
        seen = 0
        for batch in reader:
            idx = pc.index(batch.column(0), value).as_py()
            if idx >= 0:
                return seen + idx + 1
            seen += batch.num_rows
    except (pa.ArrowInvalid, pa.ArrowKeyError):
        return None
    return None


def _find_bad_line(source: Path, delimiter: str) -> int | None:
    """Line number of the first malformed row, as an editor counts lines (error path only: two rescans).

    Arrow's row number skips empty lines, so the line is found again by its
    text, counting every line from the one Arrow names at the earliest.
    """
    found: list[tuple[int, str]] = []

    def handler(row: Any) -> str:
        if row.number is not None:
            found.append((row.number, row.text))
        return "error"

    try:
        for _ in pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=BLOCK_SIZE),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=handler),
        ):
            pass
    except pa.ArrowInvalid:
        pass
    if not found:
        return None
    number, text = found[0]
    wanted = text.encode()
    with source.open("rb") as fh:
        for line, raw in enumerate(fh, 1):
            if line >= number and raw.rstrip(b"\r\n") == wanted:
                return line
    return number


def csv_batches(
    source: Path,
    coords: Coordinates,
    *,
    delimiter: str = ",",
    timestamp_format: str | None = None,
    schema: dict[str, Any] | None = None,
    block_size: int = BLOCK_SIZE,
    columns: list[str] | None = None,
) -> Iterator[tuple[pa.RecordBatch, int]]:
    """Typed record batches of a CSV and the 1-based row number of each batch's first row.

    ``columns``: parse only these (``dataset new`` streams the coordinates alone).
    """
    x, y = coordinate_names(coords)
    types, _ = schema_types(schema)
    time_columns = {n for n, t in types.items() if t == UTC_US}
    if coords.t and (coords.t not in types or types[coords.t] == UTC_US):
        time_columns.add(coords.t)
    # Timestamps are parsed by the (multi-threaded) CSV reader itself: ISO 8601
    # with an offset into a UTC type, or the explicit strptime format; a format
    # without %z yields naive values that we declare UTC (a metadata-only cast).
    naive = bool(timestamp_format) and "%z" not in (timestamp_format or "")
    column_types = dict(types)
    for name in time_columns:
        column_types[name] = pa.timestamp("us") if naive else UTC_US
    for coord in (x, y, coords.z):
        if coord:
            column_types[coord] = pa.float64()
    convert = pacsv.ConvertOptions(
        column_types=column_types, null_values=NULLS, strings_can_be_null=False, include_columns=columns or []
    )
    if timestamp_format:
        convert.timestamp_parsers = [timestamp_format]
    try:
        reader = pacsv.open_csv(
            source,
            # single-threaded: it reads no blocks ahead, which the parallel pieces replace
            read_options=pacsv.ReadOptions(block_size=block_size, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=convert,
        )
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            raise DataError(
                "the CSV file has no header and no rows", file=str(source), hint="upload the complete file"
            ) from None
        raise _csv_error(exc, source, _header(source, delimiter), delimiter, timestamp_format) from None
    names = reader.schema.names
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"duplicate column names: {', '.join(dup)}", file=str(source), hint="rename the columns")
    require_columns(names, {"x": x, "y": y, "z": coords.z, "t": coords.t}, str(source))
    header, start = _header_line(source, delimiter)
    if header is not None and set(names) <= set(header) and len(set(header)) == len(header):
        # every column's type is now fixed (declared, or inferred from the first block as the
        # streaming reader does), so pieces of the file parse on their own, in parallel
        convert.column_types = {field.name: field.type for field in reader.schema}
        reader.close()  # before it reads ahead
        batches = _parallel_batches(source, start, header, convert, delimiter, block_size)
    else:  # a header the first line alone does not give (a quoted line end in it): Arrow's serial reader
        batches = _serial_batches(reader)
    row = 1
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise _csv_error(exc, source, names, delimiter, timestamp_format, rows_known=False) from None
        if batch.num_rows == 0:
            continue
        if naive:
            for name in time_columns & set(names):
                idx = batch.schema.get_field_index(name)
                batch = batch.set_column(idx, pa.field(name, UTC_US), batch.column(idx).cast(UTC_US))
        yield batch, row
        row += batch.num_rows


def _serial_batches(reader: pacsv.CSVStreamingReader) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return


def _header_line(source: Path, delimiter: str) -> tuple[list[str] | None, int]:
    """The column names as Arrow parses the first line, and the byte offset of the next line.

    None when the first line alone is not a header Arrow can parse (a quoted
    line end inside it).  A UTF-8 byte order mark is skipped, as Arrow does.
    """
    with source.open("rb") as fh:
        head = fh.read(BLOCK_SIZE)
        while b"\n" not in head and b"\r" not in head:
            more = fh.read(BLOCK_SIZE)
            if not more:
                break
            head += more
    bom = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    ends = [i for i in (head.find(b"\n", bom), head.find(b"\r", bom)) if i >= 0]
    end = min(ends) + 1 if ends else len(head)
    if head[end - 1 : end + 1] == b"\r\n":
        end += 1
    try:
        names = pacsv.read_csv(pa.BufferReader(head[bom:end]), parse_options=pacsv.ParseOptions(delimiter=delimiter))
    except pa.ArrowInvalid:
        return None, end
    return names.column_names, end


def _chunks(source: Path, start: int, block_size: int) -> Iterator[memoryview]:
    """The file from ``start`` in pieces of about ``block_size`` bytes, each ending at a line end.

    Arrow's reader, by default (``newlines_in_values=False``), also splits
    blocks at any line end, so a piece parses exactly as it would in place.
    Each piece is one ``pread`` into a fresh ``bytes`` (no zero-filling, no
    concatenation) handed over as a view; the partial line after the cut is
    read again at the start of the next piece.
    """
    fd = os.open(source, os.O_RDONLY)
    try:
        offset = start
        while True:
            size = block_size
            while True:
                block = os.pread(fd, size, offset)
                last = block.rfind(b"\n")  # from the end: the last line end is near it
                cut = max(last, block.rfind(b"\r", last + 1)) + 1  # a CR-only line end after it
                if cut or len(block) < size:  # a line end, or the end of the file
                    break
                size *= 2  # a line longer than a block
            if not block:
                return
            end = cut if cut and len(block) == size else len(block)
            yield memoryview(block)[:end]
            offset += end
    finally:
        os.close(fd)


def _parse_chunk(data: memoryview, header: list[str], convert: pacsv.ConvertOptions, delimiter: str) -> pa.RecordBatch:
    """One piece of the file as one record batch (single-threaded: the pieces run in parallel)."""
    table = pacsv.read_csv(
        pa.BufferReader(pa.py_buffer(data)),
        read_options=pacsv.ReadOptions(column_names=header, use_threads=False, block_size=len(data) + 1),
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
        convert_options=convert,
    )
    return table.combine_chunks().to_batches()[0] if table.num_rows else pa.RecordBatch.from_pylist([], table.schema)


def _parallel_batches(
    source: Path, start: int, header: list[str], convert: pacsv.ConvertOptions, delimiter: str, block_size: int
) -> Iterator[pa.RecordBatch]:
    """The data lines parsed on :func:`~bot.cores.usable_cores` threads, in file order.

    Why not Arrow's streaming reader: it parses on the calling thread (its
    pool stays nearly idle), which made parsing the one serial chain of a
    CSV conversion once the Parquet encoding ran on every core.  At most
    two pieces per thread are in flight, so memory stays bounded.
    """
    threads = usable_cores()
    with ThreadPoolExecutor(threads, thread_name_prefix="csv-parser") as pool:
        pending: deque[Future[pa.RecordBatch]] = deque()
        try:
            for data in _chunks(source, start, block_size):
                pending.append(pool.submit(_parse_chunk, data, header, convert, delimiter))
                while len(pending) > 2 * threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()


def convert_csv(
    source: Path,
    dest: Path,
    coords: Coordinates,
    *,
    delimiter: str = ",",
    timestamp_format: str | None = None,
    schema: dict[str, Any] | None = None,
    crs: str | None = None,
    block_size: int = BLOCK_SIZE,
    row_group_rows: int = ROW_GROUP_ROWS,
) -> ConversionResult:
    """Stream a CSV with coordinate columns into a GeoParquet file at ``dest``."""
    require_source(source)
    x, y = coordinate_names(coords)
    geometry = coords.geometry or DEFAULT_GEOMETRY
    batches = csv_batches(
        source, coords, delimiter=delimiter, timestamp_format=timestamp_format, schema=schema, block_size=block_size
    )
    return write_points(batches, source, dest, x, y, geometry, schema, row_group_rows, source_crs=crs)
