"""Convert, extents, harvest, data-driven and Frictionless metadata, schema gate: everything before the first write to a target."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.errors import Problem, ValidationFailed
from bot.pipeline.context import StepContext, StepResult
from bot.pipeline.steps.common import (
    CHECK_EXTENTS,
    CONVERT,
    DATADRIVEN,
    DATAPACKAGE,
    FRICTIONLESS,
    GATE,
    HARVEST,
    convert_record,
    error_problems,
    extract_metadata,
    version_keys,
    zarr_entry,
)


def convert(ctx: StepContext) -> StepResult:
    """Convert the source (CSV/GeoJSON/NetCDF...) to GeoParquet or Zarr in ``<work>/convert``.

    Under Argo (``--data-refs`` and a ``plan-sources`` artifact) this step
    combines the parts the ``convert-file`` pods made instead
    (:mod:`bot.pipeline.steps.fanout`); otherwise the source is reused,
    appended to or converted whole, decided from the state stored next to
    the published data (:mod:`bot.pipeline.incremental`).
    """
    from bot.pipeline.steps.fanout import PLAN, PLAN_FILE

    if ctx.run.data_refs and ctx.artifact(PLAN, PLAN_FILE).is_file():
        from bot.pipeline.steps.fanout import combine

        path, parts = combine(ctx)
        return _converted(ctx, parts, path)  # path None: one whole source, converted and uploaded by its pod
    return convert_source(ctx)


def convert_source(ctx: StepContext) -> StepResult:
    """Convert in this process (``--jobs`` workers): reuse, append or convert whole (:mod:`bot.pipeline.incremental`)."""
    from bot.pipeline.incremental import convert_source as incremental_convert

    schema = ctx.curated_json(ctx.schema_name) if ctx.kind == "tabular" else None
    result, sources, summary = incremental_convert(ctx, ctx.step_dir(CONVERT), schema)
    info: dict[str, Any] = {
        "file": result.path.name,
        "format": result.format,
        "rows": result.rows,
        "bytes": result.bytes,
        "files": len(result.files),
        "sources": [r.to_dict() for r in sources],
        **summary,
    }
    return _converted(ctx, info, result.path, sha256=result.sha256)


def _converted(ctx: StepContext, info: dict[str, Any], path: Path | None, *, sha256: str | None = None) -> StepResult:
    """Record the converted data at ``path`` (checksum; with ``--data-refs``: uploaded, only the key kept).

    ``sha256`` is the digest computed while writing, when the converter had
    one; otherwise the output is read back once to hash it.
    """
    from bot.adapters.objectstore import tree_sha256

    out = ctx.step_dir(CONVERT)
    # Outputs of an earlier run under another name (renamed source) are stale.
    for stale in out.iterdir():
        if stale.name not in {info["file"], "result.json"} and not stale.name.startswith("."):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    outputs: list[Path] = []
    if path is not None:
        info["sha256"] = sha256 or tree_sha256(path)
        outputs.append(path)
        if ctx.run.data_refs:
            # Downstream pods get the key, not the data: upload once, keep only the record in the artifact.
            from bot.pipeline.steps.refs import put_work_data

            info["ref"] = put_work_data(ctx, path, info["sha256"])
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            outputs = []
    outputs.append(ctx.write_artifact(CONVERT, "result.json", info))
    rows = info.get("rows")
    how = {"reuse": "reused, 0 files converted", "append": f"{info.get('converted')} file(s) appended"}
    mode = info.get("mode")
    return StepResult(
        message=f"{info['format']}: {info['bytes']} bytes"
        + (f" ({how[mode]})" if mode in how else "")
        + (f", {rows} rows" if rows is not None else ""),
        outputs=outputs,
        metrics={"rows": rows, "bytes": info["bytes"]},
    )


def _extent_summary(meta_dict: Mapping[str, Any]) -> dict[str, Any]:
    """bbox / time range / rows / cells from ``DataDrivenMetadata.to_dict()`` (summary table + package)."""
    bbox = meta_dict.get("bbox")
    time_range = meta_dict.get("time_range") or [None, None]
    return {
        "bbox": list(bbox) if bbox else None,
        "start": time_range[0],
        "end": time_range[1],
        "rows": meta_dict.get("rows"),
        "cells": meta_dict.get("cells"),
    }


def _source_name(ctx: StepContext) -> str:
    """The source as findings name it: the catalog-relative file, else the URI or pattern."""
    local = ctx.source_path()
    return ctx.dataset.rel(ctx.spec.source.single or "") if local is not None else ctx.spec.source.label


def check_extents(ctx: StepContext) -> StepResult:
    """Spatial/temporal extents from the converted data; empty or impossible extents stop the publish."""
    from bot.metadata.datadriven import check_extents as check
    from bot.metadata.extents import extent_fallback

    meta = extract_metadata(ctx, convert_record(ctx))
    texts, fallback = extent_fallback(check(meta), ctx.curated_json(DATAPACKAGE))
    problems = [Problem(code="extent", message=text, file=_source_name(ctx), dataset=ctx.id) for text in texts]
    if problems:
        raise ValidationFailed(problems, context=f"extent check of {ctx.id}")
    summary = _extent_summary(meta.to_dict())
    record = ctx.write_artifact(CHECK_EXTENTS, "extents.json", summary)
    return StepResult(message=fallback or f"bbox {summary['bbox']}", outputs=[record], metrics=summary)


def _data_extents(ctx: StepContext) -> dict[str, Any] | None:
    """Extents computed by check-extents (they win over a harvested record's), if that step ran."""
    path = ctx.artifact(CHECK_EXTENTS, "extents.json")
    if not path.is_file():
        return None
    summary = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, Any] = {}
    if summary.get("bbox"):
        out["spatial"] = {"bbox": summary["bbox"]}
    if summary.get("start") or summary.get("end"):
        out["temporal"] = {"start": summary.get("start"), "end": summary.get("end")}
    return out or None


