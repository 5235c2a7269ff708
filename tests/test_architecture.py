"""Layering, checked on the import graph of ``bot/``.

Pure logic (catalog, metadata, stac, convert) sits below the adapters, the
pipeline, the GitHub event layer and the commands, and reaches no network or
cloud client, directly or through other bot modules.  The graph follows
``import x``, ``from x import y``, relative imports (``from .x import y``,
``from . import x``) and ``importlib.import_module("literal")`` anywhere in a
module (function-level imports included), so a lazy import cannot hide a
violation.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

BOT = REPO / "bot"
NETWORK = {"boto3", "botocore", "httpx", "github", "argo_workflows", "requests", "urllib3", "s3fs", "owslib"}
PURE_PACKAGES = ["bot.catalog", "bot.metadata", "bot.stac", "bot.convert", "bot.sources"]
# Pure modules of the pipeline package (the DAG and the Argo manifests are data, no I/O).
PURE_PIPELINE = ["bot.pipeline.dag", "bot.pipeline.argo_render", "bot.pipeline.argo_lint"]
# What the pure layer must never import: it is below all of these.
UPPER_LAYERS = ["bot.adapters", "bot.pipeline", "bot.events", "bot.commands", "bot.cli"]


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import ...`` inside ``module``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join([*base, target] if target else base)


def imports_of_source(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module name ``source`` imports (absolute, relative, ``importlib.import_module`` literals).

    For ``from m import n`` both ``m`` and ``m.n`` are recorded (``n`` may be a submodule).
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(module, is_package, node.level, node.module) if node.level else (node.module or "")
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id in {"import_module", "__import__"})
            )
        ):
            found.add(node.args[0].value)
    return found


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in BOT.rglob("*.py"):
        name = _module_name(path)
        graph[name] = imports_of_source(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
    return graph


GRAPH = _imports()


def _within(module: str, packages: list[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _reach(start: str) -> dict[str, list[str]]:
    """Every module name imported from ``start`` through bot modules, with one import path to it."""
    paths: dict[str, list[str]] = {start: [start]}
    stack = [start]
    while stack:
        mod = stack.pop()
        for imp in sorted(GRAPH.get(mod, ())):
            if imp in paths:
                continue
            paths[imp] = [*paths[mod], imp]
            if imp in GRAPH:
                stack.append(imp)
    return paths


PURE_MODULES = sorted(m for m in GRAPH if _within(m, PURE_PACKAGES + PURE_PIPELINE))
PURE_LAYER = sorted(m for m in GRAPH if _within(m, PURE_PACKAGES))


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_reaches_no_network_client(module: str) -> None:
    offending = [" -> ".join(p) for imp, p in sorted(_reach(module).items()) if imp.split(".")[0] in NETWORK]
    assert offending == [], f"{module} reaches a network client: {offending}"


@pytest.mark.parametrize("module", PURE_LAYER)
def test_pure_layer_imports_nothing_above_it(module: str) -> None:
    offending = [" -> ".join(p) for imp, p in sorted(_reach(module).items()) if _within(imp, UPPER_LAYERS)]
    assert offending == [], f"{module} reaches an upper layer: {offending}"


def test_the_graph_follows_relative_imports_and_import_module() -> None:
    """The checker itself: the import forms a lazy or relative import could hide behind are seen."""
    source = (
        "import importlib\n"
        "from . import sibling\n"
        "from ..adapters import git\n"
        "def later():\n"
        "    from .render import Renderer\n"
        "    return importlib.import_module('bot.events.handlers')\n"
    )
    found = imports_of_source(source, "bot.catalog.check")
    assert {
        "bot.catalog.sibling",
        "bot.adapters",
        "bot.adapters.git",
        "bot.catalog.render.Renderer",
        "bot.events.handlers",
    } <= found
    assert "bot.catalog.x" in imports_of_source("from .x import y", "bot.catalog", is_package=True)


def test_a_violation_would_be_caught() -> None:
    """Guards the guard: a pure module that imports the git adapter lazily is reported."""
    GRAPH["bot.catalog.__probe__"] = imports_of_source(
        "def f():\n    from ..adapters.git import GitRepo\n", "bot.catalog.__probe__"
    )
    try:
        reached = _reach("bot.catalog.__probe__")
        assert "bot.adapters.git" in reached and "bot.adapters.git.GitRepo" in reached
        assert any(_within(m, UPPER_LAYERS) for m in reached)
    finally:
        del GRAPH["bot.catalog.__probe__"]


def test_the_pure_layers_exist() -> None:
    assert {
        "bot.catalog.render",
        "bot.catalog.validate",
        "bot.catalog.check",
        "bot.catalog.diff",
        "bot.catalog.plan",
        "bot.pipeline.dag",
    } <= set(GRAPH)
    assert len(PURE_MODULES) >= 15


def test_only_config_reads_the_environment() -> None:
    readers = []
    for path in BOT.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        # reading a variable; passing the environment through to a subprocess ({**os.environ}) is fine
        if re.search(r"os\.environ\.get\(|os\.environ\[|os\.getenv\(", text):
            readers.append(_module_name(path))
    allowed = {"bot.config", "bot.logging", "bot.cli"}
    assert set(readers) <= allowed | {m for m in readers if m.startswith("bot.commands.dev")}, sorted(
        set(readers) - allowed
    )


def test_pure_layer_is_given_its_settings() -> None:
    """Pure modules receive the schema registry / settings; only the commands read the environment."""
    callers = sorted(
        _module_name(path)
        for path in BOT.rglob("*.py")
        if _within(_module_name(path), PURE_PACKAGES) and "Settings.from_env" in path.read_text(encoding="utf-8")
    )
    assert callers == [], callers
