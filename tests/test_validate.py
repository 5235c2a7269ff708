"""Document validators, cross-checks, dataset loading, file type detection and the CLI."""

from __future__ import annotations

import copy
import json
import shutil
import socket
from pathlib import Path
from typing import Any

import msgspec
import pytest

from bot.catalog.layout import Catalog, PipelineSpec
from bot.catalog.locate import json_line
from bot.catalog.schemas import SchemaRegistry
from bot.catalog.validate import (
    DatasetDocs,
    Profiles,
    cross_check,
    detect_type,
    load_and_validate_dataset,
    make_renderer,
    validate_catalog,
    validate_collection,
    validate_datapackage,
    validate_file,
    validate_gridschema,
    validate_item,
    validate_many,
    validate_tableschema,
)
from bot.errors import Problem, Severity
from tests.conftest import EXAMPLE

EXAMPLES = "stac-extensions/{}/examples/{}"


@pytest.fixture(scope="module")
def registry(schemas_dir: Path) -> SchemaRegistry:
    return SchemaRegistry(schemas_dir, None)


@pytest.fixture(scope="module")
def profiles() -> Profiles:
    return Profiles.load(EXAMPLE)


def _load(schemas_dir: Path, rel: str) -> dict[str, Any]:
    return json.loads((schemas_dir / rel).read_text())


def _codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


def _example(ds: str, name: str) -> dict[str, Any]:
    return json.loads((EXAMPLE / "datasets" / ds / name).read_text())


# --------------------------------------------------------------------------
# STAC


@pytest.mark.parametrize(
    ("rel", "func", "version"),
    [
        (EXAMPLES.format("datacube/v2.3.0", "collection.json"), validate_collection, "1.1.0"),
        (EXAMPLES.format("table/v1.2.0", "collection.json"), validate_collection, "1.0.0"),
        (EXAMPLES.format("datacube/v2.3.0", "item.json"), validate_item, "1.1.0"),
        (EXAMPLES.format("table/v1.2.0", "item.json"), validate_item, "1.0.0"),
        (EXAMPLES.format("file/v2.1.0", "catalog.json"), validate_catalog, "1.0.0"),
    ],
)
def test_published_stac_examples_are_valid(
    registry: SchemaRegistry, schemas_dir: Path, rel: str, func: Any, version: str
) -> None:
    doc = _load(schemas_dir, rel)
    assert doc["stac_version"] == version
    assert func(doc, registry, file=rel) == []


@pytest.mark.parametrize(
    ("rel", "func"),
    [
        (EXAMPLES.format("datacube/v2.3.0", "collection.json"), validate_collection),
        (EXAMPLES.format("table/v1.2.0", "collection.json"), validate_collection),
        (EXAMPLES.format("datacube/v2.3.0", "item.json"), validate_item),
        (EXAMPLES.format("table/v1.2.0", "item.json"), validate_item),
    ],
)
def test_core_schema_violation_is_located(registry: SchemaRegistry, schemas_dir: Path, rel: str, func: Any) -> None:
    doc = _load(schemas_dir, rel)
    doc["links"].append({"rel": "about"})  # href is required by every STAC version
    text = json.dumps(doc, indent=2)
    index = len(doc["links"]) - 1
    problems = func(doc, registry, file="x.json", line_of=lambda p: json_line(text, p))
    core = [p for p in problems if p.code == "stac-schema"]
    assert core, problems
    assert core[0].pointer == f"/links/{index}"
    assert "href" in core[0].message and core[0].hint == "add `href`"
    assert core[0].line == json_line(text, f"/links/{index}")
    assert core[0].file == "x.json"


def test_extension_violation_reports_the_field_not_the_item_branch(registry: SchemaRegistry, schemas_dir: Path) -> None:
    doc = _load(schemas_dir, EXAMPLES.format("scientific/v1.0.0", "collection.json"))
    doc["sci:doi"] = 5
    problems = validate_collection(doc, registry)
    assert _codes(problems) == ["stac-extension"]
    assert problems[0].pointer == "/sci:doi"
    assert "string" in problems[0].message
    assert "Feature" not in problems[0].message


