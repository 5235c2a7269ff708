"""Complete datapackage, offline validation and the schema gate (pure functions, real example files)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from frictionless import Package

from bot.catalog.schemas import SchemaRegistry
from bot.errors import SchemaChanged
from bot.metadata.datamodel import DataEntryPoint
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
    # Frictionless reads Parquet through pyarrow and counts no bytes: a declared size would always fail.
    assert "bytes" not in resource
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
    assert resource["path"] == "beef/sea-surface-temperature.zarr"
    assert resource["hash"] == f"sha256:{SHA}"
    assert "schema" not in resource
    assert resource["mediatype"] == "application/vnd+zarr"
    assert package["spatial"] == curated["spatial"]  # no data extent given: curated kept
    profile = _load(EXAMPLE / "profiles" / "catalog-datapackage.json")
    assert validate_datapackage(package, profile=profile, registry=registry) == []


def test_gridded_package_names_the_store_entry_point(registry: SchemaRegistry) -> None:
    """A directory cannot be a Frictionless path: the store's metadata document is, with its own bytes/hash."""
    curated = _load(SST / "datapackage.json")
    curated["resources"][0]["bytes"] = 5  # a stale curated size must not survive
    package = complete_datapackage(
        curated,
        kind="gridded",
        data_format="zarr",
        data_path="beef/sea-surface-temperature.zarr",
        size=99,
        sha256=SHA,
        schema_path="gridschema.json",
        entry_point=DataEntryPoint(name=".zmetadata", bytes=42, sha256="cd" * 32),
    )
    resource = package["resources"][0]
    assert resource["path"] == "beef/sea-surface-temperature.zarr/.zmetadata"
    assert (resource["bytes"], resource["hash"]) == (42, "sha256:" + "cd" * 32)
    assert resource["zarr"] == {"store": "beef/sea-surface-temperature.zarr", "bytes": 99, "hash": f"sha256:{SHA}"}
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


def _generated_reef() -> dict:
    """The generated schema of the converted reef file: file order, roles, the covering column last."""
    curated = _load(REEF / "tableschema.json")
    fields = []
    for f in curated["fields"]:
        g = {"name": f["name"], "type": f["type"]}
        if f["name"] == "geometry":
            g["role"] = "geometry"
        fields.append(g)
    fields.append({"name": "bbox", "type": "object", "role": "covering"})
    return {"fields": fields}


def test_format_added_covering_column_needs_no_curation() -> None:
    curated = _load(REEF / "tableschema.json")
    generated = _generated_reef()
    assert schema_differences(curated, generated, "tabular") == []
    # A curator who listed it by hand is not told it was removed or changed either.
    listed = copy.deepcopy(curated)
    listed["fields"].append({"name": "bbox", "type": "object"})
    assert schema_differences(listed, generated, "tabular") == []


def test_real_changes_are_still_caught_with_a_covering_column() -> None:
    curated = _load(REEF / "tableschema.json")
    generated = _generated_reef()
    next(f for f in generated["fields"] if f["name"] == "depth")["type"] = "integer"
    generated["fields"] = [f for f in generated["fields"] if f["name"] != "qc_flag"]
    diffs = schema_differences(curated, generated, "tabular")
    assert diffs == ["column 'qc_flag' removed", "column 'depth' type changed from 'number' to 'integer'"]
    with pytest.raises(SchemaChanged):
        schema_gate("reef-temperature", curated, generated, "tabular")


def test_published_table_schema_is_true_to_the_file() -> None:
    curated = _load(REEF / "tableschema.json")
    curated["fields"].reverse()  # the curator's order is not the file's
    merged = merge_schema(curated, _generated_reef(), "tabular")
    assert [f["name"] for f in merged["fields"]] == [f["name"] for f in _generated_reef()["fields"]]
    geometry = next(f for f in merged["fields"] if f["name"] == "geometry")
    assert (geometry["type"], geometry["format"]) == ("any", "wkb")
    assert geometry["description"] == "Point geometry built from lon/lat (WKB in GeoParquet)"
    bbox = merged["fields"][-1]
    assert bbox["type"] == "object" and "covering" in bbox["description"]
    assert all("role" not in f for f in merged["fields"])
    assert list(Package.metadata_validate({"resources": [{"name": "r", "path": "r.parquet", "schema": merged}]})) == []


def test_packed_variable_is_described_by_its_decoded_type() -> None:
    curated = _load(SST / "gridschema.json")
    generated = copy.deepcopy(curated)
    sst = generated["variables"][0]
    sst.update(
        type="number",
        data_type="int16",
        packing={"scale_factor": 0.01, "add_offset": 20.0, "_FillValue": -32768, "decoded_data_type": "float64"},
    )
    for declared in ("float64", "int16"):  # the decoded or the storage type
        curated["variables"][0].update(type="number", data_type=declared)
        assert schema_differences(curated, generated, "gridded") == []
    curated["variables"][0].update(type="integer", data_type="int16")
    assert schema_differences(curated, generated, "gridded") == [
        "variable 'sst' type changed from 'integer' to 'number'"
    ]
