"""The Argo path step by step through the CLI, on the local object store (no services): references and fan-out.

Each ``catalog-bot step NAME --data-refs`` runs in its own work folder holding
only the artifacts the rendered template would mount (``DAG.inputs``), as a
pod would; the published data must equal what ``catalog-bot publish`` makes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.adapters.objectstore import tree_sha256
from bot.cli import main
from bot.pipeline.dag import PUBLISH
from bot.pipeline.executor import work_dir
from tests.conftest import EXAMPLE
from tests.test_sources_many import _set_source, split_csv


def _step(catalog: Path, output: Path, work: Path, name: str, dataset: str, *extra: str) -> None:
    args = ["step", name, "--dataset", dataset, "--catalog", str(catalog), "--env", "local"]
    with pytest.raises(SystemExit) as info:
        main([*args, "--work", str(work), "--output", str(output), "--data-refs", *extra])
    assert info.value.code in (0, None), f"step {name} failed"


def _pod(root: Path, name: str, reads: list[str]) -> Path:
    """A fresh work folder with copies of the artifacts ``name`` mounts under Argo (and nothing else)."""
    work = root / "pods" / name
    for dep in reads:
        src = root / "artifacts" / dep
        if src.is_dir():
            shutil.copytree(src, work / dep)
    work.mkdir(parents=True, exist_ok=True)
    return work


def _keep(root: Path, work: Path, name: str) -> None:
    if (work / name).is_dir():
        shutil.copytree(work / name, root / "artifacts" / name, dirs_exist_ok=True)


@pytest.mark.parametrize("dataset", ["reef-temperature", "sea-surface-temperature", "many"])
def test_steps_by_reference_publish_what_the_local_engine_publishes(tmp_path: Path, dataset: str) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(EXAMPLE, catalog)
    many = dataset == "many"
    if many:
        dataset = "reef-temperature"
        data = catalog / "datasets" / dataset / "data"
        split_csv(data / "reef-temperature.csv", data / "sites")
        (data / "reef-temperature.csv").unlink()
        _set_source(catalog, dataset, paths=["data/sites/*.csv"])
    local = tmp_path / "local"
    with pytest.raises(SystemExit) as info:
        main(["publish", "--catalog", str(catalog), "--output", str(local), "--env", "local", dataset])
    assert info.value.code in (0, None)
    expected = json.loads((work_dir(local.resolve(), dataset) / "convert" / "result.json").read_text())

    out = tmp_path / "argo"
    work = _pod(tmp_path, "plan-sources", [])
    _step(catalog, out, work, "plan-sources", dataset)
    _keep(tmp_path, work, "plan-sources")
    items = json.loads((work / "plan-sources" / "items.json").read_text())
    for item in items:
        pod = _pod(tmp_path, f"convert-file-{item}", ["plan-sources"])
        _step(catalog, out, pod, "convert-file", dataset, "--item", item)
    for step in PUBLISH:
        reads = PUBLISH.inputs(step.name) + (["plan-sources"] if step.name == "convert" else [])
        pod = _pod(tmp_path, step.name, reads)
        _step(catalog, out, pod, step.name, dataset)
        _keep(tmp_path, pod, step.name)
    record = json.loads((tmp_path / "artifacts" / "convert" / "result.json").read_text())
    assert not (tmp_path / "artifacts" / "convert" / record["file"]).exists()  # the artifact holds the key only
    assert (record["sha256"], record["bytes"], record["rows"]) == (
        expected["sha256"],
        expected["bytes"],
        expected["rows"],
    )
    assert items == ([str(i) for i in range(5)] if many else ["0"])  # one convert-file per site file, or one whole
    version = record["sha256"][:16]
    published = out / "data" / "catalog-public" / dataset / version / record["file"]
    assert tree_sha256(published) == expected["sha256"]
    assert json.loads((out / "data" / "catalog-public" / dataset / "datapackage.json").read_text())["resources"]
    # The work key was promoted; older keys and the fan-out's parts are gone, the current one stays for re-runs.
    work_keys = out / "data" / "catalog-public" / "work" / dataset
    assert sorted(p.name for p in work_keys.iterdir()) == sorted([record["sha256"], "refs"])
