"""Resume by fingerprint: what makes a step re-run, and what does not."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.catalog.layout import Catalog
from bot.config import EnvironmentConfig, Settings
from bot.errors import BotError
from bot.pipeline.context import RunContext
from bot.pipeline.dag import HARVEST
from bot.pipeline.executor import publish, run_single_step
from bot.pipeline.fingerprint import environment_fingerprint
from tests.conftest import EXAMPLE

DS = "reef-temperature"


def _run(catalog: Path, output: Path, env: EnvironmentConfig | None = None) -> RunContext:
    cat = Catalog.open(catalog)
    return RunContext(cat, "local", env or cat.config.environment("local"), output, Settings.from_env())


def _ran(catalog: Path, output: Path) -> set[str]:
    run = _run(catalog, output)
    (outcome,) = publish(run, [run.catalog.dataset(DS)]).outcomes
    assert outcome.status != "failed", outcome.error
    return {s.step for s in outcome.steps if s.status == "done"}


def test_touched_source_reconverts(example_catalog: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert "convert" in _ran(example_catalog, out)
    assert _ran(example_catalog, out) == set()
    csv = example_catalog / "datasets" / DS / "data" / "reef-temperature.csv"
    st = csv.stat()
    os.utime(csv, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    ran = _ran(example_catalog, out)
    assert "convert" in ran
    # Same bytes -> same content-addressed data version -> the upload writes nothing new.
    versions = list((out / "data" / "catalog-public" / DS).glob("*/reef-temperature.parquet"))
    assert len(versions) == 1


def test_deleted_published_file_is_restored(example_catalog: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _ran(example_catalog, out)
    item = out / "stac" / DS / DS / f"{DS}.json"
    item.unlink()
    ran = _ran(example_catalog, out)
    assert "ingest-stac-item" in ran and "convert" not in ran
    assert item.is_file()


def test_environment_change_invalidates_everything(example_catalog: Path, tmp_path: Path) -> None:
    base = _run(example_catalog, tmp_path / "a")
    other_output = _run(example_catalog, tmp_path / "b")
    other_config = _run(example_catalog, tmp_path / "a", EnvironmentConfig(ext_vars={"x": "1"}))
    fps = {environment_fingerprint(r) for r in (base, other_output, other_config)}
    assert len(fps) == 3


def test_harvest_steps_without_a_source_or_a_harvest(example_catalog: Path, tmp_path: Path) -> None:
    run = _run(example_catalog, tmp_path / "out")
    ds = run.catalog.dataset(DS)
    step = run_single_step(run, ds, "harvest-metadata")
    assert step.status == "skipped" and "no metadata source" in step.message
    from bot.pipeline.executor import make_step_context

    ctx = make_step_context(run, ds)
    # propose-update reads what harvest-metadata recorded; without it, a clear error says which step to run
    with pytest.raises(BotError, match="run step 'harvest-metadata' first"):
        HARVEST.step("propose-update").load()(ctx)


def test_new_data_versions_replace_old_ones_keeping_the_previous(example_catalog: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    csv = example_catalog / "datasets" / DS / "data" / "reef-temperature.csv"
    folder = out / "data" / "catalog-public" / DS
    lines = csv.read_text().splitlines()
    seen = []
    for depth in ("1.5", "2.5", "3.5"):
        cells = lines[1].split(",")
        cells[4] = depth  # depth column: same schema, new content -> a new data version
        csv.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
        assert "upload-arco-data" in _ran(example_catalog, out)
        package = json.loads((folder / "datapackage.json").read_text())
        current = package["resources"][0]["path"].split("/")[0]
        seen.append(current)
        assert (folder / package["resources"][0]["path"]).is_file()
    assert len(set(seen)) == 3
    # .catalog-bot/ holds the dataset's publish lock and record, not a data version.
    versions = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert versions == sorted(seen[1:])  # the oldest was pruned; current + previous kept


def test_every_dag_step_resolves_to_a_step_function() -> None:
    from bot.pipeline.dag import DAGS

    for dag in DAGS.values():
        for step in dag:
            fn = step.load()
            assert callable(fn) and fn.__module__.startswith("bot.pipeline.steps."), step.name


def test_one_factory_resolves_where_a_run_writes(tmp_path: Path) -> None:
    """CLI verbs and the GitHub publisher start runs through RunContext.open: one rule for the output folder."""
    from bot.pipeline.context import output_folder

    cat = Catalog.open(EXAMPLE)
    configured = Path(cat.config.environment("local").output)
    assert not configured.is_absolute()
    run = RunContext.open(cat, "local", Settings.from_env(), base=tmp_path)
    assert run.output == (tmp_path / configured).resolve()
    assert run.provenance == Settings.from_env().provenance()
    assert output_folder(cat, "local", tmp_path / "abs", base=Path("/elsewhere")) == (tmp_path / "abs").resolve()
