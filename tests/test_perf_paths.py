"""The fast paths stay fast: what `render` and `step convert` import, and what `render` leaves behind.

Why fresh interpreters and the real CLI: the test session has long imported
pydantic models, pandas and jsonschema, so only a new process shows what a
command pulls in, and only the real command shows which worker processes
outlive it.  Speed itself is measured by ``benchmarks/bench_render_cli.py``
and ``benchmarks/bench_convert_cli.py``, never here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from bot.convert.geoparquet import float_values

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from synthetic_catalog import make_catalog  # noqa: E402

EXT = ["-V", "environment=local", "-V", "data_base_url=", "-V", "stac_api_url=", "-V", "synthetic_run=yes"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not any(s in k.upper() for s in ("TOKEN", "SECRET", "KEY"))}
    env.pop("CATALOG_BOT_RENDER_SANDBOX", None)
    env.update(extra)
    return env


def _loaded(argv: list[str], cwd: Path, modules: tuple[str, ...]) -> tuple[dict[str, bool], str]:
    """Run the CLI in a fresh interpreter; which of ``modules`` it imported, and its stdout."""
    probe = (
        "import json, sys\nfrom bot.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        f"print('@@' + json.dumps({{m: m in sys.modules for m in {list(modules)!r}}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    last = [line for line in out.stdout.splitlines() if line.startswith("@@")][-1]
    return json.loads(last[2:]), out.stdout


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_catalog(tmp_path_factory.mktemp("perf") / "catalog", 60)


def test_render_of_one_file_imports_no_pydantic_model_or_schema_machinery(catalog: Path) -> None:
    """Files mode needs the renderer and an engine: not bot.config's models, jsonschema or the layout."""
    heavy = ("bot.config", "bot.catalog.layout", "jsonschema", "referencing", "yaml", "pandas", "pyarrow")
    loaded, stdout = _loaded(["render", "datasets/synth-00000/collection.jsonnet", "-J", "lib", *EXT], catalog, heavy)
    assert not any(loaded.values()), [m for m, v in loaded.items() if v]
    row = json.loads(stdout.splitlines()[0])
    assert row["ok"] and row["result"]["id"] == "synth-00000"


