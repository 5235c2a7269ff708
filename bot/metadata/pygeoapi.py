"""pygeoapi resource entries and the assembled ``config-pygeoapi.yaml``.

Why generated: a pygeoapi resource repeats what the catalog already knows
(title, keywords, extents, where the data is, which columns are x/y/time).
Writing it by hand drifts; generating it from the complete datapackage and
the data-driven metadata keeps the OGC API in step with STAC.

Provider settings follow pygeoapi's own providers (read from its source,
0.21 - master):

- GeoParquet -> ``feature`` / ``Parquet``: ``data`` is an *object*
  ``{source: <path or s3://...>}``; the primary geometry column must be
  called ``geometry`` (WKB); ``x_field``/``y_field`` are plain column names
  (point data) and enable bbox queries -- for x/y in a projected CRS the
  ``lon``/``lat`` columns the converter adds (``lonlat_columns``), since
  pygeoapi compares the bbox in degrees with them; for polygons newer pygeoapi uses the
  GeoParquet 1.1 ``bbox`` covering column instead, so we omit them;
  ``id_field`` is the single-column primary key when there is one (else
  pygeoapi numbers the rows); ``time_field`` is the ``t`` coordinate.
- Zarr -> ``coverage`` / ``xarray``: ``data`` is the store path and must end
  in ``.zarr`` (that is how the provider picks ``open_zarr``);
  ``format: {name: zarr, mimetype: application/zip}`` is the native download
  format; ``x_field``/``y_field``/``time_field`` name the dimensions.

Layout on disk: ``<pygeoapi root>/datasets/<id>.yaml`` (one resource each,
written by the publish step) + a curated ``header.yaml`` (server, logging,
metadata) -> ``config-pygeoapi.yaml`` (header + resources sorted by id).
Every write is atomic and skipped when the bytes would not change.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as JsonSchemaError

from bot.catalog.schemas import schema_errors
from bot.config import load_yaml
from bot.errors import CatalogError, ConfigError, Problem, SchemaNotFound, ValidationFailed
from bot.stac.build import dataset_bbox, dataset_time_range
from bot.stac.static import write_if_changed

# Released pygeoapi config schema, resolved offline through the schema mirror
# (SchemaRegistry maps raw.githubusercontent.com/<owner>/<repo>/<ref>/<path>
# to <repo>-<ref>/<path>).
PYGEOAPI_SCHEMA_URL = (
    "https://raw.githubusercontent.com/geopython/pygeoapi/0.23.4/"
    "pygeoapi/resources/schemas/config/pygeoapi-config-0.x.yml"
)
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
DATASETS_DIR = "datasets"
HEADER_FILE = "header.yaml"
CONFIG_FILE = "config-pygeoapi.yaml"

Kind = Literal["tabular", "gridded"]
_KINDS: dict[str, Kind] = {
    "tabular": "tabular",
    "parquet": "tabular",
    "feature": "tabular",
    "gridded": "gridded",
    "zarr": "gridded",
    "coverage": "gridded",
}


# Schema ------------------------------------------------------------------------


def pygeoapi_schema_path(registry: Any) -> Path:
    """Where the pygeoapi config schema lives in ``registry``'s mirror (a ``SchemaRegistry``)."""
    candidates = list(registry.candidates(PYGEOAPI_SCHEMA_URL))
    for path in candidates:
        if path.is_file():
            return Path(path)
    where = str(candidates[0]) if candidates else "the schema mirror (CATALOG_BOT_SCHEMAS)"
    raise SchemaNotFound(
        f"pygeoapi config schema {PYGEOAPI_SCHEMA_URL} is not available offline",
        hint=f"put pygeoapi's pygeoapi-config-0.x.yml at {where}, or set CATALOG_BOT_SCHEMAS to a mirror that has it",
    )


@lru_cache(maxsize=8)
def _load_schema(path: str, mtime: float) -> dict[str, Any]:
    data = load_yaml(Path(path))
    if not isinstance(data, dict):
        raise ConfigError("pygeoapi config schema is not a mapping", file=path, hint="restore the schema file")
    return data


@lru_cache(maxsize=16)
def _validator(path: str, mtime: float, part: str) -> Draft202012Validator:
    schema = _load_schema(path, mtime)
    resource_schema = schema["properties"]["resources"]["patternProperties"]["^.*$"]
    if part == "config":
        # Resources are validated one by one (see validate_config): better messages.
        props = {**schema["properties"], "resources": {"type": "object"}}
        root = {**schema, "properties": props}
    elif part == "any-resource":
        root = {"definitions": schema.get("definitions", {}), **resource_schema}
    else:
        branches = resource_schema["anyOf"]
        # Validate a collection against the collection branch only: an anyOf
        # over collection|process reports "not valid under any" and hides the cause.
        root = {"definitions": schema.get("definitions", {}), **branches[0]}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _pointer(path: Sequence[Any]) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path) if path else ""