def harvest_metadata(ctx: StepContext) -> StepResult:
    """Harvest the external ISO 19115 record and compare it with the curated datapackage.

    Never blocks a publish: the published metadata is the curated one on the
    default branch (GitOps); what the record changed becomes a pull request
    in the ``propose-update`` step (harvest workflow) or a note in the summary.
    """
    if ctx.spec.metadata_source is None:
        return StepResult(status="skipped", message="skipped: no metadata source")
    from bot.adapters.csw import MetadataSource
    from bot.pipeline.harvest import harvest_dataset

    outcome = harvest_dataset(ctx.dataset, lambda url: MetadataSource(url), data_extents=_data_extents(ctx))
    record = ctx.write_artifact(
        HARVEST,
        "harvest.json",
        {
            "status": outcome.status,
            "changes": outcome.changes,
            "extent_source": outcome.extent_source,
            "error": outcome.error,
            "datapackage": outcome.datapackage,
        },
    )
    return StepResult(message=outcome.summary(), outputs=[record], metrics={"harvest": outcome.status})


def propose_update(ctx: StepContext) -> StepResult:
    """Update the dataset issue and open/refresh the update PR when the harvested record changed."""
    from bot.adapters.github import GitHub
    from bot.pipeline.harvest import HarvestOutcome, propose_updates

    data = ctx.read_artifact(HARVEST, "harvest.json")
    outcome = HarvestOutcome(
        ctx.id,
        data["status"],
        datapackage=data.get("datapackage"),
        changes=data.get("changes") or [],
        extent_source=data.get("extent_source"),
        error=data.get("error"),
    )
    if outcome.status in ("skipped", "error"):
        return StepResult(status="skipped", message=f"nothing to propose: {outcome.summary()}")
    github = GitHub.connect(ctx.run.settings)
    actions = propose_updates([outcome], github)
    done = ", ".join(f"{a.action}{' ' + a.url if a.url else ''}" for a in actions) or "no change: nothing written"
    return StepResult(message=done)


