"""A whole catalog: many datasets, batched rendering, on a process pool."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.catalog.layout import (
    COLLECTION,
    DATASETS_DIR,
    Catalog,
    Dataset,
)
from bot.catalog.schemas import SchemaRegistry
from bot.catalog.validate.dataset import load_and_validate_dataset
from bot.catalog.validate.inputs import Profiles, RendererLike, load_profiles
from bot.config import spawn_environment
from bot.cores import usable_cores
from bot.errors import CatalogError, Problem


def make_renderer(catalog: Catalog, environment: str | None = None, engine: str = "auto") -> RendererLike:
    """The catalog's Jsonnet renderer for ``environment`` (its ext vars come from catalog-bot.yaml)."""
    from bot.catalog.render import Renderer, ext_vars_for

    env = environment or catalog.config.default_environment
    return Renderer(
        catalog.root, catalog.lib_dirs(), ext_vars_for(catalog.config, env), engine, limits=catalog.config.render
    )


@dataclass(frozen=True)
class _Job:
    root: str
    environment: str | None
    engine: str
    mirror_dir: str | None
    cache_dir: str | None


_WORKER: dict[str, Any] = {}

# The Go Jsonnet runtime's GC target for the workers (GOGC; Go's default is
# 100).  Why: rendering allocates many short-lived objects, and at 100 the
# collector spent about a third of the render CPU of the synthetic
# 1,000-dataset catalog; at 400 the heap of one 64-file batch stays small
# (peak RSS per worker: docs/check.md).  Go reads GOGC once,
# when the process starts, so it is set in the environment the workers are
# spawned with; an explicit GOGC of the user wins.
GO_GC_PERCENT = "400"


CHUNK = 64  # datasets per task: one batched render call, then validation


class _Prerendered:
    """A renderer that answers from a batch already rendered with ``render_many``.

    Why: one engine call for 64 collections is much cheaper than 64 calls;
    paths outside the batch fall through to the real renderer.
    """

    def __init__(self, renderer: Any, paths: list[Path]) -> None:
        self.renderer = renderer
        self.results: dict[str, Any] = {}
        render_many = getattr(renderer, "render_many", None)
        if render_many is not None:
            existing = [p for p in paths if p.is_file()]
            self.results = {r.path: r for r in render_many(existing, jobs=1)}

    def render_file(self, path: Path) -> Any:
        """The batch result for ``path`` (raising its RenderError), else a fresh render."""
        rel = self.renderer.rel(path) if self.results else None
        result = self.results.get(rel) if rel else None
        if result is None:
            return self.renderer.render_file(path)
        if result.error is not None:
            raise result.error
        return result.value


def _validate_chunk(
    catalog: Catalog, ids: list[str], renderer: Any, registry: SchemaRegistry, profiles: Profiles
) -> list[tuple[str, list[Problem]]]:
    datasets = [Dataset(i, catalog.root / DATASETS_DIR / i, catalog.root) for i in ids]
    batch = _Prerendered(renderer, [d.path(COLLECTION) for d in datasets])
    return [(d.id, load_and_validate_dataset(catalog, d, batch, registry, profiles)[1]) for d in datasets]


def _worker_init(job: _Job) -> None:
    catalog = Catalog.open(job.root)
    _WORKER["catalog"] = catalog
    _WORKER["renderer"] = make_renderer(catalog, job.environment, job.engine)
    _WORKER["registry"] = SchemaRegistry(
        Path(job.mirror_dir) if job.mirror_dir else None, Path(job.cache_dir) if job.cache_dir else None
    )
    try:
        _WORKER["profiles"] = load_profiles(catalog.root)
    except CatalogError:
        _WORKER["profiles"] = Profiles.bundled()  # the parent reports it once


def _worker_run(ids: list[str]) -> list[tuple[str, list[Problem]]]:
    return _validate_chunk(_WORKER["catalog"], ids, _WORKER["renderer"], _WORKER["registry"], _WORKER["profiles"])


def validate_many(
    catalog: Catalog,
    dataset_ids: Iterable[str] | None = None,
    *,
    registry: SchemaRegistry,
    environment: str | None = None,
    engine: str = "auto",
    processes: int | None = None,
) -> dict[str, list[Problem]]:
    """Validate many datasets of a catalog; ``processes > 1`` uses a process pool.

    Why processes: validation is CPU-bound Python (jsonschema, frictionless),
    so threads would not help.  Workers are *spawned* (the Go Jsonnet
    runtime does not survive ``fork()``); each opens the catalog and builds
    its renderer, registry and validators once, then takes chunks of
    :data:`CHUNK` datasets (one batched render each).  Results come back in
    dataset order, keyed by id; catalog-level problems (bad folder names, a
    broken profile) under the key ``""``.  ``processes=None`` means all cores.
    """
    import multiprocessing

    ids = [d.id for d in catalog.select(list(dataset_ids or []))]
    result: dict[str, list[Problem]] = {}
    catalog_problems: list[Problem] = []
    for name in catalog.invalid_dataset_dirs():
        catalog_problems.append(
            Problem(
                "dataset-id",
                f"folder name {name!r} is not a valid dataset id",
                file=f"{DATASETS_DIR}/{name}",
                hint="rename it: 2-63 characters of a-z, 0-9 and '-', starting with a letter or digit",
            )
        )
    try:
        profiles = load_profiles(catalog.root)
    except CatalogError as exc:
        catalog_problems.append(exc.to_problem("profile-invalid"))
        profiles = Profiles.bundled()
    chunks = [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
    workers = min(processes or usable_cores(), len(chunks))
    if len(chunks) > 1 and workers > 1 and len(chunks) < workers * 4:
        # smaller chunks so that every worker gets several (load balance)
        size = max(1, -(-len(ids) // (workers * 4)))
        chunks = [ids[i : i + size] for i in range(0, len(ids), size)]
    if workers <= 1:
        renderer = make_renderer(catalog, environment, engine)
        for chunk in chunks:
            result.update(_validate_chunk(catalog, chunk, renderer, registry, profiles))
    else:
        job = _Job(
            str(catalog.root),
            environment,
            engine,
            str(registry.mirror_dir) if registry.mirror_dir else None,
            str(registry.cache_dir) if registry.cache_dir else None,
        )
        context = multiprocessing.get_context("spawn")
        with (
            spawn_environment({"GOGC": GO_GC_PERCENT}),
            ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init, initargs=(job,)) as pool,
        ):
            for done in pool.map(_worker_run, chunks):
                result.update(done)
    if catalog_problems:
        result[""] = catalog_problems
    return result
