"""Git, read-only, through the ``git`` executable.

Why a subprocess and not a library: git itself is always present where the
bot runs (Actions checkout, Argo init container, a curator's laptop), it
understands every repository format (packs, worktrees, partial clones) and it
is the reference implementation of rename detection.  We never check out a
revision: file contents come from ``git cat-file --batch`` (ONE process for
any number of files), so the cost of a check follows the size of the change,
not the size of the catalog.

Paths in and out are relative to the directory the :class:`GitRepo` was
opened at (the catalog root, which may be a sub-folder of the repository),
POSIX style.  The pseudo-revision :data:`WORKTREE` means "the files on disk,
including uncommitted and untracked (not ignored) changes" -- what a curator
wants to check before committing.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from bot.catalog.revisions import WORKTREE, ChangeStatus, FileChange
from bot.errors import ServiceError, UsageError

__all__ = ["WORKTREE", "ChangeStatus", "FileChange", "GitRepo", "overlay_checkout"]

# No pager, no prompts, stable (untranslated) output, no user config that
# changes output formats (color, external diff, relative paths).
_ENV_OVERRIDES = {
    "GIT_PAGER": "cat",
    "PAGER": "cat",
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
    "GIT_OPTIONAL_LOCKS": "0",
}
_CONFIG = ("-c", "core.quotepath=off", "-c", "color.ui=never", "-c", "diff.external=", "-c", "diff.noprefix=false")


class GitRepo:
    """A git repository seen from one of its directories (the catalog root)."""

    def __init__(self, path: Path | str, *, git: str = "git") -> None:
        self.path = Path(path).resolve()
        self._git = git
        if not self.path.is_dir():
            raise UsageError(
                f"folder {path} does not exist", hint="pass --catalog DIR pointing at a catalog repository"
            )
        out = self._run(["rev-parse", "--show-toplevel", "--show-prefix"], usage_error=True).decode()
        lines = out.splitlines()
        self.toplevel = Path(lines[0])
        self.prefix = lines[1] if len(lines) > 1 else ""
        """Path of :attr:`path` inside the repository (``""`` or ``"sub/dir/"``)."""

    # -- plumbing -------------------------------------------------------
    def _run(
        self,
        args: Sequence[str],
        *,
        input: bytes | None = None,
        usage_error: bool = False,
        ok: tuple[int, ...] = (0,),
        env: Mapping[str, str] | None = None,
    ) -> bytes:
        """Run git in :attr:`path`; failures become a located error (never a traceback)."""
        env = {**os.environ, **(env or {}), **_ENV_OVERRIDES}
        try:
            proc = subprocess.run(
                [self._git, *_CONFIG, *args], cwd=self.path, input=input, capture_output=True, env=env, check=False
            )
        except FileNotFoundError:
            raise UsageError("git is not installed", hint="install git (apt-get install git) and retry") from None
        if proc.returncode not in ok:
            message = proc.stderr.decode(errors="replace").strip() or f"exit status {proc.returncode}"
            if usage_error and "not a git repository" in message:
                raise UsageError(
                    f"{self.path} is not inside a git repository",
                    hint="run the check in a clone of the catalog repository (or `git init` it first)",
                )
            if usage_error:
                raise UsageError(f"git {args[0]} failed: {message}")
            raise ServiceError("git", f"`git {' '.join(args[:2])}` failed: {message}")
        return proc.stdout

    def rel_to_repo(self, path: str) -> str:
        """Repository-relative form of a catalog-relative path (for annotations)."""
        return f"{self.prefix}{path}"

    # -- revisions ------------------------------------------------------
    def rev_parse(self, ref: str) -> str:
        """The commit SHA of ``ref``; an unknown ref is a usage error with a fetch hint.

        :data:`WORKTREE` is returned unchanged (it has no SHA).
        """
        if ref == WORKTREE:
            return WORKTREE
        proc_out = self._try(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"])
        if proc_out is None:
            branch = ref.removeprefix("origin/").removeprefix("refs/heads/").removeprefix("refs/remotes/origin/")
            remotes = self._try(["remote"])
            has_origin = remotes is not None and "origin" in remotes.decode().split()
            fetch = f"git fetch origin {branch}" if has_origin else f"git fetch <remote> {branch}"
            hint = (
                f"fetch it first, e.g. `{fetch}` (in GitHub Actions use actions/checkout with fetch-depth: 0), "
                f"or pass an existing branch, tag or commit"
            )
            if not ref.startswith("origin/") and has_origin:
                hint += f"; if only the remote branch exists, use --base origin/{branch}"
            raise UsageError(f"git revision {ref!r} does not exist in {self.toplevel}", hint=hint)
        return proc_out.decode().strip()

    def recent_commits(self, count: int, rev: str = "HEAD") -> list[str]:
        """The last ``count`` commits of ``rev`` along first parents, newest first (a shallow clone: what it has)."""
        out = self._try(["rev-list", "--first-parent", f"--max-count={int(count)}", "--end-of-options", rev])
        return out.decode().split() if out is not None else []

    def head(self) -> str:
        """The checked-out commit (``""`` in a repository without commits)."""
        out = self._try(["rev-parse", "--verify", "--quiet", "HEAD"])
        return out.decode().strip() if out is not None else ""

    def has_commit(self, sha: str) -> bool:
        """Whether commit ``sha`` is present locally."""
        return self._try(["cat-file", "-e", f"{sha}^{{commit}}"]) is not None

    def fetch(self, spec: str, *, env: Mapping[str, str] | None = None) -> bool:
        """``git fetch origin <spec>`` (no tags); ``env`` carries an auth header, never written to config."""
        args = ["fetch", "-q", "--no-tags", "origin", "--", spec] if not spec.startswith("-") else []
        if not args:
            raise UsageError(f"refusing to fetch {spec!r}: it looks like an option")
        return self._try(args, env=env) is not None

    def overlay_commit(self, base: str, source: str, folder: str, message: str) -> str:
        """A new local commit: the tree of ``base`` with ``folder`` (catalog-relative) taken from ``source``.

        Plumbing only (a private index file, ``read-tree``/``write-tree``/
        ``commit-tree``): no checkout, no hooks, the working tree and the
        real index are untouched.  The commit's parents are ``source`` then
        ``base``, so the first parent is the commit the content came from.
        """
        import tempfile

        path = f"{self.prefix}{folder.strip('/')}"
        with tempfile.TemporaryDirectory(prefix="catalog-bot-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self._run(["-C", str(self.toplevel), "read-tree", base], env=env)
            self._run(["-C", str(self.toplevel), "rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", path], env=env)
            if self._try(["cat-file", "-e", f"{source}:{path}"]) is not None:
                self._run(["-C", str(self.toplevel), "read-tree", f"--prefix={path}/", f"{source}:{path}"], env=env)
            tree = self._run(["-C", str(self.toplevel), "write-tree"], env=env).decode().strip()
        ident = {
            "GIT_AUTHOR_NAME": "catalog-bot",
            "GIT_AUTHOR_EMAIL": "catalog-bot@localhost",
            "GIT_COMMITTER_NAME": "catalog-bot",
            "GIT_COMMITTER_EMAIL": "catalog-bot@localhost",
        }
        out = self._run(["commit-tree", tree, "-p", source, "-p", base, "-m", message], env=ident)
        return out.decode().strip()

    def is_ancestor(self, a: str, b: str) -> bool:
        """Whether commit ``a`` is an ancestor of (or equal to) commit ``b``."""
        return self._try(["merge-base", "--is-ancestor", a, b]) is not None

    def subject(self, rev: str) -> str:
        """The first line of a commit's message."""
        return self._run(["log", "-1", "--format=%s", "--end-of-options", rev]).decode().strip()

    def archive(self, rev: str) -> bytes:
        """The whole tree of ``rev`` as an uncompressed tar (``git archive``: no hooks, no filters run)."""
        return self._run(["-C", str(self.toplevel), "archive", "--format=tar", "--end-of-options", rev])

    def _try(self, args: Sequence[str], *, env: Mapping[str, str] | None = None) -> bytes | None:
        """Run git; ``None`` instead of an error on non-zero exit."""
        full = {**os.environ, **(env or {}), **_ENV_OVERRIDES}
        proc = subprocess.run([self._git, *_CONFIG, *args], cwd=self.path, capture_output=True, env=full, check=False)
        return proc.stdout if proc.returncode == 0 else None

    def merge_base(self, a: str, b: str) -> str | None:
        """The best common ancestor of two revisions (``None`` for unrelated histories).

        :data:`WORKTREE` stands for ``HEAD`` here.
        """
        a = "HEAD" if a == WORKTREE else a
        b = "HEAD" if b == WORKTREE else b
        out = self._try(["merge-base", a, b])
        return out.decode().strip() if out else None

    def commit_time(self, rev: str) -> int | None:
        """Committer time (epoch seconds) of a commit, or None when it is not in this clone."""
        out = self._try(["show", "-s", "--format=%ct", "--end-of-options", f"{rev}^{{commit}}"])
        text = out.decode().strip() if out else ""
        return int(text) if text.isdigit() else None

    # -- changes --------------------------------------------------------
    def changed_files(self, base: str, head: str = WORKTREE) -> list[FileChange]:
        """Files that differ between ``base`` and ``head`` under this directory.

        Renames are detected (``-M``) so a moved folder shows up as R entries
        with both paths; the caller decides what a rename means.  With
        ``head`` = :data:`WORKTREE`, untracked (not ignored) files are added.
        """
        args = ["diff", "--name-status", "-z", "-M", "--no-ext-diff", "--relative", base]
        if head != WORKTREE:
            args.append(head)
        args += ["--", "."]
        changes = _parse_name_status(self._run(args))
        if head == WORKTREE:
            untracked = self._run(["ls-files", "-z", "--others", "--exclude-standard", "--", "."])
            changes += [FileChange("A", p) for p in untracked.decode().split("\0") if p]
        return sorted(changes, key=lambda c: (c.path, c.old_path or ""))

    # -- contents -------------------------------------------------------
    def list_files(self, rev: str, prefix: str = "") -> list[str]:
        """Files at ``rev`` under ``prefix`` (``"lib/"``, ``"datasets/x/"``), catalog-relative."""
        return self.list_many(rev, [prefix] if prefix else ["."])

    def list_dirs(self, rev: str, prefix: str) -> list[str]:
        """Names of the folders directly under ``prefix`` at ``rev`` (one non-recursive listing)."""
        if rev == WORKTREE:
            base = self.path / prefix
            return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
        out = self._run(["ls-tree", "-z", rev, "--", prefix.rstrip("/") + "/"])
        names = []
        for entry in out.decode().split("\0"):
            meta, _, path = entry.partition("\t")
            if path and meta.split(" ")[1:2] == ["tree"]:
                names.append(path.rsplit("/", 1)[-1])
        return sorted(names)

    def list_many(self, rev: str, prefixes: Iterable[str]) -> list[str]:
        """:meth:`list_files` for several prefixes in one git call."""
        return sorted(self.entries(rev, prefixes))

    def entries(self, rev: str, prefixes: Iterable[str]) -> dict[str, str | None]:
        """Files under ``prefixes`` at ``rev`` with their blob SHA (``None`` for :data:`WORKTREE`).

        Why SHAs: reading blobs by SHA (:meth:`read_entries`) skips git's
        per-path tree walk and is ~3x faster than ``rev:path`` lookups when
        a check must read every collection of a large catalog.
        """
        paths = list(prefixes)
        if not paths:
            return {}
        if rev == WORKTREE:
            out = self._run(["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *paths])
            names = {p for p in out.decode().split("\0") if p}
            # ls-files --cached still lists files deleted on disk: drop them.
            return {n: None for n in sorted(names) if (self.path / n).is_file()}
        out = self._run(["ls-tree", "-r", "-z", rev, "--", *paths])
        result: dict[str, str | None] = {}
        for record in out.decode().split("\0"):
            if not record:
                continue
            meta, _, name = record.partition("\t")
            _mode, kind, sha = meta.split(" ")
            if kind == "blob":
                result[name] = sha
        return result

    def read_entries(self, rev: str, entries: Mapping[str, str | None]) -> dict[str, bytes]:
        """Contents for ``{path: sha}`` from :meth:`entries`, in ONE ``git cat-file --batch``."""
        if rev == WORKTREE or any(sha is None for sha in entries.values()):
            return self.read_tree(rev, entries)
        if not entries:
            return {}
        paths = list(entries)
        request = "".join(f"{entries[p]}\n" for p in paths).encode()
        out = self._run(["cat-file", "--batch"], input=request)
        return _parse_batch(out, paths)

    def blob_sizes(self, shas: Iterable[str]) -> dict[str, int]:
        """Sizes of blobs without reading them (one ``git cat-file --batch-check``)."""
        wanted = [s for s in shas if s]
        if not wanted:
            return {}
        out = self._run(["cat-file", "--batch-check"], input=("\n".join(wanted) + "\n").encode())
        sizes: dict[str, int] = {}
        for line in out.decode().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[2].isdigit():
                sizes[parts[0]] = int(parts[2])
        return sizes

    def grep_paths(self, rev: str, needles: Iterable[str], prefixes: Iterable[str]) -> set[str]:
        """Files under ``prefixes`` at ``rev`` whose text contains any of ``needles`` (fixed strings).

        Why: ``git grep`` searches the tree in C without handing us every
        blob, so finding the few collections that name a changed lib costs
        milliseconds however large the catalog is.
        """
        patterns = [arg for n in sorted(set(needles)) for arg in ("-e", n)]
        paths = list(prefixes)
        if not patterns or not paths:
            return set()
        base = ["grep", "-l", "-z", "-F", "--no-color", *patterns]
        if rev == WORKTREE:
            out = self._run([*base, "--untracked", "--", *paths], ok=(0, 1))
            return {p for p in out.decode().split("\0") if p}
        out = self._run([*base, rev, "--", *paths], ok=(0, 1))
        return {p.split(":", 1)[1] for p in out.decode().split("\0") if ":" in p}

    def exists(self, rev: str, path: str) -> bool:
        """Whether ``path`` (file or folder) exists at ``rev``."""
        if rev == WORKTREE:
            return (self.path / path).exists()
        return self._try(["cat-file", "-e", f"{rev}:{self.prefix}{path}"]) is not None

    def read_file(self, rev: str, path: str) -> bytes | None:
        """Contents of one file at ``rev`` (``None`` when it does not exist there)."""
        return self.read_tree(rev, [path]).get(path)

    def read_tree(self, rev: str, paths: Iterable[str]) -> dict[str, bytes]:
        """Contents of many files at ``rev`` in ONE ``git cat-file --batch`` process.

        Missing paths are left out of the result.  Why batch: one process per
        file costs ~2 ms each, which on a 1,000-dataset import scan would
        dominate the whole check.
        """
        wanted = list(dict.fromkeys(paths))
        if not wanted:
            return {}
        if rev == WORKTREE:
            result: dict[str, bytes] = {}
            for rel in wanted:
                file = self.path / rel
                if file.is_file():
                    result[rel] = file.read_bytes()
            return result
        if any("\n" in p for p in wanted):
            raise UsageError("file names containing a newline are not supported", hint="rename the file")
        request = "".join(f"{rev}:{self.prefix}{p}\n" for p in wanted).encode()
        out = self._run(["cat-file", "--batch"], input=request)
        return _parse_batch(out, wanted)


def overlay_checkout(root: Path, source: Path, folder: str) -> Path:
    """The checkout twin of :meth:`GitRepo.overlay_commit`: ``root/folder`` becomes ``source/folder``.

    Why: an Argo pod receives the trusted configuration commit and the data
    commit as two plain checkouts (git artifacts; there is no shared object
    database to build an overlay commit in).  Everything outside ``folder``
    stays the trusted one; ``folder`` (``datasets/``) is copied over from
    the data checkout, which is left as it was (a local debugging run must
    not lose a folder) and never read again: the catalog is ``root`` and
    Jsonnet imports are confined to it.  Symbolic links in ``folder`` that
    are absolute or lead outside ``root`` are refused (the rule ``git
    archive`` + ``tarfile``'s ``data`` filter applies to the bot's own
    overlays): such a link could pull the data commit's configuration back
    in.  Returns ``root``.
    """
    import shutil

    src = source / folder
    if src.is_symlink():
        raise UsageError(f"{folder}/ of the data commit is a symbolic link", hint=f"make {folder}/ a real folder")
    for dirpath, dirnames, filenames in os.walk(src):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if not path.is_symlink():
                continue
            rel = path.relative_to(source)
            target = os.readlink(path)
            resolved = os.path.normpath(os.path.join(rel.parent.as_posix(), target))
            if os.path.isabs(target) or resolved == ".." or resolved.startswith("../"):
                raise UsageError(
                    f"{rel.as_posix()}: symbolic link to {target!r} leaves the catalog",
                    hint="replace the link by the file itself or by a link inside the catalog",
                )
    dest = root / folder
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        shutil.rmtree(dest)
    if src.is_dir():
        shutil.copytree(src, dest, symlinks=True)
    return root


def _parse_name_status(out: bytes) -> list[FileChange]:
    """Parse ``git diff --name-status -z`` (renames carry two paths)."""
    fields = out.decode().split("\0")
    changes: list[FileChange] = []
    i = 0
    while i < len(fields) and fields[i]:
        status = fields[i]
        code = status[0]
        if code in "RC":
            old, new = fields[i + 1], fields[i + 2]
            i += 3
            score = int(status[1:]) if status[1:].isdigit() else None
            changes.append(FileChange("R", new, old, score) if code == "R" else FileChange("A", new))
            continue
        path = fields[i + 1]
        i += 2
        if code == "A":
            changes.append(FileChange("A", path))
        elif code == "D":
            changes.append(FileChange("D", path))
        else:  # M, T (type change), U (unmerged): the content differs
            changes.append(FileChange("M", path))
    return changes


def _parse_batch(out: bytes, wanted: list[str]) -> dict[str, bytes]:
    """Parse ``git cat-file --batch`` output: ``<sha> <type> <size>\\n<data>\\n`` or ``<name> missing``."""
    result: dict[str, bytes] = {}
    pos = 0
    for path in wanted:
        end = out.index(b"\n", pos)
        header = out[pos:end].split(b" ")
        pos = end + 1
        if header[-1] in (b"missing", b"ambiguous") or len(header) != 3:
            continue
        size = int(header[2])
        if header[1] == b"blob":
            result[path] = out[pos : pos + size]
        pos += size + 1
    return result
