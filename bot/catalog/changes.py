"""Which datasets a change touches, and how to recognise a renamed dataset folder.

Pure decisions over a :class:`~bot.catalog.revisions.RevisionReader`: sort
changed paths (:func:`classify`), add the datasets that import a changed
``lib/`` file (:func:`add_importers`), pair removed and added folders
(:func:`find_renames`).
"""

from __future__ import annotations

import contextlib
import json
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.catalog.layout import COLLECTION, DATAPACKAGE, DATASET_ID, DATASETS_DIR, LIB_DIR, PIPELINE, PROFILES_DIR
from bot.catalog.plan import Fingerprint, pair_renames
from bot.catalog.revisions import FileChange, RevisionReader, RevisionTree, dataset_of
from bot.config import CONFIG_FILE, parse_yaml
from bot.errors import ConfigError


@dataclass
class ChangeScope:
    """Which datasets a change touches, and why."""

    direct: dict[str, list[str]] = field(default_factory=dict)  # id -> changed files in its folder
    moved: set[str] = field(default_factory=set)  # paths of pure moves (same content): not a data change
    via: dict[str, list[str]] = field(default_factory=dict)  # id -> changed lib files it imports
    lib: list[FileChange] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    config: bool = False
    git_pairs: list[tuple[str, str]] = field(default_factory=list)  # (old id, new id) from git renames
    invalid: set[str] = field(default_factory=set)  # folder names that are not valid ids

    def ids(self) -> set[str]:
        return set(self.direct) | set(self.via)


def classify(changes: Iterable[FileChange]) -> ChangeScope:
    """Sort changed paths into dataset folders, shared libs, profiles and config (pure)."""
    scope = ChangeScope()
    for change in changes:
        for path in change.paths():
            parts = path.split("/")
            if parts[0] == DATASETS_DIR and len(parts) >= 3:
                ds = parts[1]
                if not DATASET_ID.fullmatch(ds):
                    scope.invalid.add(ds)
                    continue
                files = scope.direct.setdefault(ds, [])
                if path not in files:
                    files.append(path)
            elif parts[0] == LIB_DIR and change not in scope.lib:
                scope.lib.append(change)
            elif parts[0] == PROFILES_DIR and path not in scope.profiles:
                scope.profiles.append(path)
            elif path == CONFIG_FILE:
                scope.config = True
        if change.status == "R" and change.old_path and change.similarity == 100:
            scope.moved |= {change.path, change.old_path}
        if change.status == "R" and change.old_path:
            old, new = change.old_path.split("/"), change.path.split("/")
            if old[0] == new[0] == DATASETS_DIR and len(old) >= 3 and len(new) >= 3 and old[1] != new[1]:
                scope.git_pairs.append((old[1], new[1]))
    return scope


def is_doc_helper(path: str) -> bool:
    """Jsonnet helpers and other text next to the documents are metadata, not data."""
    return path.endswith((".jsonnet", ".libsonnet", ".md"))


def all_ids(repo: RevisionReader, rev: str) -> set[str]:
    """Every dataset id at ``rev`` (one non-recursive listing of ``datasets/``)."""
    return {d for d in repo.list_dirs(rev, DATASETS_DIR) if DATASET_ID.fullmatch(d)}


def add_importers(repo: RevisionReader, scope: ChangeScope, head: str, base: str) -> None:
    """Datasets whose Jsonnet imports a changed lib file, at head (and at base if libs were removed/renamed).

    Why in two stages: scanning 1,000 collections with the Jsonnet lexer costs
    ~0.3 s, but only files that *name* an affected lib can import it (Jsonnet
    import paths are string literals).  So we build the graph of ``lib/``
    first, take every lib that reaches a changed one, and lex only the
    dataset files whose text contains one of those file names.
    """
    from bot.catalog.imports import build_import_graph

    changed = {p for c in scope.lib for p in c.paths()}
    revs = [head]
    if any(c.status in ("D", "R") for c in scope.lib):
        revs.append(base)
    for rev in revs:
        lib_entries = repo.entries(rev, [LIB_DIR])
        libs = {k: v.decode("utf-8", errors="replace") for k, v in repo.read_entries(rev, lib_entries).items()}
        reaching = build_import_graph(libs, [LIB_DIR]).importers_of(changed) | changed
        needles = {posixpath.basename(p) for p in reaching}
        candidates: dict[str, str] = {}
        while needles:  # fixed point: a dataset helper that names a lib makes its own name a needle
            hits = {
                p
                for p in repo.grep_paths(
                    rev, needles, [f":(glob){DATASETS_DIR}/**/*.jsonnet", f":(glob){DATASETS_DIR}/**/*.libsonnet"]
                )
                if p not in candidates
            }
            if not hits:
                break
            found = {k: v.decode("utf-8", errors="replace") for k, v in repo.read_tree(rev, sorted(hits)).items()}
            candidates.update(found)
            needles = {posixpath.basename(k) for k in found} - {COLLECTION}
        graph = build_import_graph({**libs, **candidates}, [LIB_DIR])
        for dependent in graph.dependents_of(changed):
            ds = dataset_of(dependent)
            if ds and DATASET_ID.fullmatch(ds):
                via = scope.via.setdefault(ds, [])
                via += sorted((changed & graph.dependencies_of(dependent)) - set(via))


def find_renames(scope: ChangeScope, base: RevisionTree, head: RevisionTree, ids: list[str]) -> dict[str, str]:
    """``{new_id: old_id}`` for folders that were renamed (see :func:`bot.catalog.plan.pair_renames`)."""
    removed = [d for d in ids if d in base.datasets_present and d not in head.datasets_present]
    added = [d for d in ids if d in head.datasets_present and d not in base.datasets_present]
    if not removed or not added:
        return {}
    return pair_renames(
        {d: fingerprint(base, d) for d in removed},
        {d: fingerprint(head, d) for d in added},
        scope.git_pairs,
    )


def fingerprint(tree: RevisionTree, ds: str) -> Fingerprint:
    """What identifies a dataset folder's content whatever its name: datapackage id, pipeline source, blobs."""
    folder = f"{DATASETS_DIR}/{ds}/"
    dp_id = None
    source = None
    raw = tree.read(folder + DATAPACKAGE)
    if raw:
        with contextlib.suppress(ValueError):
            data = json.loads(raw)
            dp_id = data.get("id") if isinstance(data, dict) and isinstance(data.get("id"), str) else None
    raw = tree.read(folder + PIPELINE)
    if raw:
        try:
            data = parse_yaml(raw, folder + PIPELINE)
            if isinstance(data, dict) and data.get("source") is not None:
                source = json.dumps(data["source"], sort_keys=True)
        except ConfigError:
            pass
    empty = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git's id of an empty file
    blobs = frozenset(
        sha for name in tree.files if name.startswith(folder) and (sha := tree.blob_id(name)) not in (None, empty)
    )
    return Fingerprint(dp_id, source, blobs)
