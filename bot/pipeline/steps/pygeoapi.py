"""The pygeoapi resource: generate + validate, then register it (config file or admin API)."""

from __future__ import annotations

from pathlib import Path

from bot.errors import BotError, ValidationFailed
from bot.pipeline.context import StepContext, StepResult
from bot.pipeline.steps.common import (
    DATADRIVEN,
    DATAPACKAGE,
    FRICTIONLESS,
    PYGEOAPI_ENTRY,
    UPLOAD_DATA,
    error_problems,
    metadata_key,
)


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
    dp_key = metadata_key(ctx, DATAPACKAGE)
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
    if error_problems(problems):
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