def _problems(
    errors: list[JsonSchemaError], file: str | None, prefix: str = "", dataset: str | None = None
) -> list[Problem]:
    out = []
    for err in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        where = _pointer(list(err.absolute_path))
        out.append(
            Problem(
                code="pygeoapi-schema",
                message=f"pygeoapi config: {err.message}",
                file=file,
                pointer=(prefix + where) or "/",
                hint="see pygeoapi's configuration docs for this field",
                dataset=dataset,
            )
        )
    return out


def validate_resource(
    resource: Mapping[str, Any],
    schema_path: Path,
    *,
    file: str | None = None,
    dataset: str | None = None,
    prefix: str = "",
) -> list[Problem]:
    """Problems of one resource entry against the pygeoapi config schema (plus provider checks).

    ``prefix`` is prepended to pointers (``/resources/<id>`` when ``file`` is
    a whole config rather than the resource's own file).
    """
    path = Path(schema_path)
    doc = _jsonable(resource)
    part = "resource" if doc.get("type") in {"collection", "stac-collection"} else "any-resource"
    validator = _validator(str(path), path.stat().st_mtime, part)
    problems = _problems(schema_errors(validator, doc), file, prefix=prefix, dataset=dataset)
    for i, provider in enumerate(resource.get("providers") or []):
        if not isinstance(provider, Mapping):
            continue
        ptr = f"{prefix}/providers/{i}"
        if provider.get("name") == "Parquet" and not (
            isinstance(provider.get("data"), Mapping) and provider["data"].get("source")
        ):
            problems.append(
                Problem(
                    "pygeoapi-provider",
                    "the Parquet provider needs data: {source: <path or s3:// URL>}",
                    file=file,
                    pointer=ptr + "/data",
                    hint="set data.source to the GeoParquet file",
                    dataset=dataset,
                )
            )
        fmt = provider.get("format") or {}
        if provider.get("name") == "xarray" and fmt.get("name") == "zarr":
            data = str(provider.get("data") or "")
            if not data.rstrip("/").endswith(".zarr"):
                problems.append(
                    Problem(
                        "pygeoapi-provider",
                        f"xarray opens a store as Zarr only when its path ends in .zarr (got {data!r})",
                        file=file,
                        pointer=ptr + "/data",
                        hint="publish the Zarr store under a name ending in .zarr",
                        dataset=dataset,
                    )
                )
    return problems


