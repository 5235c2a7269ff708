"""Import discovery and the import graph, checked against what rendering actually does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.catalog.imports import build_import_graph, candidates, find_imports, scan
from bot.catalog.layout import COLLECTION, Catalog
from bot.catalog.render import Renderer, ext_vars_for
from tests.conftest import git

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from synthetic_catalog import make_catalog


def test_find_imports_all_string_forms_and_ignores_comments_and_strings() -> None:
    src = (
        "// import 'commented.libsonnet'\n"
        "# importstr 'hash-comment.txt'\n"
        "/* import 'block-comment.libsonnet' */\n"
        "local a = import 'single.libsonnet';\n"
        'local b = import "double\\u00e9.libsonnet";\n'
        "local c = importstr @'verbatim''s.txt';\n"
        "local d = importbin |||-\n"
        "  block.bin\n"
        "|||;\n"
        "{ s: \"import 'in-a-string.libsonnet'\", t: |||\n"
        "    import 'in-a-text-block.libsonnet'\n"
        "  |||, e: (import 'nested/e.libsonnet').x }\n"
    )
    found = find_imports(src)
    assert [(i.kind, i.path) for i in found] == [
        ("import", "single.libsonnet"),
        ("import", "doubleé.libsonnet"),
        ("importstr", "verbatim's.txt"),
        ("importbin", "block.bin"),
        ("import", "nested/e.libsonnet"),
    ]
    assert (found[0].line, found[0].column) == (4, 11)
    assert found[-1].line == 12


def test_find_imports_agrees_with_the_engine(tmp_path: Path) -> None:
    """Every import the scanner reports is one the engine asks the callback for, and vice versa."""
    root = make_catalog(tmp_path / "syn", 6)
    asked: list[tuple[str, str]] = []
    renderer = Renderer(root, [root / "lib"], {"environment": "x", "data_base_url": "", "stac_api_url": ""}, "go")
    original = renderer._resolve

    def spy(ev, base, rel):  # type: ignore[no-untyped-def]
        asked.append((base, rel))
        return original(ev, base, rel)

    renderer._resolve = spy  # type: ignore[method-assign]
    for path in sorted(root.rglob("*.jsonnet")) + sorted(root.rglob("*.libsonnet")):
        if path.suffix == ".jsonnet":
            renderer.render_file(path)
    scanned = set()
    for path in list(root.rglob("*.jsonnet")) + list(root.rglob("*.libsonnet")):
        rel = path.relative_to(root).as_posix()
        for imp in find_imports(path.read_text(encoding="utf-8")):
            scanned.add((rel.rsplit("/", 1)[0], imp.path))
    assert {(b.rstrip("/"), r) for b, r in asked} <= scanned
    assert len(scanned) >= 4


def test_candidates_follow_jsonnet_order_and_stay_inside() -> None:
    assert candidates("datasets/a/collection.jsonnet", "x.libsonnet", ["lib", "vendor"]) == [
        "datasets/a/x.libsonnet",
        "lib/x.libsonnet",
        "vendor/x.libsonnet",
    ]
    # the lib-dir candidate lib/../../lib/x.libsonnet would leave the catalog: skipped
    assert candidates("datasets/a/collection.jsonnet", "../../lib/x.libsonnet", ["lib"]) == ["lib/x.libsonnet"]
    assert candidates("datasets/a/collection.jsonnet", "../x.libsonnet", ["lib"]) == [
        "datasets/x.libsonnet",
        "x.libsonnet",
    ]
    assert candidates("datasets/a/collection.jsonnet", "/etc/passwd", ["lib"]) == []
    assert candidates("datasets/a/collection.jsonnet", "../../../up.libsonnet", ["lib"]) == []


def test_dependents_are_exactly_the_collections_whose_output_changes(tmp_path: Path) -> None:
    """Change each library in turn: the graph must predict which renders change."""
    root = make_catalog(tmp_path / "syn", 9)
    # a dataset-local helper imported relatively by one collection
    helper = root / "datasets" / "synth-00002" / "local.libsonnet"
    helper.write_text("{ extra: 'local helper' }\n", encoding="utf-8")
    coll = root / "datasets" / "synth-00002" / COLLECTION
    coll.write_text(coll.read_text(encoding="utf-8") + " + { helper: (import 'local.libsonnet').extra }\n")
    ext = {"environment": "x", "data_base_url": "", "stac_api_url": ""}
    collections = sorted(p.relative_to(root).as_posix() for p in root.rglob(COLLECTION))

    def render_all() -> dict[str, str]:
        r = Renderer(root, [root / "lib"], ext, "go")
        return {c: json.dumps(r.render_file(c), sort_keys=True) for c in collections}

    before = render_all()
    edits = {
        "lib/licences.libsonnet": ("Creative Commons", "CC"),
        "lib/text.libsonnet": ("Last line.", "Final line."),
        "lib/providers.libsonnet": ("Ocean Agency", "Sea Agency"),
        "datasets/synth-00002/local.libsonnet": ("local helper", "changed helper"),
    }
    for rel, (old, new) in edits.items():
        path = root / rel
        original = path.read_text(encoding="utf-8")
        path.write_text(original.replace(old, new), encoding="utf-8")
        changed_outputs = {c for c, text in render_all().items() if text != before[c]}
        path.write_text(original, encoding="utf-8")
        files = {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in root.rglob("*sonnet")}
        predicted = build_import_graph(files, ["lib"]).dependents_of({rel})
        # every collection whose output changed is predicted (the graph may over-approximate:
        # a collection that imports a lib but does not use the edited field)
        assert changed_outputs <= predicted, rel
        assert changed_outputs, f"edit of {rel} changed nothing: bad test"
        if rel.startswith("datasets/"):
            assert predicted == {"datasets/synth-00002/collection.jsonnet"}


def test_graph_on_a_git_revision_without_checkout(catalog_repo: Path) -> None:
    """The check code builds the graph from `git cat-file` contents at any revision."""
    lib = catalog_repo / "lib"
    (lib / "extra.libsonnet").write_text("{ n: 1 }\n", encoding="utf-8")
    reef = catalog_repo / "datasets" / "reef-temperature" / COLLECTION
    reef.write_text("local extra = import 'extra.libsonnet';\n" + reef.read_text(encoding="utf-8"))
    git(catalog_repo, "add", "-A")
    git(catalog_repo, "commit", "-q", "-m", "reef uses extra")
    git(catalog_repo, "rm", "-q", "lib/extra.libsonnet")  # working tree differs from HEAD now
    names = git(catalog_repo, "ls-tree", "-r", "--name-only", "HEAD").split()
    files = {}
    for name in names:
        if name.endswith(("sonnet",)):
            files[name] = subprocess.run(
                ["git", "show", f"HEAD:{name}"], cwd=catalog_repo, capture_output=True, text=True, check=True
            ).stdout
    graph = build_import_graph(files, ["lib"])
    assert graph.dependents_of({"lib/extra.libsonnet"}) == {"datasets/reef-temperature/collection.jsonnet"}
    everything = graph.dependents_of({"lib/catalog.libsonnet"})
    cat = Catalog.open(catalog_repo)
    assert everything == {d.rel(COLLECTION) for d in cat.datasets()}
    # licences.libsonnet reaches every collection through catalog.libsonnet (transitively)
    assert graph.dependents_of({"lib/licences.libsonnet"}) == everything
    # a changed collection is its own dependent; a non-imported file affects nothing
    assert graph.dependents_of({"datasets/reef-temperature/collection.jsonnet"}) == {
        "datasets/reef-temperature/collection.jsonnet"
    }
    assert graph.dependents_of({"README.md"}) == set()


def test_graph_counts_shadowing_candidates_and_unresolved() -> None:
    files = {
        "lib/a.libsonnet": "import 'b.libsonnet'",
        "lib/b.libsonnet": "{}",
        "datasets/x/collection.jsonnet": "import 'a.libsonnet'",
        "datasets/y/collection.jsonnet": "import '/etc/passwd' + import 'missing.libsonnet'",
    }
    graph = build_import_graph(files, ["lib"])
    # a file added next to the collection would shadow lib/a.libsonnet: it is a dependency too
    assert graph.dependents_of({"datasets/x/a.libsonnet"}) == {"datasets/x/collection.jsonnet"}
    assert graph.dependents_of({"lib/b.libsonnet"}) == {"datasets/x/collection.jsonnet"}
    assert [i.path for i in graph.unresolved["datasets/y/collection.jsonnet"]] == ["/etc/passwd", "missing.libsonnet"]
    # adding the missing file in lib/ affects y
    assert graph.dependents_of({"lib/missing.libsonnet"}) == {"datasets/y/collection.jsonnet"}
    assert graph.dependencies_of("datasets/x/collection.jsonnet") >= {"lib/a.libsonnet", "lib/b.libsonnet"}


def test_import_cycle_does_not_hang() -> None:
    files = {
        "lib/a.libsonnet": "import 'b.libsonnet'",
        "lib/b.libsonnet": "import 'a.libsonnet'",
        "c.jsonnet": "import 'lib/a.libsonnet'",
    }
    graph = build_import_graph(files, ["lib"])
    assert graph.dependents_of({"lib/b.libsonnet"}) == {"c.jsonnet"}


@pytest.mark.parametrize(
    ("source", "deep"),
    [("[" + "1," * 10000 + "1]", False), ("1+" * 3000 + "1", True), ("{a: {b: {c: 1}}}", False)],
)
def test_scan_depth_estimate(source: str, deep: bool) -> None:
    assert (scan(source).max_depth > 2000) is deep


def test_example_catalog_graph_matches_renders(example_catalog: Path) -> None:
    """Every file the renderer loads for a collection is in the graph's dependencies of it."""
    cat = Catalog.open(example_catalog)
    files = {p.relative_to(cat.root).as_posix(): p.read_text(encoding="utf-8") for p in cat.root.rglob("*sonnet")}
    graph = build_import_graph(files, ["lib"])
    renderer = Renderer(cat.root, cat.lib_dirs(), ext_vars_for(cat.config, "local"), "go")
    for ds in cat.datasets():
        renderer._files.cache.clear()
        renderer._resolved.clear()
        renderer.render_file(ds.path(COLLECTION))
        loaded = set(renderer._files.cache) - {ds.rel(COLLECTION)}
        assert loaded
        assert loaded <= graph.dependencies_of(ds.rel(COLLECTION))
