"""The publish pipeline as data: one DAG, the single source of truth.

Why data and not code: the local executor runs these steps in-process, the
Argo renderer turns the very same list into a WorkflowTemplate DAG, and a
test compares the two.  A step is referenced by the dotted path of a plain
function (``module:function``) so this module imports nothing heavy and
stays pure.

Order follows the publish flow: convert ->
check-extents -> (harvest) -> data-driven metadata -> Frictionless metadata
-> schema gate -> upload data, then metadata -> pygeoapi entry -> STAC item
-> collection.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

# Frozen msgspec structs, not dataclasses: every `catalog-bot step` pod imports this module, and
# creating a dataclass costs ~0.5-1 ms (generated code, exec'd) where a struct costs ~0.02 ms.


class Resources(msgspec.Struct, frozen=True):
    """Kubernetes-style requests/limits for a step's container."""

    cpu: str = "250m"
    memory: str = "256Mi"
    cpu_limit: str = "1"
    memory_limit: str = "1Gi"


class Step(msgspec.Struct, frozen=True):
    """One node of the pipeline DAG.

    ``network``: the step talks to a service (retried with backoff under
    Argo); ``heavy``: it processes data (runs with bigger resources);
    ``when``: a pipeline.yaml attribute that must be truthy for the step to
    run (else it is skipped, and counts as done); ``reads``: the earlier
    steps whose work folder it reads (Argo mounts only those artifacts, so
    small metadata travels between pods and the data stays in the object
    store; None: every ancestor).
    """

    name: str
    func: str
    depends: tuple[str, ...] = ()
    description: str = ""
    network: bool = False
    heavy: bool = False
    when: str | None = None
    reads: tuple[str, ...] | None = None
    resources: Resources = Resources()

    def load(self) -> Callable[..., Any]:
        """Import the step function (lazily: keeps this module pure)."""
        module, _, attr = self.func.partition(":")
        return getattr(importlib.import_module(module), attr)


HEAVY = Resources(cpu="1", memory="1Gi", cpu_limit="2", memory_limit="4Gi")
_S = "bot.pipeline.steps"

PUBLISH_STEPS: tuple[Step, ...] = (
    # network: a remote source (https://, s3://, OPeNDAP, THREDDS) is fetched here, so a transient fault retries.
    Step(
        "convert",
        f"{_S}:convert",
        (),
        "convert the source data to GeoParquet or Zarr",
        network=True,
        heavy=True,
        reads=(),
        resources=HEAVY,
    ),
    Step(
        "check-extents",
        f"{_S}:check_extents",
        ("convert",),
        "spatial/temporal extents from the converted data",
        reads=("convert",),
    ),
    Step(
        "harvest-metadata",
        f"{_S}:harvest_metadata",
        ("check-extents",),
        "harvest the external ISO 19115 record (extents from data win)",
        network=True,
        when="metadata_source",
        reads=("check-extents",),
    ),
    Step(
        "generate-datadriven-metadata",
        f"{_S}:generate_datadriven_metadata",
        ("check-extents",),
        "columns/variables, types, units, chunks from Parquet footers or Zarr metadata",
        reads=("convert",),
    ),
    Step(
        "generate-frictionless-metadata",
        f"{_S}:generate_frictionless_metadata",
        ("generate-datadriven-metadata", "harvest-metadata"),
        "complete datapackage.json + table/grid schema, validated",
        reads=("convert", "check-extents", "generate-datadriven-metadata"),
    ),
    Step(
        "schema-gate",
        f"{_S}:schema_gate",
        ("generate-frictionless-metadata",),
        "stop if the data schema changed",
        reads=("generate-datadriven-metadata",),
    ),
    Step(
        "upload-arco-data",
        f"{_S}:upload_arco_data",
        ("schema-gate",),
        "upload Parquet/Zarr (under Argo: a server-side copy of the convert step's object-store key)",
        network=True,
        heavy=True,
        reads=("convert",),
    ),
    Step(
        "upload-frictionless-json",
        f"{_S}:upload_frictionless_json",
        ("upload-arco-data",),
        "upload datapackage.json and schema (after the data)",
        network=True,
        reads=("upload-arco-data", "generate-frictionless-metadata"),
    ),
    Step(
        "generate-pygeoapi-entry",
        f"{_S}:generate_pygeoapi_entry",
        ("upload-frictionless-json",),
        "pygeoapi resource, validated against the config schema",
        reads=("upload-arco-data", "generate-frictionless-metadata", "generate-datadriven-metadata"),
    ),
    Step(
        "ingest-pygeoapi-entry",
        f"{_S}:ingest_pygeoapi_entry",
        ("generate-pygeoapi-entry",),
        "register in pygeoapi",
        network=True,
        reads=("generate-pygeoapi-entry",),
    ),
    Step(
        "generate-stac-item",
        f"{_S}:generate_stac_item",
        ("upload-frictionless-json",),
        "STAC item from the complete datapackage, validated",
        reads=("convert", "generate-datadriven-metadata", "generate-frictionless-metadata", "upload-arco-data"),
    ),
    Step(
        "ensure-collection",
        f"{_S}:ensure_collection",
        ("generate-stac-item",),
        "create the collection from collection.jsonnet if missing",
        network=True,
        reads=(),
    ),
    Step(
        "ingest-stac-item",
        f"{_S}:ingest_stac_item",
        ("ensure-collection",),
        "upsert the item",
        network=True,
        reads=("generate-stac-item",),
    ),
    Step(
        "update-collection",
        f"{_S}:update_collection",
        ("ingest-stac-item",),
        "regenerate the collection extents from its items, validate, ingest",
        network=True,
        reads=("ensure-collection",),
    ),
)