def validate_config(
    config: Mapping[str, Any],
    schema_path: Path,
    *,
    file: str | None = None,
    resource_files: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Problems of a whole pygeoapi configuration: header sections, then each resource.

    ``resource_files`` maps resource ids to the files they came from, so a
    problem points at ``pygeoapi/datasets/<id>.yaml`` rather than the
    generated config.
    """
    path = Path(schema_path)
    validator = _validator(str(path), path.stat().st_mtime, "config")
    resources = config.get("resources") or {}
    # The header is validated as a whole config without resources (resources are checked
    # one by one below, each once per content: a catalog of n datasets stays O(n) per publish).
    bare = {**config, "resources": {}} if isinstance(resources, Mapping) else config
    problems = _problems(schema_errors(validator, _jsonable(bare)), file)
    for rid, resource in resources.items() if isinstance(resources, Mapping) else []:
        if not isinstance(resource, Mapping):
            problems += _problems(schema_errors(validator, _jsonable({**config, "resources": {rid: resource}})), file)
            continue
        own = (resource_files or {}).get(str(rid))
        prefix = "" if own else "/resources/" + str(rid).replace("~", "~0").replace("/", "~1")
        key = (str(path), own or file, str(rid), prefix, json.dumps(_jsonable(resource), sort_keys=True))
        if key not in _RESOURCE_PROBLEMS:
            _RESOURCE_PROBLEMS[key] = validate_resource(
                resource, path, file=own or file, dataset=str(rid), prefix=prefix
            )
        problems += _RESOURCE_PROBLEMS[key]
    return problems


# Problems of a resource by (schema, file, id, prefix, content): unchanged resources are not re-validated.
_RESOURCE_PROBLEMS: dict[tuple[str, str | None, str, str, str], list[Problem]] = {}


def _jsonable(value: Any) -> Any:
    """YAML-loaded values as JSON types (dates -> ISO strings), as pygeoapi validates them."""
    import datetime as _dt

    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    return value


# Build -------------------------------------------------------------------------


def _primary_key(datapackage: Mapping[str, Any]) -> str | None:
    for res in datapackage.get("resources") or []:
        schema = res.get("schema") if isinstance(res, Mapping) else None
        if isinstance(schema, Mapping):
            pk = schema.get("primaryKey")
            if isinstance(pk, str):
                return pk
            if isinstance(pk, list) and len(pk) == 1:
                return str(pk[0])
    return None


def _axis_names(meta: Mapping[str, Any], coordinates: Mapping[str, str | None]) -> dict[str, str]:
    names = {k: v for k, v in coordinates.items() if v}
    # Data-driven metadata marks coordinate columns with their role (x/y/z/t/geometry).
    for col in meta.get("columns") or []:
        if isinstance(col, Mapping) and col.get("role") in {"x", "y", "z", "t", "geometry"} and col.get("name"):
            names.setdefault(str(col["role"]), str(col["name"]))
    for dim in meta.get("dimensions") or []:
        if isinstance(dim, Mapping) and dim.get("axis") in {"x", "y", "z", "t"} and dim.get("name"):
            names.setdefault(str(dim["axis"]), str(dim["name"]))
    return names


def build_resource(
    dataset_id: str,
    datapackage: Mapping[str, Any],
    meta: Mapping[str, Any],
    data_href: str,
    kind: str,
    *,
    coordinates: Mapping[str, str | None] | None = None,
    id_field: str | None = None,
    item_href: str | None = None,
    datapackage_href: str | None = None,
) -> dict[str, Any]:
    """One pygeoapi resource (``type: collection``) for a published dataset.

    ``kind``: ``tabular``/``parquet`` -> a ``feature`` collection with the
    Parquet provider; ``gridded``/``zarr`` -> a ``coverage`` with xarray.
    ``coordinates``: the pipeline's coordinate names (``x``, ``y``, ``t``,
    ``geometry``); ``item_href``/``datapackage_href``: absolute links to the
    STAC item and the published datapackage, when known.
    """
    norm = _KINDS.get(kind)
    if norm is None:
        raise CatalogError(
            f"unknown data kind {kind!r} for the pygeoapi entry of {dataset_id}",
            field="output",
            hint="use tabular (parquet) or gridded (zarr)",
        )
    coords = _axis_names(meta, dict(coordinates or {}))
    bbox = dataset_bbox(meta, datapackage, dataset_id)
    start, end = dataset_time_range(meta, datapackage)

    links: list[dict[str, Any]] = []
    for lic in datapackage.get("licenses") or []:
        if isinstance(lic, Mapping) and lic.get("path"):
            link = {"type": "text/html", "rel": "license", "href": str(lic["path"])}
            if lic.get("title"):
                link["title"] = str(lic["title"])
            links.append(link)
    if datapackage_href:
        links.append(
            {"type": "application/json", "rel": "describedby", "href": datapackage_href, "title": "Data package"}
        )
    if item_href:
        links.append({"type": "application/geo+json", "rel": "alternate", "href": item_href, "title": "STAC item"})
    if isinstance(datapackage.get("id"), str) and datapackage["id"].startswith(("http://", "https://")):
        links.append({"type": "text/html", "rel": "about", "href": datapackage["id"], "title": "Dataset"})

    temporal: dict[str, Any] = {"begin": start, "end": end}
    resource: dict[str, Any] = {
        "type": "collection",
        "title": str(datapackage.get("title") or dataset_id),
        "description": str(datapackage.get("description") or datapackage.get("title") or dataset_id),
        "keywords": [str(k) for k in datapackage.get("keywords") or []] or [dataset_id],
        "links": links,
        "extents": {"spatial": {"bbox": bbox, "crs": CRS84}, "temporal": temporal},
    }
    provider: dict[str, Any]
    if norm == "tabular":
        provider = {"type": "feature", "name": "Parquet", "data": {"source": data_href}}
        pk = id_field or _primary_key(datapackage)
        if pk:
            provider["id_field"] = pk
        lonlat = meta.get("lonlat_columns")
        if isinstance(lonlat, list) and len(lonlat) == 2:  # projected x/y: filter on the lon/lat the converter added
            provider["x_field"], provider["y_field"] = str(lonlat[0]), str(lonlat[1])
        elif coords.get("x") and coords.get("y"):
            provider["x_field"] = coords["x"]
            provider["y_field"] = coords["y"]
        if coords.get("t"):
            provider["time_field"] = coords["t"]
    else:
        provider = {"type": "coverage", "name": "xarray", "data": data_href.rstrip("/")}
        for axis, key in (("x", "x_field"), ("y", "y_field"), ("t", "time_field")):
            if coords.get(axis):
                provider[key] = coords[axis]
        provider["format"] = {"name": "zarr", "mimetype": "application/zip"}
    resource["providers"] = [provider]
    return resource


# Files -------------------------------------------------------------------------


def _yaml_times(value: Any) -> Any:
    """Turn ``extents.temporal.begin/end`` strings into datetimes (YAML timestamps).

    Why: pygeoapi (0.21, ``validate_datetime``) calls ``.tzinfo`` on the
    configured begin/end and answers every ``datetime=`` query with
    "Configured times should be RFC3339" when they are quoted strings.
    Everything else stays a plain JSON type.
    """
    import datetime as _dt

    if isinstance(value, dict):
        out = {k: _yaml_times(v) for k, v in value.items()}
        temporal = (out.get("extents") or {}).get("temporal") if isinstance(out.get("extents"), dict) else None
        if isinstance(temporal, dict):
            for key in ("begin", "end"):
                if isinstance(temporal.get(key), str):
                    temporal[key] = _dt.datetime.fromisoformat(temporal[key].replace("Z", "+00:00"))
        return out
    if isinstance(value, list):
        return [_yaml_times(v) for v in value]
    return value


def dump_yaml(data: Mapping[str, Any]) -> bytes:
    """Stable YAML bytes (key order kept, unicode kept, extents' times as YAML timestamps)."""
    ready = _yaml_times(_jsonable(data))
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when available: same output, faster
    text = yaml.dump(ready, Dumper=dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=120)
    return text.encode("utf-8")


def write_resource(datasets_dir: Path, dataset_id: str, resource: Mapping[str, Any]) -> Path:
    """Write ``<datasets_dir>/<id>.yaml`` (``datasets_dir`` is ``<pygeoapi root>/datasets``).

    The file holds the resource itself (not wrapped in its id): the id is the
    file name, so a rename cannot leave two ids disagreeing.
    """
    from bot.catalog.layout import check_dataset_id

    check_dataset_id(dataset_id)
    path = Path(datasets_dir) / f"{dataset_id}.yaml"
    write_if_changed(path, dump_yaml(resource))
    return path


def remove_resource(datasets_dir: Path, dataset_id: str) -> bool:
    """Delete a dataset's resource file; returns whether it existed."""
    path = Path(datasets_dir) / f"{dataset_id}.yaml"
    if path.is_file():
        path.unlink()
        return True
    return False


def read_resources(datasets_dir: Path) -> dict[str, dict[str, Any]]:
    """All resource files of ``datasets_dir``, by id (file stem), sorted by id."""
    out: dict[str, dict[str, Any]] = {}
    base = Path(datasets_dir)
    if not base.is_dir():
        return out
    for path in sorted(base.glob("*.yaml")):
        if path.name.startswith("."):
            continue
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = _RESOURCE_CACHE.get(str(path))
        if cached is not None and cached[0] == stamp:
            out[path.stem] = copy.deepcopy(cached[1])
            continue
        data = load_yaml(path)
        if not isinstance(data, Mapping):
            raise ConfigError(
                "a pygeoapi resource file must be a YAML mapping",
                file=str(path),
                hint="regenerate it with `catalog-bot step generate-pygeoapi-entry`",
            )
        out[path.stem] = dict(data)
        _RESOURCE_CACHE[str(path)] = (stamp, copy.deepcopy(out[path.stem]))
    return out


# Parsed resource files by path, keyed by (mtime_ns, size): assembling the
# config after each dataset re-reads only the files that changed.
_RESOURCE_CACHE: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}


