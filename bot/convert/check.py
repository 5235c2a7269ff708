"""``validate --data``: read a dataset's source cheaply and report what would fail the publish.

Why before merge: mixed-type columns, a latitude of 200, an empty or a
truncated file used to fail only in the publish after the merge.  This runs
the converters' own readers and checks -- the same messages, naming file,
column and row -- without writing any output:

* CSV: streamed with the converter's typed reader (curated types), every
  batch's coordinates range-checked; nothing is kept in memory.
* Parquet: the footer (a truncated file has none), row count, coordinate
  extents from statistics (scanning only the coordinate columns if needed).
* NetCDF: the header and the 1-D coordinates (dimensions, ranges).
* Zarr: metadata and the 1-D coordinates.
* GeoJSON and other vector files are small enough to convert into a
  temporary folder that is then deleted.

Remote sources (``s3://``, ``https://``) are skipped with a notice: reading
them is the publish's job.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from bot.catalog.layout import Dataset, PipelineSpec
from bot.errors import BotError, DataError, Problem, Severity

_ROW = re.compile(r"\brow (\d+)\b")


def _problem(exc: BotError, dataset: Dataset, fallback_file: str) -> Problem:
    """A DataError as a located Problem: catalog-relative file, the field, a CSV row as a line (row + 1)."""
    file = getattr(exc, "file", None)
    field = getattr(exc, "field", None)
    message = exc.message
    if file:  # DataError prefixes "file [field]: "
        prefix = f"{file} [{field}]: " if field else f"{file}: "
        message = message.removeprefix(prefix)
        path = Path(file)
        if path.is_absolute() and path.is_relative_to(dataset.root):
            file = path.relative_to(dataset.root).as_posix()
    file = file or fallback_file
    found = _ROW.search(message)
    line = int(found.group(1)) + 1 if found and file.endswith(".csv") else None
    return Problem(
        code="data",
        message=f"{field}: {message}" if field else message,
        file=file,
        line=line,
        hint=exc.hint,
        dataset=dataset.id,
    )


def check_source(spec: PipelineSpec, source: Path, schema: dict[str, Any] | None) -> None:
    """Raise :class:`DataError` on the first problem of a local source; return quietly when it converts."""
    from bot.convert.common import require_source

    require_source(source)
    fmt = spec.source.format
    coords = spec.coordinates
    if fmt == "csv":
        from bot.convert.csv_stream import csv_batches
        from bot.convert.geoparquet import add_point_geometry, coordinate_names

        x, y = coordinate_names(coords)
        rows = 0
        for batch, first_row in csv_batches(
            source,
            coords,
            delimiter=spec.source.delimiter,
            timestamp_format=spec.source.timestamp_format,
            schema=schema,
        ):
            add_point_geometry(batch, x, y, "geometry", file=str(source), first_row=first_row)
            rows += batch.num_rows
        if rows == 0:
            raise DataError(
                "the source has a header but no data rows", file=str(source), hint="upload the complete file"
            )
        return
    if fmt == "parquet":
        _check_parquet(source, spec)
        return
    if fmt == "netcdf":
        from bot.convert.grid import _open_netcdf, check_grid

        ds = _open_netcdf(source, group=spec.source.group)
        try:
            check_grid(ds, coords, str(source))
        finally:
            ds.close()
        return
    if fmt == "zarr":
        from bot.metadata.datadriven import check_extents, extract_zarr_metadata

        problems = check_extents(extract_zarr_metadata(source, coords))
        if problems:
            raise DataError("; ".join(problems), file=str(source), hint="fix the coordinates in the store")
        return
    from bot.convert import convert_dataset

    with tempfile.TemporaryDirectory(prefix="catalog-bot-check-") as tmp:
        convert_dataset(spec, source, Path(tmp), schema)


def _check_parquet(source: Path, spec: PipelineSpec) -> None:
    from bot.convert.common import open_parquet
    from bot.metadata.datadriven import check_extents, extract_parquet_metadata

    pf = open_parquet(source)
    if pf.metadata.num_rows == 0:
        raise DataError("the Parquet file has no rows", file=str(source), hint="upload the complete file")
    meta = extract_parquet_metadata(source, spec.coordinates)
    problems = check_extents(meta)
    if problems:
        raise DataError("; ".join(problems), file=str(source), hint="fix the coordinates in the source")


def check_dataset_data(dataset: Dataset) -> list[Problem]:
    """Problems of one dataset's source data (one per dataset: the first one the converter would meet)."""
    try:
        spec = dataset.pipeline()
    except BotError:
        return []  # an invalid pipeline.yaml is reported by validate itself
    raw = spec.source.single
    if raw is None or "://" in raw:
        return [
            Problem(
                code="data",
                message=f"source {spec.source.label} not read by validate --data (remote or many files)",
                file=dataset.rel("pipeline.yaml"),
                severity=Severity.NOTICE,
                dataset=dataset.id,
            )
        ]
    source = dataset.dir / raw
    schema_file = dataset.path("tableschema.json")
    schema: dict[str, Any] | None = None
    if schema_file.is_file():
        try:
            schema = json.loads(schema_file.read_text(encoding="utf-8"))
        except ValueError:
            return []  # reported by validate itself
    try:
        check_source(spec, source, schema)
    except BotError as exc:
        return [_problem(exc, dataset, dataset.rel(str(raw)))]
    return []