def test_unsupported_stac_version(registry: SchemaRegistry, schemas_dir: Path) -> None:
    doc = _load(schemas_dir, EXAMPLES.format("table/v1.2.0", "collection.json"))
    doc["stac_version"] = "0.9.0"
    problems = validate_collection(doc, registry)
    assert _codes(problems) == ["stac-version"]
    assert "0.9.0" in problems[0].message and "1.1.0" in problems[0].message


def test_unknown_extension_url_is_a_schema_not_found_problem(registry: SchemaRegistry, schemas_dir: Path) -> None:
    doc = _load(schemas_dir, EXAMPLES.format("datacube/v2.3.0", "collection.json"))
    url = "https://stac-extensions.github.io/made-up/v1.0.0/schema.json"
    doc["stac_extensions"].append(url)
    problems = validate_collection(doc, registry)
    assert _codes(problems) == ["schema-not-found"]
    assert url in problems[0].message
    assert problems[0].pointer == f"/stac_extensions/{len(doc['stac_extensions']) - 1}"
    assert "made-up/v1.0.0/json-schema/schema.json" in (problems[0].hint or "")


# --------------------------------------------------------------------------
# Frictionless


@pytest.mark.parametrize("ds", ["reef-temperature", "marine-protected-areas", "sea-surface-temperature"])
def test_example_datapackages_are_valid(registry: SchemaRegistry, profiles: Profiles, ds: str) -> None:
    assert validate_datapackage(_example(ds, "datapackage.json"), profiles.datapackage, registry=registry) == []


def _mutate(doc: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "pointer", "hint_part"),
    [
        (["access"], _DELETE, None, "add `access`"),
        (["access"], "secret", "/access", "public"),
        (["contributors"], _DELETE, None, "add `contributors`"),
        (["id"], "not a uri", "/id", "pattern"),
        (["spatial", "bbox"], [1, 2, 3], "/spatial/bbox", "at least 4"),
        (["spatial", "bbox"], [1, 2, 3, "4"], "/spatial/bbox/3", "number"),
        (["temporal", "start"], "yesterday", "/temporal/start", "date-time"),
        (["temporal", "end"], _DELETE, "/temporal", "add `end`"),
        (["licenses", 0, "title"], _DELETE, "/licenses/0", "add `title`"),
        (["keywords"], [], "/keywords", "at least 1"),
        (["contributors", 0, "email"], "not-an-email", "/contributors/0/email", ""),
    ],
)
def test_catalog_profile_violations(
    registry: SchemaRegistry, profiles: Profiles, path: list[Any], value: Any, pointer: str | None, hint_part: str
) -> None:
    base = _example("reef-temperature", "datapackage.json")
    doc = _mutate(base, path, value)
    text = json.dumps(doc, indent=2)
    problems = validate_datapackage(
        doc, profiles.datapackage, registry=registry, file="dp.json", line_of=lambda p: json_line(text, p)
    )
    assert problems, "the mutation must be reported"
    assert all(p.code in {"profile", "frictionless"} for p in problems)
    matching = [p for p in problems if p.pointer == pointer]
    assert matching, [p.format() for p in problems]
    assert hint_part in " ".join(f"{p.hint} {p.message}" for p in matching)
    assert all(p.line is not None for p in matching if p.code == "profile")


def test_package_outside_a_catalog_gets_frictionless_rules_only(registry: SchemaRegistry) -> None:
    doc = {"name": "plain", "resources": [{"name": "plain", "path": "plain.csv"}]}
    assert validate_datapackage(doc, None, registry=registry) == []
    broken = {"name": "plain", "resources": [{"name": "plain"}]}
    problems = validate_datapackage(broken, None, registry=registry)
    assert _codes(problems) == ["frictionless"]
    assert "path" in problems[0].message