def assemble_config(
    header_yaml: Path,
    datasets_dir: Path,
    out: Path,
    *,
    schema_path: Path,
    overrides: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``config-pygeoapi.yaml``: the curated header + every resource, sorted by id.

    ``overrides`` replace top-level header sections key by key (e.g. a test
    or the dev services setting ``server.bind``/``server.url``).  The whole
    config is validated before anything is written: on problems nothing
    changes and :class:`ValidationFailed` lists them.
    """
    header = load_yaml(Path(header_yaml))
    if not isinstance(header, Mapping):
        raise ConfigError("must be a YAML mapping with server, logging and metadata", file=str(header_yaml))
    if header.get("resources"):
        raise ConfigError(
            "the header must not list resources",
            file=str(header_yaml),
            field="resources",
            hint="remove them: resources are generated per dataset under pygeoapi/datasets/",
        )
    config: dict[str, Any] = copy.deepcopy({k: v for k, v in header.items() if k != "resources"})
    for section, values in (overrides or {}).items():
        if isinstance(values, Mapping) and isinstance(config.get(section), Mapping):
            config[section] = {**config[section], **values}
        else:
            config[section] = values
    config["resources"] = read_resources(datasets_dir)
    schema = Path(schema_path)
    files = {rid: str(Path(datasets_dir) / f"{rid}.yaml") for rid in config["resources"]}
    problems = validate_config(config, schema, file=str(out), resource_files=files)
    if problems:
        raise ValidationFailed(problems=problems, context=f"pygeoapi config {out}")
    os.makedirs(Path(out).parent, exist_ok=True)
    write_if_changed(Path(out), dump_yaml(config))
    return Path(out)
