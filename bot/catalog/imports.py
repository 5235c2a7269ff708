"""Jsonnet import discovery and the import graph (pure: works on text, never on a checkout).

Why our own scanner instead of asking an engine: the check of a pull request
must know which ``collection.jsonnet`` files a changed ``lib/*.libsonnet``
affects *without rendering anything*, on any git revision (file contents come
from ``git cat-file``, there is no working tree).  A regex over the source is
not enough: imports inside comments or strings must be ignored and import
paths may be written as ``'...'``, ``"..."``, ``@'...'`` or ``|||`` blocks.  So
this module has a small Jsonnet lexer; the same lexer also estimates the
syntactic nesting depth of a file, which :mod:`bot.catalog.render` uses to
refuse inputs that would overflow an engine's native stack (both the C++ and
the Go engines crash the whole process on ~10^4-10^5 deep expressions).

Resolution follows Jsonnet: first relative to the importing file's folder,
then each library folder in order.  Paths are catalog-relative POSIX strings.
"""

from __future__ import annotations

import posixpath
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

IMPORT_KINDS = ("import", "importstr", "importbin")

# Keywords that open a nested expression (their body is a child of them).
_NESTING_KEYWORDS = frozenset({"local", "if", "then", "else", "function", "assert", "error", "for", "in"})
# Keywords after which a ``;`` starts the (nested) body.
_PREFIX_KEYWORDS = frozenset({"local", "assert"})

