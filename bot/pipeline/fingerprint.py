"""Step fingerprints: what a step's output depends on, hashed (see :mod:`bot.pipeline.executor`).

Why its own module: the fingerprint rules (which inputs each step reads,
which sources count as code, what is hashed once per run) are the contract
of resumability; the executor only compares them with the records.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

import bot
from bot.catalog.layout import DATASET_FILES, LIB_DIR, PIPELINE, PROFILES_DIR
from bot.config import CONFIG_FILE
from bot.pipeline.context import RunContext, StepContext
from bot.pipeline.dag import Step

# Which catalog inputs a step reads ("catalog" = every file of the dataset and
# the shared lib/profiles/config).  Narrow sets keep an edit of a title from
# re-converting gigabytes.
STEP_INPUTS: dict[str, tuple[str, ...]] = {
    "convert": ("pipeline", "schema", "source"),
    "check-extents": ("pipeline",),
    "generate-datadriven-metadata": ("pipeline",),
}
DEFAULT_INPUTS = ("catalog", "source")


# The sources whose behaviour shapes what the steps produce (relative to bot/):
# a change in any of them invalidates recorded steps; the CLI, events and
# GitHub code do not.
CODE_PATHS = (
    "pipeline/steps",
    "pipeline/context.py",
    "pipeline/dag.py",
    "pipeline/sources.py",
    "pipeline/incremental.py",
    "convert",
    "metadata",
    "stac",
    "adapters/objectstore.py",
    "adapters/s3store.py",
    "catalog/render.py",
    "catalog/layout.py",
    "catalog/schemas.py",
    "config.py",
)


@functools.cache
def code_version() -> str:
    """sha256 over the step-relevant sources (:data:`CODE_PATHS`) plus the package version."""
    root = Path(bot.__file__).resolve().parent
    digest = hashlib.sha256(str(getattr(bot, "__version__", "")).encode())
    for rel in CODE_PATHS:
        base = root / rel
        paths = sorted(base.rglob("*.py")) if base.is_dir() else [base] if base.is_file() else []
        for path in paths:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree_digests(catalog_root: Path, folder: Path) -> dict[str, str]:
    if not folder.is_dir():
        return {}
    return {
        p.relative_to(catalog_root).as_posix(): _file_digest(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


def _stat_tree(path: Path) -> dict[str, Any]:
    """Size + mtime of a source file, or of every file of a source folder (a Zarr store)."""
    if path.is_file():
        st = path.stat()
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return {
            "files": len(files),
            "size": sum(p.stat().st_size for p in files),
            "mtime_ns": max((p.stat().st_mtime_ns for p in files), default=0),
        }
    return {"missing": True}


def dataset_inputs(ctx: StepContext, groups: Iterable[str]) -> dict[str, Any]:
    """The inputs named by ``groups`` (see :data:`STEP_INPUTS`) as hashes/stats."""
    ds = ctx.dataset
    inputs: dict[str, Any] = {}
    for group in groups:
        if group == "pipeline":
            path = ds.path(PIPELINE)
            inputs[ds.rel(PIPELINE)] = _file_digest(path) if path.is_file() else None
        elif group == "schema":
            path = ds.path(ctx.schema_name)
            inputs[ds.rel(ctx.schema_name)] = _file_digest(path) if path.is_file() else None
        elif group == "source":
            src = ctx.source_path()
            if src is None:  # remote or many files: their validators, so a changed remote re-runs convert
                from bot.pipeline.sources import probe_inputs

                inputs["source"] = probe_inputs(ctx)
            else:
                inputs["source"] = {"path": str(src), **_stat_tree(src)}
        elif group == "catalog":
            for name in sorted(p.name for p in ds.dir.iterdir() if p.is_file()):
                inputs[ds.rel(name)] = _file_digest(ds.path(name))
            for name in DATASET_FILES:
                inputs.setdefault(ds.rel(name), None)
            inputs.update(_shared_inputs(ctx.run))
    return inputs


def _shared_inputs(run: RunContext) -> dict[str, Any]:
    """lib/, profiles/, the pygeoapi header and catalog-bot.yaml: hashed once per run, not once per dataset."""
    cached = run.cache.get("shared-inputs")
    if cached is None:
        root = run.catalog.root
        cached = {**_tree_digests(root, root / LIB_DIR), **_tree_digests(root, root / PROFILES_DIR)}
        for rel in ("pygeoapi/header.yaml", CONFIG_FILE):
            cached[rel] = _file_digest(root / rel) if (root / rel).is_file() else None
        run.cache["shared-inputs"] = cached
    return dict(cached)


def environment_fingerprint(run: RunContext) -> str:
    """The environment as the steps see it: name, configuration, output folder (computed once per run)."""
    if "env-fingerprint" not in run.cache:
        data = {"name": run.env_name, "config": msgspec.to_builtins(run.env), "output": str(run.output)}
        run.cache["env-fingerprint"] = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    return str(run.cache["env-fingerprint"])


def step_fingerprint(
    step: Step, ctx: StepContext, deps: dict[str, str], env_fp: str, cache: dict[Any, Any] | None = None
) -> str:
    """The fingerprint of ``step`` for ``ctx`` given its dependencies' fingerprints.

    ``cache`` (one per dataset run) keeps the input hashes between the steps
    of a dataset: the catalog files do not change while it is published.
    """
    groups = STEP_INPUTS.get(step.name, DEFAULT_INPUTS)
    cache = {} if cache is None else cache
    if groups not in cache:  # the inputs' digest, serialised once per dataset and group
        text = json.dumps(dataset_inputs(ctx, groups), sort_keys=True, default=str)
        cache[groups] = hashlib.sha256(text.encode()).hexdigest()
    data = {
        "step": step.name,
        "code": code_version(),
        "env": env_fp,
        "inputs": cache[groups],
        "deps": {d: deps.get(d) for d in step.depends},
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
