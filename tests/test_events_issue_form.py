"""Dataset issue form: the template's labels, parsing into datapackage fields, the bot's section."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from bot.metadata.issue_form import (
    END,
    LABELS,
    START,
    dataset_files,
    parse_dataset_issue,
    replace_bot_section,
    request_summary,
    sections,
)
from bot.structs import load

FORM = Path(__file__).resolve().parents[1] / "catalog_templates" / ".github" / "ISSUE_TEMPLATE" / "dataset.yml"


def render_form(answers: dict[str, str]) -> str:
    """The issue body GitHub renders from the form: ``### Label`` + answer ("_No response_" when empty)."""
    form = yaml.safe_load(FORM.read_text())
    parts = []
    for item in form["body"]:
        if item["type"] == "markdown":
            continue
        label = item["attributes"]["label"]
        parts.append(f"### {label}\n\n{answers.get(label) or '_No response_'}")
    return "\n\n".join(parts)


GOOD = {
    "Dataset id": "coral-cover",
    "Title": "Coral  cover surveys",
    "Description": "Percent hard coral cover from transect surveys.",
    "Licence": "CC-BY-4.0",
    "Contributors": "Reef Lab | publisher | data@example.org | Reef Lab\nA. Diver",
    "Keywords": "coral, reef , benthic",
    "Access": "public",
    "Bounding box": "145.0, -24.5, 153.0, -10.0",
    "Temporal start": "2020-01-01",
    "Temporal end": "",
    "Metadata source": "https://csw.example.org/csw?request=GetRecordById&id=abc",
}


def test_form_labels_and_parser_agree() -> None:
    form = yaml.safe_load(FORM.read_text())
    labels = {i["attributes"]["label"] for i in form["body"] if i["type"] != "markdown"}
    assert labels == set(LABELS)


def test_valid_form_maps_to_datapackage_fields() -> None:
    req = parse_dataset_issue(render_form(GOOD))
    assert req.ok, req.problems
    f = req.fields
    assert f["name"] == "coral-cover"
    assert f["title"] == "Coral cover surveys"
    assert f["licenses"][0]["name"] == "CC-BY-4.0" and f["licenses"][0]["path"].startswith(
        "https://creativecommons.org/"
    )
    assert f["contributors"] == [
        {"title": "Reef Lab", "role": "publisher", "email": "data@example.org", "organization": "Reef Lab"},
        {"title": "A. Diver", "role": "author"},
    ]
    assert f["keywords"] == ["coral", "reef", "benthic"]
    assert f["spatial"] == {"bbox": [145.0, -24.5, 153.0, -10.0]}
    assert f["temporal"] == {"start": "2020-01-01T00:00:00Z", "end": None}
    assert req.metadata_source == GOOD["Metadata source"]


def test_every_problem_is_reported_at_once() -> None:
    bad = {
        **GOOD,
        "Dataset id": "../Coral",
        "Bounding box": "200, 0, 10",
        "Temporal start": "yesterday",
        "Contributors": "X | boss | not-an-email",
        "Title": "",
    }
    req = parse_dataset_issue(render_form(bad))
    text = "\n".join(req.problems)
    assert not req.ok
    for needle in (
        "**Dataset id**",
        "**Bounding box**",
        "**Temporal start**",
        "role `boss`",
        "not an e-mail",
        "**Title** is empty",
    ):
        assert needle in text
    assert "please fix" in request_summary(req)


def test_bot_section_is_edited_in_place_and_ignored_when_parsing() -> None:
    body = render_form(GOOD)
    once = replace_bot_section(body, "first")
    twice = replace_bot_section(once, "second")
    assert twice.count(START) == 1 and twice.count(END) == 1
    assert "second" in twice and "first" not in twice
    assert twice.startswith(body)
    # the bot's own section never leaks into the parsed answers
    assert sections(twice) == sections(body)


def test_generated_files_are_valid_documents() -> None:
    req = parse_dataset_issue(render_form(GOOD))
    files = dataset_files(req)
    assert set(files) == {
        "datasets/coral-cover/datapackage.json",
        "datasets/coral-cover/collection.jsonnet",
        "datasets/coral-cover/pipeline.yaml",
        "datasets/coral-cover/tableschema.json",
    }
    dp = json.loads(files["datasets/coral-cover/datapackage.json"])
    assert dp["name"] == "coral-cover" and dp["access"] == "public"
    pipeline = yaml.safe_load(files["datasets/coral-cover/pipeline.yaml"])
    assert pipeline["metadata_source"] == {"kind": "url", "url": GOOD["Metadata source"]}
    from bot.catalog.layout import PipelineSpec

    load(pipeline, PipelineSpec)  # the generated pipeline.yaml is a valid pipeline


def test_generated_dataset_passes_the_real_check(catalog_repo: Path) -> None:
    """What `/catalog generate` proposes renders and validates (the PR starts green)."""
    from bot.adapters.git import GitRepo
    from bot.catalog.check import run_check
    from bot.config import Settings
    from tests.conftest import git

    for rel, data in dataset_files(parse_dataset_issue(render_form(GOOD))).items():
        (catalog_repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (catalog_repo / rel).write_bytes(data)
    git(catalog_repo, "add", "-A")
    git(catalog_repo, "commit", "-q", "-m", "generated")
    report = run_check(GitRepo(catalog_repo), "main~1", "main", Settings.from_env())
    assert report.touched == ["coral-cover"]
    assert [p.format() for p in report.all_problems()] == []
