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


def converted(ctx: StepContext) -> tuple[Path, dict[str, Any]]:
    """The converted data path and the convert step's record."""
    info = ctx.read_artifact(CONVERT, "result.json")
    path = ctx.artifact(CONVERT, info["file"])
    if not path.exists():
        raise BotError(f"converted data {path} is missing", hint=f"re-run step convert for {ctx.id}")
    return path, info


def extract_metadata(ctx: StepContext, path: Path) -> Any:
    """Data-driven metadata of the converted data (Parquet footer / Zarr metadata)."""
    from bot.metadata import datadriven

    if ctx.kind == "tabular":
        return datadriven.extract_parquet_metadata(path, ctx.spec.coordinates)
    return datadriven.extract_zarr_metadata(path, ctx.spec.coordinates)


def version_keys(ctx: StepContext, info: Mapping[str, Any]) -> tuple[str, str]:
    """``(version prefix, data key)`` of the converted data in the object store."""
    prefix = f"{ctx.id}/{info['sha256'][:VERSION_DIGITS]}"
    return prefix, f"{prefix}/{info['file']}"


def metadata_key(ctx: StepContext, name: str) -> str:
    return f"{ctx.id}/{name}"
