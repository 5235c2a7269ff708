"""Identity-aware document diff: exactly the real changes, breaking schema changes flagged."""

from __future__ import annotations

import copy
import json
import random

from bot.catalog.diff import diff_documents, format_path, normalize


def _datapackage(n: int) -> dict:
    return {
        "name": "big",
        "title": "Big",
        "keywords": ["ocean", "reef", "temperature"],
        "contributors": [{"title": "Lab", "role": "publisher"}, {"title": "A. Diver", "role": "author"}],
        "resources": [
            {"name": f"r{i:03d}", "path": f"r{i:03d}.parquet", "format": "parquet", "bytes": i * 10} for i in range(n)
        ],
    }


def test_six_changes_in_500_resources_reported_exactly() -> None:
    old = _datapackage(500)
    new = copy.deepcopy(old)
    new["resources"].insert(10, {"name": "inserted", "path": "inserted.parquet"})  # 1 added
    del new["resources"][200]  # 1 removed (r199 after the insert shift)
    target = new["resources"][300]
    target["format"] = "csv"  # 1 changed
    new["title"] = "Bigger"  # 1 changed
    new["keywords"].append("coral")  # 1 added
    new["contributors"].reverse()
    new["contributors"][0]["role"] = "editor"  # 1 changed (A. Diver)
    random.Random(1).shuffle(new["resources"])  # order of named things carries no meaning

    diff = diff_documents(old, new, "datapackage")

    lines = diff.lines()
    assert len(lines) == 6, lines
    assert '+ /resources/inserted: {"name": "inserted", "path": "inserted.parquet"}' in lines
    assert any(line.startswith("- /resources/r199: ") for line in lines)
    changed_resource = target["name"]
    assert f'~ /resources/{changed_resource}/format: "parquet" -> "csv"' in lines
    assert '~ /title: "Big" -> "Bigger"' in lines
    assert '+ /keywords: "coral"' in lines
    assert '~ /contributors/A. Diver/role: "author" -> "editor"' in lines
    assert diff.counts == (2, 3, 1)
    assert diff.breaking == []  # a datapackage is metadata


def test_naive_positional_diff_is_what_we_avoid() -> None:
    """Sanity check of the premise: a positional DeepDiff reports far more than the real change."""
    from deepdiff import DeepDiff

    old = _datapackage(100)
    new = copy.deepcopy(old)
    new["resources"].insert(0, {"name": "first", "path": "first.parquet"})
    naive = DeepDiff(old, new)
    naive_count = sum(len(v) for v in naive.values())
    ours = diff_documents(old, new, "datapackage")
    assert len(ours.lines()) == 1
    assert naive_count > 50


def test_reordering_identity_lists_and_sets_is_no_change() -> None:
    old = {
        "links": [{"rel": "self", "href": "https://x/a"}, {"rel": "license", "href": "https://x/l"}],
        "providers": [{"name": "A", "roles": ["host", "producer"]}, {"name": "B"}],
        "keywords": ["a", "b"],
    }
    new = {
        "links": list(reversed(old["links"])),
        "providers": [{"name": "B"}, {"name": "A", "roles": ["producer", "host"]}],
        "keywords": ["b", "a"],
    }
    diff = diff_documents(old, new, "collection")
    assert not diff and diff.lines() == []


def test_links_matched_by_rel_and_href() -> None:
    old = {
        "links": [{"rel": "about", "href": "https://e.org/a", "title": "A"}, {"rel": "license", "href": "https://l"}]
    }
    new = copy.deepcopy(old)
    new["links"][0]["title"] = "About"
    new["links"].append({"rel": "about", "href": "https://e.org/b"})
    diff = diff_documents(old, new, "collection")
    assert diff.lines() == [
        '~ /links/[about https://e.org/a]/title: "A" -> "About"',
        '+ /links/[about https://e.org/b]: {"href": "https://e.org/b", "rel": "about"}',
    ]
    assert diff.changed[0].path == ("links", "about https://e.org/a", "title")


def test_tableschema_breaking_and_non_breaking() -> None:
    old = {
        "fields": [
            {"name": "time", "type": "datetime"},
            {"name": "temperature", "type": "number", "description": "degC"},
        ],
        "primaryKey": ["time"],
    }
    new = copy.deepcopy(old)
    new["fields"][1]["description"] = "water temperature in degC"
    assert diff_documents(old, new, "tableschema").breaking == []

    new["fields"][1]["type"] = "integer"
    new["fields"].append({"name": "salinity", "type": "number"})
    diff = diff_documents(old, new, "tableschema")
    assert '~ /fields/temperature/type: "number" -> "integer"' in diff.lines()
    assert sorted(diff.breaking) == ["field salinity added", 'field temperature: type "number" -> "integer"']


def test_gridschema_variables_and_dimensions() -> None:
    old = {
        "dimensions": [
            {"name": "time", "type": "temporal", "axis": "t"},
            {"name": "lat", "type": "spatial", "axis": "y"},
        ],
        "variables": [
            {"name": "sst", "type": "number", "data_type": "float32", "dimensions": ["time", "lat"], "unit": "degC"}
        ],
    }
    new = copy.deepcopy(old)
    new["variables"][0]["unit"] = "K"
    assert diff_documents(old, new, "gridschema").breaking == []
    new["variables"][0]["data_type"] = "float64"
    new["variables"][0]["dimensions"] = ["lat", "time"]  # order of a variable's dimensions matters
    new["dimensions"].pop()
    diff = diff_documents(old, new, "gridschema")
    assert sorted(diff.breaking) == [
        "dimension lat removed",
        'variable sst: data_type "float32" -> "float64"',
        "variable sst: dimensions changed",
    ]


def test_created_and_deleted_documents() -> None:
    doc = {"name": "x"}
    created = diff_documents(None, doc, "datapackage")
    assert created.created and created.counts == (1, 0, 0) and created.lines() == ["+ (new document)"]
    deleted = diff_documents(doc, None, "datapackage")
    assert deleted.deleted and deleted.counts == (0, 0, 1)
    assert not diff_documents(None, None, "datapackage")
    assert not diff_documents(doc, json.loads(json.dumps(doc)), "datapackage")


def test_duplicate_identities_fall_back_to_positions() -> None:
    old = {"fields": [{"name": "a", "type": "string"}, {"name": "a", "type": "number"}]}
    assert isinstance(normalize(old)["fields"], list)
    new = {"fields": [{"name": "a", "type": "string"}, {"name": "a", "type": "integer"}]}
    diff = diff_documents(old, new, "tableschema")
    assert diff.lines() == ['~ /fields/1/type: "number" -> "integer"']


def test_type_change_and_json_shape() -> None:
    diff = diff_documents({"a": 1, "b": {"c": [1, 2]}}, {"a": "1", "b": {"c": [1, 2, 3]}}, "pipeline")
    assert diff.lines() == ['~ /a: 1 -> "1"', "+ /b/c/2: 3"]
    data = diff.to_dict()
    assert data["changed"][0] == {"kind": "changed", "path": "/a", "segments": ["a"], "old": 1, "new": "1"}
    assert format_path(("a~b", "x/y", 0)) == "/a~0b/[x/y]/0"
