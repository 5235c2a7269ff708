"""Sandboxed Jsonnet rendering: engines, sandbox, limits, error locations, parity."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from bot.catalog import render as render_mod
from bot.catalog.layout import COLLECTION, Catalog
from bot.catalog.render import (
    JsonnetError,
    Renderer,
    available_engines,
    ext_vars_for,
    normalize_engine,
    parse_engine_error,
)
from bot.config import CatalogConfig
from bot.errors import Problem, RenderError, UsageError
from bot.structs import load

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from synthetic_catalog import make_catalog

ENGINES = ["go", "cpp"]
EXT = {"environment": "test", "data_base_url": "", "stac_api_url": ""}


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def locate(text: str, needle: str) -> tuple[int, int]:
    """1-based line/column of the first ``needle`` in ``text`` (expected error positions)."""
    offset = text.index(needle)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small catalog-like tree: lib/ with a helper, one dataset folder."""
    root = tmp_path / "cat"
    write(root / "lib" / "helper.libsonnet", "{ double(x):: 2 * x, name:: std.extVar('environment') }\n")
    write(
        root / "datasets" / "a" / "collection.jsonnet",
        "local h = import 'helper.libsonnet';\n{ v: h.double(21), env: h.name }\n",
    )
    return root


# ----------------------------------------------------------------- basics


@pytest.mark.parametrize("engine", ENGINES)
def test_renders_with_lib_dirs_and_ext_vars(tree: Path, engine: str) -> None:
    renderer = Renderer(tree, [tree / "lib"], {**EXT, "environment": "prod"}, engine)
    assert renderer.render_file(tree / "datasets/a/collection.jsonnet") == {"v": 42, "env": "prod"}
    # relative paths are relative to the root
    assert renderer.render_file("datasets/a/collection.jsonnet")["v"] == 42


def test_render_text_anchors_relative_imports(tree: Path) -> None:
    renderer = Renderer(tree, [tree / "lib"], EXT)
    text = "local h = import '../../lib/helper.libsonnet';\n[h.double(2), std.thisFile]"
    assert renderer.render_text(text, "datasets/a/snippet.jsonnet") == [4, "datasets/a/snippet.jsonnet"]


def test_engine_names_and_settings() -> None:
    assert normalize_engine("gojsonnet") == "go"
    assert normalize_engine("C++") == "cpp"
    assert normalize_engine("rjsonnet") == "rust"
    with pytest.raises(UsageError, match="unknown jsonnet engine"):
        normalize_engine("v8")
    assert {"go", "cpp"} <= set(available_engines())


