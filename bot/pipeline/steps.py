"""The publish steps: plain functions ``fn(ctx: StepContext) -> StepResult``.

Why so thin: each step only *wires* -- it reads the artifacts of earlier
steps from the work folder, calls pure, separately tested functions
(:mod:`bot.convert`, :mod:`bot.metadata`, :mod:`bot.stac`) or one adapter,
and writes its own artifacts under ``<work>/<step>/`` (pangeo-forge style).
That is what lets the same function run in-process and alone in an Argo pod
(``catalog-bot step NAME``).

Published layout (object store keys, for the ``local`` store below
``<output>/data/<bucket>/``)::

    <dataset>/<version>/<dataset>.parquet|.zarr   the ARCO data, immutable
    <dataset>/datapackage.json                    complete Frictionless package
    <dataset>/tableschema.json|gridschema.json    complete schema

``<version>`` is the first 16 hex digits of the data's sha256: a new version
is uploaded next to the old one, verified, and only then is the metadata
switched to it, so metadata never points at data that is missing or half
written, and an unchanged re-publish writes nothing.

Heavy imports (pyarrow, xarray, zarr) stay inside the functions: importing
this module is cheap for ``catalog-bot publish --dry-run``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.errors import BotError, DataError, Problem, Severity, ValidationFailed
from bot.pipeline.context import StepContext, StepResult

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


# --------------------------------------------------------------------------- helpers


def _errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity is Severity.ERROR]


def _converted(ctx: StepContext) -> tuple[Path, dict[str, Any]]:
    """The converted data path and the convert step's record."""
    info = ctx.read_artifact(CONVERT, "result.json")
    path = ctx.artifact(CONVERT, info["file"])
    if not path.exists():
        raise BotError(f"converted data {path} is missing", hint=f"re-run step convert for {ctx.id}")
    return path, info


def _extract(ctx: StepContext, path: Path) -> Any:
    """Data-driven metadata of the converted data (Parquet footer / Zarr metadata)."""
    from bot.metadata import datadriven

    if ctx.kind == "tabular":
        return datadriven.extract_parquet_metadata(path, ctx.spec.coordinates)
    return datadriven.extract_zarr_metadata(path, ctx.spec.coordinates)


def _data_key(ctx: StepContext, info: Mapping[str, Any]) -> tuple[str, str]:
    """``(version prefix, data key)`` of the converted data in the object store."""
    prefix = f"{ctx.id}/{info['sha256'][:VERSION_DIGITS]}"
    return prefix, f"{prefix}/{info['file']}"


def _metadata_key(ctx: StepContext, name: str) -> str:
    return f"{ctx.id}/{name}"


# --------------------------------------------------------------------------- convert


def convert(ctx: StepContext) -> StepResult:
    """Convert the source (CSV/GeoJSON/NetCDF...) to GeoParquet or Zarr in ``<work>/convert``."""
    from bot.adapters.objectstore import tree_sha256
    from bot.convert import convert_dataset

    pipeline_rel = ctx.dataset.rel("pipeline.yaml")
    src = ctx.source_path()
    if src is None:
        raise DataError(
            f"remote source {ctx.spec.source.path!r} cannot be read by this build",
            file=pipeline_rel,
            field="source.path",
            hint="download the file into the dataset folder (data/...) and point source.path at it",
        )
    if not src.exists():
        raise DataError(
            f"source file {ctx.spec.source.path!r} does not exist (looked for {src})",
            file=pipeline_rel,
            field="source.path",
            hint="fix source.path (relative to the dataset folder) or add the file",
        )
    schema = ctx.curated_json(ctx.schema_name) if ctx.kind == "tabular" else None
    out = ctx.step_dir(CONVERT)
    result = convert_dataset(ctx.spec, src, out, schema, name=ctx.id)
    # Outputs of an earlier run under another name (renamed source) are stale.
    for stale in out.iterdir():
        if stale.name not in {result.path.name, "result.json"} and not stale.name.startswith("."):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    digest = tree_sha256(result.path)
    info = {
        "file": result.path.name,
        "format": result.format,
        "rows": result.rows,
        "bytes": result.bytes,
        "files": len(result.files),
        "sha256": digest,
    }
    record = ctx.write_artifact(CONVERT, "result.json", info)
    return StepResult(
        message=f"{result.format}: {result.bytes} bytes" + (f", {result.rows} rows" if result.rows is not None else ""),
        outputs=[result.path, record],
        metrics={"rows": result.rows, "bytes": result.bytes},
    )


