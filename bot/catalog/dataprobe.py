"""The PR check's look at the data: data-derived metadata of base and head, and the schema gate's verdict.

Why the publish pipeline's own code: the probe converts the source with
:func:`bot.convert.convert_dataset` and reads the result with
:mod:`bot.metadata.datadriven`, then asks :func:`bot.metadata.frictionless.schema_gate`
-- exactly what the publish does after merge.  So a PR that would stop the
publish (a column retyped, a variable removed, a source the converter
refuses) fails the *check* with the same words, instead of surprising
everyone after merge.

Why bounded: the check runs unprivileged on every push.  Only sources inside
the catalog repository are read (no network, no credentials: a remote source
is skipped with a note), and only up to ``max_bytes`` of source per side
(bigger ones are skipped with a note); a git revision's source blobs are
sized with ``git cat-file --batch-check`` before any is read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bot.catalog.datadiff import DataSection, DataSummary, compare, overview, summary_from
from bot.catalog.layout import DATASETS_DIR, GRIDSCHEMA, PIPELINE, TABLESCHEMA, load_pipeline
from bot.catalog.plan import DatasetDelta
from bot.catalog.revisions import WORKTREE, RevisionReader
from bot.errors import BotError, Problem, SchemaChanged, Severity

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass
class Probe:
    """One side's data-derived metadata, or why it is not known."""

    summary: DataSummary | None = None
    generated: dict[str, Any] | None = None  # the generated table/grid schema
    kind: str = "tabular"
    note: str | None = None
    problems: list[Problem] = field(default_factory=list)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def probe(root: Path, dataset: str, work: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Probe:
    """Convert and read one dataset's source under ``root`` (a catalog folder) within the byte budget."""
    from bot.convert import convert_dataset
    from bot.metadata.datadriven import extract_metadata

    folder = root / DATASETS_DIR / dataset
    rel = f"{DATASETS_DIR}/{dataset}/{PIPELINE}"
    try:
        spec = load_pipeline(folder / PIPELINE, rel)
    except BotError as exc:
        return Probe(note=f"pipeline.yaml cannot be read ({exc}): data not probed")
    kind = "tabular" if spec.output == "parquet" else "gridded"
    source = spec.source.single
    if source is None or "://" in source:
        label = spec.source.label
        return Probe(kind=kind, note=f"source {label} (remote or many files) is not read by the PR check")
    path = folder / source
    if not path.resolve().is_relative_to(root.resolve()):
        # ``../`` or a symlink out of the catalog: an unprivileged job still reads only the PR's own files
        return Probe(kind=kind, note=f"source {source} points outside the catalog folder: not read")
    if not path.exists():
        return Probe(kind=kind, note=f"source {source} is not in this revision")
    if _is_lfs_pointer(path):
        return Probe(kind=kind, note=f"source {source} is a Git LFS pointer: the data itself is not in the repository")
    size = _size(path)
    if size > max_bytes and spec.source.format in _FOOTER_FORMATS:
        return _cheap(path, spec, kind, f"source {source} is {size / 1e6:,.1f} MB")
    if size > max_bytes:
        return Probe(
            kind=kind,
            note=f"source {source} is {size / 1e6:,.1f} MB, over the PR check's probe budget of {max_bytes / 1e6:,.1f} MB",
        )
    schema_file = folder / (TABLESCHEMA if kind == "tabular" else GRIDSCHEMA)
    curated = _json(schema_file)
    try:
        result = convert_dataset(spec, path, work, curated if kind == "tabular" else None, name=dataset)
        meta = extract_metadata(result.path, spec.coordinates)
    except BotError as exc:
        problem = Problem(
            code="data-probe",
            message=f"the publish would fail converting the data: {exc}",
            file=f"{DATASETS_DIR}/{dataset}/{source}",
            hint="fix the data or pipeline.yaml; the same converter runs after merge",
            dataset=dataset,
        )
        return Probe(kind=kind, problems=[problem], note="the converter refused the data (see problems)")
    generated = meta.to_tableschema() if kind == "tabular" else meta.to_gridschema()
    return Probe(summary=summary_from(meta.to_dict(), generated), generated=generated, kind=kind)


# Sources whose metadata can be read without reading the data: Parquet footers, Zarr coordinate arrays.
_FOOTER_FORMATS = ("parquet", "zarr")
_LFS = b"version https://git-lfs.github.com/spec/"


def _is_lfs_pointer(path: Path) -> bool:
    if not path.is_file() or path.stat().st_size > 1024:
        return False
    with path.open("rb") as fh:
        return fh.read(len(_LFS)) == _LFS


def _cheap(path: Path, spec: Any, kind: str, what: str) -> Probe:
    """Extents, columns/variables and size from a big Parquet footer or Zarr's coordinates, without converting.

    The schema gate is left to the publish here: the converter may add
    columns (geometry from x/y) that the source does not have, so the
    source's own schema is not what the gate would compare.
    """
    from bot.metadata.datadriven import extract_metadata

    try:
        meta = extract_metadata(path, spec.coordinates)
    except BotError as exc:
        return Probe(kind=kind, note=f"{what}; its metadata could not be read ({exc})")
    reads = "Parquet footer" if kind == "tabular" else "Zarr metadata and coordinates"
    note = f"{what}: read from its {reads} only; the schema gate runs at publish"
    return Probe(summary=summary_from(meta.to_dict()), kind=kind, note=note)


def _json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def gate_problems(dataset: str, root: Path, head: Probe, *, first_publish: bool) -> tuple[list[str], list[Problem]]:
    """The schema gate's verdict on the head data against the head's curated schema.

    ``first_publish``: nothing was published yet, so the gate has nothing to
    protect (a new dataset's schema is being established) -- no verdict.
    """
    from bot.metadata.frictionless import schema_gate

    if head.generated is None or first_publish:
        return [], []
    name = TABLESCHEMA if head.kind == "tabular" else GRIDSCHEMA
    curated = _json(root / DATASETS_DIR / dataset / name)
    if curated is None:
        return [], []
    try:
        schema_gate(dataset, curated, head.generated, head.kind)  # type: ignore[arg-type]
    except SchemaChanged as exc:
        differences = list(getattr(exc, "differences", None) or [str(exc)])
        problem = Problem(
            code="schema-gate",
            message="the schema gate would stop the publish after merge: " + "; ".join(differences),
            file=f"{DATASETS_DIR}/{dataset}/{name}",
            hint=f"if the change is intended, update {name} in this PR to match the data",
            severity=Severity.ERROR,
            dataset=dataset,
        )
        return differences, [problem]
    return [], []


def materialize(
    repo: RevisionReader, rev: str, rev_root: Path, entries: Mapping[str, str | None], dataset: str, max_bytes: int
) -> str | None:
    """Write a git revision's source files of ``dataset`` under ``rev_root`` (``None``) or say why not."""
    prefix = f"{DATASETS_DIR}/{dataset}/data/"
    wanted = {k: v for k, v in entries.items() if k.startswith(prefix) and v}
    if not wanted:
        return None
    sizes = repo.blob_sizes(v for v in wanted.values() if v)
    total = sum(sizes.values())
    if total > max_bytes:
        return f"source data is {total / 1e6:,.1f} MB, over the PR check's probe budget of {max_bytes / 1e6:,.1f} MB"
    for name, data in repo.read_entries(rev, wanted).items():
        target = rev_root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return None


def section_for(
    dataset: str,
    base: Probe | None,
    head: Probe,
    *,
    datapackage: Mapping[str, Any] | None,
    gate: list[str],
) -> DataSection:
    """The report's Data section for one dataset from its two probes."""
    section = compare(dataset, base.summary if base else None, head.summary)
    if section.status == "new" and head.summary is not None:
        section.overview = overview(head.summary, datapackage)
    if base is not None and base.summary is None and head.summary is not None and base.note:
        section.status, section.lines = "changed", overview(head.summary, None)
    section.gate = gate
    section.notes = list(dict.fromkeys(n for n in ((base.note if base else None), head.note) if n))
    return section


_PROBE_DOCS = ("pipeline", "tableschema", "gridschema")


class RevisionFiles(Protocol):
    """One side of the check (``bot.catalog.check._Tree``): its revision, folder on disk and blob ids."""

    rev: str
    root: Path
    entries: dict[str, str | None]


def _side(repo: RevisionReader, side: RevisionFiles, dataset: str, work: Path, max_bytes: int) -> Probe:
    """Probe one revision: a git revision's local source files are written out first (within the budget)."""
    rev, root, entries = side.rev, side.root, side.entries
    if rev != WORKTREE:
        try:
            single = load_pipeline(root / DATASETS_DIR / dataset / PIPELINE).source.single
            remote = single is None or "://" in single
        except BotError:
            remote = False  # probe() says what is wrong with pipeline.yaml
        note = None if remote else materialize(repo, rev, root, entries, dataset, max_bytes)
        if note:
            return Probe(note=note)
    return probe(root, dataset, work, max_bytes=max_bytes)


def wants_probe(delta: DatasetDelta) -> bool:
    """A dataset whose data, source, pipeline or schema changed, or a new one."""
    if not delta.in_head:
        return False
    if not delta.in_base or delta.data_changed:
        return True
    return any(bool(delta.diffs.get(kind)) for kind in _PROBE_DOCS)


def probe_deltas(
    repo: RevisionReader,
    deltas: list[DatasetDelta],
    base: RevisionFiles,
    head: RevisionFiles,
    datapackages: Mapping[str, Any],
    work: Path,
    max_bytes: int | None = None,
) -> dict[str, DataSection]:
    """Data sections for the deltas that need one; the converter's and the gate's errors join their problems.

    ``max_bytes`` bounds the source read per side (default :data:`DEFAULT_MAX_BYTES`).
    """
    max_bytes = max_bytes or DEFAULT_MAX_BYTES
    sections: dict[str, DataSection] = {}
    for delta in deltas:
        if not wants_probe(delta):
            continue
        ds = delta.dataset
        old = delta.renamed_from or ds
        head_probe = _side(repo, head, ds, work / "head" / ds, max_bytes)
        base_probe: Probe | None = None
        if delta.in_base:
            base_probe = _side(repo, base, old, work / "base" / ds, max_bytes)
            if base_probe.problems:  # the base's data was already broken: not this PR's doing
                base_probe = Probe(note="the base revision's data could not be converted either")
        gate, problems = gate_problems(ds, head.root, head_probe, first_publish=not delta.in_base)
        delta.problems += head_probe.problems + problems
        sections[ds] = section_for(ds, base_probe, head_probe, datapackage=datapackages.get(ds), gate=gate)
    return sections
