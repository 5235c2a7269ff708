"""The Argo fan-out of the convert step: plan the source files, convert each in its own pod, combine.

Why: a daily-file dataset has hundreds of files; on Argo each becomes one pod
(``withParam`` over the planner's list), so the conversion scales with the
cluster, not with one pod's cores.  The local engine does the same work in a
process pool (``--jobs``, :mod:`bot.convert.many`); both call the same
per-file and combine functions, so the output is identical:

- ``plan-sources`` lists the files (:func:`bot.pipeline.sources.expand`:
  globs, ``paths:``, THREDDS crawl) with their validators into
  ``plan.json`` and writes the task items (``["0", "1", ...]``) for
  ``withParam``.  A single-file or OPeNDAP source is one *whole* item, and
  so is a many-file source whose published version can be reused or
  appended to (:func:`bot.pipeline.incremental.plan`: the daily-file case):
  that one pod restores the version and converts only the new files.
- ``convert-file`` (one pod per item) fetches its file and converts it:
  tabular, to the GeoParquet part :func:`~bot.convert.many.convert_parts`
  would make; a NetCDF grid, to a part of decoded values checked against
  ``coordinates`` (:func:`~bot.convert.many_grid.write_part`), with the
  file's *signature* (grid, variables, dtypes, times) in its record.  A
  whole item runs the plain convert.  The part goes to the object store
  under ``work/<dataset>/parts/<plan id>/<index>/`` with a record next to
  it; an existing record means the part is done (a retried workflow skips
  it).
- ``convert`` (combine) reads every record -- a missing part is an error
  naming it; a grid part that does not fit the others (other coordinates,
  variables, dtypes or calendar, overlapping times) is an error naming its
  source file, found from the records before any part is downloaded -- and
  merges: tabular row groups streamed into one GeoParquet
  (:func:`~bot.convert.many._combine_parquet`), grid parts written into
  their time regions of one Zarr store in time order
  (:func:`~bot.convert.many_grid.write_regions`, the function the local
  engine uses on the files; bounded memory: one chunk at a time).  The
  result goes to the work key like any convert output
  (:mod:`bot.pipeline.steps.refs`), so no partial store is ever current.

The plan id hashes the source listing and the pipeline settings, so parts
of another source version or of other settings are never combined.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import msgspec

from bot.errors import BotError, DataError, UsageError
from bot.pipeline.context import StepContext, StepResult, write_json_atomic

PLAN = "plan-sources"
EACH = "convert-file"
PLAN_FILE = "plan.json"
ITEMS_FILE = "items.json"


def _plan(ctx: StepContext) -> dict[str, Any]:
    info: dict[str, Any] = ctx.read_artifact(PLAN, PLAN_FILE)
    return info


def _part_prefix(ctx: StepContext, plan: dict[str, Any], index: int) -> str:
    return f"work/{ctx.id}/parts/{plan['id']}/{index:05d}"


def plan_sources(ctx: StepContext) -> StepResult:
    """List the source files for the fan-out (``plan.json``) and the ``withParam`` items (``items.json``)."""
    from bot.pipeline.incremental import plan as incremental_plan
    from bot.pipeline.incremental import recipe_of
    from bot.pipeline.sources import Readers, _located, listing

    src = ctx.spec.source
    whole = src.single is not None or src.opendap is not None
    files: list[dict[str, Any]] = []
    mode = "full"
    since: dict[str, Any] = {}
    if not whole:
        decided = incremental_plan(ctx, recipe_of(ctx))
        mode = decided.mode
        if decided.state is not None and mode != "full":  # another append is another plan (its own parts)
            since = {"new": decided.new, "from": decided.state.data.get("sha256")}
        # Reuse or append (the daily-file case): one pod restores the published version and converts only
        # the new files (bot.pipeline.incremental), instead of a pod per file of the whole listing.
        whole = mode != "full"
        ctx.log(f"plan-sources: {mode} ({decided.reason})")
    if not whole:
        readers = Readers(ctx)
        try:
            listed = listing(ctx, readers)  # the incremental plan's probe listed it already: not twice
        except BotError as exc:
            raise _located(ctx, exc) from exc
        files = [{"uri": uri, "validators": v.to_dict() if v is not None else None} for uri, v in listed]
    schema = ctx.curated_json(ctx.schema_name) if ctx.kind == "tabular" else None
    identity = {"spec": msgspec.to_builtins(ctx.spec), "schema": schema, "files": files, "whole": whole, **since}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]
    plan = {"id": digest, "whole": whole, "files": files, "mode": mode}
    items = [str(i) for i in range(1 if whole else len(files))]
    out = [
        ctx.write_artifact(PLAN, PLAN_FILE, plan),
        write_json_atomic(ctx.step_dir(PLAN) / ITEMS_FILE, items),
    ]
    what = f"1 whole source ({mode})" if whole else f"{len(files)} file(s)"
    return StepResult(message=f"{what} to convert (plan {digest})", outputs=out, metrics={"files": len(items)})


def convert_file(ctx: StepContext) -> StepResult:
    """Convert the one planned file named by the task's item; the part and its record go to the object store."""
    from bot.adapters.objectstore import tree_sha256
    from bot.pipeline.sources import resolve
    from bot.pipeline.steps.data import convert_source

    if not ctx.run.data_refs:
        raise UsageError(
            "convert-file hands its part to the convert step through the object store",
            hint="run it as the Argo template does: catalog-bot step convert-file --data-refs --item N",
        )
    plan = _plan(ctx)
    index = int(ctx.run.item or "0")
    store = ctx.store()
    prefix = _part_prefix(ctx, plan, index)
    record_key = f"{prefix}.json"
    if store.head(record_key) is not None:
        return StepResult(status="skipped", message=f"part {index} already converted ({record_key})")
    if plan["whole"]:
        convert_source(ctx)  # the plain convert (with --data-refs: uploads to its work key)
        info = json.loads(ctx.artifact("convert", "result.json").read_text(encoding="utf-8"))
        record: dict[str, Any] = {"whole": True, "info": info}
    else:
        if not 0 <= index < len(plan["files"]):
            raise BotError(f"item {index} is not in the plan ({len(plan['files'])} files)", hint="re-run plan-sources")
        uri = plan["files"][index]["uri"]
        source = msgspec.structs.replace(ctx.spec.source, path=None, paths=[uri], thredds=None)
        one = dataclasses.replace(ctx, spec=msgspec.structs.replace(ctx.spec, source=source))
        (path,), (provenance,) = resolve(one)
        part_dir = ctx.step_dir(EACH)
        grid: dict[str, Any] | None = None
        if ctx.kind == "tabular":
            from bot.convert import convert_dataset

            schema = ctx.curated_json(ctx.schema_name)
            result = convert_dataset(ctx.spec, path, part_dir, schema, name=f"part-{index:05d}")
            part, rows = result.path, result.rows
        elif _grid_parts(ctx):
            from bot.convert.many_grid import write_part

            part, rows = part_dir / f"part-{index:05d}", None
            grid = write_part(ctx.spec, path, part, file=uri)
        else:
            part, rows = path, None  # another grid format: the combine converts the fetched files
        results = store.put_tree(prefix, part)
        record = {
            "whole": False,
            "index": index,
            "file": part.name,
            "tree": part.is_dir(),
            "grid": grid,
            "rows": rows,
            "sha256": tree_sha256(part),
            "bytes": sum(r.size for r in results),
            "source": provenance.to_dict(),
        }
        shutil.rmtree(part_dir, ignore_errors=True)
    store.put_bytes(record_key, json.dumps(record).encode(), content_type="application/json")
    return StepResult(message=f"part {index} converted ({record_key})")