# --------------------------------------------------------------------------- metadata


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


def check_extents(ctx: StepContext) -> StepResult:
    """Spatial/temporal extents from the converted data; empty or impossible extents stop the publish."""
    from bot.metadata.datadriven import check_extents as check
    from bot.metadata.extents import extent_fallback

    path, _ = _converted(ctx)
    meta = _extract(ctx, path)
    texts, fallback = extent_fallback(check(meta), ctx.curated_json(DATAPACKAGE))
    problems = [
        Problem(code="extent", message=text, file=ctx.dataset.rel(ctx.spec.source.path), dataset=ctx.id)
        for text in texts
    ]
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
    path, _ = _converted(ctx)
    meta = _extract(ctx, path)
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
    _, info = _converted(ctx)
    _, data_key = _data_key(ctx, info)
    schema = merge_schema(curated_schema, generated, ctx.kind)
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
    )
    problems = validate_datapackage(
        package,
        file=ctx.dataset.rel(DATAPACKAGE),
        dataset=ctx.id,
        profile=_catalog_profile(ctx),
        registry=ctx.run.registry(),
    )
    if _errors(problems):
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


# --------------------------------------------------------------------------- upload


def upload_arco_data(ctx: StepContext) -> StepResult:
    """Upload the data version (all objects, verified) before any metadata."""
    path, info = _converted(ctx)
    store = ctx.store()
    prefix, key = _data_key(ctx, info)
    # A Zarr folder goes below its own name (``key``); a Parquet file below the version prefix.
    results = store.put_tree(key if path.is_dir() else prefix, path)
    uploaded = [r for r in results if not r.skipped]
    record = {
        "prefix": prefix,
        "key": key,
        "url": store.url(key),
        "objects": len(results),
        "uploaded": len(uploaded),
        "bytes_uploaded": sum(r.size for r in uploaded),
        "bytes": sum(r.size for r in results),
    }
    outputs = [ctx.write_artifact(UPLOAD_DATA, "upload.json", record)]
    local = store.local_path(key)
    if local is not None:
        outputs.append(local)
    return StepResult(
        message=f"{len(uploaded)}/{len(results)} objects uploaded ({record['bytes_uploaded']} bytes)",
        outputs=outputs,
        metrics={"bytes": record["bytes"]},
    )


def upload_frictionless_json(ctx: StepContext) -> StepResult:
    """Upload ``datapackage.json`` and the schema, after checking the data they point at is there."""
    store = ctx.store()
    upload = ctx.read_artifact(UPLOAD_DATA, "upload.json")
    # A Zarr store is a prefix, not an object: its root metadata proves it is there.
    if all(store.head(k) is None for k in (upload["key"], f"{upload['key']}/zarr.json", f"{upload['key']}/.zgroup")):
        raise BotError(
            f"data object {upload['url']} is missing; refusing to publish metadata that points at it",
            hint=f"re-run step upload-arco-data for {ctx.id}",
        )
    previous = _published_version(ctx, store)
    keys = {}
    outputs: list[Path] = []
    for name in (ctx.schema_name, DATAPACKAGE):  # the package last: it references the schema
        src = ctx.artifact(FRICTIONLESS, name)
        key = _metadata_key(ctx, name)
        store.put_file(key, src, content_type="application/json")
        keys[name] = store.url(key)
        local = store.local_path(key)
        if local is not None:
            outputs.append(local)
    current = upload["prefix"].rsplit("/", 1)[-1]
    pruned = prune_versions(store, ctx.id, keep={current, previous} - {None})
    outputs.append(ctx.write_artifact(UPLOAD_JSON, "metadata.json", {**keys, "pruned_versions": pruned}))
    note = f"; removed old data versions {', '.join(pruned)}" if pruned else ""
    return StepResult(message=f"metadata published{note}", outputs=outputs)


