"""Dataset-specific converters as plug-ins: a real package, built and pip-installed by the test into a temp target,
found through the ``catalog_bot.converters`` entry-point group by the CLI (``converters``, ``publish``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import EXAMPLE, frictionless_validate

pytestmark = pytest.mark.slow

PLUGIN = '''
"""A logger vendor's export: semicolon-separated, decimal commas, day-first local times."""
from pathlib import Path

import pandas as pd

from bot.convert.plugins import ConverterInput, ConverterOutput


def convert(inp: ConverterInput) -> ConverterOutput:
    (source,) = inp.sources
    df = pd.read_csv(source, sep=";", decimal=",")
    df["time"] = pd.to_datetime(df.pop("Zeit"), format="%d.%m.%Y %H:%M").dt.tz_localize("UTC")
    df = df.rename(columns={"Station": "site_id", "Laenge": "lon", "Breite": "lat", "Tiefe": "depth",
                            "Temperatur": "temperature", "QC": "qc_flag"})
    df = df[["site_id", "time", "lon", "lat", "depth", "temperature", "qc_flag"]]
    out = inp.work_dir / f"{inp.dataset}.parquet"
    df.to_parquet(out, index=False)
    return ConverterOutput(path=out, metadata={"descriptions": {"temperature": "from the vendor export"}})


def broken(inp: ConverterInput) -> ConverterOutput:
    raise ValueError("unexpected header line 3")
'''


@pytest.fixture(scope="module")
def plugin_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``acme-converters`` built from source and installed with pip into its own folder (never into the venv)."""
    root = tmp_path_factory.mktemp("plugin")
    pkg = root / "src" / "acme_converters"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(PLUGIN)
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools>=68"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "acme-converters"
            version = "1.0.0"

            [project.entry-points."catalog_bot.converters"]
            vendor-logger = "acme_converters:convert"
            broken = "acme_converters:broken"
            """
        )
    )
    target = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(root),
        ],
        check=True,
        timeout=300,
    )
    return target


def _cli(args: list[str], target: Path | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if target is not None:
        env["PYTHONPATH"] = str(target)
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=300, env=env)


def test_converters_lists_the_installed_plugins(plugin_target: Path) -> None:
    proc = _cli(["converters", "--json"], plugin_target)
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    assert listed["vendor-logger"] == "acme_converters:convert (acme-converters)"
    assert set(listed) >= {"vendor-logger", "broken"}
    plain = _cli(["converters"], None)
    assert "vendor-logger" not in plain.stdout  # not installed in the venv itself


def _vendor_catalog(tmp_path: Path, converter: str) -> Path:
    catalog = tmp_path / "catalog"
    shutil.copytree(EXAMPLE, catalog)
    ds = catalog / "datasets" / "reef-temperature"
    rows = [line.split(",") for line in (ds / "data/reef-temperature.csv").read_text().splitlines()[1:]]
    lines = ["Station;Zeit;Laenge;Breite;Tiefe;Temperatur;QC"]
    for site, time, lon, lat, depth, temp, qc in rows:
        stamp = f"{time[8:10]}.{time[5:7]}.{time[0:4]} {time[11:16]}"
        lines.append(";".join([site, stamp, *(v.replace(".", ",") for v in (lon, lat, depth, temp)), qc]))
    (ds / "data/reef-temperature.csv").unlink()
    (ds / "data/export.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (ds / "pipeline.yaml").write_text(
        "source: {path: data/export.txt, format: csv}\n"
        f"converter: {converter}\n"
        "output: parquet\ncoordinates: {x: lon, y: lat, z: depth, t: time}\naccess: public\n"
    )
    return catalog


def test_publish_runs_the_plugin_and_the_result_is_valid(plugin_target: Path, tmp_path: Path) -> None:
    catalog = _vendor_catalog(tmp_path, "vendor-logger")
    out = tmp_path / "out"
    proc = _cli(["publish", "--catalog", str(catalog), "--output", str(out), "reef-temperature"], plugin_target)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = out / "data" / "catalog-public" / "reef-temperature"
    package = json.loads((folder / "datapackage.json").read_text())
    assert package["resources"][0]["rows"] == 1820
    assert package["temporal"]["start"] == "2024-01-01T00:00:00Z"
    report = frictionless_validate(folder / "datapackage.json")
    assert report["valid"], report


def test_missing_and_failing_plugins_are_clear_errors(plugin_target: Path, tmp_path: Path) -> None:
    missing = _vendor_catalog(tmp_path / "a", "glider-nc")
    proc = _cli(
        ["publish", "--catalog", str(missing), "--output", str(tmp_path / "o1"), "reef-temperature"], plugin_target
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "converter 'glider-nc' is not installed (installed: broken, vendor-logger)" in text
    assert not (tmp_path / "o1" / "data" / "catalog-public" / "reef-temperature").exists()
    failing = _vendor_catalog(tmp_path / "b", "broken")
    proc = _cli(
        ["publish", "--catalog", str(failing), "--output", str(tmp_path / "o2"), "reef-temperature"], plugin_target
    )
    assert proc.returncode != 0
    assert "converter 'broken' failed: ValueError: unexpected header line 3" in proc.stdout + proc.stderr
