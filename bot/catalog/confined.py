"""Jsonnet sources read only from inside the catalog root.

Why its own module: the import confinement is the part of the render sandbox
that must never regress (absolute paths, ``..`` and symlinks out of the
catalog, oversized or non-UTF-8 files), so it is small enough to review on
its own.  :class:`bot.catalog.render.Renderer` reads every file through it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from bot.catalog.jsonnet_engines import JsonnetError


class Refused(Exception):
    """Raised inside an import callback; carries the error we will report."""

    def __init__(self, error: JsonnetError) -> None:
        self.error = error
        super().__init__(error.detail)


class ConfinedFiles:
    """Root-relative file access with size, type, encoding and symlink checks (contents cached)."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.cache: dict[str, bytes] = {}

    def relative(self, path: Path, what: str) -> str:
        """Root-relative path of an absolute path, refusing escapes (lexically and via symlinks)."""
        absolute = Path(os.path.abspath(path))
        try:
            rel = absolute.relative_to(self.root).as_posix()
        except ValueError:
            real = Path(os.path.realpath(path))
            try:
                rel = real.relative_to(self.root).as_posix()
            except ValueError:
                raise JsonnetError(
                    f"{what} {path} is outside the render root {self.root}",
                    kind="sandbox",
                    hint="render files inside the catalog (or pass -J folders under the same root)",
                ) from None
        return "" if rel == "." else rel

    def check_real(self, rel: str, importer: str | None, line: int | None, col: int | None, shown: str) -> Path:
        """The absolute path of ``rel``, after checking its real path stays in the root."""
        full = self.root / rel
        real = os.path.realpath(full)
        if real != str(self.root) and not real.startswith(str(self.root) + os.sep):
            raise Refused(
                JsonnetError(
                    f"{shown!r} is a symlink pointing outside the catalog ({rel} -> {real})",
                    file=importer or rel,
                    line=line,
                    column=col,
                    kind="sandbox",
                    hint="replace the symlink by the file itself, inside the catalog",
                )
            )
        return full

    def too_big(self, rel: str, size: int, importer: str | None = None, line: int | None = None) -> JsonnetError:
        what = f"imported file {rel} is" if importer and importer != rel else "file is"
        return JsonnetError(
            f"{what} {size:,} bytes, over the {self.max_bytes:,}-byte limit for Jsonnet sources; not parsed",
            file=importer or rel,
            line=line,
            kind="limit",
            hint="keep templates small: move data into datapackage.json or data files",
        )

    def read_bytes(self, rel: str, importer: str | None, line: int | None, col: int | None, shown: str) -> bytes:
        """Bytes of a root-relative file after size and symlink checks (cached)."""
        if rel in self.cache:
            return self.cache[rel]
        full = self.check_real(rel, importer, line, col, shown)
        try:
            st = os.stat(full)
        except OSError as exc:
            raise Refused(
                JsonnetError(
                    f"cannot read {rel}: {exc.strerror}", file=importer or rel, line=line, column=col, kind="sandbox"
                )
            ) from None
        if not stat.S_ISREG(st.st_mode):
            raise Refused(JsonnetError(f"{rel} is not a regular file", file=importer or rel, line=line, kind="sandbox"))
        if st.st_size > self.max_bytes:
            raise Refused(self.too_big(rel, st.st_size, importer, line))
        with open(full, "rb") as fh:
            data = fh.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise Refused(self.too_big(rel, len(data), importer, line))
        self.cache[rel] = data
        return data

    def decode(self, rel: str, data: bytes) -> str:
        """UTF-8 text of a source; a bad byte is a located error."""
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            before = data[: exc.start]
            line = before.count(b"\n") + 1
            column = exc.start - (before.rfind(b"\n") + 1) + 1
            raise Refused(
                JsonnetError(
                    f"not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}",
                    file=rel,
                    line=line,
                    column=column,
                    kind="sandbox",
                    hint="save the file as UTF-8",
                )
            ) from None
