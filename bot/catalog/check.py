"""``catalog-bot check``: what does a change do to the catalog?

Why it is built this way:

- **Cost follows the change.** We ask git which files changed (a tree diff
  that skips unchanged subtrees), find the touched datasets, and read only
  their files -- at both revisions, through one ``git cat-file --batch``
  per revision -- into small temporary trees that are rendered and diffed.
  Nothing is checked out; the other 995 datasets are never read.  The one
  exception is a changed ``lib/*.libsonnet``: to know who imports it we read
  every ``collection.jsonnet`` (small, one batch), never render them.
- **Head may be the working tree** (:data:`~bot.catalog.revisions.WORKTREE`, the
  default): a curator sees the effect of uncommitted edits before pushing.
- **Base is the merge base** of ``--base`` and head, like a PR's diff: a
  branch that is behind main is not blamed for main's newer changes.
- **Catalog-wide files**: a changed ``profiles/*.json`` changes how every
  dataset validates, but not what any dataset renders to; a changed
  ``catalog-bot.yaml`` can change ext vars (so rendered output) and
  publishing.  We do NOT render the whole catalog for these: the touched
  datasets are validated with the new files, and the report says explicitly
  that the others were not checked and how to check them (``--all``).

- **Pure**: git is read through an injected
  :class:`~bot.catalog.revisions.RevisionReader` (callers pass
  :class:`bot.adapters.git.GitRepo`), schemas through the settings' registry.

Rendering and validation are delegated to :mod:`bot.catalog.render` and
:mod:`bot.catalog.validate`; which datasets a change touches to
:mod:`bot.catalog.changes` (import discovery: :mod:`bot.catalog.imports`).
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from bot.catalog.changes import add_importers, all_ids, classify, find_renames, is_doc_helper
from bot.catalog.dataprobe import probe_deltas
from bot.catalog.diff import DocumentDiff, diff_documents
from bot.catalog.layout import (
    COLLECTION,
    DATAPACKAGE,
    DATASET_ID,
    DATASETS_DIR,
    GRIDSCHEMA,
    PIPELINE,
    PROFILES_DIR,
    TABLESCHEMA,
    Catalog,
)
from bot.catalog.plan import DatasetDelta, make_plan
from bot.catalog.report import Report
from bot.catalog.revisions import RevisionReader, RevisionTree, dataset_of
from bot.catalog.schemas import SchemaRegistry
from bot.config import CONFIG_FILE, Settings, parse_json, parse_yaml
from bot.errors import BotError, CatalogError, ConfigError, Problem, Severity, UsageError

DOC_FILES: dict[str, str] = {
    "collection": COLLECTION,
    "datapackage": DATAPACKAGE,
    "tableschema": TABLESCHEMA,
    "gridschema": GRIDSCHEMA,
    "pipeline": PIPELINE,
}
METADATA_FILES = frozenset(DOC_FILES.values())

Progress = Callable[[str, int, int], None]
"""``progress(label, done, total)``: called as datasets are rendered."""


def run_check(
    repo: RevisionReader,
    base: str,
    head: str,
    settings: Settings,
    env: str = "local",
    *,
    all_datasets: bool = False,
    datasets: Iterable[str] | None = None,
    progress: Progress | None = None,
    label: str | None = None,
) -> Report:
    """Check the change from ``base`` to ``head`` (:data:`WORKTREE`: the files on disk) of a catalog.

    ``repo`` reads the catalog's revisions (``GitRepo(catalog_root)``);
    ``settings`` give the schema registry and the Jsonnet engine.
    ``all_datasets`` checks every dataset (after a config or profile change);
    ``datasets`` adds named ones; ``label`` names the catalog in the report
    (default: its folder).  Raises :class:`UsageError` for bad refs or
    folders; everything wrong *in the catalog* is reported as problems in the
    :class:`Report`.
    """
    started = time.perf_counter()
    catalog_root = repo.path
    head_sha = repo.rev_parse(head)
    base_tip = repo.rev_parse(base)
    found_base = repo.merge_base(base_tip, head_sha)
    merge_base = found_base or base_tip
    notices: list[str] = []
    if found_base is None:
        notices.append(
            f"no common ancestor of {base} and {head} (shallow clone?): compared with the tip of {base}; "
            "fetch more history (fetch-depth: 0) for a branch-only diff"
        )
    elif merge_base != base_tip:
        notices.append(
            f"compared with the merge base {merge_base[:7]} of {base} and {head} (the changes of this branch only)"
        )

    if not any(repo.exists(rev, name) for rev in (head_sha, merge_base) for name in (DATASETS_DIR, CONFIG_FILE)):
        raise UsageError(
            f"{catalog_root} is not a catalog (no datasets/ folder and no {CONFIG_FILE} at {head} or {base})",
            hint="pass --catalog DIR pointing at the catalog folder inside the repository",
        )
    changes = repo.changed_files(merge_base, head)
    scope = classify(changes)
    catalog_problems: list[Problem] = [
        Problem(
            code="dataset-id",
            message=f"folder datasets/{name}/ is not a valid dataset id",
            file=f"{DATASETS_DIR}/{name}",
            hint="use 2-63 characters: lower-case letters, digits and '-', starting with a letter or digit",
        )
        for name in sorted(scope.invalid)
    ]

    if scope.lib:
        add_importers(repo, scope, head_sha, merge_base)
    extra = set(datasets or [])
    for ds in sorted(extra):
        if not DATASET_ID.fullmatch(ds) or not (
            repo.exists(head_sha, f"{DATASETS_DIR}/{ds}") or repo.exists(merge_base, f"{DATASETS_DIR}/{ds}")
        ):
            raise UsageError(f"unknown dataset {ds!r}", hint=f"name a folder under {DATASETS_DIR}/ (at base or head)")
    if all_datasets:
        extra |= all_ids(repo, head_sha) | all_ids(repo, merge_base)
    for ds in extra:
        scope.direct.setdefault(ds, [])
    if scope.config:
        notices.append(
            f"{CONFIG_FILE} changed: its ext vars and environments apply to every dataset; "
            + (
                "all datasets were checked"
                if all_datasets
                else "only the touched datasets were rendered with it -- run `catalog-bot check --all` to see all"
            )
        )

    ids = sorted(scope.ids())
    registry = SchemaRegistry.from_settings(settings)
    deltas: list[DatasetDelta] = []
    with tempfile.TemporaryDirectory(prefix="catalog-bot-check-") as tmp_name:
        tmp = Path(tmp_name)
        base_tree = RevisionTree(repo, merge_base, ids, tmp, "base")
        head_tree = RevisionTree(repo, head_sha, ids, tmp, "head")
        if scope.config or scope.profiles or ids:
            catalog_problems += _check_config(head_tree)
        renames = find_renames(scope, base_tree, head_tree, ids)
        renamed_old = set(renames.values())
        base_ctx = _RenderContext(base_tree, env, registry, settings.jsonnet_engine, validate=False)
        head_ctx = _RenderContext(
            head_tree, env, registry, settings.jsonnet_engine, validate=True, known_ids=all_ids(repo, head_sha)
        )
        todo = [d for d in ids if d not in renamed_old]
        head_packages: dict[str, Any] = {}
        for i, ds in enumerate(todo):
            if progress:
                progress(ds, i, len(todo))
            old_id = renames.get(ds, ds)
            in_base = old_id in base_tree.datasets_present
            in_head = ds in head_tree.datasets_present
            old_docs, base_problems = base_ctx.documents(old_id) if in_base else ({}, [])
            new_docs, problems = head_ctx.documents(ds) if in_head else ({}, [])
            head_packages[ds] = new_docs.get("datapackage")
            notices += [f"at base, {p.format()}" for p in base_problems if p.severity is Severity.ERROR][:3]
            files = scope.direct.get(ds, []) + (scope.direct.get(old_id, []) if old_id != ds else [])
            data_changed = sorted(
                {
                    f
                    for f in files
                    if f.split("/")[-1] not in METADATA_FILES and not is_doc_helper(f) and f not in scope.moved
                }
            )
            broken = [DOC_FILES[k] for k, v in new_docs.items() if v is None]
            deltas.append(
                DatasetDelta(
                    dataset=ds,
                    in_base=in_base,
                    in_head=in_head,
                    files=files,
                    via=sorted(set(scope.via.get(ds, []))),
                    diffs=_diff_all(old_docs, new_docs),
                    problems=problems,
                    data_changed=data_changed,
                    renamed_from=old_id if old_id != ds else None,
                    notes=[f"not diffed: {', '.join(broken)} could not be loaded at head (see problems)"]
                    if broken
                    else [],
                    complete=not broken,
                )
            )
        if progress:
            progress("done", len(todo), len(todo))
        data = probe_deltas(repo, deltas, base_tree, head_tree, head_packages, tmp / "probe")
        if scope.profiles and not all_datasets:
            deltas += _profile_deltas(repo, head_tree, head_sha, scope.profiles, registry, set(ids), notices)
        elif scope.profiles:
            notices.append(f"{', '.join(scope.profiles)} changed: all datasets were fully validated with it (--all)")

    entries = make_plan(deltas)
    return Report(
        catalog=label or str(catalog_root),
        base_ref=base,
        base_sha=merge_base,
        head_ref=head,
        head_sha=head_sha,
        environment=env,
        entries=entries,
        problems=catalog_problems,
        notices=notices,
        changed_files=sorted({p for c in changes for p in c.paths()}),
        repo_prefix=repo.prefix,
        elapsed=time.perf_counter() - started,
        data=data,
    )


def _profile_deltas(
    repo: RevisionReader,
    tree: RevisionTree,
    rev: str,
    profiles: list[str],
    registry: SchemaRegistry,
    touched: set[str],
    notices: list[str],
) -> list[DatasetDelta]:
    """Untouched datasets that fail a changed profile (as ``unchanged`` entries carrying the problems)."""
    problems, checked = _profile_problems(repo, tree, rev, profiles, registry)
    by_ds: dict[str, list[Problem]] = {}
    for p in problems:
        if p.dataset not in touched:
            by_ds.setdefault(p.dataset or "", []).append(p)
    failing = len([d for d in by_ds if d])
    notices.append(
        f"{', '.join(profiles)} changed: a profile changes validation, not rendered documents, so every dataset's "
        f"plain-JSON document was validated against it without rendering ({checked} documents, "
        f"{failing} other dataset{'s' if failing != 1 else ''} fail); touched datasets were fully validated"
    )
    return [
        DatasetDelta(
            dataset=ds,
            in_base=True,
            in_head=True,
            problems=found,
            notes=["fails the changed profile " + ", ".join(profiles)],
        )
        for ds, found in sorted(by_ds.items())
        if ds
    ]


def _check_config(tree: RevisionTree) -> list[Problem]:
    """``catalog-bot.yaml`` at head must parse (it drives rendering and publishing)."""
    from bot.config import load_catalog_config

    try:
        load_catalog_config(tree.root)
    except CatalogError as exc:
        return [exc.to_problem(code="config")]
    return []


class _RenderContext:
    """Loads (and at head validates) the documents of datasets in one tree.

    Head: :func:`bot.catalog.validate.load_and_validate_dataset` (so the
    diffed documents are exactly the validated ones, rendered once).  Base:
    render/parse only -- problems of the base are not this change's fault,
    they become notes.
    """

    def __init__(
        self,
        tree: RevisionTree,
        env: str,
        registry: SchemaRegistry,
        engine: str,
        *,
        validate: bool,
        known_ids: set[str] | None = None,
    ) -> None:
        self.tree = tree
        self.known_ids = known_ids
        self.env = env
        self.registry = registry
        self.engine = engine
        self.validate = validate
        self._catalog: Catalog | None = None
        self._renderer: Any = None
        self._setup_error: Problem | None = None

    def _setup(self) -> None:
        if self._catalog is not None or self._setup_error is not None:
            return
        from bot.catalog.validate import make_renderer

        try:
            catalog = Catalog.open(self.tree.root)
            self._renderer = make_renderer(catalog, self.env, self.engine)
            self._catalog = catalog
        except CatalogError as exc:
            self._setup_error = exc.to_problem(code="config")
        except BotError as exc:
            self._setup_error = Problem(code="config", message=str(exc), file=CONFIG_FILE)

    def documents(self, ds: str) -> tuple[dict[str, Any], list[Problem]]:
        """``(docs by kind, problems)``; a kind whose file exists but does not load maps to ``None``."""
        self._setup()
        if self._setup_error is not None:
            return {}, [self._setup_error]
        assert self._catalog is not None
        dataset = self._catalog.dataset(ds)
        present = {kind for kind, name in DOC_FILES.items() if dataset.path(name).is_file()}
        docs: dict[str, Any] = {}
        problems: list[Problem] = []
        if self.validate:
            from bot.catalog.validate import load_and_validate_dataset

            loaded, problems = load_and_validate_dataset(
                self._catalog, dataset, self._renderer, self.registry, known_ids=self.known_ids
            )
            for kind in present - {"pipeline"}:
                docs[kind] = getattr(loaded, kind)
        else:
            for kind in present - {"pipeline"}:
                try:
                    docs[kind] = self._load(kind, dataset.path(DOC_FILES[kind]))
                except CatalogError as exc:
                    problems.append(exc.to_problem(code="render" if kind == "collection" else "parse", dataset=ds))
                    docs[kind] = None
        if "pipeline" in present:
            try:
                docs["pipeline"] = self._load("pipeline", dataset.path(PIPELINE))
            except CatalogError as exc:
                docs["pipeline"] = None
                if not self.validate:  # at head, validation already reported it
                    problems.append(exc.to_problem(code="pipeline", dataset=ds))
        return docs, [_relativize(p, self.tree.root, ds) for p in problems]

    def _load(self, kind: str, path: Path) -> Any:
        if kind == "collection":
            return self._renderer.render_file(path)
        rel = path.relative_to(self.tree.root).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
            return parse_yaml(text, rel) if kind == "pipeline" else parse_json(text, rel)
        except ConfigError as exc:
            raise CatalogError(exc.message, file=rel, line=exc.line, hint=exc.hint) from None
        except (ValueError, yaml.YAMLError) as exc:
            line = getattr(exc, "lineno", None) or getattr(getattr(exc, "problem_mark", None), "line", None)
            raise CatalogError(f"cannot parse: {exc}", file=rel, line=line, hint="fix the syntax") from None


def _profile_problems(
    repo: RevisionReader, tree: RevisionTree, rev: str, changed: list[str], registry: SchemaRegistry
) -> tuple[list[Problem], int]:
    """Validate every dataset's plain-JSON document against a changed profile (no rendering).

    Why only the profile: it is the only thing that changed for datasets the
    change does not touch otherwise, and checking it needs neither Jsonnet
    nor Frictionless -- one batch read and one compiled JSON Schema.
    Returns the problems and how many documents were checked.
    """
    from bot.catalog.locate import json_line
    from bot.catalog.validate import PROFILE_DATAPACKAGE, PROFILE_GRIDSCHEMA, Profiles, schema_problems

    try:
        profiles = Profiles.load(tree.root)
    except CatalogError as exc:
        return [exc.to_problem(code="profile-invalid")], 0
    targets = []
    if f"{PROFILES_DIR}/{PROFILE_DATAPACKAGE}" in changed:
        targets.append((DATAPACKAGE, profiles.datapackage, "catalog-datapackage", "profile", profiles.datapackage_file))
    if f"{PROFILES_DIR}/{PROFILE_GRIDSCHEMA}" in changed:
        targets.append((GRIDSCHEMA, profiles.gridschema, "gridschema", "gridschema", profiles.gridschema_file))
    if not targets:
        return [], 0
    names = repo.list_many(rev, [DATASETS_DIR])
    problems: list[Problem] = []
    checked = 0
    for filename, schema, key, code, profile_file in targets:
        files = [n for n in names if n.endswith(f"/{filename}") and n.count("/") == 2]
        validator = registry.validator_for_schema(schema, key)
        for rel, raw in repo.read_tree(rev, files).items():
            ds = dataset_of(rel)
            try:
                text = raw.decode("utf-8")
                doc = parse_json(text, rel)
            except (ValueError, ConfigError):
                continue  # unreadable files are reported when the dataset itself is checked
            checked += 1
            problems += schema_problems(
                validator,
                doc,
                code=code,
                schema_name=f"the changed profile {profile_file}",
                file=rel,
                line_of=functools.partial(json_line, text),
                dataset=ds,
            )
    return problems, checked


def _relativize(p: Problem, root: Path, ds: str) -> Problem:
    """Problems name catalog-relative files, whatever temp folder we rendered in."""
    data = p.to_dict()
    data["severity"] = Severity(p.severity)
    data.setdefault("dataset", ds)
    file = data.get("file")
    if file and os.path.isabs(file) and Path(file).resolve().is_relative_to(root.resolve()):
        data["file"] = Path(file).resolve().relative_to(root.resolve()).as_posix()
    return Problem(**data)


def _diff_all(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, DocumentDiff]:
    """Diff every document kind present on either side (unparseable head docs are skipped)."""
    out: dict[str, DocumentDiff] = {}
    for kind in DOC_FILES:
        if kind not in old and kind not in new:
            continue
        if kind in new and new[kind] is None:
            continue  # could not render at head: the problem says why; no misleading diff
        o = old.get(kind)
        n = new.get(kind)
        out[kind] = diff_documents(o, n, kind)  # type: ignore[arg-type]
    return out
