"""Jsonnet engines and their errors: names, modules, located error messages.

Why apart from :mod:`bot.catalog.render`: the renderer (sandbox, imports,
batches), the sandbox child process (:mod:`bot.catalog.sandbox`) and the
CLI all need the engine names and the error type that crosses process
boundaries (:meth:`JsonnetError.to_dict`), but not each other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from bot.errors import Problem, RenderError, UsageError

ENGINES = ("auto", "go", "cpp", "rust")
_ALIASES = {
    "auto": "auto",
    "go": "go",
    "gojsonnet": "go",
    "go-jsonnet": "go",
    "cpp": "cpp",
    "c++": "cpp",
    "jsonnet": "cpp",
    "rust": "rust",
    "rjsonnet": "rust",
    "jrsonnet": "rust",
}
_MODULES = {"go": "_gojsonnet", "cpp": "_jsonnet", "rust": "rjsonnet"}

# file:line:col, file:line:col-col2 and file:(line:col)-(line2:col2)
_LOCATION = re.compile(
    r"(?P<file>[^\s:()\t][^\t\n:()]*?):(?:\((?P<pline>\d+):(?P<pcol>\d+)\)-\(\d+:\d+\)|(?P<line>\d+):(?P<col>\d+)(?:-\d+)?)"
)


def normalize_engine(name: str) -> str:
    """Canonical engine name (``auto``/``go``/``cpp``/``rust``) or a usage error listing them."""
    key = (name or "auto").strip().lower()
    if key not in _ALIASES:
        raise UsageError(
            f"unknown jsonnet engine {name!r}",
            hint="use one of auto, go (gojsonnet), cpp (jsonnet), rust (rjsonnet) -- "
            "set with --engine or CATALOG_BOT_JSONNET_ENGINE",
        )
    return _ALIASES[key]


def available_engines() -> list[str]:
    """The engines whose Python module imports in this environment."""
    out = []
    for name in ("go", "cpp", "rust"):
        try:
            engine_module(name)
        except UsageError:
            continue
        out.append(name)
    return out


def engine_module(name: str) -> ModuleType:
    import importlib

    try:
        return importlib.import_module(_MODULES[name])
    except ImportError:
        package = {"go": "gojsonnet", "cpp": "jsonnet", "rust": "rjsonnet"}[name]
        raise UsageError(
            f"jsonnet engine {name!r} is not installed",
            hint=f"pip install {package}, or choose another engine (auto uses go, then cpp)",
        ) from None


class JsonnetError(RenderError):
    """A render failure located at ``file:line:column`` (catalog-relative).

    ``kind`` is ``syntax`` / ``runtime`` (from the engine), ``sandbox`` (a
    refused import or file), ``limit`` (size, nesting, time) or ``engine``
    (this engine cannot render the file safely; ``auto`` falls back to C++).  ``trace`` keeps
    the engine's stack frames for verbose output.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
        kind: str = "runtime",
        trace: Iterable[str] = (),
        engine: str | None = None,
    ) -> None:
        super().__init__(message, file=file, line=line, hint=hint)
        self.column = column
        self.kind = kind
        self.trace = list(trace)
        self.engine = engine
        self.detail = message
        if file and line and column:
            self.message = f"{file}:{line}:{column}: {message}"
            self.args = (self.message,)

    def to_problem(self, code: str = "render", dataset: str | None = None) -> Problem:
        """The failure as a located :class:`Problem` (with column)."""
        return Problem(
            code=code,
            message=self.detail,
            file=self.file,
            line=self.line,
            column=self.column,
            hint=self.hint,
            dataset=dataset,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (also how errors cross process boundaries)."""
        return {
            "message": self.detail,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "hint": self.hint,
            "kind": self.kind,
            "trace": self.trace,
            "engine": self.engine,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JsonnetError:
        """Inverse of :meth:`to_dict`."""
        return cls(
            data["message"],
            file=data.get("file"),
            line=data.get("line"),
            column=data.get("column"),
            hint=data.get("hint"),
            kind=data.get("kind", "runtime"),
            trace=data.get("trace") or (),
            engine=data.get("engine"),
        )


@dataclass(frozen=True)
class RenderResult:
    """The outcome for one file of :meth:`Renderer.render_many` (``path`` is catalog-relative)."""

    path: str
    value: Any | None
    error: RenderError | None = None
    engine: str | None = None

    @property
    def ok(self) -> bool:
        """True when the file rendered."""
        return self.error is None


def parse_engine_error(message: str) -> tuple[str, str | None, int | None, int | None, list[str]]:
    """Split an engine message into ``(headline, file, line, column, trace)``.

    Formats handled: C++ ``STATIC ERROR: f:l:c: msg``, Go ``f:l:c-c2 msg``,
    both engines' ``RUNTIME ERROR: msg`` + tab-indented frames, rjsonnet's
    ``msg`` + space-indented frames, and ``f:(l:c)-(l2:c2)`` ranges.
    """
    lines = message.strip("\n").split("\n")
    first = lines[0].strip()
    trace = [ln.strip() for ln in lines[1:] if ln.startswith(("\t", "    ")) and ln.strip()]
    headline, file, line, col = first, None, None, None
    body = first
    for prefix in ("STATIC ERROR: ", "RUNTIME ERROR: "):
        if first.startswith(prefix):
            body = first[len(prefix) :]
            headline = body
            break
    m = _LOCATION.match(body)
    if m:  # static errors (C++ and Go) start with the location
        file = m.group("file")
        line = int(m.group("line") or m.group("pline"))
        col = int(m.group("col") or m.group("pcol"))
        headline = body[m.end() :].lstrip(":").strip()
    else:
        for frame in trace:
            fm = _LOCATION.search(frame)
            if fm:
                file = fm.group("file")
                line = int(fm.group("line") or fm.group("pline"))
                col = int(fm.group("col") or fm.group("pcol"))
                break
    headline = headline.rstrip(".") if headline.endswith("exceeded.") else headline
    return headline or first, file, line, col, trace


def hint_for(headline: str) -> str:
    low = headline.lower()
    if "stack frames exceeded" in low or "stack overflow" in low:
        return (
            "a function calls itself without end (infinite recursion) or the data is nested deeper than "
            "max_stack allows; make the recursion stop"
        )
    if "external variable" in low:
        return (
            "in a catalog, ext vars are environment, data_base_url, stac_api_url and environments.<env>.ext_vars "
            "of catalog-bot.yaml (files mode: pass -V key=value); define the variable or do not use it"
        )
    if "expected" in low or "unexpected" in low or "unknown variable" in low or "not terminated" in low:
        return "fix the Jsonnet syntax at this location"
    return "fix the Jsonnet at this location (render it locally with `catalog-bot render`)"
