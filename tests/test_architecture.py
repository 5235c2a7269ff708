"""Layering: pure logic imports no network or cloud client, directly or through other bot modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

BOT = REPO / "bot"
NETWORK = {"boto3", "botocore", "httpx", "github", "argo_workflows", "requests", "urllib3", "s3fs", "owslib"}
PURE = [
    "bot.catalog",
    "bot.metadata",
    "bot.stac",
    "bot.convert",
    "bot.sources",
    "bot.pipeline.dag",
    "bot.pipeline.argo_render",
    "bot.pipeline.argo_lint",
]
# Adapters that pure code may use because they talk to no network (git runs locally).
LOCAL_ADAPTERS = {"bot.adapters.git"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in BOT.rglob("*.py"):
        name = _module_name(path)
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = found
    return graph


GRAPH = _imports()


def _closure(start: str) -> tuple[set[str], list[str]]:
    """Every third-party top-level package reached from ``start`` through bot modules, with one path."""
    seen: set[str] = set()
    external: set[str] = set()
    stack = [(start, [start])]
    paths: dict[str, list[str]] = {}
    while stack:
        mod, path = stack.pop()
        if mod in seen:
            continue
        seen.add(mod)
        for imp in GRAPH.get(mod, ()):
            if imp.startswith("bot."):
                if imp in GRAPH and imp not in LOCAL_ADAPTERS:
                    stack.append((imp, [*path, imp]))
            else:
                top = imp.split(".")[0]
                external.add(top)
                paths.setdefault(top, [*path, imp])
    return external, [" -> ".join(paths[t]) for t in sorted(external & NETWORK)]


PURE_MODULES = sorted(m for m in GRAPH if any(m == p or m.startswith(p + ".") for p in PURE))


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_no_network_client(module: str) -> None:
    _, offending = _closure(module)
    assert offending == [], f"{module} reaches a network client: {offending}"


def test_the_pure_layers_exist() -> None:
    assert {
        "bot.catalog.render",
        "bot.catalog.validate",
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
