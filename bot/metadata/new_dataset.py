"""The four curated files of a new dataset, from its description and its data-driven metadata (pure).

Why pure: ``catalog-bot dataset new`` reads the file (bot.convert.describe,
the converter, the metadata extractors); turning that into pipeline.yaml,
tableschema.json / gridschema.json, datapackage.json and collection.jsonnet
is plain data shaping, tested without files.  Prose the data does not carry
is an explicit ``TODO:`` placeholder, listed in ``todo`` for the curator.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from bot.convert.describe import PLACEHOLDER, Description
from bot.errors import Problem, Severity
from bot.metadata.datamodel import DataDrivenMetadata
from bot.metadata.frictionless import MEDIATYPES

# ACDD / CF global attributes (and common Parquet key-value names) -> curated fields.
_TITLE = ("title",)
_DESCRIPTION = ("summary", "description", "abstract", "comment")
_KEYWORDS = ("keywords",)
_LICENSE = ("license", "licence")
_CREATOR = ("creator_name", "institution", "publisher_name")
_EMAIL = ("creator_email", "publisher_email")


def placeholder_problems(dataset: str, package_file: str, package: Any) -> list[Problem]:
    """A warning for every ``TODO:`` placeholder ``dataset new`` left in a datapackage (with its JSON pointer).

    Why warnings: the dataset is valid and publishable, but a curator has
    not written its prose yet; ``validate`` says so without failing the check.
    """
    found: list[Problem] = []

    def walk(value: Any, pointer: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{pointer}/{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{pointer}/{i}")
        elif isinstance(value, str) and value.startswith(f"{PLACEHOLDER}:"):
            found.append(
                Problem(
                    code="placeholder",
                    message=f"placeholder left by dataset new: {value!r}",
                    file=package_file,
                    pointer=pointer,
                    hint="write the real value (and the same in collection.jsonnet)",
                    severity=Severity.WARNING,
                    dataset=dataset,
                )
            )

    walk(package, "")
    return found


def _first(attrs: dict[str, str], keys: tuple[str, ...]) -> str | None:
    return next((attrs[k] for k in keys if attrs.get(k)), None)


def licence_ids(libsonnet: str) -> list[str]:
    """SPDX ids the catalog's ``lib/licences.libsonnet`` knows (its top-level keys)."""
    return re.findall(r"^\s*'([A-Za-z0-9][A-Za-z0-9.+-]*)'\s*:\s*\{", libsonnet, flags=re.M)


def _licence(attrs: dict[str, str], known: list[str], todo: list[str]) -> str:
    raw = _first(attrs, _LICENSE) or ""
    for spdx in known:
        if spdx.lower() in raw.lower() or raw.lower().replace(" ", "-") == spdx.lower():
            return spdx
    fallback = known[0] if known else "CC-BY-4.0"
    what = f"the file says {raw!r}, not a licence in lib/licences.libsonnet" if raw else "the file names no licence"
    todo.append(f"licence: {what}; {fallback} is a placeholder in datapackage.json and collection.jsonnet")
    return fallback


def build_documents(
    dataset_id: str,
    desc: Description,
    meta: DataDrivenMetadata,
    *,
    source_path: str,
    licences: list[str],
    licence_info: dict[str, dict[str, str]] | None = None,
    primary_key: list[str] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """File name -> text for the four files, and the list of placeholders the curator must fill in.

    ``primary_key``: columns checked unique in the data (bot.convert.probe_keys); never guessed here.
    """
    todo = list(desc.todo)
    attrs = desc.attributes
    title = _first(attrs, _TITLE) or f"{PLACEHOLDER}: title of {dataset_id}"
    description = (
        _first(attrs, _DESCRIPTION) or f"{PLACEHOLDER}: what {dataset_id} contains, how it was made, its limits."
    )
    if title.startswith("TODO"):
        todo.append("title (datapackage.json, collection.jsonnet)")
    if description.startswith("TODO"):
        todo.append("description (datapackage.json, collection.jsonnet)")
    raw_keywords = _first(attrs, _KEYWORDS)
    keywords = [k.strip() for k in re.split(r"[,;]", raw_keywords or "") if k.strip()]
    if not keywords:
        keywords = [f"TODO: keyword for {dataset_id}"]
        todo.append("keywords")
    keywords = list(dict.fromkeys(keywords))
    spdx = _licence(attrs, licences, todo)
    info = (licence_info or {}).get(spdx, {})
    creator = _first(attrs, _CREATOR)
    contributor: dict[str, Any] = {"title": creator or "TODO: author or organisation", "role": "author"}
    if _first(attrs, _EMAIL):
        contributor["email"] = _first(attrs, _EMAIL)
    if not creator:
        todo.append("contributors")
    bbox = [round(float(v), 9) for v in meta.bbox] if meta.bbox else None
    start, end = meta.time_range or (None, None)
    if bbox is None:
        todo.append("spatial extent (the data has none)")
    if start is None:
        todo.append("temporal extent (the data has no time axis): set temporal.start, and end (null = ongoing)")
    fmt = desc.output
    start = start or "1970-01-01T00:00:00Z"  # a placeholder listed in todo above when the data has no time
    extent_bbox = bbox or [-180.0, -90.0, 180.0, 90.0]
    package: dict[str, Any] = {
        "name": dataset_id,
        "id": f"urn:catalog:{dataset_id}",
        "title": title,
        "description": description,
        "licenses": [
            {
                "name": spdx,
                "path": info.get("url", f"https://spdx.org/licenses/{spdx}.html"),
                "title": info.get("title", spdx),
            }
        ],
        "contributors": [contributor],
        "keywords": keywords,
        "access": "public",
        "spatial": {"bbox": extent_bbox},
        "temporal": {"start": start, "end": end},
        "resources": [
            {
                "name": dataset_id,
                "path": f"{dataset_id}.{fmt}",
                "format": fmt,
                "mediatype": MEDIATYPES[fmt],
                "description": f"{dataset_id} as {'GeoParquet' if fmt == 'parquet' else 'Zarr'} (from {source_path})",
            }
        ],
    }
    schema_name = "tableschema.json" if meta.kind == "tabular" else "gridschema.json"
    schema = meta.to_tableschema(curated=True) if meta.kind == "tabular" else meta.to_gridschema()
    if primary_key and meta.kind == "tabular":
        schema["primaryKey"] = primary_key
    interval = json.dumps([start, end])
    collection = (
        "local lib = import 'catalog.libsonnet';\n\n"
        "// Written by `catalog-bot dataset new` from the data; extents are the data's.\n"
        "lib.collection(\n"
        f"  id={json.dumps(dataset_id)},\n"
        f"  title={json.dumps(title)},\n"
        f"  description={json.dumps(description)},\n"
        f"  license={json.dumps(spdx)},\n"
        f"  keywords={json.dumps(keywords)},\n"
        "  providers=[],\n"
        f"  extent=lib.extent({json.dumps(extent_bbox)}, {interval}),\n"
        ")\n"
    )
    pipeline = yaml.safe_dump(desc.pipeline(source_path), sort_keys=False)
    files = {
        "pipeline.yaml": "# Written by `catalog-bot dataset new` (see docs/catalog.md).\n" + pipeline,
        schema_name: json.dumps(schema, indent=2) + "\n",
        "datapackage.json": json.dumps(package, indent=2) + "\n",
        "collection.jsonnet": collection,
    }
    return files, todo
