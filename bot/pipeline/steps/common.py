"""Step names, artifact locations and object-store keys shared by the publish steps."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.errors import BotError, Problem, Severity
from bot.pipeline.context import StepContext

# Step names (the DAG in bot.pipeline.dag is the source of truth; these are
# the folders under the work directory that later steps read from).
CONVERT = "convert"
CHECK_EXTENTS = "check-extents"
HARVEST = "harvest-metadata"
DATADRIVEN = "generate-datadriven-metadata"
FRICTIONLESS = "generate-frictionless-metadata"
GATE = "schema-gate"
UPLOAD_DATA = "upload-arco-data"
UPLOAD_JSON = "upload-frictionless-json"
PYGEOAPI_ENTRY = "generate-pygeoapi-entry"
PYGEOAPI_INGEST = "ingest-pygeoapi-entry"
STAC_ITEM = "generate-stac-item"
ENSURE_COLLECTION = "ensure-collection"
INGEST_ITEM = "ingest-stac-item"
UPDATE_COLLECTION = "update-collection"

VERSION_DIGITS = 16
DATAPACKAGE = "datapackage.json"


def error_problems(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity is Severity.ERROR]


def convert_record(ctx: StepContext) -> dict[str, Any]:
    """The convert step's record (``result.json``): file name, format, size, sha256, sources, ``ref``."""
    info: dict[str, Any] = ctx.read_artifact(CONVERT, "result.json")
    return info


def converted(ctx: StepContext) -> tuple[Path, dict[str, Any]]:
    """The converted data as a local path (work folder) and the convert step's record.

    Under ``--data-refs`` the data is in the object store (``info["ref"]``),
    not here: use :func:`extract_metadata`, :func:`zarr_entry` and the
    upload step's copy instead.
    """
    info = convert_record(ctx)
    path = ctx.artifact(CONVERT, info["file"])
    if not path.exists():
        raise BotError(f"converted data {path} is missing", hint=f"re-run step convert for {ctx.id}")
    return path, info


def extract_metadata(ctx: StepContext, info: Mapping[str, Any]) -> Any:
    """Data-driven metadata of the converted data (Parquet footer / Zarr metadata), local or by reference."""
    from bot.metadata import datadriven

    ref = info.get("ref")
    if ref is None:
        path, _ = converted(ctx)
        if ctx.kind == "tabular":
            return datadriven.extract_parquet_metadata(path, ctx.spec.coordinates)
        return datadriven.extract_zarr_metadata(path, ctx.spec.coordinates)
    from bot.pipeline.steps.refs import RangeFile, zarr_view

    if ctx.kind == "tabular":
        store = ctx.store()
        head = store.head(ref["key"])
        if head is None:
            raise BotError(f"converted data {store.url(ref['key'])} is missing", hint=f"re-run convert for {ctx.id}")
        with RangeFile(store, ref["key"], head.size) as handle:
            return datadriven.extract_parquet_metadata(
                Path(ref["key"]), ctx.spec.coordinates, source=handle, file=store.url(ref["key"])
            )
    return datadriven.extract_zarr_metadata(zarr_view(ctx, ref["key"]), ctx.spec.coordinates)


def zarr_entry(ctx: StepContext, info: Mapping[str, Any]) -> Any:
    """The entry point document of a converted Zarr store (None for Parquet), local or by reference."""
    if info.get("format") != "zarr":
        return None
    from bot.metadata.zarr_extents import zarr_entry_point

    ref = info.get("ref")
    if ref is None:
        return zarr_entry_point(converted(ctx)[0])
    from bot.pipeline.steps.refs import zarr_view

    return zarr_entry_point(zarr_view(ctx, ref["key"]))


def version_keys(ctx: StepContext, info: Mapping[str, Any]) -> tuple[str, str]:
    """``(version prefix, data key)`` of the converted data in the object store."""
    prefix = f"{ctx.id}/{info['sha256'][:VERSION_DIGITS]}"
    return prefix, f"{prefix}/{info['file']}"


def metadata_key(ctx: StepContext, name: str) -> str:
    return f"{ctx.id}/{name}"