def combine(ctx: StepContext) -> tuple[Path | None, dict[str, Any]]:
    """Merge the parts of the plan; ``(local output, info)`` (no local output for a whole item: already uploaded)."""
    from bot.pipeline.incremental import recipe_of, with_digest
    from bot.sources.manifest import SourceRecord

    plan = _plan(ctx)
    store = ctx.store()
    count = 1 if plan["whole"] else len(plan["files"])
    records: list[dict[str, Any]] = []
    missing: list[int] = []
    for index in range(count):
        key = f"{_part_prefix(ctx, plan, index)}.json"
        if store.head(key) is None:
            missing.append(index)
            continue
        records.append(json.loads(store.get_bytes(key)))
    if missing:
        names = [plan["files"][i]["uri"] if not plan["whole"] else "(whole source)" for i in missing[:5]]
        raise BotError(
            f"{len(missing)} of {count} part(s) of plan {plan['id']} are missing: {', '.join(names)}",
            hint="a convert-file task failed or was skipped: re-run the workflow (finished parts are kept)",
        )
    if plan["whole"]:
        info: dict[str, Any] = records[0]["info"]
        return None, info
    grids = [r.get("grid") for r in records]
    if _grid_parts(ctx) and all(grids):
        from bot.convert.many_grid import check_fit, time_dim_of

        check_fit([g for g in grids if g], time_dim_of(ctx.spec))  # a misfit names its file before any download
    local = ctx.work / ".parts" / plan["id"]
    paths = [_fetch_part(ctx, _part_prefix(ctx, plan, r["index"]), r, local) for r in records]
    out = ctx.step_dir("convert")
    name = ctx.id
    sources = [SourceRecord.from_dict(r["source"]) for r in records]
    if ctx.kind == "tabular":
        from bot.convert.common import ConversionResult, list_files
        from bot.convert.many import _combine_parquet

        dest = out / f"{name}.{ctx.spec.output}"
        geometry = ctx.spec.coordinates.geometry or "geometry"
        named = [Path(str(p["uri"])) for p in plan["files"]]
        rows = _combine_parquet(paths, dest, geometry, named)
        files, size = list_files(dest)
        result = ConversionResult(path=dest, format="parquet", rows=rows, files=files, bytes=size)
    elif _grid_parts(ctx) and all(grids):
        from bot.convert.common import ConversionResult, list_files
        from bot.convert.many_grid import write_regions

        dest = out / f"{name}.zarr"
        write_regions(ctx.spec, paths, [g for g in grids if g], dest, jobs=ctx.run.jobs)
        files, size = list_files(dest)
        result = ConversionResult(path=dest, format="zarr", rows=None, files=files, bytes=size)
    else:
        from bot.convert.many import convert_many

        result = convert_many(ctx.spec, paths, out, None, name=name, jobs=ctx.run.jobs)
    shutil.rmtree(local, ignore_errors=True)
    if not result.path.exists():
        raise DataError("the combined output is missing", file=str(result.path), hint="re-run convert")
    return result.path, {
        "file": result.path.name,
        "format": result.format,
        "rows": result.rows,
        "bytes": result.bytes,
        "files": len(result.files),
        "sources": [with_digest(ctx, s).to_dict() for s in sources],
        # Recorded with the published version (source-state.json): the next run appends new files to it.
        "mode": "full",
        "reason": "every file converted in its own pod",
        "converted": len(records),
        "recipe": recipe_of(ctx),
    }


def _grid_parts(ctx: StepContext) -> bool:
    """NetCDF files into one Zarr store: each pod converts its file into a part (not just fetches it)."""
    return ctx.kind != "tabular" and ctx.spec.source.format == "netcdf" and ctx.spec.output == "zarr"


def _fetch_part(ctx: StepContext, prefix: str, record: dict[str, Any], local: Path) -> Path:
    """Download one part (a file, or a folder tree when ``record["tree"]``) to ``local/<index>/``."""
    store = ctx.store()
    dest = local / f"{record['index']:05d}" / record["file"]
    if record.get("tree"):
        keys = store.list(prefix + "/")
        if not keys:
            raise BotError(f"part {record['index']} has a record but no files under {prefix}/", hint="re-run convert")
        for key in keys:
            target = dest / key[len(prefix) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(store.get_bytes(key))
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(store.get_bytes(f"{prefix}/{record['file']}"))
    return dest