def test_remote_profile_is_never_fetched(registry: SchemaRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    doc = {
        "name": "plain",
        "profile": "https://example.org/profile.json",
        "resources": [{"name": "a", "path": "a.csv"}],
    }
    problems = validate_datapackage(doc, None, registry=registry)
    assert _codes(problems) == ["schema-not-found"]
    assert "https://example.org/profile.json" in problems[0].message


def test_example_table_schemas_are_valid(registry: SchemaRegistry) -> None:
    for ds in ("reef-temperature", "marine-protected-areas"):
        assert validate_tableschema(_example(ds, "tableschema.json"), registry=registry) == []


def test_table_schema_errors(registry: SchemaRegistry) -> None:
    doc = {"fields": [{"name": "a", "type": "numbr"}, {"name": "b", "type": "string"}, {"name": "b"}]}
    problems = validate_tableschema(doc, registry=registry)
    codes = set(_codes(problems))
    assert "duplicate-name" in codes
    # one mistake, one error, on the `type` line (not the field object's, not twice)
    (typed,) = [p for p in problems if p.pointer and p.pointer.startswith("/fields/0")]
    assert typed.pointer == "/fields/0/type" and "numbr" in typed.message and "number" in (typed.hint or "")


def test_example_grid_schema_is_valid(registry: SchemaRegistry, profiles: Profiles) -> None:
    assert (
        validate_gridschema(
            _example("sea-surface-temperature", "gridschema.json"), profiles.gridschema, registry=registry
        )
        == []
    )


def test_grid_schema_errors(registry: SchemaRegistry, profiles: Profiles) -> None:
    doc = _example("sea-surface-temperature", "gridschema.json")
    doc["variables"][0]["dimensions"] = ["time", "latitude", "lon"]
    doc["dimensions"][1].pop("axis")  # spatial needs an axis
    doc["dimensions"].append(copy.deepcopy(doc["dimensions"][0]))
    doc["variables"][1]["data_type"] = "float33"
    problems = validate_gridschema(doc, profiles.gridschema, registry=registry)
    by_code = {p.code: p for p in problems}
    undeclared = by_code["grid-dimension-undeclared"]
    assert undeclared.pointer == "/variables/0/dimensions/1" and "latitude" in undeclared.message
    assert by_code["duplicate-name"].pointer == f"/dimensions/{len(doc['dimensions']) - 1}/name"
    schema_pointers = {p.pointer for p in problems if p.code == "gridschema"}
    assert {"/dimensions/1", "/variables/1/data_type"} <= schema_pointers


# --------------------------------------------------------------------------
# Cross-checks


def _collection(ds: str, pkg: dict[str, Any]) -> dict[str, Any]:
    """A valid STAC 1.1 collection mirroring the datapackage (as the example templates render)."""
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "stac_extensions": [],
        "id": ds,
        "description": pkg["description"],
        "license": pkg["licenses"][0]["name"],
        "extent": {
            "spatial": {"bbox": [pkg["spatial"]["bbox"]]},
            "temporal": {"interval": [[pkg["temporal"]["start"], pkg["temporal"]["end"]]]},
        },
        "links": [{"rel": "license", "href": pkg["licenses"][0]["path"]}],
    }


def _docs(ds: str) -> DatasetDocs:
    folder = EXAMPLE / "datasets" / ds
    pkg = _example(ds, "datapackage.json")
    from bot.catalog.layout import load_pipeline

    docs = DatasetDocs(
        dataset_id=ds,
        datapackage=pkg,
        collection=_collection(ds, pkg),
        pipeline=load_pipeline(folder / "pipeline.yaml"),
    )
    for kind in ("tableschema", "gridschema"):
        path = folder / f"{kind}.json"
        if path.exists():
            setattr(docs, kind, json.loads(path.read_text()))
            docs.sources[kind] = path.read_text()
    docs.sources["datapackage"] = json.dumps(pkg, indent=2)
    return docs


@pytest.mark.parametrize("ds", ["reef-temperature", "marine-protected-areas", "sea-surface-temperature"])
def test_consistent_example_passes_cross_checks(registry: SchemaRegistry, ds: str) -> None:
    assert cross_check(_docs(ds), registry) == []