_TOKEN = re.compile(
    r"""(?:[ \t\r\n]+|//[^\n]*|\#[^\n]*|/\*.*?\*/)*
    (?:
       (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|@"(?:[^"]|"")*"|@'(?:[^']|'')*')
     | (?P<block>\|\|\|)
     | (?P<punct>[{}\[\](),;.])
     | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
     | (?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
     | (?P<op>[!$:~+\-&|^=<>*/%]+)
     | (?P<bad>["'@]|/\*)
    )?""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


@dataclass(frozen=True)
class Import:
    """One ``import``/``importstr``/``importbin`` of a literal path, with its 1-based location."""

    kind: str
    path: str
    line: int
    column: int


@dataclass(frozen=True)
class ScanResult:
    """What one pass over a Jsonnet source found.

    ``max_depth`` is an upper-bound estimate of the expression nesting (not
    exact, but never far below it); ``depth_line``/``depth_column`` locate
    where it peaked.  ``complete`` is False when the lexer hit something it
    could not tokenize (the engine will report that syntax error itself).
    ``tailstrict`` says whether the keyword occurs: go-jsonnet does not count
    tail calls against ``max_stack`` and crashes on a deep tail recursion.
    """

    imports: tuple[Import, ...]
    max_depth: int
    depth_line: int
    depth_column: int
    complete: bool = True
    tailstrict: bool = False


class _Lexer:
    """Just enough of the Jsonnet lexer: comments, all string forms, brackets, identifiers, operators."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self._line_starts = [0]
        for m in re.finditer("\n", text):
            self._line_starts.append(m.end())

    def location(self, pos: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        import bisect

        idx = bisect.bisect_right(self._line_starts, pos) - 1
        return idx + 1, pos - self._line_starts[idx] + 1

    def _text_block(self) -> str | None:
        """Body of a ``|||`` block starting after the ``|||`` (and optional ``-``); None if malformed."""
        text, n = self.text, len(self.text)
        chomp = text.startswith("-", self.pos)
        i = self.pos + (1 if chomp else 0)
        while i < n and text[i] in " \t\r":  # whitespace up to the mandatory newline
            i += 1
        if i >= n or text[i] != "\n":
            self.pos = i
            return None
        i += 1
        while True:  # blank lines before the first content line are kept as newlines
            j = i
            while j < n and text[j] in " \t\r":
                j += 1
            if j < n and text[j] == "\n":
                i = j + 1
                continue
            break
        start_blank = text[self.pos : i].count("\n") - 1
        j = i
        while j < n and text[j] in " \t":
            j += 1
        prefix = text[i:j]
        if not prefix:
            self.pos = i
            return None
        lines = ["\n"] * max(start_blank, 0)
        while i < n:
            if text.startswith(prefix, i):
                end = text.find("\n", i)
                end = n if end < 0 else end
                lines.append(text[i + len(prefix) : end] + "\n")
                i = end + 1
                continue
            # A line not starting with the prefix: blank (kept) or the terminator.
            end = text.find("\n", i)
            line = text[i : n if end < 0 else end]
            if line.strip(" \t\r") == "" and end >= 0:
                lines.append("\n")
                i = end + 1
                continue
            stripped = line.lstrip(" \t")
            if stripped.startswith("|||"):
                self.pos = i + (len(line) - len(stripped)) + 3
                body = "".join(lines)
                return body[:-1] if chomp and body.endswith("\n") else body
            self.pos = i
            return None
        self.pos = n
        return None

    def tokens(self) -> Iterable[tuple[str, str, int]]:
        """Yield ``(kind, value, offset)``; kinds: ident, string, number, op, punct, error.

        One regex match per token (whitespace and comments are skipped inside
        the same match): this runs on every rendered file, so it must be cheap.
        Quoted strings are yielded raw (``"..."`` with quotes) and decoded by
        :func:`_decode_string` only when an import needs the value.
        """
        text, n = self.text, len(self.text)
        match = _TOKEN.match
        pos = self.pos
        while pos < n:
            m = match(text, pos)
            if m is None:  # only trailing whitespace/comments, or an unterminated comment
                break
            kind = m.lastgroup
            start = m.start(kind) if kind else m.end()
            if kind is None:
                pos = m.end()
                if pos == start and pos < n:
                    yield ("error", text[pos], pos)
                    pos += 1
                continue
            value = m.group(kind)
            pos = m.end()
            if kind == "block":
                self.pos = pos
                body = self._text_block()
                pos = self.pos
                yield ("string", body, start) if body is not None else ("error", "", start)
                continue
            if kind == "op":
                for marker in ("//", "/*", "|||"):  # a comment or block start ends an operator
                    cut = value.find(marker)
                    if cut > 0:
                        value = value[:cut]
                        pos = start + cut
                    elif cut == 0:
                        value = ""
                if not value:
                    pos = start
                    kind, value = "error", text[start]
                    pos += 1
            if kind == "bad":
                yield ("error", value, start)
                break
            yield (kind, value, start)
        self.pos = pos


def _decode_string(raw: str) -> str:
    """Value of a raw quoted string token (``'..'``, ``".."``, ``@'..'``, ``@".."``); blocks are already values."""
    if raw.startswith("@"):
        quote = raw[1]
        return raw[2:-1].replace(quote + quote, quote)
    if raw[:1] not in ("'", '"'):
        return raw
    out: list[str] = []
    body, i = raw[1:-1], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u":
                try:
                    out.append(chr(int(body[i + 2 : i + 6], 16)))
                    i += 6
                    continue
                except ValueError:
                    pass
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def scan(source: str, max_depth: int | None = None) -> ScanResult:
    """Find imports and estimate the nesting depth of one Jsonnet source.

    The depth estimate counts, per bracket level, every token that makes the
    next expression a child of the current one (operators, ``.``,
    ``local``/``if``/``function``/...); a ``,`` starts a sibling, so it resets
    the level's count to the number of ``local``/``assert`` prefixes that
    still enclose it.  Plain data (``[1, 2, 3]``, ``{a: 1, b: 2}``) stays
    shallow however big it is; ``1+1+1...`` or 10^5 nested locals do not.
    With ``max_depth``, scanning stops (``complete=False``) as soon as the
    estimate exceeds it: a refused file is refused fast.
    """
    lexer = _Lexer(source)
    imports: list[Import] = []
    counts = [0]
    prefixes = [0]
    total = 0  # sum(counts) + len(counts) - 1, maintained incrementally
    deepest, max_pos = 0, 0
    pending: tuple[str, int] | None = None
    complete = True
    tailstrict = False
    for kind, value, pos in lexer.tokens():
        if pending is not None:
            if kind == "string":
                line, col = lexer.location(pending[1])
                imports.append(Import(pending[0], _decode_string(value), line, col))
            pending = None
        if kind == "error":
            complete = False
            break
        if kind == "ident" and value in IMPORT_KINDS:
            pending = (value, pos)
            continue
        if kind == "ident" and value == "tailstrict":
            tailstrict = True
        if kind == "punct":
            if value in "([{":
                counts.append(0)
                prefixes.append(0)
                total += 1
            elif value in ")]}":
                if len(counts) > 1:
                    total -= counts.pop() + 1
                    prefixes.pop()
            elif value == ",":
                total -= counts[-1] - prefixes[-1]
                counts[-1] = prefixes[-1]
            elif value == ".":
                counts[-1] += 1
                total += 1
            elif value == ";":
                total -= counts[-1] - prefixes[-1]
                counts[-1] = prefixes[-1]
        elif kind == "op" or (kind == "ident" and value in _NESTING_KEYWORDS):
            counts[-1] += 1
            total += 1
            if value in _PREFIX_KEYWORDS:
                prefixes[-1] += 1
        if total > deepest:
            deepest, max_pos = total, pos
            if max_depth is not None and deepest > max_depth:
                complete = False
                break
    line, col = lexer.location(max_pos)
    return ScanResult(tuple(imports), deepest, line, col, complete, tailstrict)


def find_imports(source: str) -> list[Import]:
    """The literal imports of a Jsonnet source, in source order (comments and strings ignored)."""
    return list(scan(source).imports)


def is_escape(path: str) -> bool:
    """Whether a normalized relative path leaves its root (``..`` or absolute)."""
    return path.startswith("/") or path == ".." or path.startswith("../")


def candidates(importer: str, path: str, lib_dirs: Iterable[str]) -> list[str]:
    """Catalog-relative places Jsonnet would look for ``path`` imported by ``importer``, in order.

    Absolute paths and paths escaping the catalog give no candidate (the
    renderer refuses them); a library candidate that escapes is skipped.
    """
    if path.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", path):
        return []
    out: list[str] = []
    first = posixpath.normpath(posixpath.join(posixpath.dirname(importer), path))
    if is_escape(first):
        return []
    out.append(first)
    for lib in lib_dirs:
        cand = posixpath.normpath(posixpath.join(lib, path))
        if not is_escape(cand) and cand not in out:
            out.append(cand)
    return out


@dataclass
class ImportGraph:
    """Who imports whom, over catalog-relative POSIX paths.

    ``edges[f]`` are the files ``f`` may depend on: for each import, every
    candidate location up to and including the one that exists (a file
    added earlier on the search path would shadow the current one, so it is
    a dependency too); when none exists, all candidates.  ``unresolved``
    lists imports that found nothing or are refused (absolute / escaping).
    """

    edges: dict[str, set[str]] = field(default_factory=dict)
    unresolved: dict[str, list[Import]] = field(default_factory=dict)
    imports: dict[str, list[Import]] = field(default_factory=dict)
    _reverse: dict[str, set[str]] = field(default_factory=dict, repr=False)

    def add(self, importer: str, deps: Iterable[str]) -> None:
        """Record that ``importer`` depends on each of ``deps``."""
        targets = self.edges.setdefault(importer, set())
        for dep in deps:
            targets.add(dep)
            self._reverse.setdefault(dep, set()).add(importer)

    def dependencies_of(self, path: str) -> set[str]:
        """All files ``path`` depends on, transitively (not including itself)."""
        seen: set[str] = set()
        todo = deque(self.edges.get(path, ()))
        while todo:
            dep = todo.popleft()
            if dep in seen:
                continue
            seen.add(dep)
            todo.extend(self.edges.get(dep, ()))
        seen.discard(path)
        return seen

    def importers_of(self, changed: Iterable[str]) -> set[str]:
        """Every file that transitively imports one of ``changed`` (any extension)."""
        seen: set[str] = set()
        todo = deque(changed)
        while todo:
            path = todo.popleft()
            for importer in self._reverse.get(path, ()):
                if importer not in seen:
                    seen.add(importer)
                    todo.append(importer)
        return seen

    def dependents_of(self, changed_files: set[str]) -> set[str]:
        """The ``*.jsonnet`` files (collections) affected by ``changed_files``, transitively.

        A changed ``*.jsonnet`` that is in the graph is affected by itself and
        included; libraries (``*.libsonnet``) and imported text are not
        returned, only the documents that render differently.
        """
        affected = self.importers_of(changed_files) | {p for p in changed_files if p in self.edges}
        return {p for p in affected if p.endswith(".jsonnet")}


def build_import_graph(files: Mapping[str, str], lib_dirs: list[str]) -> ImportGraph:
    """Build the graph of ``files`` (catalog-relative path -> Jsonnet source).

    Only ``*.jsonnet`` / ``*.libsonnet`` entries are scanned; other entries
    (text pulled in with ``importstr``) only count as existing files.
    ``lib_dirs`` are catalog-relative (``["lib"]``).
    """
    libs = [posixpath.normpath(d.strip("/")) for d in lib_dirs]
    graph = ImportGraph()
    for path in sorted(files):
        if not path.endswith((".jsonnet", ".libsonnet")):
            continue
        found = scan(files[path]).imports
        graph.imports[path] = list(found)
        deps: list[str] = []
        for imp in found:
            cands = candidates(path, imp.path, libs)
            if not cands:
                graph.unresolved.setdefault(path, []).append(imp)
                continue
            for cand in cands:
                deps.append(cand)
                if cand in files:
                    break
            else:
                graph.unresolved.setdefault(path, []).append(imp)
        graph.add(path, deps)
    return graph
