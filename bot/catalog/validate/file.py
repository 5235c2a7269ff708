"""Any file, outside or inside a catalog: detect its type from its content, then validate it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from bot.catalog.layout import (
    DATASETS_DIR,
    PROFILES_DIR,
    load_pipeline,
)
from bot.catalog.locate import json_line
from bot.catalog.schemas import STAC_VERSIONS, SchemaRegistry
from bot.catalog.validate.frictionless import validate_datapackage, validate_tableschema
from bot.catalog.validate.grid import validate_gridschema
from bot.catalog.validate.inputs import LineOf, Profiles, load_profiles, read_json
from bot.catalog.validate.rules import collection_rules
from bot.catalog.validate.stac import validate_catalog, validate_collection, validate_item
from bot.errors import CatalogError, Problem


def detect_type(doc: Any) -> str | None:
    """``stac-item`` / ``stac-collection`` / ``stac-catalog`` / ``stac-itemcollection``
    (a GeoJSON FeatureCollection of items) / ``datapackage`` /
    ``tableschema`` / ``gridschema``, or ``None`` when unrecognised."""
    if not isinstance(doc, dict):
        return None
    stac_type = doc.get("type")
    if stac_type == "FeatureCollection" and isinstance(doc.get("features"), list):
        return "stac-itemcollection"
    if "stac_version" in doc:
        if stac_type == "Feature":
            return "stac-item"
        if stac_type == "Collection" or (stac_type is None and "extent" in doc and "license" in doc):
            return "stac-collection"
        if stac_type == "Catalog" or (stac_type is None and "links" in doc and "description" in doc):
            return "stac-catalog"
        return "stac-unknown"
    if "resources" in doc:
        return "datapackage"
    if "variables" in doc and "dimensions" in doc:
        return "gridschema"
    if "fields" in doc:
        return "tableschema"
    return None


def validate_item_collection(
    doc: dict[str, Any], registry: SchemaRegistry, *, file: str | None, line_of: LineOf | None
) -> list[Problem]:
    """A GeoJSON FeatureCollection of STAC items (a search result, an export): item by item.

    Each problem points into the collection (``/features/3/properties/datetime``)
    and names the item, so one bad item among thousands is easy to find.
    """
    features = doc["features"]
    if features and not any(isinstance(f, dict) and "stac_version" in f for f in features):
        return [
            Problem(
                "unknown-type",
                "a GeoJSON FeatureCollection whose features are not STAC items (none has stac_version)",
                file=file,
                pointer="/features",
                line=line_of("/features") if line_of else None,
                hint="validate STAC items (stac_version, id, links, assets) or convert the features first",
            )
        ]
    problems: list[Problem] = []
    for index, feature in enumerate(features):
        prefix = f"/features/{index}"

        def located(pointer: str, prefix: str = prefix) -> int | None:
            return line_of(prefix + pointer) if line_of else None

        name = feature.get("id") if isinstance(feature, dict) else None
        for p in validate_item(feature, registry, file=file, line_of=located):
            problems.append(
                dataclasses.replace(
                    p,
                    pointer=prefix + (p.pointer or ""),
                    line=p.line or located(""),
                    message=f"item {index}" + (f" ({name})" if isinstance(name, str) else "") + f": {p.message}",
                )
            )
    return problems


def _find_catalog_root(path: Path) -> Path | None:
    """The catalog a file sits in (``<root>/datasets/<id>/<file>`` with a ``profiles/`` folder)."""
    parent = path.resolve().parent
    if parent.parent.name == DATASETS_DIR and (parent.parent.parent / PROFILES_DIR).is_dir():
        return parent.parent.parent
    return None


def validate_file(path: Path, registry: SchemaRegistry) -> list[Problem]:
    """Validate one JSON file of any supported type, detected from its content.

    STAC item/collection/catalog (1.0.0, 1.1.0), Frictionless data package,
    table schema, grid schema; YAML files as ``pipeline.yaml`` (or
    ``catalog-bot.yaml`` by name).  A data package or
    grid schema inside a catalog folder is checked against that catalog's
    profiles; elsewhere a data package gets Frictionless rules only and a
    grid schema the bundled grid schema.
    """
    rel = str(path)
    if path.suffix in {".yaml", ".yml"}:
        from bot.config import CONFIG_FILE, load_catalog_config

        try:
            if path.name == CONFIG_FILE:
                load_catalog_config(path.parent)
            else:
                load_pipeline(path, rel)
        except CatalogError as exc:
            return [exc.to_problem("config" if path.name == CONFIG_FILE else "pipeline")]
        return []
    doc, text, problems = read_json(path, rel)
    if problems:
        return problems

    def line_of(pointer: str) -> int | None:
        return json_line(text, pointer)

    kind = detect_type(doc)
    root = _find_catalog_root(path)
    profiles: Profiles | None = None
    if root is not None and kind in {"datapackage", "gridschema"}:
        try:
            profiles = load_profiles(root)
        except CatalogError as exc:
            return [exc.to_problem("profile-invalid")]
    if kind == "stac-item":
        return validate_item(doc, registry, file=rel, line_of=line_of)
    if kind == "stac-itemcollection":
        return validate_item_collection(doc, registry, file=rel, line_of=line_of)
    if kind == "stac-collection":
        problems = validate_collection(doc, registry, file=rel, line_of=line_of)
        for f in collection_rules(doc, registry):
            line = line_of(f.pointer) if f.pointer else None
            problems.append(
                Problem(f.code, f.message, file=rel, pointer=f.pointer, line=line, hint=f.hint, severity=f.severity)
            )
        return problems
    if kind == "stac-catalog":
        return validate_catalog(doc, registry, file=rel, line_of=line_of)
    if kind == "stac-unknown":
        version = doc.get("stac_version")
        if version not in STAC_VERSIONS:
            return [
                Problem(
                    "stac-version",
                    f"STAC version {version!r} is not supported (supported: {', '.join(STAC_VERSIONS)})",
                    file=rel,
                    pointer="/stac_version",
                    line=line_of("/stac_version"),
                    hint=f"update the document to STAC {STAC_VERSIONS[-1]}",
                )
            ]
        return [
            Problem(
                "unknown-type",
                f"STAC document with unknown type {doc.get('type')!r}",
                file=rel,
                pointer="/type",
                line=line_of("/type"),
                hint="set type to Feature, Collection or Catalog",
            )
        ]
    if kind == "datapackage":
        return validate_datapackage(
            doc,
            profiles.datapackage if profiles else None,
            registry=registry,
            file=rel,
            line_of=line_of,
            basepath=path.parent,
        )
    if kind == "tableschema":
        return validate_tableschema(doc, registry=registry, file=rel, line_of=line_of)
    if kind == "gridschema":
        return validate_gridschema(
            doc, profiles.gridschema if profiles else None, registry=registry, file=rel, line_of=line_of
        )
    return [
        Problem(
            "unknown-type",
            "cannot tell what this file is",
            file=rel,
            line=1,
            hint="expected a STAC item/collection/catalog (stac_version + type) or a FeatureCollection of items, "
            "a data package (resources), "
            "a table schema (fields) or a grid schema (dimensions + variables)",
        )
    ]
