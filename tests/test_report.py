"""Report renderings: Markdown golden file, splitting, JSON shape, annotations + escaping, text."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest
from rich.console import Console

from bot.catalog.diff import diff_documents
from bot.catalog.plan import DatasetDelta, make_plan
from bot.catalog.report import MARKER, Annotation, Report, escape_data, escape_property, write_step_summary
from bot.errors import Problem, Severity

GOLDEN = Path(__file__).parent / "golden" / "check" / "comment.md"

TABLE = {"fields": [{"name": "time", "type": "datetime"}, {"name": "temperature", "type": "number"}]}


def make_report() -> Report:
    coll_old = {
        "id": "reef-temperature",
        "title": "Reef water temperature loggers",
        "keywords": ["coral reef", "in situ"],
        "links": [{"rel": "license", "href": "https://creativecommons.org/licenses/by/4.0/"}],
    }
    coll_new = {**coll_old, "title": "Reef water temperature (loggers)", "keywords": ["coral reef", "in situ", "GBR"]}
    deltas = [
        DatasetDelta(
            "reef-temperature",
            True,
            True,
            files=["datasets/reef-temperature/collection.jsonnet"],
            diffs={"collection": diff_documents(coll_old, coll_new, "collection")},
        ),
        DatasetDelta(
            "sea-surface-temperature",
            True,
            True,
            diffs={
                "tableschema": diff_documents(
                    TABLE, {"fields": [*TABLE["fields"], {"name": "qc|flag", "type": "integer"}]}, "tableschema"
                )
            },
            problems=[
                Problem(
                    "profile",
                    "'title' is a required property, see <docs>",
                    file="datasets/sea-surface-temperature/datapackage.json",
                    pointer="/title",
                    line=1,
                    column=1,
                    hint="add a title",
                    dataset="sea-surface-temperature",
                ),
                Problem(
                    "links",
                    "no license link",
                    file="datasets/sea-surface-temperature/collection.jsonnet",
                    severity=Severity.WARNING,
                    dataset="sea-surface-temperature",
                ),
            ],
        ),
        DatasetDelta(
            "kelp-forests", False, True, diffs={"datapackage": diff_documents(None, {"name": "kelp"}, "datapackage")}
        ),
        DatasetDelta("old-survey", True, False),
        DatasetDelta("mpa", True, True, renamed_from="marine-protected-areas"),
        DatasetDelta("untouched-output", True, True, via=["lib/links.libsonnet"]),
    ]
    return Report(
        catalog="catalog",
        base_ref="main",
        base_sha="0123456789abcdef0123456789abcdef01234567",
        head_ref="feature/title",
        head_sha="89abcdef0123456789abcdef0123456789abcdef",
        entries=make_plan(deltas),
        problems=[Problem("config", "unknown field", file="catalog-bot.yaml", pointer="/environments/dev/x", line=7)],
        notices=["profiles/catalog-datapackage.json changed: 3 documents validated"],
        changed_files=["datasets/reef-temperature/collection.jsonnet", "lib/links.libsonnet"],
        repo_prefix="catalog/",
        elapsed=1.234,
    )


def test_markdown_matches_golden() -> None:
    [body] = make_report().to_markdown()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(body, encoding="utf-8")
    assert body == GOLDEN.read_text(encoding="utf-8"), (
        "run with UPDATE_GOLDEN=1 to regenerate after a deliberate change"
    )


def test_markdown_structure() -> None:
    [body] = make_report().to_markdown()
    lines = body.splitlines()
    assert lines[0] == MARKER
    assert "| dataset | status | + | ~ | - |" in lines
    assert body.count("<details") == body.count("</details>")
    assert body.count("```") % 2 == 0
    assert "/catalog publish kelp-forests mpa reef-temperature" in body  # clean publishable datasets only
    assert "&lt;docs&gt;" in body and "<docs>" not in body  # free text cannot open HTML
    assert "`untouched-output`" in body  # listed in the table though it has no details section


def test_markdown_splits_at_block_boundaries() -> None:
    report = make_report()
    big = {"fields": [{"name": f"f{i:04d}", "type": "number"} for i in range(3000)]}
    report.entries[0].diffs["tableschema"] = diff_documents(
        {"fields": [{"name": "x", "type": "string"}]}, big, "tableschema"
    )
    bodies = report.to_markdown(max_chars=4000)
    assert len(bodies) > 1
    for i, body in enumerate(bodies, start=1):
        assert len(body) <= 4000
        assert body.startswith("<!-- catalog-bot:check")
        assert (i == 1) == body.startswith(MARKER)
        assert body.count("<details") == body.count("</details>"), body
        fences = re.findall(r"^`{3,}", body, flags=re.MULTILINE)
        assert len(fences) % 2 == 0
    assert "<sub>part 1 of" in bodies[0]
    assert "dataset" in bodies[-1].splitlines()[-1]  # the footer stays last


def test_json_shape() -> None:
    report = make_report()
    data = json.loads(report.to_json())
    assert set(data) >= {"version", "base", "head", "touched", "plan", "problems", "counts", "exit_code"}
    assert data["exit_code"] == 1 and report.exit_code == 1
    assert data["base"] == {"ref": "main", "sha": "0123456789abcdef0123456789abcdef01234567"}
    assert data["counts"]["errors"] == 2 and data["counts"]["warnings"] == 1
    assert data["counts"]["republish"] == 1 and data["counts"]["rename"] == 1
    entry = next(e for e in data["plan"] if e["dataset"] == "reef-temperature")
    assert entry["action"] == "metadata"
    assert entry["diffs"]["collection"]["changed"][0]["path"] == "/title"
    assert entry["diffs"]["collection"]["added"][0] == {
        "kind": "added",
        "path": "/keywords",
        "segments": ["keywords"],
        "old": None,
        "new": "GBR",
    }


def test_annotations_and_workflow_command_escaping() -> None:
    anns = make_report().annotations()
    err = next(a for a in anns if a.title == "sea-surface-temperature: profile")
    assert err.path == "catalog/datasets/sea-surface-temperature/datapackage.json"
    assert (err.start_line, err.level) == (1, "error")
    assert err.to_check_run()["annotation_level"] == "failure"
    assert any(a.level == "notice" and "qc|flag" in a.message for a in anns)  # breaking schema change
    cfg = next(a for a in anns if a.path == "catalog/catalog-bot.yaml")
    assert cfg.start_line == 7

    ann = Annotation("a,b:c.json", 3, 3, "warning", "t: x, y", "50% done\r\nnext", 2)
    assert (
        ann.to_workflow_command()
        == "::warning file=a%2Cb%3Ac.json,line=3,col=2,title=t%3A x%2C y::50%25 done%0D%0Anext"
    )
    assert escape_data("a%b\n") == "a%25b%0A"
    assert escape_property("x:y,z%") == "x%3Ay%2Cz%25"


def test_step_summary_appends(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("previous step\n")
    write_step_summary(summary, "## hello")
    write_step_summary(summary, "## again\n")
    assert summary.read_text() == "previous step\n## hello\n## again\n"


def test_text_output_lists_plan_and_diff() -> None:
    out = io.StringIO()
    make_report().to_text(Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert re.search(r"reef-temperature\s+metadata\s+1\s+1\s+0", text)
    assert '~ /title: "Reef water temperature loggers" -> "Reef water temperature (loggers)"' in text
    assert "datasets/sea-surface-temperature/datapackage.json:1:1: error [profile]" in text


def test_clean_report_exit_zero() -> None:
    report = Report(catalog="c", base_ref="main", base_sha="a" * 40, head_ref="HEAD", head_sha="b" * 40)
    assert report.exit_code == 0
    [body] = report.to_markdown()
    assert "no dataset touched" in body


def test_max_chars_too_small() -> None:
    with pytest.raises(ValueError, match="at least"):
        make_report().to_markdown(max_chars=100)


def test_next_commands_are_chunked_to_the_command_limit() -> None:
    deltas = [DatasetDelta(f"ds-{i:02d}", False, True) for i in range(45)]
    report = Report(catalog="c", base_ref="main", base_sha="a" * 40, head_ref="HEAD", head_sha="b" * 40)
    report.entries = make_plan(deltas)
    commands = report.next_commands()
    assert [len(c.split()) - 2 for c in commands] == [20, 20, 5]
    assert commands[0].startswith("/catalog publish ds-00 ds-01")
    [body] = report.to_markdown()
    assert all(c in body for c in commands)
