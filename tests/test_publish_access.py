"""Access and time rules through the real local pipeline (#13 items 2 and 9).

A copy of the example catalog is published with the local engine (real
converters, a real static STAC catalog): a ``limited`` dataset never reaches
the public STAC catalog, goes to ``limited_stac`` when the environment has
one, and a curated open interval survives into the published collection.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from bot.catalog.layout import Catalog
from bot.config import Settings
from bot.pipeline.context import RunContext
from bot.pipeline.executor import PublishReport, publish

LIMITED = "marine-protected-areas"


def _publish(catalog: Path, output: Path, ids: list[str]) -> PublishReport:
    cat = Catalog.open(catalog)
    run = RunContext(cat, "local", cat.config.environment("local"), output, Settings.from_env())
    return publish(run, cat.select(ids))


def _set_access(catalog: Path, dataset: str, access: str) -> None:
    path = catalog / "datasets" / dataset / "pipeline.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["access"] = access
    path.write_text(yaml.safe_dump(spec))


def _configure_local(catalog: Path, **extra: object) -> None:
    path = catalog / "catalog-bot.yaml"
    config = yaml.safe_load(path.read_text())
    config["environments"]["local"].update(extra)
    path.write_text(yaml.safe_dump(config))


def _collections(stac_root: Path) -> set[str]:
    if not (stac_root / "catalog.json").is_file():
        return set()
    root = json.loads((stac_root / "catalog.json").read_text())
    return {link["href"].split("/")[-2] for link in root["links"] if link["rel"] == "child"}


def test_limited_dataset_never_reaches_the_public_stac(example_catalog: Path, tmp_path: Path) -> None:
    _set_access(example_catalog, LIMITED, "limited")
    output = tmp_path / "out"
    report = _publish(example_catalog, output, [LIMITED, "reef-temperature"])
    assert [o.status for o in report.outcomes] == ["published", "published"], [str(o.error) for o in report.failed]
    assert _collections(output / "stac") == {"reef-temperature"}
    assert not list((output / "stac").rglob(f"{LIMITED}*"))
    steps = {s.step: s for s in report.outcomes[0].steps}
    for name in ("ensure-collection", "ingest-stac-item", "update-collection", "ingest-pygeoapi-entry"):
        assert steps[name].status == "skipped", name
    assert "limited" in steps["ingest-stac-item"].message
    # The data went to the limited bucket, never the public one.
    assert (output / "data" / "catalog-limited" / LIMITED / "datapackage.json").is_file()
    assert not (output / "data" / "catalog-public" / LIMITED).exists()


def test_limited_dataset_goes_to_the_limited_stac_target_when_configured(example_catalog: Path, tmp_path: Path) -> None:
    _set_access(example_catalog, LIMITED, "limited")
    _configure_local(example_catalog, limited_stac={"kind": "static", "root": "stac-limited"})
    output = tmp_path / "out"
    report = _publish(example_catalog, output, [LIMITED, "reef-temperature"])
    assert not report.failed, [str(o.error) for o in report.failed]
    assert _collections(output / "stac") == {"reef-temperature"}
    assert _collections(output / "stac-limited") == {LIMITED}
    item = json.loads((output / "stac-limited" / LIMITED / LIMITED / f"{LIMITED}.json").read_text())
    assert item["properties"]["catalog_bot:access"] == "limited"


def test_curated_open_interval_is_published_open(example_catalog: Path, tmp_path: Path) -> None:
    """No time axis in the data (no ``t`` coordinate) and ``temporal.end: null``: the collection stays open."""
    path = example_catalog / "datasets" / LIMITED / "pipeline.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["coordinates"].pop("t")
    path.write_text(yaml.safe_dump(spec))
    start = json.loads((example_catalog / "datasets" / LIMITED / "datapackage.json").read_text())["temporal"]["start"]
    output = tmp_path / "out"
    report = _publish(example_catalog, output, [LIMITED])
    assert not report.failed, [str(o.error) for o in report.failed]
    collection = json.loads((output / "stac" / LIMITED / "collection.json").read_text())
    [[first, last]] = collection["extent"]["temporal"]["interval"]
    assert last is None
    assert first.replace("Z", "+00:00")[:10] == start[:10]
