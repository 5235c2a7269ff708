"""The pygeoapi resource: generate + validate, then register it (config file or admin API)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from bot.errors import BotError, ValidationFailed
from bot.pipeline.context import RunContext, StepContext, StepResult
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
        coordinates=msgspec.structs.asdict(ctx.spec.coordinates),
        datapackage_href=dp_href,
    )
    schema = pygeoapi.pygeoapi_schema_path(ctx.run.registry())
    problems = pygeoapi.validate_resource(resource, schema, file=f"pygeoapi/datasets/{ctx.id}.yaml", dataset=ctx.id)
    if error_problems(problems):
        raise ValidationFailed(problems, context=f"pygeoapi resource of {ctx.id}")
    path = pygeoapi.write_resource(ctx.step_dir(PYGEOAPI_ENTRY), ctx.id, resource)
    return StepResult(message="pygeoapi resource valid", outputs=[path])


# Left in the pygeoapi folder when a resource changed and the config is not yet re-assembled:
# a run that stops before :func:`finish_run` leaves it for the next run to finish.
CONFIG_DIRTY = ".config-dirty"


def ingest_pygeoapi_entry(ctx: StepContext) -> StepResult:
    """Register the resource: ``pygeoapi/datasets/<id>.yaml`` or the admin API; the config follows once per run.

    Why not per dataset: assembling (reading, validating, dumping) the whole
    configuration after every dataset made a publish quadratic in the number
    of datasets, and every admin-API change made pygeoapi reload (12-20 s
    each).  Here the step writes the resource only; :func:`finish_run`
    assembles the config, or waits for the reloaded server, once at the end.
    """
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

        outcome = client_for_environment(ctx.run.env, ctx.run.settings).upsert_resource(ctx.id, resource, wait=False)
        if outcome != "unchanged":
            ctx.run.add_pending("pygeoapi-live", ctx.id, resource)
        return StepResult(message=f"{outcome} in pygeoapi {cfg.url} (live check at the end of the run)")
    root = _pygeoapi_root(ctx)
    with ctx.run.shared_lock():
        root.mkdir(parents=True, exist_ok=True)
        (root / CONFIG_DIRTY).touch()
        dest = pygeoapi.write_resource(root / pygeoapi.DATASETS_DIR, ctx.id, resource)
    return StepResult(
        message=f"wrote {dest.name} ({pygeoapi.CONFIG_FILE} is assembled at the end of the run)", outputs=[dest]
    )


def finish_run(run: RunContext) -> str | None:
    """Once per run, after every dataset: assemble the pygeoapi config, or wait until pygeoapi serves the changes.

    Returns what was done (None: nothing to do).  The config is assembled
    when a resource changed in this or an interrupted earlier run
    (:data:`CONFIG_DIRTY`); resources are validated only when their content
    changed (see :func:`bot.metadata.pygeoapi.validate_config`).
    """
    cfg = run.env.pygeoapi
    if cfg.kind == "api":
        pending = run.take_pending("pygeoapi-live")
        if not pending:
            return None
        from bot.adapters.pygeoapi import client_for_environment

        client = client_for_environment(run.env, run.settings)
        for resource_id, resource in sorted(pending.items()):
            client.wait_live(resource_id, resource)
        return f"{len(pending)} pygeoapi collection(s) live"
    root = run.output / cfg.root
    if not (root / CONFIG_DIRTY).exists():
        return None  # before importing the config machinery: every step pod and no-change run ends here
    from bot.metadata import pygeoapi

    header = run.catalog.root / "pygeoapi" / pygeoapi.HEADER_FILE
    with run.shared_lock():
        if not (root / CONFIG_DIRTY).exists():
            return None
        if not header.is_file():
            (root / CONFIG_DIRTY).unlink()
            return "no pygeoapi/header.yaml: config not assembled"
        pygeoapi.assemble_config(
            header,
            root / pygeoapi.DATASETS_DIR,
            root / pygeoapi.CONFIG_FILE,
            schema_path=pygeoapi.pygeoapi_schema_path(run.registry()),
        )
        (root / CONFIG_DIRTY).unlink()
    return f"assembled {pygeoapi.CONFIG_FILE}"