def generate_datadriven_metadata(ctx: StepContext) -> StepResult:
    """Columns/variables, types, units and chunks from the data, plus the generated table/grid schema."""
    meta = extract_metadata(ctx, convert_record(ctx))
    out: list[Path] = [ctx.write_artifact(DATADRIVEN, "metadata.json", meta.to_dict())]
    if ctx.kind == "tabular":
        out.append(ctx.write_artifact(DATADRIVEN, ctx.schema_name, meta.to_tableschema()))
        out.append(ctx.write_artifact(DATADRIVEN, "stac.json", {"table_columns": meta.to_stac_table_columns()}))
    else:
        out.append(ctx.write_artifact(DATADRIVEN, ctx.schema_name, meta.to_gridschema()))
        out.append(ctx.write_artifact(DATADRIVEN, "stac.json", {"datacube": meta.to_stac_datacube()}))
    return StepResult(message=f"generated {ctx.schema_name}", outputs=out)


def _catalog_profile(ctx: StepContext) -> dict[str, Any] | None:
    path = ctx.catalog.root / "profiles" / "catalog-datapackage.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def generate_frictionless_metadata(ctx: StepContext) -> StepResult:
    """The complete ``datapackage.json`` + schema (curated + data-driven), validated offline."""
    from bot.metadata.frictionless import complete_datapackage, merge_schema, validate_datapackage

    curated = ctx.curated_json(DATAPACKAGE)
    curated_schema = ctx.curated_json(ctx.schema_name)
    generated = ctx.read_artifact(DATADRIVEN, ctx.schema_name)
    extents = ctx.read_artifact(CHECK_EXTENTS, "extents.json")
    info = convert_record(ctx)
    _, data_key = version_keys(ctx, info)
    schema = merge_schema(curated_schema, generated, ctx.kind)
    entry = zarr_entry(ctx, info)
    package = complete_datapackage(
        curated,
        kind=ctx.kind,
        data_format=ctx.spec.output,
        data_path=data_key.removeprefix(f"{ctx.id}/"),
        size=int(info["bytes"]),
        sha256=info["sha256"],
        schema=schema if ctx.kind == "tabular" else None,
        schema_path=ctx.schema_name,
        bbox=extents.get("bbox"),
        temporal={"start": extents.get("start"), "end": extents.get("end")},
        rows=info.get("rows"),
        entry_point=entry,
    )
    if info.get("sources"):
        from bot.sources.manifest import datapackage_sources

        package["sources"] = datapackage_sources(info["sources"], package.get("sources"))
    problems = validate_datapackage(
        package,
        file=ctx.dataset.rel(DATAPACKAGE),
        dataset=ctx.id,
        profile=_catalog_profile(ctx),
        registry=ctx.run.registry(),
    )
    if error_problems(problems):
        raise ValidationFailed(problems, context=f"complete datapackage of {ctx.id}")
    outputs = [
        ctx.write_artifact(FRICTIONLESS, DATAPACKAGE, package),
        ctx.write_artifact(FRICTIONLESS, ctx.schema_name, schema),
    ]
    return StepResult(message="datapackage valid", outputs=outputs)


def schema_gate(ctx: StepContext) -> StepResult:
    """Stop (SchemaChanged) when the data's columns/variables differ from the curated schema."""
    from bot.metadata.frictionless import schema_differences
    from bot.metadata.frictionless import schema_gate as gate

    curated = ctx.curated_json(ctx.schema_name)
    generated = ctx.read_artifact(DATADRIVEN, ctx.schema_name)
    gate(ctx.id, curated, generated, ctx.kind)
    record = ctx.write_artifact(GATE, "gate.json", {"differences": schema_differences(curated, generated, ctx.kind)})
    return StepResult(message="schema unchanged", outputs=[record])