def test_ext_vars_come_only_from_the_caller(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable set in the process environment is invisible to templates."""
    monkeypatch.setenv("CATALOG_SECRET_PROBE", "s3cr3t-value")
    write(tree / "probe.jsonnet", "std.extVar('CATALOG_SECRET_PROBE')")
    for engine in ENGINES:
        with pytest.raises(JsonnetError) as info:
            Renderer(tree, [], EXT, engine).render_file(tree / "probe.jsonnet")
        assert "CATALOG_SECRET_PROBE" in str(info.value)
        assert "s3cr3t-value" not in str(info.value)


def test_ext_vars_for_uses_the_environment_config() -> None:
    config = load(
        {
            "environments": {
                "dev": {
                    "object_store": {"kind": "s3", "public_base_url": "http://127.0.0.1:9/pub/"},
                    "stac": {"kind": "api", "url": "http://127.0.0.1:9/stac"},
                    "ext_vars": {"team": "ocean", "environment": "dev-override"},
                }
            }
        },
        CatalogConfig,
    )
    dev = ext_vars_for(config, "dev")
    assert dev["data_base_url"] == "http://127.0.0.1:9/pub"
    assert dev["stac_api_url"] == "http://127.0.0.1:9/stac"
    assert dev["team"] == "ocean"
    assert dev["environment"] == "dev-override"  # ext_vars win over the defaults
    local = ext_vars_for(config, "local")
    assert local == {"environment": "local", "data_base_url": "", "stac_api_url": ""}


# ------------------------------------------------------------ the sandbox


@pytest.mark.parametrize("engine", ENGINES)
def test_absolute_import_is_refused(tree: Path, engine: str) -> None:
    text = "{\n  a: 1,\n  pw: importstr '/etc/passwd',\n}\n"
    write(tree / "datasets/a/collection.jsonnet", text)
    with pytest.raises(JsonnetError) as info:
        Renderer(tree, [tree / "lib"], EXT, engine).render_file(tree / "datasets/a/collection.jsonnet")
    err = info.value
    assert err.kind == "sandbox"
    assert err.file == "datasets/a/collection.jsonnet"
    assert (err.line, err.column) == locate(text, "importstr")
    assert "/etc/passwd" in str(err) and "absolute" in str(err)
    assert err.hint and "relative" in err.hint
    assert "root:" not in str(err)  # nothing of the file leaks


@pytest.mark.parametrize("engine", ENGINES)
def test_dotdot_escape_is_refused(tree: Path, engine: str) -> None:
    write(tree.parent / "outside.libsonnet", "{ secret: 'outside' }")
    text = "local o = import '../../../outside.libsonnet';\no\n"
    write(tree / "datasets/a/collection.jsonnet", text)
    with pytest.raises(JsonnetError) as info:
        Renderer(tree, [tree / "lib"], EXT, engine).render_file(tree / "datasets/a/collection.jsonnet")
    assert info.value.kind == "sandbox"
    assert info.value.file == "datasets/a/collection.jsonnet"
    assert info.value.line == 1
    assert "leaves the catalog" in str(info.value)


@pytest.mark.parametrize("engine", ENGINES)
def test_symlink_pointing_outside_is_refused(tree: Path, engine: str) -> None:
    secret = write(tree.parent / "secret.libsonnet", "{ token: 'do-not-read' }")
    os.symlink(secret, tree / "lib" / "innocent.libsonnet")
    text = "local i = import 'innocent.libsonnet';\n{ t: i.token }\n"
    write(tree / "datasets/a/collection.jsonnet", text)
    with pytest.raises(JsonnetError) as info:
        Renderer(tree, [tree / "lib"], EXT, engine).render_file(tree / "datasets/a/collection.jsonnet")
    assert info.value.kind == "sandbox"
    assert "symlink" in str(info.value) and "outside" in str(info.value)
    assert info.value.file == "datasets/a/collection.jsonnet"
    assert "do-not-read" not in str(info.value)


def test_symlinked_main_file_outside_is_refused(tree: Path) -> None:
    outside = write(tree.parent / "evil.jsonnet", "{ a: 1 }")
    os.symlink(outside, tree / "datasets" / "a" / "evil.jsonnet")
    with pytest.raises(JsonnetError, match="symlink"):
        Renderer(tree, [tree / "lib"], EXT).render_file(tree / "datasets/a/evil.jsonnet")
    with pytest.raises(JsonnetError, match="outside the render root"):
        Renderer(tree, [tree / "lib"], EXT).render_file(outside)


def test_symlink_inside_the_catalog_is_fine(tree: Path) -> None:
    os.symlink(tree / "lib" / "helper.libsonnet", tree / "datasets" / "a" / "local.libsonnet")
    write(tree / "datasets/a/collection.jsonnet", "(import 'local.libsonnet').double(4)")
    assert Renderer(tree, [], EXT).render_file(tree / "datasets/a/collection.jsonnet") == 8


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_import_names_where_it_looked(tree: Path, engine: str) -> None:
    text = "local x = import 'nope.libsonnet';\nx\n"
    write(tree / "datasets/a/collection.jsonnet", text)
    with pytest.raises(JsonnetError) as info:
        Renderer(tree, [tree / "lib"], EXT, engine).render_file(tree / "datasets/a/collection.jsonnet")
    msg = str(info.value)
    assert "datasets/a/nope.libsonnet" in msg and "lib/nope.libsonnet" in msg
    assert info.value.file == "datasets/a/collection.jsonnet" and info.value.line == 1


def test_lib_dir_outside_root_is_refused(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="outside the render root"):
        Renderer(tree, [tmp_path], EXT)


# ------------------------------------------------------------ bad input


@pytest.mark.parametrize("engine", ENGINES)
def test_syntax_error_has_file_line_column(tree: Path, engine: str) -> None:
    text = "{\n  a: 1,\n  b: [1, 2\n  c: 3,\n}\n"
    write(tree / "datasets/a/collection.jsonnet", text)
    with pytest.raises(JsonnetError) as info:
        Renderer(tree, [tree / "lib"], EXT, engine).render_file(tree / "datasets/a/collection.jsonnet")
    err = info.value
    assert err.kind == "syntax"
    assert err.file == "datasets/a/collection.jsonnet"
    assert (err.line, err.column) == locate(text, "c: 3")
    assert str(err).startswith(f"datasets/a/collection.jsonnet:{err.line}:{err.column}: ")
    problem = err.to_problem(dataset="a")
    assert isinstance(problem, Problem) and problem.column == err.column and problem.code == "render"


@pytest.mark.parametrize("engine", ENGINES)
def test_runtime_error_in_a_library_names_the_library(tree: Path, engine: str) -> None:
    lib = "{\n  check(x)::\n    if x > 0 then x\n    else error 'x must be positive',\n}\n"
    write(tree / "lib" / "check.libsonnet", lib)
    write(tree / "datasets/a/collection.jsonnet", "local c = import 'check.libsonnet';\n{ v: c.check(-1) }\n")
    with pytest.raises(JsonnetError) as info:
        Renderer(tree, [tree / "lib"], EXT, engine).render_file(tree / "datasets/a/collection.jsonnet")
    err = info.value
    assert err.kind == "runtime"
    assert err.detail == "x must be positive"
    assert (err.file, err.line, err.column) == ("lib/check.libsonnet", *locate(lib, "error"))
    assert any("collection.jsonnet" in frame for frame in err.trace)


@pytest.mark.parametrize("engine", ENGINES)
def test_infinite_recursion_is_a_clear_error(tree: Path, engine: str) -> None:
    text = "local forever(n) = forever(n + 1) + 1;\n{ x: forever(0) }\n"
    write(tree / "datasets/a/collection.jsonnet", text)
    start = time.perf_counter()
    with pytest.raises(JsonnetError) as info:
        Renderer(tree, [], EXT, engine, max_stack=200).render_file(tree / "datasets/a/collection.jsonnet")
    assert time.perf_counter() - start < 5
    assert "max stack frames exceeded" in str(info.value)
    assert info.value.file == "datasets/a/collection.jsonnet" and info.value.line == 1
    assert info.value.hint and "recursion" in info.value.hint


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_ext_var_names_the_variable(tree: Path, engine: str) -> None:
    lib = "{\n  url:: std.extVar('data_base_url'),\n}\n"
    write(tree / "lib" / "env.libsonnet", lib)
    write(tree / "datasets/a/collection.jsonnet", "{ u: (import 'env.libsonnet').url }\n")
    with pytest.raises(JsonnetError) as info:
        Renderer(tree, [tree / "lib"], {"environment": "x"}, engine).render_file(tree / "datasets/a/collection.jsonnet")
    err = info.value
    assert "external variable" in err.detail.lower() and "data_base_url" in err.detail
    assert (err.file, err.line) == ("lib/env.libsonnet", 2)
    assert err.hint and "catalog-bot.yaml" in err.hint


def test_huge_file_is_refused_fast_without_parsing(tree: Path) -> None:
    path = tree / "datasets/a/collection.jsonnet"
    with open(path, "wb") as fh:
        fh.write(b"{ a: '")
        fh.write(b"x" * (50 * 1024 * 1024))
        fh.write(b"' }\n")
    start = time.perf_counter()
    with pytest.raises(JsonnetError) as info:
        Renderer(tree, [tree / "lib"], EXT).render_file(path)
    assert time.perf_counter() - start < 1.0
    assert info.value.kind == "limit"
    assert "limit" in str(info.value) and "not parsed" in str(info.value)
    assert info.value.file == "datasets/a/collection.jsonnet"


def test_huge_import_is_refused(tree: Path) -> None:
    with open(tree / "lib" / "big.libsonnet", "wb") as fh:
        fh.write(b"'" + b"y" * (2 * 1024 * 1024) + b"'")
    text = "{ b: import 'big.libsonnet' }\n"
    write(tree / "datasets/a/collection.jsonnet", text)
    with pytest.raises(JsonnetError) as info:
        Renderer(tree, [tree / "lib"], EXT, max_bytes=1024 * 1024).render_file(tree / "datasets/a/collection.jsonnet")
    assert info.value.kind == "limit"
    assert "lib/big.libsonnet" in str(info.value)
    assert info.value.file == "datasets/a/collection.jsonnet"  # the importing file


@pytest.mark.parametrize("where", ["main", "import"])
def test_non_utf8_names_file_and_byte_offset(tree: Path, where: str) -> None:
    bad = b"{\n  title: 'caf\xe9',\n}\n"
    offset = bad.index(b"\xe9")
    if where == "main":
        write(tree / "datasets/a/collection.jsonnet", bad)
        bad_file = "datasets/a/collection.jsonnet"
    else:
        write(tree / "lib" / "latin1.libsonnet", bad)
        write(tree / "datasets/a/collection.jsonnet", "import 'latin1.libsonnet'\n")
        bad_file = "lib/latin1.libsonnet"
    with pytest.raises(JsonnetError) as info:
        Renderer(tree, [tree / "lib"], EXT).render_file(tree / "datasets/a/collection.jsonnet")
    msg = str(info.value)
    assert bad_file in msg and f"offset {offset}" in msg and "0xe9" in msg
    assert info.value.line == 2 and info.value.column == bad.split(b"\n")[1].index(b"\xe9") + 1
    assert info.value.hint == "save the file as UTF-8"


@pytest.mark.parametrize(
    "source",
    [
        "1+" * 200_000 + "1",  # segfaults the C++ engine when evaluated
        "[" * 100_000 + "]" * 100_000,  # kills the Go runtime (goroutine stack overflow) when parsed
        "local x = 1;\n" * 50_000 + "x",
        "{a: self}" + ".a" * 100_000,
    ],
    ids=["plus-chain", "brackets", "locals", "dot-chain"],
)
def test_pathological_nesting_is_refused_before_any_engine(tree: Path, source: str) -> None:
    """These inputs crash the engines' processes; the guard refuses them instead."""
    write(tree / "deep.jsonnet", source)
    for engine in ("go", "cpp", "auto"):
        with pytest.raises(JsonnetError) as info:
            Renderer(tree, [], EXT, engine).render_file(tree / "deep.jsonnet")
        assert info.value.kind == "limit" and "nested too deeply" in str(info.value)


def test_normal_nesting_is_not_refused(tree: Path) -> None:
    # deep but legitimate: 300 nested arrays, a 1,000-term sum, 5,000 data rows
    write(tree / "ok.jsonnet", "[" * 300 + "1" + "]" * 300)
    write(tree / "sum.jsonnet", "+".join(["1"] * 1000))
    write(tree / "data.jsonnet", "[" + ",".join(f'{{"a": {i}, "b": [1, 2]}}' for i in range(5000)) + "]")
    renderer = Renderer(tree, [], EXT)
    assert renderer.render_file(tree / "sum.jsonnet") == 1000
    assert len(renderer.render_file(tree / "data.jsonnet")) == 5000
    nested = renderer.render_file(tree / "ok.jsonnet")
    for _ in range(300):
        nested = nested[0]
    assert nested == 1


# ------------------------------------------------------- engine messages


def test_parse_engine_error_formats() -> None:
    cpp_static = "STATIC ERROR: d/c.jsonnet:4:1: expected a comma before next array element.\n"
    go_static = "d/c.jsonnet:4:1-2 Expected a comma before next array element\n\n}\n\n"
    runtime = "RUNTIME ERROR: boom\n\tlib/x.libsonnet:3:6-18\tobject <anonymous>\n\tDuring manifestation\t\n"
    ranged = "STATIC ERROR: d/c.jsonnet:(2:3)-(4:5): something\n"
    rust = "runtime error: boom\n    d/c.jsonnet:3:6-19: error statement\n    field <b> manifestification"
    assert parse_engine_error(cpp_static)[:4] == ("expected a comma before next array element.", "d/c.jsonnet", 4, 1)
    assert parse_engine_error(go_static)[:4] == ("Expected a comma before next array element", "d/c.jsonnet", 4, 1)
    headline, file, line, col, trace = parse_engine_error(runtime)
    assert (headline, file, line, col) == ("boom", "lib/x.libsonnet", 3, 6) and len(trace) == 2
    assert parse_engine_error(ranged)[1:4] == ("d/c.jsonnet", 2, 3)
    assert parse_engine_error(rust)[1:4] == ("d/c.jsonnet", 3, 6)


# ----------------------------------------------------------------- auto


def test_auto_falls_back_to_cpp_per_file(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If go fails on a file (an engine bug), auto renders that file with C++."""
    real_call = Renderer._call

    def go_breaks_on_b(self: Renderer, engine: str, ev: object, filename: str, text: str) -> str:
        if engine == "go" and "broken-for-go" in text:
            raise RuntimeError("RUNTIME ERROR: simulated go bug\n\tdatasets/b/collection.jsonnet:1:1-2\t\n")
        return real_call(self, engine, ev, filename, text)  # type: ignore[arg-type]

    monkeypatch.setattr(Renderer, "_call", go_breaks_on_b)
    write(tree / "datasets/b/collection.jsonnet", "// broken-for-go\n{ b: std.length('abc') }\n")
    renderer = Renderer(tree, [tree / "lib"], EXT, "auto", batch_size=1)
    results = list(
        renderer.render_many([tree / "datasets/a/collection.jsonnet", tree / "datasets/b/collection.jsonnet"])
    )
    assert [r.engine for r in results] == ["go", "cpp"]
    assert results[1].value == {"b": 3}
    assert renderer.fallbacks == ["datasets/b/collection.jsonnet"]


def test_auto_does_not_fall_back_for_sandbox_errors(tree: Path) -> None:
    write(tree / "datasets/a/collection.jsonnet", "import '/etc/hostname'")
    renderer = Renderer(tree, [tree / "lib"], EXT, "auto")
    with pytest.raises(JsonnetError) as info:
        renderer.render_file(tree / "datasets/a/collection.jsonnet")
    assert info.value.engine == "go" and renderer.fallbacks == []


def test_unknown_engine_setting_is_a_usage_error(tree: Path) -> None:
    with pytest.raises(UsageError, match="CATALOG_BOT_JSONNET_ENGINE"):
        Renderer(tree, [], EXT, "nashorn")


# ------------------------------------------------------------- parity


def test_example_catalog_parity_go_vs_cpp(example_catalog: Path) -> None:
    cat = Catalog.open(example_catalog)
    for env in ("local", "dev"):
        ext = ext_vars_for(cat.config, env)
        outputs = {}
        for engine in ENGINES:
            renderer = Renderer(cat.root, cat.lib_dirs(), ext, engine)
            outputs[engine] = [canonical(renderer.render_file(d.path(COLLECTION))) for d in cat.datasets()]
        assert outputs["go"] == outputs["cpp"]
        assert len(outputs["go"]) == len(cat.datasets()) >= 3
        for text in outputs["go"]:
            doc = json.loads(text)
            assert doc["type"] == "Collection" and doc["stac_version"] == "1.1.0"
            described = [link for link in doc["links"] if link["rel"] == "describedby"]
            if ext["data_base_url"]:
                assert described and described[0]["href"].startswith(ext["data_base_url"] + "/" + doc["id"])
            else:
                assert not described


def test_synthetic_catalog_parity_and_batching(tmp_path: Path) -> None:
    root = make_catalog(tmp_path / "syn", 8, seed=3)
    files = sorted(root.glob("datasets/*/collection.jsonnet"))
    ext = {**EXT, "environment": "local", "synthetic_run": "yes"}
    per_file = Renderer(root, [root / "lib"], ext, "cpp", batch_size=1)
    reference = [canonical(per_file.render_file(f)) for f in files]
    for engine, batch in (("go", 1), ("go", 3), ("cpp", 8)):
        renderer = Renderer(root, [root / "lib"], ext, engine, batch_size=batch)
        results = list(renderer.render_many(files, jobs=1))
        assert [r.path for r in results] == [f.relative_to(root).as_posix() for f in files]
        assert [canonical(r.value) for r in results] == reference, (engine, batch)


def test_render_many_reports_each_failure_and_keeps_order(tree: Path) -> None:
    write(tree / "datasets/b/collection.jsonnet", "{ b: error 'bad b' }")
    write(tree / "datasets/c/collection.jsonnet", "{ c: 3 }")
    write(tree / "datasets/d/collection.jsonnet", "import '../../../../x'")
    paths = [tree / f"datasets/{n}/collection.jsonnet" for n in "abcd"] + [tree / "missing.jsonnet"]
    results = list(Renderer(tree, [tree / "lib"], EXT, batch_size=8).render_many(paths))
    assert [r.ok for r in results] == [True, False, True, False, False]
    assert results[1].error is not None and "bad b" in str(results[1].error)
    assert results[1].error.file == "datasets/b/collection.jsonnet"
    assert results[3].error is not None and "leaves the catalog" in str(results[3].error)
    assert results[4].error is not None and "missing.jsonnet" in str(results[4].error)
    assert results[2].value == {"c": 3}


def test_render_many_in_worker_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_catalog(tmp_path / "syn", 9, seed=1)
    write(root / "datasets/synth-00004/collection.jsonnet", "{\n  broken: [1,\n}\n")
    files = sorted(root.glob("datasets/*/collection.jsonnet"))
    ext = {**EXT, "environment": "local"}
    monkeypatch.setattr(render_mod, "PROCESS_THRESHOLD", 4)
    parallel = list(Renderer(root, [root / "lib"], ext, batch_size=2).render_many(files, jobs=2))
    serial = list(Renderer(root, [root / "lib"], ext).render_many(files, jobs=1))
    assert [r.path for r in parallel] == [r.path for r in serial]
    assert [canonical(r.value) for r in parallel] == [canonical(r.value) for r in serial]
    bad = [r for r in parallel if not r.ok]
    assert len(bad) == 1 and isinstance(bad[0].error, JsonnetError)
    assert (bad[0].error.file, bad[0].error.line) == ("datasets/synth-00004/collection.jsonnet", 3)


@pytest.mark.skipif("rust" not in available_engines(), reason="rjsonnet not installed")
def test_rjsonnet_tab_indented_text_block_pitfall(tree: Path) -> None:
    """Why rjsonnet is not the default: a |||-block indented with tabs does not parse."""
    text = "{\n  d: |||\n\tfirst line\n\t  second\n  |||,\n}\n"
    write(tree / "tabs.jsonnet", text)
    expected = Renderer(tree, [], EXT, "cpp").render_file(tree / "tabs.jsonnet")
    assert expected == {"d": "first line\n  second\n"}
    assert Renderer(tree, [], EXT, "go").render_file(tree / "tabs.jsonnet") == expected
    try:
        got = Renderer(tree, [], EXT, "rust").render_file(tree / "tabs.jsonnet")
    except JsonnetError:
        return
    assert got == expected  # if a future rjsonnet fixes it, parity holds


def test_render_text_applies_the_same_limits(tree: Path) -> None:
    renderer = Renderer(tree, [tree / "lib"], EXT, max_bytes=1500, max_depth=500)
    with pytest.raises(JsonnetError, match="nested too deeply"):
        renderer.render_text("[" * 600 + "]" * 600)
    with pytest.raises(JsonnetError, match="limit"):
        renderer.render_text("'" + "x" * 2000 + "'")
    with pytest.raises(UsageError):
        renderer.render_text("1", "../outside.jsonnet")


def test_timeout_stops_a_slow_file_only(tree: Path) -> None:
    """An endless computation is killed after the per-file timeout; other files still render."""
    # endless but constant memory: C++ runs tailstrict recursion in a loop
    write(tree / "slow.jsonnet", "local loop(n) = if n == 0 then 0 else loop(n - 1) tailstrict;\nloop(1e12)")
    write(tree / "fast.jsonnet", "{ ok: true }")
    renderer = Renderer(tree, [], EXT, "cpp", timeout=1.0, batch_size=2)
    start = time.perf_counter()
    results = list(renderer.render_many([tree / "slow.jsonnet", tree / "fast.jsonnet"], jobs=1))
    assert time.perf_counter() - start < 30
    assert results[1].value == {"ok": True}
    assert results[0].error is not None and "longer than 1 s" in str(results[0].error)
    assert isinstance(results[0].error, JsonnetError) and results[0].error.kind == "limit"


def test_a_crashing_engine_costs_only_its_file(tree: Path) -> None:
    """Defence in depth: with the nesting guard switched off, the Go runtime dies on this input;
    the worker process is replaced and the other files still render."""
    write(tree / "crash.jsonnet", "[" * 100_000 + "]" * 100_000)
    write(tree / "fine.jsonnet", "[1, 2]")
    renderer = Renderer(tree, [], EXT, "go", max_depth=10**9, timeout=60, batch_size=2)
    results = list(renderer.render_many([tree / "crash.jsonnet", tree / "fine.jsonnet"], jobs=1))
    assert results[1].value == [1, 2]
    assert results[0].error is not None and "crashed" in str(results[0].error)


@pytest.mark.parametrize("where", ["main", "import"])
def test_tailstrict_is_not_given_to_go(tree: Path, where: str) -> None:
    """go-jsonnet crashes on deep tailstrict recursion (not counted by max_stack): auto uses C++."""
    code = "local loop(n, acc) = if n == 0 then acc else loop(n - 1, acc + 1) tailstrict;\n"
    if where == "main":
        write(tree / "t.jsonnet", code + "{ n: loop(50, 0) }")
    else:
        write(tree / "lib" / "loop.libsonnet", code + "{ loop:: loop }")
        write(tree / "t.jsonnet", "{ n: (import 'lib/loop.libsonnet').loop(50, 0) }")
    auto = Renderer(tree, [], EXT, "auto", batch_size=1)
    assert auto.render_file(tree / "t.jsonnet") == {"n": 50}
    assert auto.fallbacks == ["t.jsonnet"]
    with pytest.raises(JsonnetError) as info:
        Renderer(tree, [], EXT, "go").render_file(tree / "t.jsonnet")
    assert info.value.kind == "engine" and "tailstrict" in str(info.value)
    batched = list(
        Renderer(tree, [], EXT, "auto", batch_size=4).render_many([tree / "t.jsonnet", tree / "lib/helper.libsonnet"])
    )
    assert batched[0].value == {"n": 50} and batched[0].engine == "cpp"