def _workers_in(root: Path) -> list[str]:
    """Live processes (not zombies) whose working folder is inside ``root``: the render children run there."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if state != "Z" and (cwd == str(root) or cwd.startswith(str(root) + os.sep)):
            found.append(f"{pid} {cmd[:100]}")
    return found


@pytest.mark.parametrize("sandbox", ["0", "1"])
def test_render_leaves_no_worker_process_behind(catalog: Path, tmp_path: Path, sandbox: str) -> None:
    """60 files with --jobs 2 use worker processes (always so in the sandbox); none outlives the CLI.

    One file fails to render, so the CLI exits 1 through the error path too.
    """
    root = tmp_path / "catalog"
    shutil.copytree(catalog, root)
    (root / "datasets" / "synth-00003" / "collection.jsonnet").write_text("{ a: error 'broken on purpose' }\n")
    files = sorted(str(p.relative_to(root)) for p in root.glob("datasets/*/collection.jsonnet"))
    cli = shutil.which("catalog-bot") or sys.executable
    cmd = [cli, "render", *files, "-J", "lib", *EXT, "--jobs", "2"]
    if cli == sys.executable:
        cmd[1:1] = ["-m", "bot"]
    out, err = tmp_path / "stdout.jsonl", tmp_path / "stderr.txt"
    with out.open("w") as stdout_fh, err.open("w") as stderr_fh:  # files, not pipes: 60 results fill a pipe
        proc = subprocess.Popen(
            cmd, cwd=root, env=_env(CATALOG_BOT_RENDER_SANDBOX=sandbox), stdout=stdout_fh, stderr=stderr_fh
        )
        seen_workers = False
        while proc.poll() is None:  # watch the children while it runs: the test must see workers to mean anything
            seen_workers |= len(_workers_in(root)) > 1
            time.sleep(0.05)
    stdout = out.read_text()
    assert proc.returncode == 1, err.read_text()[-2000:]
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert len(rows) == 60 and sum(not r["ok"] for r in rows) == 1
    assert "broken on purpose" in next(r["error"] for r in rows if not r["ok"])
    assert seen_workers, "the CLI never started worker processes: the test would prove nothing"
    deadline = time.monotonic() + 5
    while _workers_in(root) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _workers_in(root) == []


def test_step_convert_of_a_csv_does_not_import_pandas(tmp_path: Path) -> None:
    """pyarrow's ``to_numpy`` imports pandas (~0.5 s per Argo pod); the converter reads buffers instead.

    A catalog file needs no HTTP client either.
    """
    root = tmp_path / "catalog"
    shutil.copytree(ROOT / "catalog_templates" / "example", root)
    loaded, stdout = _loaded(
        ["step", "convert", "--dataset", "reef-temperature", "--output", str(tmp_path / "out")],
        root,
        ("pandas", "pyarrow", "httpx"),
    )
    assert loaded == {"pandas": False, "pyarrow": True, "httpx": False}
    assert "step convert for reef-temperature: done" in stdout


def test_step_convert_of_a_netcdf_loads_no_other_xarray_backend(tmp_path: Path) -> None:
    """A string engine makes xarray import every backend plug-in (rioxarray, rasterio): ~1 s per pod."""
    root = tmp_path / "catalog"
    shutil.copytree(ROOT / "catalog_templates" / "example", root)
    loaded, stdout = _loaded(
        ["step", "convert", "--dataset", "sea-surface-temperature", "--output", str(tmp_path / "out")],
        root,
        ("xarray", "netCDF4", "rioxarray", "rasterio", "httpx"),
    )
    assert loaded == {"xarray": True, "netCDF4": True, "rioxarray": False, "rasterio": False, "httpx": False}
    assert "step convert for sea-surface-temperature: done" in stdout


@pytest.mark.parametrize("offset", [0, 3, 9])
def test_float_values_match_arrow_with_nulls_and_offsets(offset: int) -> None:
    rng = np.random.default_rng(offset)
    raw = rng.uniform(-180, 180, 40)
    mask = rng.random(40) < 0.3
    arr = pa.array(raw, mask=mask).slice(offset, 25)
    got = float_values(arr)
    want = np.array([np.nan if v is None else v for v in arr.to_pylist()])
    np.testing.assert_array_equal(got, want)
    ints = pa.array([1, None, 3], type=pa.int32()).slice(1)
    np.testing.assert_array_equal(float_values(ints), [np.nan, 3.0])


def test_validation_workers_get_a_go_gc_target_and_find_what_one_process_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#16: the spawned validation workers run the Go engine with GOGC=400 (a third less render CPU).

    The pool's result must not depend on it: the same problems as one
    process; the parent's environment is left as it was, and a GOGC the
    user set is kept.
    """
    from bot.catalog.layout import Catalog
    from bot.catalog.schemas import SchemaRegistry
    from bot.catalog.validate import catalog as validate_catalog
    from bot.config import Settings

    root = make_catalog(tmp_path / "cat", 12)
    package = root / "datasets" / "synth-00003" / "datapackage.json"
    doc = json.loads(package.read_text())
    doc["licenses"] = [{"name": "not-a-licence"}]
    package.write_text(json.dumps(doc))
    monkeypatch.delenv("GOGC", raising=False)
    seen: list[str | None] = []
    real = validate_catalog.ProcessPoolExecutor

    def spying_pool(*args: object, **kwargs: object) -> object:
        seen.append(os.environ.get("GOGC"))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(validate_catalog, "ProcessPoolExecutor", spying_pool)
    monkeypatch.setattr(validate_catalog, "CHUNK", 4)  # several chunks, so both workers get some
    cat = Catalog.open(root)
    registry = SchemaRegistry.from_settings(Settings.from_env())

    def codes(result: dict[str, list]) -> dict[str, list[tuple[str, str | None]]]:
        return {k: sorted((p.code, p.pointer) for p in v) for k, v in result.items()}

    pooled = validate_catalog.validate_many(cat, registry=registry, processes=2)
    assert seen == [validate_catalog.GO_GC_PERCENT] and "GOGC" not in os.environ
    single = validate_catalog.validate_many(cat, registry=registry, processes=1)
    assert codes(pooled) == codes(single) and len(pooled) == 12
    assert any(code for code, _ in codes(pooled)["synth-00003"]), "the broken licence was not reported"
    monkeypatch.setenv("GOGC", "150")
    validate_catalog.validate_many(cat, registry=registry, processes=2)
    assert seen[-1] == "150" and os.environ["GOGC"] == "150"


def test_the_document_diff_loads_no_dataframe_or_model_library() -> None:
    """deepdiff imports pandas, polars and pydantic when installed (~0.4 s of every check); the bot's
    diff blocks them while deepdiff imports, and a later ``import pandas`` still works."""
    probe = (
        "import json, sys\nfrom bot.catalog.diff import DeepDiff\n"
        "loaded = [m for m in ('pandas', 'polars', 'pydantic') if m in sys.modules]\n"
        "changed = DeepDiff({'title': 'a'}, {'title': 'b'})\n"
        "import pandas\n"
        "print(json.dumps({'loaded': loaded, 'changed': sorted(changed), 'pandas': bool(pandas.__version__)}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.splitlines()[-1]) == {"loaded": [], "changed": ["values_changed"], "pandas": True}
