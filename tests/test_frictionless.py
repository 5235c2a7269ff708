"""Complete datapackage, offline validation and the schema gate (pure functions, real example files)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from frictionless import Package

from bot.catalog.schemas import SchemaRegistry
from bot.errors import SchemaChanged
from bot.metadata.frictionless import (
    complete_datapackage,
    merge_schema,
    schema_differences,
    schema_gate,
    validate_datapackage,
)

from .conftest import EXAMPLE

REEF = EXAMPLE / "datasets" / "reef-temperature"
SST = EXAMPLE / "datasets" / "sea-surface-temperature"
SHA = "ab" * 32


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def registry(schemas_dir: Path, tmp_path: Path) -> SchemaRegistry:
    return SchemaRegistry(schemas_dir, tmp_path / "cache")


def test_complete_tabular_package_is_valid_and_carries_data_facts(registry: SchemaRegistry) -> None:
    curated = _load(REEF / "datapackage.json")
    schema = _load(REEF / "tableschema.json")
    package = complete_datapackage(
        curated,
        kind="tabular",
        data_format="parquet",
        data_path="0123/reef-temperature.parquet",
        size=1234,
        sha256=SHA,
        schema=schema,
        bbox=[145.0, -24.0, 152.0, -13.0],
        temporal={"start": "2024-01-01T00:00:00Z", "end": "2024-02-01T00:00:00Z"},
        rows=10,
    )
    resource = package["resources"][0]
    assert resource["path"] == "0123/reef-temperature.parquet"
    assert resource["hash"] == f"sha256:{SHA}"
    assert resource["bytes"] == 1234
    assert resource["mediatype"] == "application/vnd.apache.parquet"
    assert resource["schema"]["fields"][0]["name"] == "site_id"
    assert resource["description"] == curated["resources"][0]["description"]  # curated prose kept
    assert package["spatial"]["bbox"] == [145.0, -24.0, 152.0, -13.0]  # data wins
    assert package["temporal"]["end"] == "2024-02-01T00:00:00Z"
    assert curated["resources"][0]["path"] == "reef-temperature.parquet"  # input not mutated
    profile = _load(EXAMPLE / "profiles" / "catalog-datapackage.json")
    assert validate_datapackage(package, profile=profile, registry=registry) == []
    assert list(Package.metadata_validate(package)) == []


def test_complete_gridded_package_references_the_gridschema(registry: SchemaRegistry) -> None:
    curated = _load(SST / "datapackage.json")
    package = complete_datapackage(
        curated,
        kind="gridded",
        data_format="zarr",
        data_path="beef/sea-surface-temperature.zarr",
        size=99,
        sha256=SHA,
        schema_path="gridschema.json",
    )
    resource = package["resources"][0]
    assert resource["gridschema"] == "gridschema.json"
    assert "schema" not in resource
    assert resource["mediatype"] == "application/vnd+zarr"
    assert package["spatial"] == curated["spatial"]  # no data extent given: curated kept
    profile = _load(EXAMPLE / "profiles" / "catalog-datapackage.json")
    assert validate_datapackage(package, profile=profile, registry=registry) == []


def test_validation_reports_frictionless_and_profile_errors(registry: SchemaRegistry) -> None:
    curated = _load(REEF / "datapackage.json")
    bad = copy.deepcopy(curated)
    bad["resources"][0]["name"] = "Not A Valid Name"
    del bad["licenses"]
    profile = _load(EXAMPLE / "profiles" / "catalog-datapackage.json")
    problems = validate_datapackage(
        bad, file="datasets/reef-temperature/datapackage.json", profile=profile, registry=registry
    )
    codes = {p.code for p in problems}
    assert "frictionless" in codes and "profile" in codes
    assert any("name" in p.message for p in problems if p.code == "frictionless")
    assert any("licenses" in p.message for p in problems if p.code == "profile")
    assert all(p.file == "datasets/reef-temperature/datapackage.json" for p in problems)


def test_validation_never_fetches_a_profile_url() -> None:
    package = {
        "$schema": "https://example.invalid/profile.json",
        "name": "x-y",
        "resources": [{"name": "x-y", "path": "a.parquet"}],
    }
    assert validate_datapackage(package) == []


def test_unknown_field_type_is_a_problem_not_a_crash() -> None:
    package = {
        "name": "x-y",
        "resources": [{"name": "x-y", "path": "a.csv", "schema": {"fields": [{"name": "a", "type": "strin"}]}}],
    }
    problems = validate_datapackage(package)
    assert problems and "strin" in problems[0].message


def test_table_schema_differences_name_each_change() -> None:
    curated = _load(REEF / "tableschema.json")
    generated = copy.deepcopy(curated)
    generated["fields"] = [f for f in generated["fields"] if f["name"] != "qc_flag"]
    generated["fields"].append({"name": "salinity", "type": "number"})
    next(f for f in generated["fields"] if f["name"] == "depth")["type"] = "string"
    diffs = schema_differences(curated, generated, "tabular")
    assert any("'salinity' added" in d for d in diffs)
    assert any("'qc_flag' removed" in d for d in diffs)
    assert any("'depth' type changed from 'number' to 'string'" in d for d in diffs)
    assert len(diffs) == 3
    with pytest.raises(SchemaChanged) as info:
        schema_gate("reef-temperature", curated, generated, "tabular")
    assert info.value.dataset == "reef-temperature"
    assert "salinity" in str(info.value) and "qc_flag" in str(info.value)
    assert info.value.exit_code == 1


def test_equivalent_schemas_pass_the_gate() -> None:
    curated = _load(REEF / "tableschema.json")
    generated = {"fields": [{"name": f["name"], "type": f["type"]} for f in curated["fields"]]}
    next(f for f in generated["fields"] if f["name"] == "geometry")["type"] = "geometry"  # alias of geojson
    assert schema_differences(curated, generated, "tabular") == []
    schema_gate("reef-temperature", curated, generated, "tabular")


def test_grid_schema_differences() -> None:
    curated = _load(SST / "gridschema.json")
    generated = copy.deepcopy(curated)
    generated["variables"][0]["data_type"] = "float64"
    generated["variables"].pop()
    generated["dimensions"].append({"name": "depth", "type": "spatial", "axis": "z"})
    diffs = schema_differences(curated, generated, "gridded")
    assert "dimension 'depth' added" in diffs[0]
    assert any("'sst' data_type changed from 'float32' to 'float64'" in d for d in diffs)
    assert any("'analysed_error' removed" in d for d in diffs)


def test_merge_schema_keeps_curated_prose_and_adds_generated_keys() -> None:
    curated = _load(REEF / "tableschema.json")
    generated = {"fields": [{"name": "time", "type": "datetime", "format": "any", "description": "from data"}]}
    merged = merge_schema(curated, generated, "tabular")
    time_field = next(f for f in merged["fields"] if f["name"] == "time")
    assert time_field["description"] == "Reading time (UTC)"
    assert time_field["format"] == "any"
    assert merged["primaryKey"] == curated["primaryKey"]
