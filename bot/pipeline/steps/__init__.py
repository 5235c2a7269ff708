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

Heavy imports (pyarrow, xarray, zarr) stay inside the functions: importing
this module is cheap for ``catalog-bot publish --dry-run``.
"""

from __future__ import annotations

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