_VERSION = re.compile(rf"^[0-9a-f]{{{VERSION_DIGITS}}}$")


def _published_version(ctx: StepContext, store: Any) -> str | None:
    """The data version the currently published datapackage points at (None if none/unreadable)."""
    key = _metadata_key(ctx, DATAPACKAGE)
    if store.head(key) is None:
        return None
    try:
        package = json.loads(store.get_bytes(key))
        path = str(package["resources"][0]["path"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    head = path.split("/", 1)[0]
    return head if _VERSION.match(head) else None


def prune_versions(store: Any, dataset: str, keep: set[str]) -> list[str]:
    """Delete data versions of ``dataset`` other than ``keep`` (the current and the previous one).

    Why keep the previous one: a reader that fetched the old datapackage a
    moment ago still finds its data; anything older is unreachable.
    """
    versions = set()
    for key in store.list(dataset):
        parts = key.split("/")
        if len(parts) >= 3 and _VERSION.match(parts[1]):
            versions.add(parts[1])
    stale = sorted(versions - keep)
    for version in stale:
        store.delete_prefix(f"{dataset}/{version}")
    return stale


# --------------------------------------------------------------------------- pygeoapi


def _pygeoapi_root(ctx: StepContext) -> Path:
    return ctx.output / ctx.run.env.pygeoapi.root


def generate_pygeoapi_entry(ctx: StepContext) -> StepResult:
    """The dataset's pygeoapi resource (a collection with the Parquet or xarray provider), validated."""
    from bot.metadata import pygeoapi

    upload = ctx.read_artifact(UPLOAD_DATA, "upload.json")
    package = ctx.read_artifact(FRICTIONLESS, DATAPACKAGE)
    meta = ctx.read_artifact(DATADRIVEN, "metadata.json")
    store = ctx.store()
    local = store.local_path(upload["key"])
    data_href = str(local) if local is not None else store.uri(upload["key"])  # pygeoapi reads s3:// with its keys
    dp_key = _metadata_key(ctx, DATAPACKAGE)
    dp_href = store.url(dp_key) if store.local_path(dp_key) is None else None
    resource = pygeoapi.build_resource(
        ctx.id,
        package,
        meta,
        data_href,
        ctx.kind,
        coordinates=ctx.spec.coordinates.model_dump(),
        datapackage_href=dp_href,
    )
    schema = pygeoapi.pygeoapi_schema_path(ctx.run.registry())
    problems = pygeoapi.validate_resource(resource, schema, file=f"pygeoapi/datasets/{ctx.id}.yaml", dataset=ctx.id)
    if _errors(problems):
        raise ValidationFailed(problems, context=f"pygeoapi resource of {ctx.id}")
    path = pygeoapi.write_resource(ctx.step_dir(PYGEOAPI_ENTRY), ctx.id, resource)
    return StepResult(message="pygeoapi resource valid", outputs=[path])


def ingest_pygeoapi_entry(ctx: StepContext) -> StepResult:
    """Register the resource: ``pygeoapi/datasets/<id>.yaml`` + re-assembled config, or the admin API."""
    from bot.config import load_yaml
    from bot.metadata import pygeoapi

    if ctx.spec.access == "limited":
        # pygeoapi serves everyone: a limited dataset is never registered there.
        return StepResult(status="skipped", message="access is limited: not served by the public pygeoapi")
    src = ctx.artifact(PYGEOAPI_ENTRY, f"{ctx.id}.yaml")
    if not src.is_file():
        raise BotError(f"{src} is missing", hint=f"run step generate-pygeoapi-entry for {ctx.id} first")
    resource = load_yaml(src)
    cfg = ctx.run.env.pygeoapi
    if cfg.kind == "api":
        from bot.adapters.pygeoapi import client_for_environment

        client_for_environment(ctx.run.env, ctx.run.settings).upsert_resource(ctx.id, resource)
        return StepResult(message=f"upserted in pygeoapi {cfg.url}")
    root = _pygeoapi_root(ctx)
    header = ctx.catalog.root / "pygeoapi" / pygeoapi.HEADER_FILE
    with ctx.run.shared_lock():
        dest = pygeoapi.write_resource(root / pygeoapi.DATASETS_DIR, ctx.id, resource)
        if not header.is_file():
            return StepResult(
                message=f"wrote {dest.name}; no pygeoapi/header.yaml, config not assembled", outputs=[dest]
            )
        pygeoapi.assemble_config(
            header,
            root / pygeoapi.DATASETS_DIR,
            root / pygeoapi.CONFIG_FILE,
            schema_path=pygeoapi.pygeoapi_schema_path(ctx.run.registry()),
        )
    return StepResult(message=f"wrote {dest.name} and {pygeoapi.CONFIG_FILE}", outputs=[dest])


# --------------------------------------------------------------------------- STAC


def _static(ctx: StepContext) -> Any:
    from bot.stac.static import StaticCatalog

    cfg = ctx.run.env.stac
    return StaticCatalog(
        ctx.output / cfg.root,
        catalog_id=cfg.catalog_id,
        title=cfg.catalog_title if cfg.catalog_title != "Data catalog" else ctx.catalog.config.title,
    )


def _href(ctx: StepContext, key: str, item_dir: Path | None) -> str:
    """An asset href: relative to the item file for a local store + static catalog, else the store URL."""
    store = ctx.store()
    local = store.local_path(key)
    if local is not None and item_dir is not None:
        return os.path.relpath(local, item_dir)
    return store.url(key)


def validate_stac(ctx: StepContext, doc: Mapping[str, Any], kind: str, file: str) -> list[Problem]:
    """Validate a STAC document offline: the same validators as ``catalog-bot validate``."""
    from bot.catalog.validate import validate_catalog, validate_collection, validate_item

    validator = {"item": validate_item, "collection": validate_collection, "catalog": validate_catalog}[kind]
    return validator(doc, ctx.run.registry(), file=file, dataset=ctx.id)


def generate_stac_item(ctx: StepContext) -> StepResult:
    """The STAC item for the published data (assets: data, datapackage, schema), validated."""
    from bot.metadata.extents import curated_bbox, fill_datacube_extents
    from bot.stac.build import MEDIA_JSON, AssetInfo, build_item

    package = ctx.read_artifact(FRICTIONLESS, DATAPACKAGE)
    meta = ctx.read_artifact(DATADRIVEN, "metadata.json")
    stac_fields = ctx.read_artifact(DATADRIVEN, "stac.json")
    upload = ctx.read_artifact(UPLOAD_DATA, "upload.json")
    _, info = _converted(ctx)
    item_dir = None
    if ctx.run.env.stac.kind == "static":
        item_dir = _static(ctx).item_path(ctx.id, ctx.id).parent
    media = {"parquet": "application/vnd.apache.parquet", "zarr": "application/vnd+zarr"}[ctx.spec.output]
    assets = {
        "data": AssetInfo(
            href=_href(ctx, upload["key"], item_dir),
            media_type=media,
            roles=("data",),
            title=str(package.get("title") or ctx.id),
            bytes=int(info["bytes"]),
            checksum=info["sha256"],
        ),
        "datapackage": AssetInfo(
            href=_href(ctx, _metadata_key(ctx, DATAPACKAGE), item_dir),
            media_type=MEDIA_JSON,
            roles=("metadata",),
            title="Frictionless data package",
        ),
        "schema": AssetInfo(
            href=_href(ctx, _metadata_key(ctx, ctx.schema_name), item_dir),
            media_type=MEDIA_JSON,
            roles=("metadata",),
            title="Table schema" if ctx.kind == "tabular" else "Grid schema",
        ),
    }
    item = build_item(
        ctx.id,
        package,
        meta,
        assets,
        provenance={**ctx.run.provenance, "environment": ctx.run.env_name},
        coordinates=ctx.spec.coordinates.model_dump(),
        table_columns=stac_fields.get("table_columns"),
        datacube=fill_datacube_extents(stac_fields.get("datacube"), curated_bbox(package)),
    )
    problems = validate_stac(ctx, item, "item", f"{ctx.id}/item.json")
    if _errors(problems):
        raise ValidationFailed(problems, context=f"STAC item of {ctx.id}")
    path = ctx.write_artifact(STAC_ITEM, "item.json", item)
    return StepResult(message="item valid", outputs=[path])


def _rendered_collection(ctx: StepContext) -> dict[str, Any]:
    from bot.catalog.render import Renderer, ext_vars_for

    renderer = Renderer(ctx.catalog.root, ctx.catalog.lib_dirs(), ext_vars_for(ctx.catalog.config, ctx.run.env_name))
    return renderer.render_file(ctx.dataset.path("collection.jsonnet"))


def ensure_collection(ctx: StepContext) -> StepResult:
    """Render ``collection.jsonnet`` and create the collection where it is missing."""
    collection = _rendered_collection(ctx)
    path = ctx.write_artifact(ENSURE_COLLECTION, "collection.json", collection)
    cfg = ctx.run.env.stac
    if cfg.kind == "api":
        from bot.adapters.stac_api import client_for_environment

        created = client_for_environment(ctx.run.env, ctx.run.settings).ensure_collection(collection)
        return StepResult(message="created" if created else "exists", outputs=[path])
    with ctx.run.shared_lock():
        static = _static(ctx)
        if static.get_collection(ctx.id) is None:
            static.upsert_collection(collection)
            static.save()
            return StepResult(message="created", outputs=[path])
    return StepResult(message="exists", outputs=[path])


def ingest_stac_item(ctx: StepContext) -> StepResult:
    """Upsert the item into the static catalog or the STAC API."""
    item = ctx.read_artifact(STAC_ITEM, "item.json")
    cfg = ctx.run.env.stac
    if cfg.kind == "api":
        from bot.adapters.stac_api import client_for_environment

        client_for_environment(ctx.run.env, ctx.run.settings).upsert_item(ctx.id, item)
        return StepResult(message="item upserted")
    with ctx.run.shared_lock():
        static = _static(ctx)
        static.upsert_item(ctx.id, item)
        static.save()
        return StepResult(message="item written", outputs=[static.item_path(ctx.id, item["id"])])


def update_collection(ctx: StepContext) -> StepResult:
    """Regenerate the collection's extents from its items, validate, ingest."""
    from bot.stac.build import build_collection

    rendered = ctx.read_artifact(ENSURE_COLLECTION, "collection.json")
    cfg = ctx.run.env.stac
    if cfg.kind == "api":
        from bot.adapters.stac_api import client_for_environment

        client = client_for_environment(ctx.run.env, ctx.run.settings)
        collection = build_collection(rendered, client.items(ctx.id))
        _raise_stac(ctx, collection)
        client.upsert_collection(collection)
        return StepResult(message="collection updated")
    with ctx.run.shared_lock():
        static = _static(ctx)
        collection = build_collection(rendered, static.items(ctx.id))
        _raise_stac(ctx, collection)
        static.upsert_collection(collection)
        static.save()
        path = static.collection_path(ctx.id)
        return StepResult(message="collection updated", outputs=[path])


def _raise_stac(ctx: StepContext, collection: Mapping[str, Any]) -> None:
    problems = validate_stac(ctx, collection, "collection", ctx.dataset.rel("collection.jsonnet"))
    if _errors(problems):
        raise ValidationFailed(problems, context=f"STAC collection of {ctx.id}")


__all__ = [
    "check_extents",
    "convert",
    "ensure_collection",
    "generate_datadriven_metadata",
    "generate_frictionless_metadata",
    "generate_pygeoapi_entry",
    "generate_stac_item",
    "harvest_metadata",
    "ingest_pygeoapi_entry",
    "ingest_stac_item",
    "propose_update",
    "schema_gate",
    "update_collection",
    "upload_arco_data",
    "upload_frictionless_json",
]
