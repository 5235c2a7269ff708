"""Sandboxed Jsonnet rendering with three interchangeable engines.

Why a sandbox: ``collection.jsonnet`` files arrive in pull requests, so they
are untrusted input rendered by a bot that holds credentials.  The renderer
therefore

* resolves every import itself (the engines' ``import_callback``), only
  inside the catalog root: absolute paths, ``..`` escapes and symlinks that
  point outside are refused with an error naming the importing file;
* never lets an engine open a file: the main file is read by us too and
  handed over as a snippet, after checking its size (a 50 MB file is refused
  from ``stat`` alone), its UTF-8 encoding and its nesting depth (both the
  C++ and the Go engine *crash the process* on ~10^4-10^5 deep expressions,
  see :func:`bot.catalog.imports.scan`);
* passes only the ext vars it was given (built from ``catalog-bot.yaml`` by
  :func:`ext_vars_for`), never ``os.environ``;
* limits the evaluation stack (``max_stack``): infinite recursion is a
  "max stack frames exceeded" :class:`JsonnetError`, not a crash; files
  using ``tailstrict`` never go to the Go engine (it does not count tail
  calls and crashes on deep ones);
* for many files (:meth:`Renderer.render_many`) renders in worker
  processes: a crash costs only the file that caused it, and with
  ``timeout`` an overrunning file is killed (an engine call in our own
  process cannot be interrupted);
* whenever this process holds a secret (a CI job with a token or cloud
  keys, see :func:`bot.logging.render_sandbox_required`) or ``sandbox=True``,
  EVERY evaluation happens in those workers, which are sandboxed children
  (:mod:`bot.catalog.sandbox`: allow-listed environment, memory and time
  limits, output cap from ``render:`` in catalog-bot.yaml).

Engines: ``cpp`` (the reference, ``_jsonnet``), ``go`` (``_gojsonnet``) and
``rust`` (``rjsonnet``, optional).  ``auto`` renders with Go and falls back to
C++ per file when Go fails on that file (engine bugs must not fail a
catalog; why Go is the default: docs/performance.md).
Many files are rendered in batches: one engine call imports a batch of files
so shared libraries are parsed once per batch instead of once per file; a
batch that fails is rendered again file by file, so errors stay per file.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.catalog.confined import ConfinedFiles, Refused
from bot.catalog.imports import ScanResult, is_escape, scan
from bot.catalog.jsonnet_engines import ENGINES as ENGINES
from bot.catalog.jsonnet_engines import JsonnetError as JsonnetError
from bot.catalog.jsonnet_engines import RenderResult as RenderResult
from bot.catalog.jsonnet_engines import available_engines as available_engines
from bot.catalog.jsonnet_engines import engine_module, hint_for
from bot.catalog.jsonnet_engines import normalize_engine as normalize_engine
from bot.catalog.jsonnet_engines import parse_engine_error as parse_engine_error
from bot.errors import RenderError, UsageError
from bot.logging import render_sandbox_required

if TYPE_CHECKING:  # bot.config needs yaml and msgspec: a one-file `catalog-bot render` must not pay for them
    from bot.config import CatalogConfig, RenderLimits

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_STACK = 500
DEFAULT_MAX_TRACE = 20
# Estimated expression nesting above which we refuse a file before any engine
# sees it.  The C++ engine itself refuses >500 nested brackets/locals; the
# crashes we guard against start at ~10,000 (C++ ``1+1+...``) and ~50,000
# (Go, brackets), so real templates are far below and attacks far above.
DEFAULT_MAX_DEPTH = 2000
BATCH_SIZE = 64
# Below this many files a process pool costs more than it saves.
PROCESS_THRESHOLD = 48

_BATCH_FILE = "<batch>.jsonnet"


def ext_vars_for(config: CatalogConfig, env_name: str) -> dict[str, str]:
    """The ext vars a collection is rendered with in environment ``env_name``.

    ``environment`` (the name), ``data_base_url`` (where published data lives,
    ``""`` when unknown), ``stac_api_url`` (``""`` for a static catalog), then
    the environment's own ``ext_vars`` (which may override the three).  Check,
    validate and publish all call this, so a collection renders the same in
    a PR check as at publish time.
    """
    env = config.environment(env_name)
    data_base_url = env.object_store.public_base_url or ""
    stac_api_url = (env.stac.url or "") if env.stac.kind == "api" else ""
    out = {
        "environment": env_name,
        "data_base_url": data_base_url.rstrip("/"),
        "stac_api_url": stac_api_url.rstrip("/"),
    }
    out.update({str(k): str(v) for k, v in env.ext_vars.items()})
    return out


@dataclass
class _Evaluation:
    """State of one engine call: files loaded so far and a refused import, if any."""

    renderer: Renderer
    main: dict[str, str]  # rel -> text of files handed over as main sources
    loaded: dict[str, ScanResult] = field(default_factory=dict)
    violation: JsonnetError | None = None
    engine: str = "go"

    def importer_of(self, base: str, rel: str) -> tuple[str | None, int | None, int | None, str]:
        """Which loaded file in folder ``base`` imports ``rel`` (file, line, column, kind)."""
        for path, found in list(self.loaded.items()):
            if posixpath.dirname(path) != base:
                continue
            for imp in found.imports:
                if imp.path == rel:
                    return path, imp.line, imp.column, imp.kind
        return None, None, None, "import"

    def callback(self, base: str, rel: str) -> tuple[str, bytes]:
        """The engine's import callback: resolve inside the root, or refuse."""
        try:
            return self.renderer._resolve(self, base, rel)
        except Refused as exc:
            if self.violation is None:
                self.violation = exc.error
            raise RuntimeError(exc.error.detail) from None
        except Exception as exc:  # never let an unexpected error escape into C/Go code
            if self.violation is None:
                self.violation = JsonnetError(f"import {rel!r} failed: {exc}", kind="sandbox")
            raise RuntimeError(str(exc)) from None