def _only(problems: list[Problem], code: str) -> list[Problem]:
    found = [p for p in problems if p.code == code]
    assert found, f"expected {code}, got {[p.format() for p in problems]}"
    assert {p.code for p in problems} == {code}, [p.format() for p in problems]
    return found


def test_id_mismatch(registry: SchemaRegistry) -> None:
    docs = _docs("reef-temperature")
    docs.collection["id"] = "reef-temp"  # type: ignore[index]
    docs.datapackage["name"] = "reef"  # type: ignore[index]
    docs.datapackage["resources"][0]["name"] = "reef-temperature"  # type: ignore[index]
    found = _only(cross_check(docs, registry), "id-mismatch")
    assert {p.file for p in found} == {
        "datasets/reef-temperature/collection.jsonnet",
        "datasets/reef-temperature/datapackage.json",
    }
    assert {p.pointer for p in found} == {"/id", "/name"}
    assert all(p.dataset == "reef-temperature" for p in found)


def test_licence_mismatch(registry: SchemaRegistry) -> None:
    docs = _docs("reef-temperature")
    docs.collection["license"] = "CC0-1.0"  # type: ignore[index]
    (problem,) = _only(cross_check(docs, registry), "licence-mismatch")
    assert problem.pointer == "/licenses/0/name" and "CC0-1.0" in problem.message and "CC-BY-4.0" in problem.message


@pytest.mark.parametrize(
    ("bbox", "code", "pointer"),
    [
        ([153.0, -24.0, 145.0, -13.5], "bbox-order", "/0"),  # west > east, same hemisphere
        ([145.0, -13.5, 153.0, -24.0], "bbox-order", "/1"),  # south > north
        ([145.0, -24.0, 193.0, -13.5], "bbox-range", "/2"),
        ([145.0, -95.0, 153.0, -13.5], "bbox-range", "/1"),
    ],
)
def test_bbox_rules_on_both_documents(registry: SchemaRegistry, bbox: list[float], code: str, pointer: str) -> None:
    docs = _docs("reef-temperature")
    docs.collection["extent"]["spatial"]["bbox"] = [bbox]  # type: ignore[index]
    docs.datapackage["spatial"]["bbox"] = bbox  # type: ignore[index]
    found = _only(cross_check(docs, registry), code)
    assert {p.pointer for p in found} == {"/extent/spatial/bbox/0" + pointer, "/spatial/bbox" + pointer}


def test_antimeridian_crossing_is_allowed(registry: SchemaRegistry) -> None:
    docs = _docs("reef-temperature")
    docs.collection["extent"]["spatial"]["bbox"] = [[170.0, -20.0, -170.0, -10.0]]  # type: ignore[index]
    docs.datapackage["spatial"]["bbox"] = [170.0, -20.0, -170.0, -10.0]  # type: ignore[index]
    assert cross_check(docs, registry) == []


def test_temporal_order_and_format(registry: SchemaRegistry) -> None:
    docs = _docs("reef-temperature")
    docs.collection["extent"]["temporal"]["interval"] = [["2025-01-01T00:00:00Z", "2024-01-01T00:00:00Z"]]  # type: ignore[index]
    docs.datapackage["temporal"] = {"start": "2025-01-01T00:00:00Z", "end": "2024-01-01T00:00:00Z"}  # type: ignore[index]
    found = _only(cross_check(docs, registry), "temporal-order")
    assert {p.pointer for p in found} == {"/extent/temporal/interval/0/0", "/temporal/start"}
    line = json_line(docs.sources["datapackage"], "/temporal/start")
    assert [p.line for p in found if p.pointer == "/temporal/start"] == [line]
    docs = _docs("reef-temperature")
    docs.datapackage["temporal"]["end"] = "31/03/2024"  # type: ignore[index]
    (problem,) = _only(cross_check(docs, registry), "temporal-format")
    assert problem.pointer == "/temporal/end"


