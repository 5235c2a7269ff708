"""The publish steps: plain functions ``fn(ctx: StepContext) -> StepResult``.

Why so thin: each step only *wires* -- it reads the artifacts of earlier
steps from the work folder, calls pure, separately tested functions
(:mod:`bot.convert`, :mod:`bot.metadata`, :mod:`bot.stac`) or one adapter,
and writes its own artifacts under ``<work>/<step>/`` (pangeo-forge style).
That is what lets the same function run in-process and alone in an Argo pod
(``catalog-bot step NAME``).

Published layout (object store keys, for the ``local`` store below
``<output>/data/<bucket>/``)::

    <dataset>/<version>/<dataset>.parquet|.zarr   the ARCO data, immutable
    <dataset>/datapackage.json                    complete Frictionless package
    <dataset>/tableschema.json|gridschema.json    complete schema

``<version>`` is the first 16 hex digits of the data's sha256: a new version
is uploaded next to the old one, verified, and only then is the metadata
switched to it, so metadata never points at data that is missing or half
written, and an unchanged re-publish writes nothing.

Heavy imports (pyarrow, xarray, zarr) stay inside the functions, and the
step modules themselves are imported on first use: importing this package
is cheap for ``catalog-bot publish --dry-run`` and a one-step pod.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and linters; at run time a step's module is imported on first use
    from bot.pipeline.steps.data import (
        check_extents,
        convert,
        generate_datadriven_metadata,
        generate_frictionless_metadata,
        harvest_metadata,
        propose_update,
        schema_gate,
    )
    from bot.pipeline.steps.pygeoapi import generate_pygeoapi_entry, ingest_pygeoapi_entry
    from bot.pipeline.steps.stac import (
        ensure_collection,
        generate_stac_item,
        ingest_stac_item,
        update_collection,
    )
    from bot.pipeline.steps.upload import upload_arco_data, upload_frictionless_json

# step function -> the submodule that defines it.  Why lazy (PEP 562): an
# Argo pod runs one step, so ``catalog-bot step NAME`` imports that step's
# module only (tests/test_cli_startup.py checks it).
_MODULES: dict[str, str] = {
    "check_extents": "data",
    "convert": "data",
    "generate_datadriven_metadata": "data",
    "generate_frictionless_metadata": "data",
    "harvest_metadata": "data",
    "propose_update": "data",
    "schema_gate": "data",
    "generate_pygeoapi_entry": "pygeoapi",
    "ingest_pygeoapi_entry": "pygeoapi",
    "ensure_collection": "stac",
    "generate_stac_item": "stac",
    "ingest_stac_item": "stac",
    "update_collection": "stac",
    "upload_arco_data": "upload",
    "upload_frictionless_json": "upload",
}


def __getattr__(name: str) -> Any:
    """Import the submodule of step function ``name`` on first access."""
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups (and monkeypatching in tests) see a plain attribute
    return value


__all__ = [
    "check_extents",
    "convert",
    "ensure_collection",
    "generate_datadriven_metadata",
    "generate_frictionless_metadata",
    "generate_pygeoapi_entry",
    "generate_stac_item",
    "harvest_metadata",
    "ingest_pygeoapi_entry",
    "ingest_stac_item",
    "propose_update",
    "schema_gate",
    "update_collection",
    "upload_arco_data",
    "upload_frictionless_json",
]
