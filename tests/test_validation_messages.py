"""Validation messages on real-world-shaped files (issue #13 item 5).

Fixtures in ``tests/data/validation/`` are shaped like the files people
bring: the STAC spec's own example collection and item (v1.0.0), a STAC API
search result (a GeoJSON FeatureCollection of items), and a data package
with the licence and field-type mistakes curators make.  Expected lines are
computed from the fixture text, never hard-coded.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.catalog.locate import json_line
from bot.catalog.schemas import SchemaRegistry
from bot.catalog.validate import (
    Profiles,
    has_errors,
    validate_datapackage,
    validate_file,
    validate_tableschema,
)
from bot.errors import Problem, Severity
from tests.conftest import EXAMPLE

DATA = Path(__file__).parent / "data" / "validation"


@pytest.fixture(scope="module")
def registry(schemas_dir: Path) -> SchemaRegistry:
    return SchemaRegistry(schemas_dir, None)


def _line_containing(text: str, needle: str) -> int:
    (line,) = [i + 1 for i, row in enumerate(text.splitlines()) if needle in row]
    return line


def _copy(tmp_path: Path, name: str, mutate: Any = None) -> tuple[Path, str]:
    doc = json.loads((DATA / name).read_text())
    if mutate is not None:
        mutate(doc)
    path = tmp_path / name
    text = json.dumps(doc, indent=2) + "\n"
    path.write_text(text)
    return path, text


def _where(problems: list[Problem]) -> list[str | None]:
    return [p.pointer for p in problems]


# ----------------------------------------------------------------- STAC


def test_declared_but_unused_extension_is_a_warning_not_an_error(registry: SchemaRegistry) -> None:
    path = DATA / "collection-unused-extension.json"
    text = path.read_text()
    (problem,) = validate_file(path, registry)
    assert problem.code == "extension-unused" and problem.severity is Severity.WARNING
    assert problem.pointer == "/stac_extensions/1" and "proj:*" in problem.message
    assert problem.line == _line_containing(text, "projection/v1.0.0/schema.json")
    assert not has_errors([problem])


def test_the_official_example_shape_is_clean_once_the_extension_is_used(
    registry: SchemaRegistry, tmp_path: Path
) -> None:
    path, _ = _copy(
        tmp_path,
        "collection-unused-extension.json",
        lambda d: d["summaries"].update({"proj:epsg": {"minimum": 32659, "maximum": 32659}}),
    )
    assert validate_file(path, registry) == []


def test_collection_field_without_collection_link_says_exactly_that(registry: SchemaRegistry) -> None:
    path = DATA / "item-collection-field-without-link.json"
    text = path.read_text()
    (problem,) = validate_file(path, registry)
    assert problem.message == 'item has a `collection` field ("simple-collection") but no link with rel `collection`'
    assert "should not be valid" not in problem.message
    assert problem.pointer == "/collection" and problem.line == _line_containing(text, '"collection": ')
    assert '"rel": "collection"' in (problem.hint or "") and "remove `collection`" in (problem.hint or "")


def test_item_with_its_collection_link_is_valid(registry: SchemaRegistry, tmp_path: Path) -> None:
    link = {"rel": "collection", "href": "./collection.json", "type": "application/json"}
    path, _ = _copy(tmp_path, "item-collection-field-without-link.json", lambda d: d["links"].append(link))
    assert validate_file(path, registry) == []


def test_feature_collection_of_items_is_validated_item_by_item(registry: SchemaRegistry) -> None:
    path = DATA / "items-feature-collection.json"
    text = path.read_text()
    problems = validate_file(path, registry)
    assert _where(problems) == ["/features/1/properties/datetime", "/features/2"]
    bad_time, no_assets = problems
    assert bad_time.message.startswith("item 1 (20201212_223904_CS1): ") and "12/12/2020 22:39" in bad_time.message
    assert bad_time.line == _line_containing(text, "12/12/2020 22:39")
    assert no_assets.message.startswith("item 2 (20201214_180231_CS2): ") and "assets" in no_assets.message
    assert no_assets.line == json_line(text, "/features/2")
    assert all(p.file == str(path) for p in problems)


def test_feature_collection_of_plain_geojson_is_named_as_such(registry: SchemaRegistry, tmp_path: Path) -> None:
    def plain(doc: dict[str, Any]) -> None:
        for feature in doc["features"]:
            for key in ("stac_version", "stac_extensions", "links", "assets", "collection"):
                feature.pop(key, None)

    path, _ = _copy(tmp_path, "items-feature-collection.json", plain)
    (problem,) = validate_file(path, registry)
    assert problem.code == "unknown-type" and "not STAC items" in problem.message and problem.pointer == "/features"


# ----------------------------------------------------------------- Frictionless


def test_every_bad_licence_and_the_bad_field_type_once_each_at_their_keys(registry: SchemaRegistry) -> None:
    path = DATA / "datapackage-bad-licences.json"
    text = path.read_text()
    problems = validate_file(path, registry)
    assert _where(problems) == ["/licenses/0/name", "/licenses/1", "/resources/0/schema/fields/1/type"]
    spaces, nameless, float_type = problems
    assert spaces.line == _line_containing(text, '"name": "CC BY 4.0"') and "SPDX" in (spaces.hint or "")
    assert nameless.line == _line_containing(text, '"title": "Open Government Licence"') - 1  # the object's `{`
    assert "`name` or `path`" in nameless.message
    assert float_type.line == _line_containing(text, '"type": "float"')
    assert '"float"' in float_type.message and "number" in (float_type.hint or "")
    assert all(p.code == "frictionless" and p.severity is Severity.ERROR for p in problems)


def test_a_catalog_profile_does_not_repeat_a_frictionless_error(registry: SchemaRegistry) -> None:
    """The catalog profile also checks licences: the same mistake is still reported once."""
    doc = json.loads((EXAMPLE / "datasets" / "reef-temperature" / "datapackage.json").read_text())
    bad = copy.deepcopy(doc)
    bad["licenses"] = [
        {"name": "CC BY 4.0", "path": "https://creativecommons.org/licenses/by/4.0/", "title": "CC BY"},
        {"title": "Open Government Licence"},
    ]
    text = json.dumps(bad, indent=2)
    problems = validate_datapackage(
        bad, Profiles.load(EXAMPLE).datapackage, registry=registry, file="dp.json", line_of=lambda p: json_line(text, p)
    )
    pointers = _where(problems)
    assert len(pointers) == len(set(pointers)), [p.format() for p in problems]
    assert {"/licenses/0/name", "/licenses/1"} <= set(pointers)
    assert all(p.line is not None for p in problems)


def test_the_libraries_own_error_notes_are_located(registry: SchemaRegistry) -> None:
    """frictionless names the offending object but not its place: we find it (real notes, not made up)."""
    from frictionless import Package, Schema

    from bot.catalog.validate.frictionless import locate_library_error

    package = json.loads((DATA / "datapackage-bad-licences.json").read_text())
    (field_error,) = Package.validate_descriptor(copy.deepcopy(package)).errors
    assert locate_library_error(package, field_error.note) == "/resources/0/schema/fields/1/type"
    package["resources"][0]["schema"]["fields"][1]["type"] = "number"
    (licence_error,) = Package.validate_descriptor(copy.deepcopy(package)).errors
    assert "{'title': 'Open Government Licence'}" in licence_error.note
    assert locate_library_error(package, licence_error.note) == "/licenses/1"
    schema = {"fields": [{"name": "when", "type": "datetime"}, {"name": "depth", "type": "double"}]}
    (type_error,) = Schema.validate_descriptor(schema).errors
    assert locate_library_error(schema, type_error.note) == "/fields/1/type"
    text = json.dumps(schema, indent=2)
    (problem,) = validate_tableschema(schema, registry=registry, file="t.json", line_of=lambda p: json_line(text, p))
    assert problem.pointer == "/fields/1/type" and problem.line == _line_containing(text, '"double"')


def test_cli_reports_each_item_of_a_search_result(schemas_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "validate", str(DATA / "items-feature-collection.json")],
        capture_output=True,
        text=True,
        env={"CATALOG_BOT_SCHEMAS": str(schemas_dir), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "item 1 (20201212_223904_CS1)" in proc.stdout and "item 2 (20201214_180231_CS2)" in proc.stdout
    assert "cannot tell what this file is" not in proc.stdout
