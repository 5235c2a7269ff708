"""Publish plan rules and rename pairing (pure)."""

from __future__ import annotations

from bot.catalog.diff import diff_documents
from bot.catalog.plan import Action, DatasetDelta, Fingerprint, make_plan, pair_renames
from bot.errors import Problem, Severity

TABLE = {"fields": [{"name": "time", "type": "datetime"}, {"name": "temperature", "type": "number"}]}


def _delta(name: str, **kw) -> DatasetDelta:
    return DatasetDelta(dataset=name, in_base=kw.pop("in_base", True), in_head=kw.pop("in_head", True), **kw)


def test_actions_follow_the_rules() -> None:
    wider = {"fields": [*TABLE["fields"], {"name": "salinity", "type": "number"}]}
    described = {"fields": [TABLE["fields"][0], {**TABLE["fields"][1], "description": "degC"}]}
    deltas = [
        _delta("meta", diffs={"collection": diff_documents({"title": "a"}, {"title": "b"}, "collection")}),
        _delta("pipe", diffs={"pipeline": diff_documents({"output": "parquet"}, {"output": "zarr"}, "pipeline")}),
        _delta("schema", diffs={"tableschema": diff_documents(TABLE, wider, "tableschema")}),
        _delta("describe", diffs={"tableschema": diff_documents(TABLE, described, "tableschema")}),
        _delta("data", files=["datasets/data/data/x.csv"], data_changed=["datasets/data/data/x.csv"]),
        _delta("fresh", in_base=False, diffs={"datapackage": diff_documents(None, {"name": "fresh"}, "datapackage")}),
        _delta("gone", in_head=False),
        _delta(
            "same",
            files=["datasets/same/collection.jsonnet"],
            diffs={"collection": diff_documents({}, {}, "collection")},
        ),
        _delta("moved", in_base=False, renamed_from="old-name"),
    ]
    plan = {e.dataset: e for e in make_plan(deltas)}
    assert {k: v.action for k, v in plan.items()} == {
        "meta": Action.METADATA,
        "pipe": Action.REPUBLISH,
        "schema": Action.REPUBLISH,
        "describe": Action.METADATA,
        "data": Action.REPUBLISH,
        "fresh": Action.NEW,
        "gone": Action.REMOVE,
        "same": Action.UNCHANGED,
        "moved": Action.RENAME,
    }
    assert list(plan) == sorted(plan)
    assert "tableschema.json: field salinity added" in plan["schema"].reasons
    assert plan["same"].reasons == ["files changed but the rendered documents are identical"]
    assert plan["same"].diffs == {}  # empty diffs are dropped from the entry
    assert plan["moved"].old_id == "old-name"
    assert plan["meta"].next_command() == "/catalog publish meta"
    assert plan["gone"].next_command() is None and plan["same"].next_command() is None


def test_entry_carries_problems_and_counts() -> None:
    err = Problem("profile", "missing title", file="datasets/x/datapackage.json", line=2)
    warn = Problem("links", "no license link", severity=Severity.WARNING)
    diff = diff_documents({"a": 1, "b": 2}, {"a": 2, "c": 3}, "datapackage")
    [entry] = make_plan([_delta("x", diffs={"datapackage": diff}, problems=[err, warn], via=["lib/links.libsonnet"])])
    assert entry.errors == [err] and entry.warnings == [warn]
    assert entry.counts == (1, 1, 1)
    assert entry.reasons[-1] == "imports changed lib/links.libsonnet"
    data = entry.to_dict()
    assert data["counts"] == {"added": 1, "changed": 1, "removed": 1}
    assert data["problems"][0]["file"] == "datasets/x/datapackage.json"


def test_pair_renames_by_content() -> None:
    removed = {
        "reef-temp": Fingerprint("https://e.org/d/reef", '{"path": "a.csv"}', frozenset({"h1"})),
        "other": Fingerprint("https://e.org/d/other", '{"path": "o.csv"}', frozenset({"h9"})),
    }
    added = {
        "reef-temperature": Fingerprint("https://e.org/d/reef", '{"path": "b.csv"}', frozenset()),
        "brand-new": Fingerprint("https://e.org/d/new", '{"path": "n.csv"}', frozenset({"h2"})),
        "same-source": Fingerprint(None, '{"path": "o.csv"}', frozenset()),
    }
    assert pair_renames(removed, added) == {"reef-temperature": "reef-temp", "same-source": "other"}
    # One shared blob alone is not enough evidence; git's rename pairing adds to it.
    weak_removed = {"a": Fingerprint(blobs=frozenset({"x"}))}
    weak_added = {"b": Fingerprint(blobs=frozenset({"x"}))}
    assert pair_renames(weak_removed, weak_added) == {}
    assert pair_renames(weak_removed, weak_added, [("a", "b")]) == {"b": "a"}
