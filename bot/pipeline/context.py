"""Per-run and per-dataset state handed to every pipeline step.

Why one object: a step function (``fn(ctx) -> StepResult``) must run the
same way in-process (local executor) and alone in a container (``catalog-bot
step`` under Argo).  Everything a step may touch comes through the context:
the catalog and dataset, the parsed ``pipeline.yaml``, the environment, the
output folder, the object store, and the *work folder*.

Work folder layout (shared with :mod:`bot.pipeline.argo_render`): every step
writes its artifacts under ``<work>/<step-name>/`` and reads its inputs from
the folders of earlier steps.  Under Argo each of those folders is a separate
artifact mounted at the same path, so a step never needs to know whether its
predecessors ran in this process or in another pod.

Shared published files (the root STAC catalog, the assembled pygeoapi
configuration) are changed under :meth:`RunContext.shared_lock`, a process
lock plus an ``flock`` on a file in the output folder, so ``--jobs N`` and
concurrent pods writing to one folder do not lose each other's updates.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bot.catalog.layout import Catalog, Dataset, PipelineSpec
from bot.config import EnvironmentConfig, Settings
from bot.errors import BotError, DataError

if TYPE_CHECKING:  # boto3 stays unimported until a store is opened
    from bot.adapters.objectstore import ObjectStore
    from bot.sources.manifest import Validators

STATE_DIR = ".catalog-bot"

Status = Literal["done", "skipped", "failed"]


@dataclass
class StepResult:
    """What a step did: ``done`` or ``skipped`` (with why), files it wrote, numbers for the summary.

    ``outputs`` are the files/folders the step produced (work artifacts and
    published files); the executor records them with the step's fingerprint
    and re-runs the step when one of them disappeared.  ``metrics`` feed the
    summary table (rows, cells, bbox, time range, bytes).
    """

    status: Status = "done"
    message: str = ""
    outputs: list[Path] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


def write_json_atomic(path: Path, data: Any) -> Path:
    """Write JSON via a temp file + rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    """Write text via a temp file + rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def output_folder(catalog: Catalog, env_name: str, output: Path | None = None, base: Path | None = None) -> Path:
    """Where a run writes: ``output`` or the environment's ``output``, a relative one taken from ``base`` (cwd)."""
    out = Path(output) if output is not None else Path(catalog.config.environment(env_name).output)
    return (out if out.is_absolute() else (base or Path.cwd()) / out).resolve()


@dataclass
class RunContext:
    """What all datasets of one run share: catalog, environment, output, settings, store factory."""

    catalog: Catalog
    env_name: str
    env: EnvironmentConfig
    output: Path
    settings: Settings
    store_factory: Callable[[str], ObjectStore] | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    jobs: int = 1  # worker processes for a multi-file source's conversion (``--jobs``)
    # Data passes between steps as object-store keys (each step in its own pod: ``step --data-refs``).
    data_refs: bool = False
    # The fan-out item a ``convert-file`` pod converts (``step --item``, from Argo's withParam).
    item: str | None = None
    _thread_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _shared_lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _lock_depth: _Depth = field(default_factory=lambda: _Depth(), repr=False)
    _stores: dict[str, ObjectStore] = field(default_factory=dict, repr=False)
    _registry: Any = field(default=None, repr=False)
    _renderer: Any = field(default=None, repr=False)
    _pending: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    # Values computed once per run (the environment fingerprint, digests of lib/ and profiles/).
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def open(
        cls,
        catalog: Catalog,
        env_name: str,
        settings: Settings,
        *,
        output: Path | None = None,
        base: Path | None = None,
        provenance: dict[str, Any] | None = None,
        jobs: int = 1,
    ) -> RunContext:
        """The one way to start a run: ``output`` (else the environment's) resolved against ``base``.

        Why one factory: the CLI verbs and the GitHub publisher must agree on
        where a run writes.  A relative output is relative to ``base``: the
        current directory for the CLI, the checkout for the event handlers.
        """
        env_cfg = catalog.config.environment(env_name)
        return cls(
            catalog,
            env_name,
            env_cfg,
            output_folder(catalog, env_name, output, base),
            settings,
            provenance=settings.provenance() if provenance is None else provenance,
            jobs=jobs,
        )

    def add_pending(self, kind: str, key: str, value: Any) -> None:
        """Remember work that is finished once per run, after every dataset (e.g. waiting for pygeoapi)."""
        with self._thread_lock:
            self._pending.setdefault(kind, {})[key] = value

    def take_pending(self, kind: str) -> dict[str, Any]:
        """The pending work of ``kind`` (and forget it)."""
        with self._thread_lock:
            return self._pending.pop(kind, {})

    @property
    def state_root(self) -> Path:
        """``<output>/.catalog-bot``: fingerprints, work folders, the lock file."""
        return self.output / STATE_DIR

    def store(self, access: str) -> ObjectStore:
        """The object store for an access level (``public``/``limited``), built once."""
        with self._thread_lock:
            if access not in self._stores:
                if self.store_factory is not None:
                    self._stores[access] = self.store_factory(access)
                else:
                    from bot.adapters.objectstore import open_store

                    self._stores[access] = open_store(self.env, self.output, access)
            return self._stores[access]

    def registry(self) -> Any:
        """The offline schema registry (built once per run)."""
        with self._thread_lock:
            if self._registry is None:
                from bot.catalog.schemas import SchemaRegistry

                self._registry = SchemaRegistry.from_settings(self.settings)
            return self._registry

    @contextlib.contextmanager
    def shared_lock(self) -> Iterator[None]:
        """Exclusive access to shared published files, across threads and processes (re-entrant)."""
        with self._shared_lock:
            if self._lock_depth.value:
                self._lock_depth.value += 1
                try:
                    yield
                finally:
                    self._lock_depth.value -= 1
                return
            self.state_root.mkdir(parents=True, exist_ok=True)
            with (self.state_root / "lock").open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                self._lock_depth.value = 1
                try:
                    yield
                finally:
                    self._lock_depth.value = 0
                    fcntl.flock(handle, fcntl.LOCK_UN)


