"""The harvester end to end: real pycsw records -> dataset issues and update PRs on the GitHub test server."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.adapters.csw import MetadataSource
from bot.catalog.layout import Catalog
from bot.metadata.issue_form import parse_dataset_issue
from bot.pipeline.harvest import RECORD_MARKER, create_dataset_issues, harvest_all, propose_updates
from tests.conftest import git
from tests.csw_server import PycswServer, mcf, write_record
from tests.github_server import FakeGitHub, make_client, running

REPO = "octo/catalog"
BBOX = [145.46, -23.44, 151.92, -13.89]


@pytest.fixture(scope="module")
def record_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("records")
    write_record(
        mcf("rec-reef", "Reef water temperature loggers", bbox=BBOX, begin="2024-01-01", end="2024-03-31"), out
    )
    write_record(mcf("rec-new-1", "Coral bleaching surveys", bbox=[146, -20, 148, -18], begin="2020-02-01"), out)
    write_record(mcf("rec-new-2", "Turtle nesting beaches", bbox=[151, -24, 152, -23], begin="2015-11-01"), out)
    return out


@pytest.fixture(scope="module")
def csw(record_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PycswServer]:
    with PycswServer(tmp_path_factory.mktemp("pycsw")) as server:
        server.load(record_dir)
        yield server


@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeGitHub]:
    yield from running(tmp_path)


@pytest.fixture
def world(catalog_repo: Path, github: FakeGitHub, csw: PycswServer):
    """The example catalog (reef-temperature harvested from pycsw) on the GitHub test server."""
    pipeline = catalog_repo / "datasets" / "reef-temperature" / "pipeline.yaml"
    spec = yaml.safe_load(pipeline.read_text())
    spec["metadata_source"] = {"kind": "csw", "url": csw.url, "record_id": "rec-reef"}
    pipeline.write_text(yaml.safe_dump(spec, sort_keys=False))
    git(catalog_repo, "commit", "-qam", "harvest reef-temperature from the CSW")
    github.add_repo(REPO, catalog_repo)
    github.set_permission(REPO, "catalog-bot[bot]", "write")
    issue = github.add_issue(
        REPO,
        "Dataset: reef-temperature",
        "### Dataset id\n\nreef-temperature\n\n### Title\n\nReef loggers\n",
        labels=("dataset",),
    )
    return catalog_repo, github, issue


def _harvest(catalog_dir: Path):
    catalog = Catalog.open(catalog_dir)
    chosen = [d for d in catalog.datasets() if d.pipeline().metadata_source]
    return harvest_all(catalog, chosen, lambda url: MetadataSource(url))


def _propose(outcomes, gh):
    return propose_updates(outcomes, gh)


def test_changed_record_opens_one_update_pr_and_updates_the_issue(world) -> None:
    catalog_dir, server, issue = world
    gh = make_client(server, REPO)
    actions = _propose(_harvest(catalog_dir), gh)
    assert [(a.dataset, a.action) for a in actions] == [
        ("reef-temperature", "pr-created"),
        ("reef-temperature", "issue-updated"),
    ]
    pulls = server.repos[REPO].pulls
    assert len(pulls) == 1
    pr = next(iter(pulls.values()))
    assert pr["head_ref"] == "catalog-bot/harvest/reef-temperature"
    blob = git(server.repos[REPO].git_dir, "show", f"{pr['head_ref']}:datasets/reef-temperature/datapackage.json")
    assert json.loads(blob)["lineage"] == "Loggers retrieved and QC'd yearly."
    body = server.repos[REPO].issues[issue["number"]]["body"]
    assert "### Harvested metadata" in body and "catalog-bot/" not in body.split("### Harvested")[0]
    # a second harvest of the same record refreshes nothing
    writes_before = server.count("POST") + server.count("PATCH") + server.count("PUT") + server.count("DELETE")
    actions = _propose(_harvest(catalog_dir), gh)
    writes_after = server.count("POST") + server.count("PATCH") + server.count("PUT") + server.count("DELETE")
    assert {a.action for a in actions} <= {"pr-unchanged"}
    assert len(server.repos[REPO].pulls) == 1
    assert writes_after - writes_before <= 3  # blobs/tree only; no new commit, PR or issue edit


def test_unchanged_record_writes_nothing(world) -> None:
    catalog_dir, server, _ = world
    outcome = _harvest(catalog_dir)[0]
    (catalog_dir / "datasets" / "reef-temperature" / "datapackage.json").write_text(
        json.dumps(outcome.datapackage, indent=2)
    )
    git(catalog_dir, "commit", "-qam", "apply harvested metadata")
    gh = make_client(server, REPO)
    before = {m: server.count(m) for m in ("POST", "PATCH", "PUT", "DELETE")}
    assert _propose(_harvest(catalog_dir), gh) == []
    assert {m: server.count(m) for m in before} == before


def test_creator_mode_opens_one_issue_per_new_record_without_duplicates(world, csw: PycswServer) -> None:
    _, server, _ = world
    gh = make_client(server, REPO)
    source = MetadataSource(csw.url)
    first = create_dataset_issues(["rec-new-1", "rec-new-2", "missing-rec"], source, gh)
    created = [a for a in first if a.action == "issue-created"]
    assert len(created) == 2
    assert any(a.dataset == "missing-rec" and a.action.startswith("error") for a in first)
    issues = [i for i in server.repos[REPO].issues.values() if RECORD_MARKER.format("rec-new-1") in (i["body"] or "")]
    assert len(issues) == 1 and set(issues[0]["labels"]) >= {"dataset", "harvest"}
    request = parse_dataset_issue(issues[0]["body"])
    assert request.fields["title"] == "Coral bleaching surveys" and request.dataset_id == "coral-bleaching-surveys"
    second = create_dataset_issues(["rec-new-1", "rec-new-2"], source, gh)
    assert {a.action for a in second} == {"exists"}


def test_missing_record_warns_on_the_dataset_issue_only(
    world, csw: PycswServer, record_dir: Path, tmp_path: Path
) -> None:
    catalog_dir, server, issue = world
    empty = tmp_path / "none"
    shutil.copytree(record_dir, empty)
    (empty / "rec-reef.xml").unlink()
    csw.load(empty)
    try:
        # pycsw -y replaces records it loads but keeps others: delete the withdrawn one explicitly
        import sqlite3

        with sqlite3.connect(csw.home / "records.db") as db:
            db.execute("DELETE FROM records WHERE identifier = 'rec-reef'")
        outcomes = _harvest(catalog_dir)
        assert outcomes[0].status == "missing-record"
        gh = make_client(server, REPO)
        actions = _propose(outcomes, gh)
        assert [a.action for a in actions] == ["warned"]
        assert "could not be found" in server.repos[REPO].issues[issue["number"]]["body"]
        assert not server.repos[REPO].pulls
    finally:
        csw.load(record_dir)


def test_harvest_steps_of_the_dag_use_the_same_code(world, tmp_path: Path) -> None:
    """`catalog-bot step harvest-metadata` / `propose-update` (what the Argo harvest template runs)."""
    from bot.config import Settings
    from bot.pipeline.context import RunContext
    from bot.pipeline.executor import run_single_step
    from tests.github_server import TOKEN

    catalog_dir, server, _ = world
    catalog = Catalog.open(catalog_dir)
    settings = Settings.from_env({"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": server.base_url, "GITHUB_REPOSITORY": REPO})
    run = RunContext(catalog, "local", catalog.config.environment("local"), tmp_path / "out", settings)
    dataset = catalog.dataset("reef-temperature")
    harvested = run_single_step(run, dataset, "harvest-metadata", work=tmp_path / "work")
    assert harvested.status == "done" and "changed" in harvested.message
    proposed = run_single_step(run, dataset, "propose-update", work=tmp_path / "work")
    assert "pr-created" in proposed.message
    assert [p["head_ref"] for p in server.repos[REPO].pulls.values()] == ["catalog-bot/harvest/reef-temperature"]
    skipped = run_single_step(run, catalog.dataset("marine-protected-areas"), "harvest-metadata", work=tmp_path / "w2")
    assert skipped.status == "skipped"
