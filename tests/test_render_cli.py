"""``catalog-bot render``: dataset mode and files mode, exit codes, engine switch."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bot.catalog.layout import COLLECTION, Catalog
from bot.catalog.render import Renderer, ext_vars_for
from bot.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from synthetic_catalog import make_catalog


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_dataset_mode_prints_the_rendered_collection(example_catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["render", "reef-temperature", "--catalog", str(example_catalog), "--env", "dev"], capsys)
    assert code == 0
    cat = Catalog.open(example_catalog)
    expected = Renderer(cat.root, cat.lib_dirs(), ext_vars_for(cat.config, "dev"), "cpp").render_file(
        cat.dataset("reef-temperature").path(COLLECTION)
    )
    assert json.loads(out) == expected
    assert out.startswith("{\n  ")  # pretty


def test_dataset_mode_error_exit_codes(example_catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["render", "no-such-dataset", "--catalog", str(example_catalog)], capsys)
    assert code == 2 and "unknown dataset" in err
    coll = example_catalog / "datasets" / "reef-temperature" / COLLECTION
    coll.write_text("local lib = import 'catalog.libsonnet';\n{ a: lib.nope(1) }\n", encoding="utf-8")
    code, out, err = run_cli(["render", "reef-temperature", "--catalog", str(example_catalog)], capsys)
    assert code == 1 and out == ""
    assert "datasets/reef-temperature/collection.jsonnet:2:" in err and "nope" in err
    assert "Traceback" not in err
    code, _, err = run_cli(
        ["render", "reef-temperature", "--catalog", str(example_catalog), "--env", "nowhere"], capsys
    )
    assert code == 1 and "unknown environment" in err


def test_all_datasets_as_json_lines(example_catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["render", "--catalog", str(example_catalog)], capsys)
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [x["dataset"] for x in lines] == Catalog.open(example_catalog).ids()
    assert all(x["ok"] and x["result"]["id"] == x["dataset"] for x in lines)


def test_files_mode_json_lines_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_catalog(tmp_path / "syn", 4)
    bad = root / "datasets" / "synth-00002" / COLLECTION
    bad.write_text("{\n  a: std.extVar('team'),\n  b: [1,\n}\n", encoding="utf-8")
    monkeypatch.chdir(root)
    files = sorted(str(p.relative_to(root)) for p in root.glob("datasets/*/collection.jsonnet"))
    args = ["render", *files, "-J", "lib", "--jobs", "2"]
    for kv in ("environment=ci", "data_base_url=https://data.example.org", "stac_api_url=", "team=ocean"):
        args += ["-V", kv]
    code, out, err = run_cli(args, capsys)
    assert code == 1, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [x["file"] for x in lines] == files
    assert [x["ok"] for x in lines] == [True, True, False, True]
    assert lines[2]["line"] == 4 and lines[2]["column"] == 1 and "error" in lines[2]
    good = lines[0]["result"]
    assert good["summaries"]["synthetic:env"] == ["ci"]
    assert any(link["href"].startswith("https://data.example.org/") for link in good["links"])


def test_files_mode_error_in_library_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_catalog(tmp_path / "syn", 1)
    monkeypatch.chdir(root)
    code, out, _ = run_cli(["render", "datasets/synth-00000/collection.jsonnet", "-J", "lib"], capsys)
    assert code == 1
    [line] = [json.loads(x) for x in out.splitlines()]
    assert (
        line["error_file"] == "lib/catalog.libsonnet" and line["line"] and "external variable" in line["error"].lower()
    )


def test_mixing_files_and_ids_is_a_usage_error(example_catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    coll = str(example_catalog / "datasets" / "reef-temperature" / COLLECTION)
    code, _, err = run_cli(["render", coll, "reef-temperature"], capsys)
    assert code == 2 and "not a file" in err


def test_engine_from_environment_variable(
    example_catalog: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """CATALOG_BOT_JSONNET_ENGINE selects the engine (the engines word this error differently)."""
    coll = example_catalog / "datasets" / "reef-temperature" / COLLECTION
    coll.write_text("{ a: {}.missing }\n", encoding="utf-8")
    messages = {}
    for engine in ("cpp", "go"):
        monkeypatch.setenv("CATALOG_BOT_JSONNET_ENGINE", engine)
        code, _, err = run_cli(["render", "reef-temperature", "--catalog", str(example_catalog)], capsys)
        assert code == 1
        messages[engine] = err
    assert "field does not exist: missing" in messages["cpp"]
    assert "Field does not exist: missing" in messages["go"]
    monkeypatch.setenv("CATALOG_BOT_JSONNET_ENGINE", "v8")
    code, _, err = run_cli(["render", "reef-temperature", "--catalog", str(example_catalog)], capsys)
    assert code == 2 and "unknown jsonnet engine" in err


def test_files_mode_paths_are_relative_to_the_cwd(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_catalog(tmp_path / "syn", 2)
    monkeypatch.chdir(tmp_path)
    args = ["render", "syn/datasets/synth-00001/collection.jsonnet", "-J", "syn/lib"]
    for kv in ("environment=ci", "data_base_url=", "stac_api_url="):
        args += ["-V", kv]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    [line] = [json.loads(x) for x in out.splitlines()]
    assert line["file"] == "syn/datasets/synth-00001/collection.jsonnet" and line["result"]["id"] == "synth-00001"
    # a file outside the -J tree widens the sandbox root to their common folder, never beyond it
    outside = tmp_path / "other" / "x.jsonnet"
    outside.parent.mkdir()
    outside.write_text("import '../../escape.libsonnet'", encoding="utf-8")
    code, out, _ = run_cli(["render", str(outside), "-J", "syn/lib"], capsys)
    assert code == 1 and "leaves the catalog" in json.loads(out)["error"]
    assert root.is_dir()


def test_timeout_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    slow = tmp_path / "slow.jsonnet"
    slow.write_text("local loop(n) = if n == 0 then 0 else loop(n - 1) tailstrict;\nloop(1e12)", encoding="utf-8")
    fast = tmp_path / "fast.jsonnet"
    fast.write_text("{ fast: true }", encoding="utf-8")
    code, out, _ = run_cli(["render", str(slow), str(fast), "--timeout", "1", "--jobs", "2"], capsys)
    assert code == 1
    lines = [json.loads(x) for x in out.splitlines()]
    assert "longer than 1 s" in lines[0]["error"] and lines[1]["result"] == {"fast": True}