@pytest.mark.parametrize(
    ("link", "needle"),
    [
        ({"href": "https://example.org/x"}, "no rel"),
        ({"rel": "about", "href": ""}, "missing or empty"),
        ({"rel": "about", "href": "https:///path"}, "no host"),
        ({"rel": "about", "href": "https://exa mple.org/"}, "whitespace"),
        ({"rel": "about", "href": "https://example..org/"}, "invalid host"),
        ({"rel": "about", "href": "http://example.org:99999/"}, "invalid port"),
    ],
)
def test_link_rules(registry: SchemaRegistry, link: dict[str, str], needle: str) -> None:
    docs = _docs("reef-temperature")
    docs.collection["links"].append(link)  # type: ignore[index]
    (problem,) = _only(cross_check(docs, registry), "link-invalid")
    assert needle in problem.message


def test_relative_links_are_fine(registry: SchemaRegistry) -> None:
    docs = _docs("reef-temperature")
    docs.collection["links"].append({"rel": "child", "href": "./sub/collection.json"})  # type: ignore[index]
    assert cross_check(docs, registry) == []


def test_declared_but_unused_extension_is_a_warning(registry: SchemaRegistry) -> None:
    docs = _docs("reef-temperature")
    sci = "https://stac-extensions.github.io/scientific/v1.0.0/schema.json"
    cube = "https://stac-extensions.github.io/datacube/v2.2.0/schema.json"
    docs.collection["stac_extensions"] = [sci, cube]  # type: ignore[index]
    docs.collection["sci:citation"] = "Someone (2024)"  # type: ignore[index]
    (problem,) = _only(cross_check(docs, registry), "extension-unused")
    assert problem.pointer == "/stac_extensions/1" and "cube:*" in problem.message
    assert problem.severity is Severity.WARNING  # STAC allows it; likely clutter, not a failure
    docs.collection["summaries"] = {"cube:dimensions": {}}  # type: ignore[index]
    assert cross_check(docs, registry) == []


def test_tabular_coordinates_must_be_fields(registry: SchemaRegistry) -> None:
    docs = _docs("reef-temperature")
    assert docs.pipeline is not None
    docs.pipeline = msgspec.structs.replace(
        docs.pipeline, coordinates=msgspec.structs.replace(docs.pipeline.coordinates, z="depth_m")
    )
    (problem,) = _only(cross_check(docs, registry), "coordinates-missing")
    assert "depth_m" in problem.message and problem.file.endswith("tableschema.json")


def test_gridded_coordinates_must_be_dimensions_with_matching_axis(registry: SchemaRegistry) -> None:
    docs = _docs("sea-surface-temperature")
    docs.gridschema["dimensions"][0]["name"] = "month"  # type: ignore[index]
    docs.gridschema["variables"][0]["dimensions"][0] = "month"  # type: ignore[index]
    (problem,) = _only(cross_check(docs, registry), "coordinates-missing")
    assert "'time'" in problem.message and problem.file.endswith("gridschema.json")
    docs = _docs("sea-surface-temperature")
    docs.gridschema["dimensions"][1]["axis"] = "x"  # lat declared as x  # type: ignore[index]
    (problem,) = _only(cross_check(docs, registry), "coordinates-axis")
    assert problem.pointer == "/dimensions/1/axis"


def test_access_and_schema_kind_and_resource_name(registry: SchemaRegistry) -> None:
    docs = _docs("reef-temperature")
    docs.datapackage["access"] = "limited"  # type: ignore[index]
    _only(cross_check(docs, registry), "access-mismatch")
    docs = _docs("reef-temperature")
    docs.gridschema, docs.tableschema = {"dimensions": [], "variables": []}, None
    _only(cross_check(docs, registry), "schema-kind-mismatch")
    docs = _docs("reef-temperature")
    docs.datapackage["resources"][0]["name"] = "readings"  # type: ignore[index]
    (problem,) = _only(cross_check(docs, registry), "resource-name")
    assert "readings" in problem.message


def test_pipeline_spec_is_the_layout_model() -> None:
    assert isinstance(_docs("reef-temperature").pipeline, PipelineSpec)


# --------------------------------------------------------------------------
# Loading a dataset from a catalog (real files, real renderer)


@pytest.fixture
def example(example_catalog: Path) -> Catalog:
    return Catalog.open(example_catalog)


