"""Revisions of a catalog as the pure layer sees them: changed files, trees, blobs.

Why a Protocol here: :mod:`bot.catalog.check` decides *what* to read at two
revisions, not *how*; the git adapter (:class:`bot.adapters.git.GitRepo`)
satisfies :class:`RevisionReader` and is injected by the callers (the
``check`` verb, the pull-request handler), so the pure layer imports no
adapter and a test could hand it any other reader.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from bot.catalog.layout import DATASETS_DIR, LIB_DIR, PROFILES_DIR
from bot.config import CONFIG_FILE

WORKTREE = "WORKTREE"
"""Pseudo-revision: the working tree on disk (tracked + untracked, not ignored)."""

ChangeStatus = Literal["A", "M", "D", "R"]


@dataclass(frozen=True)
class FileChange:
    """One changed file between two revisions.

    ``status`` is A(dded), M(odified), D(eleted) or R(enamed); for renames
    ``old_path`` is where the file came from and ``similarity`` git's score
    (100 = same content).  A type change counts as M.
    """

    status: ChangeStatus
    path: str
    old_path: str | None = None
    similarity: int | None = field(default=None, compare=False)

    def paths(self) -> tuple[str, ...]:
        """Every path this change touches (both sides of a rename)."""
        return (self.path, self.old_path) if self.old_path else (self.path,)


class RevisionReader(Protocol):
    """What a check reads from version control (paths are catalog-relative, POSIX)."""

    path: Path
    """The catalog folder on disk (what :data:`WORKTREE` reads)."""
    prefix: str
    """Path of the catalog inside the repository (``""`` or ``"sub/dir/"``)."""

    def rev_parse(self, ref: str) -> str:
        """Full commit id of ``ref`` (:data:`WORKTREE` stays itself); UsageError if unknown."""
        ...

    def merge_base(self, a: str, b: str) -> str | None:
        """Best common ancestor of two commits, ``None`` if they share none."""
        ...

    def changed_files(self, base: str, head: str = WORKTREE) -> list[FileChange]:
        """Files changed from ``base`` to ``head``, renames detected."""
        ...

    def list_dirs(self, rev: str, prefix: str) -> list[str]:
        """Names of the folders directly under ``prefix``."""
        ...

    def list_many(self, rev: str, prefixes: Iterable[str]) -> list[str]:
        """Every file under any of ``prefixes``."""
        ...

    def entries(self, rev: str, prefixes: Iterable[str]) -> dict[str, str | None]:
        """``{path: blob id}`` under ``prefixes`` (``None`` for untracked working-tree files)."""
        ...

    def read_entries(self, rev: str, entries: Mapping[str, str | None]) -> dict[str, bytes]:
        """Contents of the files listed by :meth:`entries`."""
        ...

    def blob_sizes(self, shas: Iterable[str]) -> dict[str, int]:
        """``{blob id: size}`` without reading the blobs (budgets checked before any read)."""
        ...

    def grep_paths(self, rev: str, needles: Iterable[str], prefixes: Iterable[str]) -> set[str]:
        """Files under ``prefixes`` (pathspecs) whose text contains any of ``needles``."""
        ...

    def exists(self, rev: str, path: str) -> bool:
        """Whether ``path`` (file or folder) exists at ``rev``."""
        ...

    def read_tree(self, rev: str, paths: Iterable[str]) -> dict[str, bytes]:
        """Contents of ``paths`` at ``rev`` (absent ones left out)."""
        ...


def dataset_of(path: str) -> str | None:
    """The dataset id of a catalog-relative path (``datasets/<id>/...``)."""
    parts = path.split("/")
    return parts[1] if len(parts) >= 3 and parts[0] == DATASETS_DIR else None


class RevisionTree:
    """One revision's files needed for rendering, as a folder on disk.

    For :data:`WORKTREE` it is the catalog folder itself (nothing copied);
    otherwise a temp folder filled from one ``git cat-file --batch`` by blob
    SHA.  Source data under ``datasets/<id>/data/`` is not copied: nothing
    here renders or validates it, and it can be large.
    """

    def __init__(self, repo: RevisionReader, rev: str, datasets: Iterable[str], tmp: Path, label: str) -> None:
        self.rev = rev
        self.datasets_present: set[str] = set()
        wanted = sorted(set(datasets))
        prefixes = [LIB_DIR, PROFILES_DIR, CONFIG_FILE, *(f"{DATASETS_DIR}/{d}" for d in wanted)]
        self.entries = repo.entries(rev, prefixes)
        self.files = sorted(self.entries)
        for name in self.files:
            ds = dataset_of(name)
            if ds:
                self.datasets_present.add(ds)
        if rev == WORKTREE:
            self.root = repo.path
            return
        self.root = tmp / label
        self.root.mkdir(parents=True)
        needed = {k: v for k, v in self.entries.items() if not is_source_data(k)}
        for name, data in repo.read_entries(rev, needed).items():
            target = self.root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        # Catalog.open needs datasets/ or catalog-bot.yaml to accept the folder.
        (self.root / DATASETS_DIR).mkdir(exist_ok=True)

    def read(self, rel: str) -> bytes | None:
        path = self.root / rel
        return path.read_bytes() if path.is_file() else None

    def blob_id(self, rel: str) -> str | None:
        """Git's blob id of a file (from the tree, or hashed from disk for the working tree)."""
        sha = self.entries.get(rel)
        if sha:
            return sha
        path = self.root / rel
        if not path.is_file():
            return None
        data = path.read_bytes()
        return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def is_source_data(path: str) -> bool:
    parts = path.split("/")
    return len(parts) >= 4 and parts[0] == DATASETS_DIR and parts[2] == "data"