class Renderer:
    """Render Jsonnet files of one catalog (or one folder tree) in a sandbox.

    ``root``: nothing outside it can be imported; ``lib_dirs``: the library
    search path (must be inside ``root``); ``ext_vars``: exactly the
    variables the templates may read.  File contents are cached per
    renderer: create a new one when files change.
    """

    def __init__(
        self,
        root: Path,
        lib_dirs: list[Path] | None = None,
        ext_vars: dict[str, str] | None = None,
        engine: str = "auto",
        max_stack: int = DEFAULT_MAX_STACK,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        max_trace: int = DEFAULT_MAX_TRACE,
        max_depth: int = DEFAULT_MAX_DEPTH,
        batch_size: int = BATCH_SIZE,
        timeout: float | None = None,
        limits: RenderLimits | None = None,
        sandbox: bool | None = None,
    ) -> None:
        self.root = Path(os.path.realpath(root))
        if not self.root.is_dir():
            raise UsageError(f"render root {root} is not a folder", hint="pass the catalog folder")
        self.engine = normalize_engine(engine)
        if self.engine != "auto":
            engine_module(self.engine)  # fail early when not installed
        self._files = ConfinedFiles(self.root, max_bytes)
        self.lib_dirs: list[str] = []
        for lib in lib_dirs or []:
            rel = self._files.relative(Path(lib), what="library folder")
            if rel not in self.lib_dirs:
                self.lib_dirs.append(rel)
        self.ext_vars = {str(k): str(v) for k, v in (ext_vars or {}).items()}
        self.max_stack = max_stack
        self.max_bytes = max_bytes
        self.max_trace = max_trace
        self.max_depth = max_depth
        self.batch_size = max(1, batch_size)
        self._limits = limits
        self.sandboxed = render_sandbox_required() if sandbox is None else sandbox
        if self.sandboxed and timeout is None:
            timeout = self.limits.timeout_s
        self.timeout = timeout
        self._scans: dict[tuple[str, int, int], ScanResult] = {}
        self._resolved: dict[tuple[str, str], tuple[str, ScanResult | None]] = {}
        self.fallbacks: list[str] = []

    @property
    def limits(self) -> RenderLimits:
        """The sandbox child's limits (defaults unless given); only worker processes need them."""
        if self._limits is None:
            from bot.config import RenderLimits

            self._limits = RenderLimits()
        return self._limits

    # ------------------------------------------------------------------ public

    def render_file(self, path: Path | str) -> Any:
        """Render one file (absolute, or relative to the root) to JSON data; raises :class:`JsonnetError`."""
        if self.sandboxed:
            [res] = self.render_many([path], jobs=1)
            if res.error is not None:
                raise res.error
            return res.value
        rel = self.rel(path)
        text = self._source(rel, rel, None, None)
        value, _ = self._render_one(rel, text)
        return value

    def render_text(self, text: str, filename: str = "snippet.jsonnet") -> Any:
        """Render Jsonnet source; ``filename`` (root-relative) names it and anchors relative imports.

        In-process only: refused when this renderer must sandbox (untrusted text never runs next to secrets).
        """
        if self.sandboxed:
            raise UsageError(
                "render_text is not available in a sandboxed renderer",
                hint="write the source to a file under the root and use render_file",
            )
        rel = posixpath.normpath(filename.replace(os.sep, "/"))
        if rel.startswith("/") or is_escape(rel):
            raise UsageError(
                f"snippet name {filename!r} must be relative to the root", hint="use e.g. 'snippet.jsonnet'"
            )
        size = len(text.encode("utf-8"))
        if size > self.max_bytes:
            raise self._files.too_big(rel, size)
        try:
            self._check_depth(rel, text)
        except Refused as exc:
            raise exc.error from None
        value, _ = self._render_one(rel, text)
        return value

    def render_many(self, paths: Iterable[Path | str], jobs: int = 2) -> Iterator[RenderResult]:
        """Render many files; results in input order, one per path, errors included (never raised).

        Large batches (>= ``PROCESS_THRESHOLD`` files with ``jobs > 1``) use
        ``jobs`` worker processes; a worker that dies (an engine crash) only
        costs the file that crashed it.  With ``timeout`` (seconds per file)
        rendering always happens in worker processes, which are killed when
        they overrun (an in-process engine call cannot be interrupted).
        """
        rels: list[str] = []
        early: dict[int, RenderResult] = {}
        for i, p in enumerate(paths):
            try:
                rels.append(self.rel(p))
            except RenderError as exc:
                rels.append(str(p))
                early[i] = RenderResult(str(p), None, exc)
        todo = list(dict.fromkeys(r for i, r in enumerate(rels) if i not in early))
        if todo and (self.sandboxed or self.timeout is not None or (jobs > 1 and len(todo) >= PROCESS_THRESHOLD)):
            results = self._render_parallel(todo, max(1, jobs))
        else:
            results = iter(self._render_chunk(todo))
        done: dict[str, RenderResult] = {}
        for i, rel in enumerate(rels):
            if i in early:
                yield early[i]
                continue
            while rel not in done:
                res = next(results)
                done[res.path] = res
            yield done[rel]

    def rel(self, path: Path | str) -> str:
        """Root-relative POSIX path of ``path`` (absolute, or relative to the root); must stay inside."""
        p = Path(path)
        if not p.is_absolute():
            p = self.root / p
        return self._files.relative(p, what="file")

    # ------------------------------------------------------------ the sandbox

    def _scan(self, rel: str, text: str) -> ScanResult:
        """:func:`scan` of a source, cached by name and content (libraries are scanned once)."""
        key = (rel, len(text), hash(text))
        found = self._scans.get(key)
        if found is None:
            found = self._scans[key] = scan(text, self.max_depth)
        return found

    def _check_depth(self, rel: str, text: str) -> ScanResult:
        found = self._scan(rel, text)
        if found.max_depth > self.max_depth:
            raise Refused(
                JsonnetError(
                    f"expression nested too deeply (more than {self.max_depth} levels); "
                    "refused before rendering because Jsonnet engines overflow their stack on such input",
                    file=rel,
                    line=found.depth_line,
                    column=found.depth_column,
                    kind="limit",
                    hint="split long operator chains and deep nesting into locals, arrays or std functions",
                )
            )
        return found

    def _source(self, rel: str, shown: str, importer: str | None, line: int | None, col: int | None = None) -> str:
        """Read, decode and depth-check a Jsonnet source; sandbox errors become :class:`JsonnetError`."""
        try:
            text = self._files.decode(rel, self._files.read_bytes(rel, importer, line, col, shown))
            self._check_depth(rel, text)
        except Refused as exc:
            raise exc.error from None
        return text

    def _resolve(self, ev: _Evaluation, base: str, rel: str) -> tuple[str, bytes]:
        """Resolve an import like Jsonnet does, but only inside the root.  Returns (found path, bytes)."""
        base = "" if base in (".", "./") else base.rstrip("/")
        if base.startswith("/"):  # engines hand back what we gave them; never absolute
            base = self._files.relative(Path(base), what="folder")
        if base == "" and rel in ev.main:  # rjsonnet asks for the main file itself
            return rel, ev.main[rel].encode("utf-8")
        hit = self._resolved.get((base, rel))
        if hit is not None:  # resolved and checked before (libraries, for every collection)
            found, cached_scan = hit
            if cached_scan is not None:
                ev.loaded[found] = cached_scan
                if ev.engine == "go" and cached_scan.tailstrict:
                    raise Refused(self._go_unsafe(found, cached_scan))
            return found, self._files.cache[found]
        importer, line, col, kind = ev.importer_of(base, rel)
        where = importer or (base + "/" if base else "<root>/")
        if rel.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", rel):
            raise Refused(
                JsonnetError(
                    f"import of absolute path {rel!r} is not allowed (in {where})",
                    file=importer,
                    line=line,
                    column=col,
                    kind="sandbox",
                    hint="import files inside the catalog by a path relative to the importing file or to lib/",
                )
            )
        first = posixpath.normpath(posixpath.join(base, rel))
        if is_escape(first):
            raise Refused(
                JsonnetError(
                    f"import {rel!r} leaves the catalog (resolves to {first}; in {where})",
                    file=importer,
                    line=line,
                    column=col,
                    kind="sandbox",
                    hint="imports may only reach files inside the catalog; move the file into the catalog or lib/",
                )
            )
        tried = [first]
        for lib in self.lib_dirs:
            cand = posixpath.normpath(posixpath.join(lib, rel))
            if not is_escape(cand) and cand not in tried:
                tried.append(cand)
        for cand in tried:
            if cand in self._files.cache or os.path.lexists(self.root / cand):
                data = self._files.read_bytes(cand, importer, line, col, rel)
                found_scan = None
                if kind != "importbin" and cand.endswith((".jsonnet", ".libsonnet")):
                    text = self._files.decode(cand, data)
                    found_scan = ev.loaded[cand] = self._check_depth(cand, text)
                elif kind == "importstr":
                    self._files.decode(cand, data)
                if kind != "importbin":
                    self._resolved[(base, rel)] = (cand, found_scan)
                if ev.engine == "go" and found_scan is not None and found_scan.tailstrict:
                    raise Refused(self._go_unsafe(cand, found_scan))
                return cand, data
        raise Refused(
            JsonnetError(
                f"import {rel!r} not found (in {where}; looked in {', '.join(tried)})",
                file=importer,
                line=line,
                column=col,
                kind="sandbox",
                hint="check the file name, or put shared files in lib/",
            )
        )

    # --------------------------------------------------------------- engines

    def _call(self, engine: str, ev: _Evaluation, filename: str, text: str) -> str:
        """One engine call with our callback and limits; returns the manifested JSON text."""
        module = engine_module(engine)
        common: dict[str, Any] = {
            "ext_vars": self.ext_vars,
            "max_stack": self.max_stack,
            "max_trace": self.max_trace,
        }
        if engine == "rust":
            # rjsonnet ignores the snippet name's folder for relative imports;
            # evaluate_file asks our callback for the main file instead.
            def rust_cb(base: str, rel: str) -> tuple[str, str]:
                found, data = ev.callback(base, rel)
                return found, data.decode("utf-8", errors="surrogateescape")

            ev.main[filename] = text
            return str(module.evaluate_file(filename, import_callback=rust_cb, **common))
        cb: Callable[[str, str], tuple[str, bytes]] = ev.callback
        return str(module.evaluate_snippet(filename, text, import_callback=cb, **common))

    def _go_unsafe(self, rel: str, found: ScanResult) -> JsonnetError:
        return JsonnetError(
            "uses `tailstrict`: the go engine does not limit tail-call depth and can crash on it",
            file=rel,
            kind="engine",
            engine="go",
            hint="render with the C++ engine (engine auto does this by itself: --engine auto or cpp)",
        )

    def _attempt(self, engine: str, rel: str, text: str) -> Any:
        """Render with one engine; raises :class:`JsonnetError` (``kind`` says whose fault)."""
        ev = _Evaluation(self, {rel: text}, engine=engine)
        ev.loaded[rel] = self._scan(rel, text)
        if engine == "go" and ev.loaded[rel].tailstrict:
            raise self._go_unsafe(rel, ev.loaded[rel])
        try:
            output = self._call(engine, ev, rel, text)
        except Exception as exc:
            if ev.violation is not None:
                ev.violation.engine = engine
                raise ev.violation from None
            raise self._engine_error(engine, exc, rel) from None
        if ev.violation is not None:  # an engine swallowed a callback error (should not happen)
            raise ev.violation
        return json.loads(output)

    def _engine_error(self, engine: str, exc: BaseException, rel: str) -> JsonnetError:
        if isinstance(exc, UnicodeDecodeError):  # gojsonnet's binding mangles some messages
            return JsonnetError(f"the {engine} engine failed with an unreadable message", file=rel, engine=engine)
        headline, file, line, col, trace = parse_engine_error(str(exc))
        kind = "syntax" if str(exc).startswith("STATIC ERROR") or (file and not trace) else "runtime"
        if file == _BATCH_FILE:
            file = None
        return JsonnetError(
            headline,
            file=file or rel,
            line=line,
            column=col,
            hint=hint_for(headline),
            kind=kind,
            trace=trace,
            engine=engine,
        )

    def _render_one(self, rel: str, text: str) -> tuple[Any, str]:
        """Render one source with the configured engine (``auto``: go, then cpp on failure)."""
        if self.engine != "auto":
            return self._attempt(self.engine, rel, text), self.engine
        try:
            return self._attempt("go", rel, text), "go"
        except JsonnetError as exc:
            if exc.kind in ("sandbox", "limit"):
                raise  # our own refusals: the same for every engine
        self.fallbacks.append(rel)
        return self._attempt("cpp", rel, text), "cpp"

    def _render_chunk(self, rels: list[str]) -> list[RenderResult]:
        """Render files in batches (one engine call per batch); a failing batch is redone file by file."""
        results: list[RenderResult] = []
        ready: list[tuple[str, str]] = []
        for rel in rels:
            try:
                ready.append((rel, self._source(rel, rel, None, None)))
            except RenderError as exc:
                results.append(RenderResult(rel, None, exc))
        for start in range(0, len(ready), self.batch_size):
            batch = ready[start : start + self.batch_size]
            values = self._render_batch(batch) if len(batch) > 1 else None
            if values is not None:
                engine = "go" if self.engine == "auto" else self.engine
                results.extend(RenderResult(rel, values[i], None, engine) for i, (rel, _) in enumerate(batch))
                continue
            for rel, text in batch:
                try:
                    value, engine = self._render_one(rel, text)
                    results.append(RenderResult(rel, value, None, engine))
                except RenderError as exc:
                    results.append(RenderResult(rel, None, exc, getattr(exc, "engine", None)))
        return results

    def _render_batch(self, batch: list[tuple[str, str]]) -> list[Any] | None:
        """All files of ``batch`` in one engine call, or None when anything fails (caller retries per file).

        The snippet imports each file, so the engine parses shared libraries
        once; ``std.thisFile`` and relative imports behave exactly as when
        the file is rendered alone (imports are named by the same path).
        """
        if self.engine == "rust":
            return None  # rjsonnet resolves snippet imports against the cwd
        engine = "go" if self.engine == "auto" else self.engine
        body = ",\n".join(f"  {json.dumps(str(i))}: import {json.dumps(rel)}" for i, (rel, _) in enumerate(batch))
        snippet = "{\n" + body + "\n}\n"
        ev = _Evaluation(self, {}, engine=engine)
        try:
            output = self._call(engine, ev, _BATCH_FILE, snippet)
        except Exception:
            return None
        if ev.violation is not None:
            return None
        data = json.loads(output)
        return [data[str(i)] for i in range(len(batch))]

    # ------------------------------------------------------------ processes

    def _config(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "lib_dirs": [str(self.root / d) for d in self.lib_dirs],
            "ext_vars": self.ext_vars,
            "engine": self.engine,
            "max_stack": self.max_stack,
            "max_bytes": self.max_bytes,
            "max_trace": self.max_trace,
            "max_depth": self.max_depth,
            "batch_size": self.batch_size,
        }

    def _render_parallel(self, rels: list[str], jobs: int) -> Iterator[RenderResult]:
        """Chunks over ``jobs`` sandboxed child processes (see :func:`bot.catalog.sandbox.render_in_workers`)."""
        from bot.catalog.sandbox import render_in_workers

        return render_in_workers(self._config(), self.limits, rels, jobs, self.batch_size, self.timeout)


def common_root(paths: Iterable[Path]) -> Path:
    """The deepest folder containing every path (files count by their folder)."""
    dirs = [str(Path(os.path.abspath(p)) if Path(p).is_dir() else Path(os.path.abspath(p)).parent) for p in paths]
    if not dirs:
        return Path.cwd()
    return Path(os.path.commonpath(dirs))