def _load_and_validate(cat: Catalog, ds: str, registry: SchemaRegistry) -> tuple[DatasetDocs, list[Problem]]:
    return load_and_validate_dataset(cat, cat.dataset(ds), make_renderer(cat), registry)


def test_example_catalog_is_clean(example: Catalog, registry: SchemaRegistry) -> None:
    for ds in example.ids():
        docs, problems = _load_and_validate(example, ds, registry)
        assert problems == [], [p.format() for p in problems]
        assert docs.collection is not None and docs.collection["id"] == ds
        assert docs.datapackage is not None and docs.pipeline is not None


def test_invalid_json_in_datapackage(example: Catalog, registry: SchemaRegistry) -> None:
    path = example.root / "datasets/reef-temperature/datapackage.json"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].rstrip(",")  # drop the comma after the second member
    path.write_text("\n".join(lines) + "\n")
    docs, problems = _load_and_validate(example, "reef-temperature", registry)
    bad = [p for p in problems if p.code == "json-invalid"]
    assert len(bad) == 1
    assert bad[0].file == "datasets/reef-temperature/datapackage.json"
    assert bad[0].line == 4 and bad[0].column is not None
    assert docs.datapackage is None
    assert docs.collection is not None  # the rest is still validated


def test_non_utf8_datapackage(example: Catalog, registry: SchemaRegistry) -> None:
    path = example.root / "datasets/reef-temperature/datapackage.json"
    path.write_bytes(path.read_bytes().replace(b"Reef water", b"R\xe9ef water"))
    _, problems = _load_and_validate(example, "reef-temperature", registry)
    enc = [p for p in problems if p.code == "encoding"]
    assert len(enc) == 1 and enc[0].line == json_line(path.read_text("latin-1"), "/title")


def test_missing_required_files(example: Catalog, registry: SchemaRegistry) -> None:
    folder = example.root / "datasets/reef-temperature"
    (folder / "pipeline.yaml").unlink()
    (folder / "tableschema.json").unlink()
    (folder / "datapackage.json").unlink()
    _, problems = _load_and_validate(example, "reef-temperature", registry)
    missing = {p.file for p in problems if p.code == "file-missing"}
    assert missing == {
        f"datasets/reef-temperature/{n}" for n in ("pipeline.yaml", "tableschema.json", "datapackage.json")
    }


def test_render_error_is_a_problem_with_a_relative_file(example: Catalog, registry: SchemaRegistry) -> None:
    path = example.root / "datasets/reef-temperature/collection.jsonnet"
    path.write_text(path.read_text().replace("license='CC-BY-4.0',", "license='CC-BY-4.0',,"))
    _, problems = _load_and_validate(example, "reef-temperature", registry)
    render = [p for p in problems if p.code == "render"]
    assert len(render) == 1
    assert render[0].file == "datasets/reef-temperature/collection.jsonnet"


def test_collection_problem_points_at_the_jsonnet_line(example: Catalog, registry: SchemaRegistry) -> None:
    path = example.root / "datasets/reef-temperature/collection.jsonnet"
    text = path.read_text().replace("id='reef-temperature'", "id='reef-temp'")
    path.write_text(text)
    _, problems = _load_and_validate(example, "reef-temperature", registry)
    (problem,) = [p for p in problems if p.code == "id-mismatch"]
    assert problem.line == next(i + 1 for i, line in enumerate(text.splitlines()) if "id='reef-temp'" in line)


def test_broken_profile_is_reported_not_raised(example: Catalog, registry: SchemaRegistry) -> None:
    (example.root / "profiles/catalog-datapackage.json").write_text("{ not json")
    _, problems = _load_and_validate(example, "reef-temperature", registry)
    assert "profile-invalid" in _codes(problems)


