"""Validate a dataset's documents and cross-check them against each other.

Why one package: a pull request check, ``catalog-bot validate`` and the
publish steps must agree on what "valid" means.  Every finding is a
:class:`bot.errors.Problem` with a stable kebab-case ``code``, the
catalog-relative file, a JSON pointer and (when we can map it) the line, so
the same list becomes terminal output, PR annotations and JSON.

Modules, each usable alone (everything public is re-exported here):

* :mod:`.inputs` -- the catalog's profiles, :class:`DatasetDocs`, reading
  files (missing / not UTF-8 / bad JSON become Problems);
* :mod:`.schema` -- JSON Schema errors -> located Problems;
* document validators -- :mod:`.stac` (:func:`validate_collection`,
  :func:`validate_item`, :func:`validate_catalog`: STAC core by
  ``stac_version`` + every ``stac_extensions`` schema, offline),
  :mod:`.frictionless` (:func:`validate_datapackage`,
  :func:`validate_tableschema`), :mod:`.grid` (:func:`validate_gridschema`);
* :mod:`.rules` -- rules no single schema can express, one function per rule
  (ids, licence, bbox order/range, time order, links, extension usage,
  coordinates), joined by :func:`cross_check`;
* entry points -- :mod:`.dataset` (:func:`validate_dataset`,
  :func:`load_and_validate_dataset`), :mod:`.catalog` (:func:`validate_many`,
  a whole catalog on a process pool), :mod:`.file` (:func:`validate_file`,
  any JSON file by detected type).

Pure: no network, no environment.  Callers pass the
:class:`~bot.catalog.schemas.SchemaRegistry` (built from ``Settings`` by the
commands).
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.catalog.validate.catalog import CHUNK, make_renderer, validate_many
from bot.catalog.validate.dataset import duplicate_id_problems, load_and_validate_dataset, validate_dataset
from bot.catalog.validate.file import detect_type, validate_file
from bot.catalog.validate.frictionless import validate_datapackage, validate_tableschema
from bot.catalog.validate.grid import validate_gridschema
from bot.catalog.validate.inputs import (
    PROFILE_DATAPACKAGE,
    PROFILE_GRIDSCHEMA,
    DatasetDocs,
    LineOf,
    Profiles,
    RendererLike,
    load_profiles,
    read_json,
    read_text,
)
from bot.catalog.validate.rules import (
    Finding,
    check_bbox,
    check_href,
    check_interval,
    collection_rules,
    cross_check,
)
from bot.catalog.validate.schema import MAX_SCHEMA_PROBLEMS, pick_error, schema_problems
from bot.catalog.validate.stac import validate_catalog, validate_collection, validate_item
from bot.errors import Problem, Severity

__all__ = [
    "CHUNK",
    "MAX_SCHEMA_PROBLEMS",
    "PROFILE_DATAPACKAGE",
    "PROFILE_GRIDSCHEMA",
    "DatasetDocs",
    "Finding",
    "LineOf",
    "Profiles",
    "RendererLike",
    "check_bbox",
    "check_href",
    "check_interval",
    "collection_rules",
    "cross_check",
    "detect_type",
    "duplicate_id_problems",
    "has_errors",
    "load_and_validate_dataset",
    "load_profiles",
    "make_renderer",
    "pick_error",
    "read_json",
    "read_text",
    "schema_problems",
    "validate_catalog",
    "validate_collection",
    "validate_datapackage",
    "validate_dataset",
    "validate_file",
    "validate_gridschema",
    "validate_item",
    "validate_many",
    "validate_tableschema",
]


def has_errors(problems: Iterable[Problem]) -> bool:
    """Whether any problem is an error (warnings and notices do not fail)."""
    return any(p.severity is Severity.ERROR for p in problems)
