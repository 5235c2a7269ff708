"""The STAC item and collection: generate, validate, ingest into the static catalog or the STAC API."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from bot.config import StacConfig
from bot.errors import Problem, ValidationFailed
from bot.pipeline.context import StepContext, StepResult
from bot.pipeline.steps.common import (
    DATADRIVEN,
    DATAPACKAGE,
    ENSURE_COLLECTION,
    FRICTIONLESS,
    STAC_ITEM,
    UPLOAD_DATA,
    convert_record,
    error_problems,
    metadata_key,
)


def stac_target(ctx: StepContext) -> tuple[StacConfig | None, str]:
    """The STAC target of this dataset and its config field: limited datasets never go to the public one.

    ``access: limited`` data must not be discoverable by everyone, so its
    item and collection go to ``limited_stac`` when the environment has one,
    else nowhere (the STAC steps are skipped with a note).
    """
    if ctx.spec.access == "limited":
        return ctx.run.env.limited_stac, "limited_stac"
    return ctx.run.env.stac, "stac"


def _skipped_limited() -> StepResult:
    return StepResult(
        status="skipped",
        message="access is limited and the environment has no limited_stac: not published to the public STAC",
    )


def _client(cfg: StacConfig, field: str) -> Any:
    from bot.adapters.stac_api import client_for

    return client_for(cfg, field)


def _static(ctx: StepContext, cfg: StacConfig) -> Any:
    from bot.stac.static import StaticCatalog

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
    info = convert_record(ctx)
    item_dir = None
    cfg, _ = stac_target(ctx)
    if cfg is not None and cfg.kind == "static":
        item_dir = _static(ctx, cfg).item_path(ctx.id, ctx.id).parent
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
            href=_href(ctx, metadata_key(ctx, DATAPACKAGE), item_dir),
            media_type=MEDIA_JSON,
            roles=("metadata",),
            title="Frictionless data package",
        ),
        "schema": AssetInfo(
            href=_href(ctx, metadata_key(ctx, ctx.schema_name), item_dir),
            media_type=MEDIA_JSON,
            roles=("metadata",),
            title="Table schema" if ctx.kind == "tabular" else "Grid schema",
        ),
    }
    if "access" in package or ctx.spec.access == "limited":
        # pipeline.yaml's access decides where the dataset goes; the item must say the same.
        package = {**package, "access": ctx.spec.access}
    item = build_item(
        ctx.id,
        package,
        meta,
        assets,
        provenance={**ctx.run.provenance, "environment": ctx.run.env_name},
        coordinates=msgspec.structs.asdict(ctx.spec.coordinates),
        table_columns=stac_fields.get("table_columns"),
        datacube=fill_datacube_extents(stac_fields.get("datacube"), curated_bbox(package)),
    )
    from bot.sources.manifest import stac_source_links

    item["links"] = [*item.get("links", []), *stac_source_links(info.get("sources") or [])]
    problems = validate_stac(ctx, item, "item", f"{ctx.id}/item.json")
    if error_problems(problems):
        raise ValidationFailed(problems, context=f"STAC item of {ctx.id}")
    path = ctx.write_artifact(STAC_ITEM, "item.json", item)
    return StepResult(message="item valid", outputs=[path])


def _rendered_collection(ctx: StepContext) -> dict[str, Any]:
    from bot.catalog.render import Renderer, ext_vars_for

    config = ctx.catalog.config
    ext_vars = ext_vars_for(config, ctx.run.env_name)
    renderer = Renderer(ctx.catalog.root, ctx.catalog.lib_dirs(), ext_vars, limits=config.render)
    collection = renderer.render_file(ctx.dataset.path("collection.jsonnet"))
    curated_id = str(collection.get("id") or ctx.dataset.dir.name)
    if curated_id != ctx.id:  # a preview publishes datasets/<id> as pr-<n>-<id> (bot/events/preview.py)
        from bot.stac.namespace import rename_collection

        old_base = f"{ext_vars['data_base_url']}/{curated_id}" if ext_vars["data_base_url"] else ""
        collection = rename_collection(collection, ctx.id, old_base, ctx.store().url(ctx.id))
    return collection


def ensure_collection(ctx: StepContext) -> StepResult:
    """Render ``collection.jsonnet`` and create the collection where it is missing."""
    collection = _rendered_collection(ctx)
    path = ctx.write_artifact(ENSURE_COLLECTION, "collection.json", collection)
    cfg, field = stac_target(ctx)
    if cfg is None:
        return _skipped_limited()
    if cfg.kind == "api":
        created = _client(cfg, field).ensure_collection(collection)
        return StepResult(message="created" if created else "exists", outputs=[path])
    with ctx.run.shared_lock():
        static = _static(ctx, cfg)
        if static.get_collection(ctx.id) is None:
            static.upsert_collection(collection)
            static.save()
            return StepResult(message="created", outputs=[path])
    return StepResult(message="exists", outputs=[path])


def ingest_stac_item(ctx: StepContext) -> StepResult:
    """Upsert the item into the static catalog or the STAC API."""
    item = ctx.read_artifact(STAC_ITEM, "item.json")
    cfg, field = stac_target(ctx)
    if cfg is None:
        return _skipped_limited()
    if cfg.kind == "api":
        _client(cfg, field).upsert_item(ctx.id, item)
        return StepResult(message="item upserted")
    with ctx.run.shared_lock():
        static = _static(ctx, cfg)
        static.upsert_item(ctx.id, item)
        static.save()
        return StepResult(message="item written", outputs=[static.item_path(ctx.id, item["id"])])


def update_collection(ctx: StepContext) -> StepResult:
    """Regenerate the collection's extents from its items, validate, ingest."""
    from bot.stac.build import build_collection

    rendered = ctx.read_artifact(ENSURE_COLLECTION, "collection.json")
    cfg, field = stac_target(ctx)
    if cfg is None:
        return _skipped_limited()
    if cfg.kind == "api":
        client = _client(cfg, field)
        collection = build_collection(rendered, client.items(ctx.id))
        _raise_stac(ctx, collection)
        client.upsert_collection(collection)
        return StepResult(message="collection updated")
    with ctx.run.shared_lock():
        static = _static(ctx, cfg)
        collection = build_collection(rendered, static.items(ctx.id))
        _raise_stac(ctx, collection)
        static.upsert_collection(collection)
        static.save()
        path = static.collection_path(ctx.id)
        return StepResult(message="collection updated", outputs=[path])


def _raise_stac(ctx: StepContext, collection: Mapping[str, Any]) -> None:
    problems = validate_stac(ctx, collection, "collection", ctx.dataset.rel("collection.jsonnet"))
    if error_problems(problems):
        raise ValidationFailed(problems, context=f"STAC collection of {ctx.id}")