def test_validate_many_in_two_processes_matches_one(
    example: Catalog, registry: SchemaRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.catalog.validate.catalog as validate_module

    monkeypatch.setattr(validate_module, "CHUNK", 1)  # 3 chunks: the pool really runs
    path = example.root / "datasets/reef-temperature/datapackage.json"
    path.write_text(path.read_text().replace('"access": "public"', '"access": "open"'))
    (example.root / "datasets" / "Bad_Folder").mkdir()
    one = validate_many(example, registry=registry, processes=1)
    two = validate_many(example, registry=registry, processes=2)
    assert one == two
    assert list(one) == [*example.ids(), ""]
    assert one["marine-protected-areas"] == [] and one["sea-surface-temperature"] == []
    assert {p.pointer for p in one["reef-temperature"]} == {"/access"}
    assert [p.code for p in one[""]] == ["dataset-id"]


# --------------------------------------------------------------------------
# validate FILE


@pytest.mark.parametrize(
    ("rel", "kind"),
    [
        (EXAMPLES.format("datacube/v2.3.0", "item.json"), "stac-item"),
        (EXAMPLES.format("datacube/v2.3.0", "collection.json"), "stac-collection"),
        (EXAMPLES.format("file/v2.1.0", "catalog.json"), "stac-catalog"),
        ("frictionless-v1/schemas/csv-dialect.json", None),
    ],
)
def test_detect_type_of_stac_files(schemas_dir: Path, rel: str, kind: str | None) -> None:
    assert detect_type(_load(schemas_dir, rel)) == kind


def test_validate_file_each_type(tmp_path: Path, schemas_dir: Path, registry: SchemaRegistry) -> None:
    files = {
        "item.json": _load(schemas_dir, EXAMPLES.format("datacube/v2.3.0", "item.json")),
        "collection.json": _load(schemas_dir, EXAMPLES.format("table/v1.2.0", "collection.json")),
        "catalog.json": _load(schemas_dir, EXAMPLES.format("file/v2.1.0", "catalog.json")),
        "datapackage.json": _example("reef-temperature", "datapackage.json"),
        "tableschema.json": _example("reef-temperature", "tableschema.json"),
        "gridschema.json": _example("sea-surface-temperature", "gridschema.json"),
    }
    expected = {
        "item.json": "stac-item",
        "collection.json": "stac-collection",
        "catalog.json": "stac-catalog",
        "datapackage.json": "datapackage",
        "tableschema.json": "tableschema",
        "gridschema.json": "gridschema",
    }
    for name, doc in files.items():
        path = tmp_path / name
        path.write_text(json.dumps(doc, indent=2))
        assert detect_type(doc) == expected[name]
        assert validate_file(path, registry) == [], name


def test_validate_file_reports_by_detected_type(tmp_path: Path, registry: SchemaRegistry) -> None:
    grid = _example("sea-surface-temperature", "gridschema.json")
    grid["variables"][0]["dimensions"] = ["depth"]
    path = tmp_path / "anything.json"
    path.write_text(json.dumps(grid, indent=2))
    problems = validate_file(path, registry)
    assert _codes(problems) == ["grid-dimension-undeclared"]
    assert problems[0].line == json_line(path.read_text(), "/variables/0/dimensions/0")


def test_validate_file_unsupported_stac_version(tmp_path: Path, registry: SchemaRegistry) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"stac_version": "0.8.0", "id": "x", "description": "d", "links": []}, indent=2))
    problems = validate_file(path, registry)
    assert _codes(problems) == ["stac-version"]
    assert problems[0].line == 2 and "0.8.0" in problems[0].message
    path.write_text(json.dumps({"type": "Feature", "stac_version": "1.0.0-rc.1", "id": "x"}))
    assert _codes(validate_file(path, registry)) == ["stac-version"]


def test_validate_file_not_json_and_unknown(tmp_path: Path, registry: SchemaRegistry) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "a": 1,\n  "b": [1, 2,]\n}\n')
    (problem,) = validate_file(path, registry)
    assert problem.code == "json-invalid" and (problem.line, problem.column) == (3, 14)
    path.write_text('{"hello": "world"}')
    assert _codes(validate_file(path, registry)) == ["unknown-type"]