class _Depth(threading.local):
    value: int = 0


@dataclass
class StepContext:
    """One dataset in one run; passed to every step function."""

    run: RunContext
    dataset: Dataset
    spec: PipelineSpec
    work: Path
    log: Callable[[str], None] = lambda _msg: None
    # The source's files as listed once for this spec (bot.pipeline.sources.listing); not init: a context
    # made by dataclasses.replace with another spec lists its own.
    source_listing: list[tuple[str, Validators | None]] | None = field(default=None, init=False, repr=False)

    # -- shortcuts

    @property
    def id(self) -> str:
        """The dataset id."""
        return self.dataset.id

    @property
    def catalog(self) -> Catalog:
        """The catalog being published."""
        return self.run.catalog

    @property
    def output(self) -> Path:
        """The environment's output folder (static STAC, pygeoapi config, local store)."""
        return self.run.output

    @property
    def kind(self) -> Literal["tabular", "gridded"]:
        """``tabular`` (Parquet) or ``gridded`` (Zarr)."""
        return self.spec.kind

    @property
    def schema_name(self) -> str:
        """``tableschema.json`` or ``gridschema.json`` by the pipeline's output."""
        return "tableschema.json" if self.kind == "tabular" else "gridschema.json"

    def store(self) -> ObjectStore:
        """The object store for this dataset's access level."""
        return self.run.store(self.spec.access)

    # -- work artifacts

    def step_dir(self, step: str) -> Path:
        """``<work>/<step>``: where ``step`` keeps its artifacts (created)."""
        path = self.work / step
        path.mkdir(parents=True, exist_ok=True)
        return path

    def artifact(self, step: str, name: str) -> Path:
        """Path of an artifact of ``step`` (may not exist yet)."""
        return self.work / step / name

    def read_artifact(self, step: str, name: str) -> Any:
        """A JSON artifact of an earlier step; a clear error if that step has not run."""
        path = self.artifact(step, name)
        if not path.is_file():
            raise BotError(
                f"artifact {step}/{name} is missing in {self.work}",
                hint=f"run step {step!r} first (catalog-bot step {step} --dataset {self.id})",
            )
        return json.loads(path.read_text(encoding="utf-8"))

    def write_artifact(self, step: str, name: str, data: Any) -> Path:
        """Write a JSON artifact of ``step`` atomically."""
        return write_json_atomic(self.step_dir(step) / name, data)

    # -- curated catalog files

    def curated_json(self, name: str) -> Any:
        """A JSON file of the dataset folder, with file-named errors."""
        path = self.dataset.path(name)
        rel = self.dataset.rel(name)
        if not path.is_file():
            raise DataError("required file is missing", file=rel, hint=f"add {name} to the dataset folder")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(
                f"invalid JSON at line {exc.lineno}: {exc.msg}", file=rel, hint="fix the JSON syntax"
            ) from None

    def source_path(self) -> Path | None:
        """The local source file (None for remote sources and for many files: see bot.pipeline.sources)."""
        src = self.spec.source.single
        if src is None or "://" in src:
            return None
        return (self.dataset.dir / src).resolve()