# Harvest workflow (scheduled / `/catalog harvest`): same step functions.
HARVEST_STEPS: tuple[Step, ...] = (
    Step("harvest-metadata", f"{_S}:harvest_metadata", (), "harvest the external ISO 19115 record", network=True),
    Step(
        "propose-update",
        f"{_S}:propose_update",
        ("harvest-metadata",),
        "update the dataset issue and open/refresh the update PR when the record changed",
        network=True,
        reads=("harvest-metadata",),
    ),
)


class DAG(msgspec.Struct, frozen=True):
    """An ordered, validated set of steps."""

    name: str
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate step names in {self.name}")
        seen: set[str] = set()
        for step in self.steps:
            missing = [d for d in step.depends if d not in seen]
            if missing:
                raise ValueError(f"step {step.name} depends on {missing} which do not come before it")
            ancestors = self.ancestors(step.name)
            stray = [r for r in step.reads or () if r not in ancestors]
            if stray:
                raise ValueError(f"step {step.name} reads {stray} which are not among its ancestors")
            seen.add(step.name)

    def __iter__(self) -> Iterator[Step]:
        return iter(self.steps)

    def step(self, name: str) -> Step:
        """A step by name; raises ``KeyError`` listing the valid names."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"unknown step {name!r}; steps: {', '.join(self.names())}")

    def ancestors(self, name: str) -> list[str]:
        """Every transitive dependency of step ``name``, in DAG order."""
        wanted: set[str] = set()
        stack = list(self.step(name).depends)
        while stack:
            dep = stack.pop()
            if dep not in wanted:
                wanted.add(dep)
                stack.extend(self.step(dep).depends)
        return [s.name for s in self.steps if s.name in wanted]

    def inputs(self, name: str) -> list[str]:
        """The steps whose work folder step ``name`` reads (its ``reads``, else every ancestor), in DAG order."""
        step = self.step(name)
        if step.reads is None:
            return self.ancestors(name)
        return [s.name for s in self.steps if s.name in step.reads]

    def names(self) -> list[str]:
        """Step names in execution order."""
        return [s.name for s in self.steps]

    def edges(self) -> set[tuple[str, str]]:
        """``(dependency, step)`` pairs; compared against the Argo rendering."""
        return {(d, s.name) for s in self.steps for d in s.depends}


PUBLISH = DAG("publish", PUBLISH_STEPS)
HARVEST = DAG("harvest", HARVEST_STEPS)
DAGS = {"publish": PUBLISH, "harvest": HARVEST}


class FanOut(msgspec.Struct, frozen=True):
    """An Argo map in front of a step: ``plan`` lists the items, ``each`` runs once per item, then the step combines.

    Why only on Argo: locally the same per-item and combine functions run in
    a process pool inside the step (``--jobs``); on Argo each item is a pod
    (``withParam`` over ``plan``'s output parameter ``param``, read from
    ``items_file`` in its work folder).  See :mod:`bot.pipeline.steps.fanout`.
    """

    step: str
    plan: Step
    each: Step
    param: str = "files"
    items_file: str = "items.json"


_F = "bot.pipeline.steps.fanout"
FANOUTS: dict[str, FanOut] = {
    "convert": FanOut(
        "convert",
        Step(
            "plan-sources",
            f"{_F}:plan_sources",
            (),
            "list the source files (paths, globs, THREDDS) for one convert-file task each",
            network=True,
            reads=(),
        ),
        Step(
            "convert-file",
            f"{_F}:convert_file",
            ("plan-sources",),
            "fetch and convert one source file into a part in the object store",
            network=True,
            heavy=True,
            reads=("plan-sources",),
            resources=HEAVY,
        ),
    )
}


def find_step(name: str) -> Step | None:
    """A step of any workflow (publish, harvest, the fan-out steps) by name."""
    for dag in DAGS.values():
        if name in dag.names():
            return dag.step(name)
    for fan in FANOUTS.values():
        for step in (fan.plan, fan.each):
            if step.name == name:
                return step
    return None


def step_names() -> list[str]:
    """Every name ``catalog-bot step`` accepts."""
    names = [n for dag in DAGS.values() for n in dag.names()]
    names += [s.name for fan in FANOUTS.values() for s in (fan.plan, fan.each)]
    return list(dict.fromkeys(names))