def test_validate_file_datapackage_in_a_catalog_uses_its_profile(example: Catalog, registry: SchemaRegistry) -> None:
    path = example.root / "datasets/reef-temperature/datapackage.json"
    doc = json.loads(path.read_text())
    del doc["access"]
    path.write_text(json.dumps(doc, indent=2))
    problems = validate_file(path, registry)
    assert [(p.code, p.hint) for p in problems] == [("profile", "add `access`")]
    outside = path.parent.parent.parent.parent / "loose.json"
    shutil.copy(path, outside)
    assert validate_file(outside, registry) == []  # plain Frictionless rules: access is not required


# --------------------------------------------------------------------------
# CLI


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from bot.cli import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out + out.err


def test_cli_validates_the_example_catalog(example: Catalog, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(["validate", "--catalog", str(example.root), "--jobs", "1"], capsys)
    assert code == 0, out
    assert "4 datasets checked, 0 error(s)" in out


def test_cli_json_output_and_exit_code(example: Catalog, capsys: pytest.CaptureFixture[str]) -> None:
    path = example.root / "datasets/sea-surface-temperature/datapackage.json"
    path.write_text(path.read_text().replace('"name": "CC-BY-4.0"', '"name": "CC0-1.0"'))
    code, out = _run(
        ["validate", "sea-surface-temperature", "--catalog", str(example.root), "--format", "json", "--jobs", "1"],
        capsys,
    )
    assert code == 1
    data = json.loads(out)
    assert data["summary"]["errors"] == 1 and data["summary"]["checked"] == 1
    (problem,) = data["problems"]
    assert problem["code"] == "licence-mismatch" and problem["severity"] == Severity.ERROR.value
    assert problem["line"] == json_line(path.read_text(), "/licenses/0/name")


def test_cli_file_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "tableschema.json"
    good.write_text((EXAMPLE / "datasets/reef-temperature/tableschema.json").read_text())
    bad = tmp_path / "old.json"
    bad.write_text('{"stac_version": "0.9.0", "type": "Collection"}')
    code, out = _run(["validate", str(good)], capsys)
    assert code == 0, out
    code, out = _run(["validate", str(good), str(bad)], capsys)
    assert code == 1 and "stac-version" in out and "2 files checked" in out


def test_cli_unknown_dataset_is_a_usage_error(example: Catalog, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(["validate", "no-such-dataset", "--catalog", str(example.root)], capsys)
    assert code == 2 and "unknown dataset" in out and "Traceback" not in out


def test_example_catalog_profiles_are_the_bundled_ones() -> None:
    """`catalog-bot init` copies the example's profiles; the bot falls back to the same files when a catalog has none."""
    bundled = Profiles.bundled()
    example = Profiles.load(EXAMPLE)
    assert example.datapackage == bundled.datapackage
    assert example.gridschema == bundled.gridschema


def test_cli_schemas_where_and_add(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CATALOG_BOT_CACHE", str(tmp_path / "cache"))
    url = "https://example.org/schemas/thing/v1/schema.json"
    code, out = _run(["schemas", "where", url], capsys)
    assert code == 1 and "absent" in out
    schema = tmp_path / "thing.json"
    schema.write_text('{"type": "object", "required": ["thing"]}')
    code, out = _run(["schemas", "add", url, str(schema)], capsys)
    assert code == 0 and "added" in out
    code, out = _run(["schemas", "where", url], capsys)
    assert code == 0 and "found" in out
    code, out = _run(["schemas", "where", "https://stac-extensions.github.io/table/v1.2.0/schema.json"], capsys)
    assert code == 0 and "stac-extensions/table/v1.2.0/json-schema/schema.json" in out


def test_validate_file_yaml(example: Catalog, registry: SchemaRegistry) -> None:
    assert validate_file(example.root / "catalog-bot.yaml", registry) == []
    pipeline = example.root / "datasets/reef-temperature/pipeline.yaml"
    assert validate_file(pipeline, registry) == []
    pipeline.write_text(pipeline.read_text().replace("output: parquet", "output: csv"))
    (problem,) = validate_file(pipeline, registry)
    assert problem.code == "pipeline" and problem.pointer == "/output"
