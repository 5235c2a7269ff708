"""One dataset: read, render and validate its documents (broken inputs become Problems)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Collection
from pathlib import Path

from bot.catalog.layout import (
    COLLECTION,
    DATAPACKAGE,
    GRIDSCHEMA,
    PIPELINE,
    TABLESCHEMA,
    Catalog,
    Dataset,
    load_pipeline,
)
from bot.catalog.schemas import SchemaRegistry
from bot.catalog.validate.frictionless import validate_datapackage, validate_tableschema
from bot.catalog.validate.grid import validate_gridschema
from bot.catalog.validate.inputs import DatasetDocs, Profiles, RendererLike, load_profiles, read_json, read_text
from bot.catalog.validate.rules import cross_check
from bot.catalog.validate.stac import validate_collection
from bot.errors import CatalogError, Problem


def validate_dataset(
    dataset_id: str,
    docs: DatasetDocs,
    registry: SchemaRegistry,
    profiles: Profiles | None = None,
) -> list[Problem]:
    """Validate every loaded document of a dataset, then cross-check them."""
    profiles = profiles or Profiles.bundled()
    problems: list[Problem] = []
    if docs.collection is not None:
        problems += validate_collection(
            docs.collection,
            registry,
            file=docs.file("collection"),
            line_of=docs.line_of("collection"),
            dataset=dataset_id,
        )
    if docs.datapackage is not None:
        problems += validate_datapackage(
            docs.datapackage,
            profiles.datapackage,
            registry=registry,
            file=docs.file("datapackage"),
            line_of=docs.line_of("datapackage"),
            dataset=dataset_id,
        )
    if docs.tableschema is not None:
        problems += validate_tableschema(
            docs.tableschema,
            registry=registry,
            file=docs.file("tableschema"),
            line_of=docs.line_of("tableschema"),
            dataset=dataset_id,
        )
    if docs.gridschema is not None:
        problems += validate_gridschema(
            docs.gridschema,
            profiles.gridschema,
            registry=registry,
            file=docs.file("gridschema"),
            line_of=docs.line_of("gridschema"),
            dataset=dataset_id,
        )
    problems += cross_check(docs, registry)
    return problems


def load_and_validate_dataset(
    catalog: Catalog,
    dataset: Dataset,
    renderer: RendererLike,
    registry: SchemaRegistry,
    profiles: Profiles | None = None,
    known_ids: Collection[str] | None = None,
) -> tuple[DatasetDocs, list[Problem]]:
    """Read, render and validate one dataset; broken inputs become Problems, not exceptions.

    ``known_ids``: every dataset id of the catalog (default: the folders under
    ``catalog.root``); ``check`` passes the ids at the head revision because
    its tree holds only the touched datasets.

    Used by ``catalog-bot validate`` and by ``check`` (which also needs the
    loaded :class:`DatasetDocs` to diff them).
    """
    from bot.errors import RenderError

    ds = dataset.id
    docs = DatasetDocs(dataset_id=ds)
    problems: list[Problem] = []
    if profiles is None:
        try:
            profiles = load_profiles(catalog.root)
        except CatalogError as exc:
            problems.append(exc.to_problem("profile-invalid", dataset=ds))
            profiles = Profiles.bundled()

    for kind, name in (("datapackage", DATAPACKAGE), ("tableschema", TABLESCHEMA), ("gridschema", GRIDSCHEMA)):
        path, rel = dataset.path(name), dataset.rel(name)
        docs.files[kind] = rel
        if kind != "datapackage" and not path.exists():
            continue
        data, text, found = read_json(path, rel, ds)
        problems += found
        if text is not None:
            docs.sources[kind] = text
        if data is not None and not isinstance(data, dict):
            problems.append(
                Problem(
                    "json-type", "must be a JSON object", file=rel, line=1, hint="start the file with {", dataset=ds
                )
            )
        elif data is not None:
            setattr(docs, kind, data)
    if not dataset.path(TABLESCHEMA).exists() and not dataset.path(GRIDSCHEMA).exists():
        problems.append(
            Problem(
                "file-missing",
                f"required file is missing: {TABLESCHEMA} (tabular) or {GRIDSCHEMA} (gridded)",
                file=dataset.rel(TABLESCHEMA),
                hint="add the curated table or grid schema",
                dataset=ds,
            )
        )

    docs.files["pipeline"] = dataset.rel(PIPELINE)
    if not dataset.path(PIPELINE).exists():
        problems.append(
            Problem(
                "file-missing",
                "required file is missing",
                file=dataset.rel(PIPELINE),
                hint="add a pipeline.yaml (see catalog-bot init)",
                dataset=ds,
            )
        )
    else:
        try:
            docs.pipeline = load_pipeline(dataset.path(PIPELINE), dataset.rel(PIPELINE))
        except CatalogError as exc:
            problems.append(exc.to_problem("pipeline", dataset=ds))

    coll_path, coll_rel = dataset.path(COLLECTION), dataset.rel(COLLECTION)
    docs.files["collection"] = coll_rel
    source, found = read_text(coll_path, coll_rel, ds)
    problems += found
    if source is not None:
        docs.sources["collection"] = source
        try:
            rendered = renderer.render_file(coll_path)
        except RenderError as exc:
            problems.append(_relative_problem(exc.to_problem("render", dataset=ds), catalog.root, coll_rel))
        else:
            if isinstance(rendered, dict):
                docs.collection = rendered
            else:
                problems.append(
                    Problem(
                        "render",
                        "collection.jsonnet must render to a JSON object",
                        file=coll_rel,
                        hint="return lib.collection(...)",
                        dataset=ds,
                    )
                )

    problems += validate_dataset(ds, docs, registry, profiles)
    problems += duplicate_id_problems(docs, catalog.id_set if known_ids is None else known_ids)
    return docs, problems


def duplicate_id_problems(docs: DatasetDocs, known_ids: Collection[str]) -> list[Problem]:
    """A dataset that claims the id of *another* dataset folder: two datasets cannot share one id.

    Cheap on purpose (a set lookup per document): ``known_ids`` are the folder
    names, from a directory listing or one ``git ls-tree``.
    """
    ds = docs.dataset_id
    claims = []
    if isinstance(docs.collection, dict):
        claims.append(("collection", "/id", docs.collection.get("id")))
    if isinstance(docs.datapackage, dict):
        claims.append(("datapackage", "/name", docs.datapackage.get("name")))
    problems = []
    for kind, pointer, claimed in claims:
        if isinstance(claimed, str) and claimed != ds and claimed in known_ids:
            problems.append(
                Problem(
                    "duplicate-id",
                    f"{kind} claims id {claimed!r}, which is the id of datasets/{claimed}/: two datasets cannot share one id",
                    file=docs.file(kind),
                    pointer=pointer,
                    line=docs.line_of(kind)(pointer),
                    hint=f"set it to {ds!r} (the folder name), or merge the two datasets",
                    dataset=ds,
                )
            )
    return problems


def _relative_problem(problem: Problem, root: Path, default_file: str) -> Problem:
    """The same problem naming a catalog-relative file (renderers may report absolute paths)."""
    file = problem.file
    if not file:
        file = default_file
    elif os.path.isabs(file):
        with contextlib.suppress(ValueError):
            file = Path(file).resolve().relative_to(root.resolve()).as_posix()
    if file == problem.file:
        return problem
    return dataclasses.replace(problem, file=file)
