"""Extents: the data's win on every harvest path; data without a spatial extent falls back to the
datapackage's (the record's when a harvest put it there) instead of failing the publish.

Real publishes of the example catalog (converters, validators, static STAC), a real HTTP server
serving an ISO record for the ``kind: url`` metadata source.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import xarray as xr
import yaml

from bot.catalog.layout import Catalog
from bot.config import Settings
from bot.metadata.extents import NO_SPATIAL_EXTENT, extent_fallback, fill_datacube_extents
from bot.pipeline.context import RunContext
from bot.pipeline.executor import publish
from bot.pipeline.harvest import harvest_dataset, merge_datapackage
from tests.test_harvest_iso import ISO, QuietHandler

GRID = "sea-surface-temperature"
REEF = "reef-temperature"


def _publish(catalog: Path, output: Path, ids: list[str]):
    cat = Catalog.open(catalog)
    run = RunContext(cat, "local", cat.config.environment("local"), output, Settings.from_env())
    return publish(run, cat.select(ids))


def _work(output: Path, dataset: str, step: str, name: str) -> dict:
    return json.loads((output / ".catalog-bot" / "work" / dataset / step / name).read_text(encoding="utf-8"))


@pytest.fixture
def record_server() -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(ISO))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _with_url_source(catalog: Path, dataset: str, url: str) -> None:
    path = catalog / "datasets" / dataset / "pipeline.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec["metadata_source"] = {"kind": "url", "url": url}
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")


def _drop_grid_coordinates(catalog: Path) -> None:
    """The example grid without lat/lon coordinate values (dimensions only): no spatial extent in the data."""
    path = catalog / "datasets" / GRID / "data" / f"{GRID}.nc"
    with xr.open_dataset(path) as ds:
        stripped = ds.drop_vars(["lat", "lon"]).load()
    stripped.to_netcdf(path)


# ---- pure rules ---------------------------------------------------------------------------------


def test_merge_keeps_curated_extents_the_data_lacks() -> None:
    """Data without a time axis: its bbox wins, the curated open interval stays (not the record's)."""
    current = {"spatial": {"bbox": [0, 0, 1, 1]}, "temporal": {"start": "2019-01-01T00:00:00Z", "end": None}}
    fields = {"spatial": {"bbox": [5, 5, 6, 6]}, "temporal": {"start": "2000-01-01T00:00:00Z", "end": None}}
    merged, source = merge_datapackage(current, fields, {"spatial": {"bbox": [0.5, 0.5, 0.9, 0.9]}})
    assert source == "data"
    assert merged["spatial"] == {"bbox": [0.5, 0.5, 0.9, 0.9], "source": "data"}
    assert merged["temporal"] == current["temporal"]


def test_merge_refreshes_extents_a_previous_harvest_took_from_the_record() -> None:
    current = {"spatial": {"bbox": [0, 0, 1, 1], "source": "record"}}
    merged, source = merge_datapackage(current, {"spatial": {"bbox": [5, 5, 6, 6]}}, None)
    assert source == "record" and merged["spatial"] == {"bbox": [5, 5, 6, 6], "source": "record"}


def test_fallback_forgives_only_a_missing_bbox_and_only_with_one_to_fall_back_on() -> None:
    problems = [f"{NO_SPATIAL_EXTENT} (missing or all-null coordinates)", "the dataset is empty (no rows / no cells)"]
    with_bbox = {"spatial": {"bbox": [142, -25, 157, -10], "source": "record"}}
    rest, note = extent_fallback(problems, with_bbox)
    assert rest == ["the dataset is empty (no rows / no cells)"]
    assert (
        note == "the data has no spatial extent: using the bbox [142.0, -25.0, 157.0, -10.0] from the metadata record"
    )
    assert extent_fallback(problems, {"spatial": {}}) == (problems, None)
    assert extent_fallback(["latitude south = -95 is outside [-90, 90]"], with_bbox)[1] is None


def test_datacube_dimensions_without_values_take_the_bbox() -> None:
    cube = {
        "cube:dimensions": {
            "lon": {"type": "spatial", "axis": "x", "extent": [None, None]},
            "lat": {"type": "spatial", "axis": "y", "extent": [None, None]},
            "time": {"type": "temporal", "extent": ["2024-01-16T00:00:00Z", "2024-12-16T00:00:00Z"]},
        }
    }
    filled = fill_datacube_extents(cube, [142.0, -25.0, 157.0, -10.0])
    assert filled is not None
    dims = filled["cube:dimensions"]
    assert dims["lon"]["extent"] == [142.0, 157.0] and dims["lat"]["extent"] == [-25.0, -10.0]
    assert dims["time"] == cube["cube:dimensions"]["time"]
    assert cube["cube:dimensions"]["lon"]["extent"] == [None, None]  # input untouched


# ---- real publishes -----------------------------------------------------------------------------


def test_grid_without_coordinate_values_publishes_with_the_records_bbox(example_catalog: Path, tmp_path: Path) -> None:
    _drop_grid_coordinates(example_catalog)
    dp_path = example_catalog / "datasets" / GRID / "datapackage.json"
    curated = json.loads(dp_path.read_text(encoding="utf-8"))
    curated["spatial"] = {"bbox": [142.0, -25.0, 157.0, -10.0], "source": "record"}  # put there by a harvest PR
    dp_path.write_text(json.dumps(curated, indent=2), encoding="utf-8")
    output = tmp_path / "out"
    report = _publish(example_catalog, output, [GRID])
    assert not report.failed, [str(o.error) for o in report.failed]
    (outcome,) = report.outcomes
    steps = {s.step: s for s in outcome.steps}
    assert "bbox [142.0, -25.0, 157.0, -10.0] from the metadata record" in steps["check-extents"].message
    package = _work(output, GRID, "generate-frictionless-metadata", "datapackage.json")
    assert package["spatial"]["bbox"] == [142.0, -25.0, 157.0, -10.0]
    assert package["temporal"]["start"].startswith("2024-01-16")  # the data's time axis still wins
    item = _work(output, GRID, "generate-stac-item", "item.json")
    assert item["bbox"] == [142.0, -25.0, 157.0, -10.0]
    assert item["properties"]["cube:dimensions"]["lon"]["extent"] == [142.0, 157.0]


def test_grid_without_coordinates_and_without_a_bbox_to_fall_back_on_still_fails(
    example_catalog: Path, tmp_path: Path
) -> None:
    _drop_grid_coordinates(example_catalog)
    dp_path = example_catalog / "datasets" / GRID / "datapackage.json"
    curated = json.loads(dp_path.read_text(encoding="utf-8"))
    del curated["spatial"]
    dp_path.write_text(json.dumps(curated, indent=2), encoding="utf-8")
    report = _publish(example_catalog, tmp_path / "out", [GRID])
    (failed,) = report.failed
    assert failed.error.step == "check-extents" and NO_SPATIAL_EXTENT in str(failed.error)


def test_publish_harvest_uses_the_datas_extents_not_the_records(
    example_catalog: Path, tmp_path: Path, record_server: str
) -> None:
    """The NOAA record covers the North Atlantic; the reef data is on the Great Barrier Reef."""
    _with_url_source(example_catalog, REEF, f"{record_server}/noaa-ncei-19115-2.xml")
    output = tmp_path / "out"
    report = _publish(example_catalog, output, [REEF])
    assert not report.failed, [str(o.error) for o in report.failed]
    extents = _work(output, REEF, "check-extents", "extents.json")
    harvest = _work(output, REEF, "harvest-metadata", "harvest.json")
    assert harvest["status"] == "changed" and harvest["extent_source"] == "data"
    assert harvest["datapackage"]["spatial"] == {"bbox": extents["bbox"], "source": "data"}
    assert harvest["datapackage"]["title"].startswith("Temperature, salinity and dissolved oxygen")
    assert extents["bbox"] != [-75.62, 35.04, -62.18, 42.77]  # the record's box is nowhere


def test_harvest_without_data_keeps_the_datapackages_extents(example_catalog: Path, record_server: str) -> None:
    """The harvest workflow / CLI (no check-extents): the record's bbox never replaces the datapackage's."""
    _with_url_source(example_catalog, REEF, f"{record_server}/noaa-ncei-19115-2.xml")
    dataset = Catalog.open(example_catalog).dataset(REEF)
    current = json.loads(dataset.path("datapackage.json").read_text(encoding="utf-8"))
    from bot.adapters.csw import MetadataSource

    outcome = harvest_dataset(dataset, lambda url: MetadataSource(url))
    assert outcome.status == "changed" and outcome.extent_source is None
    assert outcome.datapackage is not None
    assert outcome.datapackage["spatial"] == current["spatial"]
    assert outcome.datapackage["temporal"] == current["temporal"]
    assert not any("/spatial" in c or "/temporal" in c for c in outcome.changes)
    assert outcome.datapackage["licenses"][0]["name"] == "CC0-1.0"  # the rest of the record is harvested
