"""`catalog-bot check` end to end on real git repositories of the example catalog."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from bot.adapters.git import WORKTREE, GitRepo
from bot.catalog.check import run_check
from bot.catalog.plan import Action
from bot.cli import main
from bot.config import Settings
from bot.errors import UsageError
from tests.conftest import git

REEF = "datasets/reef-temperature"


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def branch(repo: Path, name: str = "feature") -> None:
    git(repo, "checkout", "-q", "-b", name)


def settings() -> Settings:
    return Settings.from_env()


def plan_of(report) -> dict[str, Action]:
    return {e.dataset: e.action for e in report.entries}


class RecordingReader:
    """A RevisionReader that delegates to git and records every call (the check's only way to git)."""

    def __init__(self, inner: GitRepo) -> None:
        self.inner = inner
        self.path = inner.path
        self.prefix = inner.prefix
        self.calls: list[str] = []

    def __getattr__(self, name: str):
        method = getattr(self.inner, name)

        def recorded(*args, **kwargs):
            self.calls.append(name)
            return method(*args, **kwargs)

        return recorded


def test_check_reads_revisions_only_through_the_injected_reader(catalog_repo: Path) -> None:
    branch(catalog_repo)
    dp = catalog_repo / REEF / "datapackage.json"
    dp.write_text(dp.read_text().replace('"in situ"', '"in-situ"'))
    commit(catalog_repo, "keyword")
    reader = RecordingReader(GitRepo(catalog_repo))

    report = run_check(reader, "main", "HEAD", settings(), label="my-catalog")

    assert plan_of(report) == {"reef-temperature": Action.METADATA}
    assert report.catalog == "my-catalog"
    # cost follows the change: one batched read per revision, one diff of the trees
    assert reader.calls.count("read_entries") == 2 and reader.calls.count("changed_files") == 1


def test_edit_collection_title_is_metadata_with_exact_diff(catalog_repo: Path) -> None:
    branch(catalog_repo)
    path = catalog_repo / REEF / "collection.jsonnet"
    path.write_text(
        path.read_text().replace("title='Reef water temperature loggers'", "title='Reef temperature loggers'")
    )
    commit(catalog_repo, "retitle")

    report = run_check(GitRepo(catalog_repo), "main", "HEAD", settings())

    assert plan_of(report) == {"reef-temperature": Action.METADATA}
    [entry] = report.entries
    assert list(entry.diffs) == ["collection"]
    assert entry.diffs["collection"].lines() == [
        '~ /title: "Reef water temperature loggers" -> "Reef temperature loggers"'
    ]
    assert entry.errors == [], [p.format() for p in entry.problems]
    assert report.exit_code == 0
    assert report.head_sha == git(catalog_repo, "rev-parse", "HEAD").strip()


def test_worktree_is_the_default_head(catalog_repo: Path) -> None:
    path = catalog_repo / REEF / "datapackage.json"
    doc = json.loads(path.read_text())
    doc["keywords"].append("logger")
    path.write_text(json.dumps(doc, indent=2))  # uncommitted

    report = run_check(GitRepo(catalog_repo), "main", WORKTREE, settings())

    assert plan_of(report) == {"reef-temperature": Action.METADATA}
    assert report.entries[0].diffs["datapackage"].lines() == ['+ /keywords: "logger"']
    assert report.head_sha == WORKTREE


def test_lib_change_touches_only_importers(catalog_repo: Path) -> None:
    # Base: reef-temperature alone imports lib/reef.libsonnet.
    (catalog_repo / "lib" / "reef.libsonnet").write_text("{ citation: 'Reef Lab (2024).' }\n")
    coll = catalog_repo / REEF / "collection.jsonnet"
    text = coll.read_text().replace(
        "local lib = import 'catalog.libsonnet';",
        "local lib = import 'catalog.libsonnet';\nlocal reef = import 'reef.libsonnet';",
    )
    text = re.sub(r"'sci:citation': [^\n]*\n", "'sci:citation': reef.citation,\n", text)
    coll.write_text(text)
    commit(catalog_repo, "reef lib")
    branch(catalog_repo)
    (catalog_repo / "lib" / "reef.libsonnet").write_text("{ citation: 'Reef Monitoring Lab (2024).' }\n")
    commit(catalog_repo, "new citation")

    report = run_check(GitRepo(catalog_repo), "main", "HEAD", settings())

    assert plan_of(report) == {"reef-temperature": Action.METADATA}
    [entry] = report.entries
    assert entry.diffs["collection"].lines() == ['~ /sci:citation: "Reef Lab (2024)." -> "Reef Monitoring Lab (2024)."']
    assert "imports changed lib/reef.libsonnet" in entry.reasons


def test_lib_change_through_dataset_helper(catalog_repo: Path) -> None:
    # marine-protected-areas imports its own helper, which imports lib/mpa.libsonnet.
    (catalog_repo / "lib" / "mpa.libsonnet").write_text("{ about: 'v1' }\n")
    folder = catalog_repo / "datasets/marine-protected-areas"
    (folder / "helper.libsonnet").write_text("local mpa = import 'mpa.libsonnet';\n{ note: mpa.about }\n")
    coll = folder / "collection.jsonnet"
    coll.write_text("local helper = import 'helper.libsonnet';\n" + coll.read_text())
    commit(catalog_repo, "helper")
    branch(catalog_repo)
    (catalog_repo / "lib" / "mpa.libsonnet").write_text("{ about: 'v2' }\n")
    commit(catalog_repo, "v2")
    report = run_check(GitRepo(catalog_repo), "main", "HEAD", settings())
    assert plan_of(report) == {"marine-protected-areas": Action.UNCHANGED}  # helper value unused in output
    assert "imports changed lib/mpa.libsonnet" in report.entries[0].reasons


def test_shared_lib_change_touches_every_importer(catalog_repo: Path) -> None:
    branch(catalog_repo)
    lib = catalog_repo / "lib" / "catalog.libsonnet"
    lib.write_text(lib.read_text() + "\n// a comment only\n")
    commit(catalog_repo, "comment")
    report = run_check(GitRepo(catalog_repo), "main", "HEAD", settings())
    assert set(plan_of(report)) == {
        "reef-temperature",
        "reef-temperature-daily",
        "marine-protected-areas",
        "sea-surface-temperature",
    }
    assert set(plan_of(report).values()) == {Action.UNCHANGED}  # rendered output identical


def test_rename_dataset_folder(catalog_repo: Path) -> None:
    branch(catalog_repo)
    git(catalog_repo, "mv", REEF, "datasets/reef-temp")
    dp = catalog_repo / "datasets/reef-temp/datapackage.json"
    dp.write_text(dp.read_text().replace('"name": "reef-temperature"', '"name": "reef-temp"'))
    coll = catalog_repo / "datasets/reef-temp/collection.jsonnet"
    coll.write_text(coll.read_text().replace("id='reef-temperature'", "id='reef-temp'"))
    commit(catalog_repo, "rename")

    report = run_check(GitRepo(catalog_repo), "main", "HEAD", settings())

    assert plan_of(report) == {"reef-temp": Action.RENAME}
    entry = report.entries[0]
    assert entry.old_id == "reef-temperature"
    assert not any("source data" in r for r in entry.reasons)  # the CSV moved unchanged
    assert '~ /name: "reef-temperature" -> "reef-temp"' in entry.diffs["datapackage"].lines()


def test_delete_and_add(catalog_repo: Path) -> None:
    branch(catalog_repo)
    shutil.rmtree(catalog_repo / "datasets/marine-protected-areas")
    new = catalog_repo / "datasets/reef-salinity"
    shutil.copytree(catalog_repo / REEF, new)
    dp = json.loads((new / "datapackage.json").read_text())
    dp.update(name="reef-salinity", id="https://example.org/datasets/reef-salinity", title="Reef salinity")
    dp["resources"][0]["name"] = "reef-salinity"
    (new / "datapackage.json").write_text(json.dumps(dp, indent=2))
    (new / "pipeline.yaml").write_text((new / "pipeline.yaml").read_text().replace("reef-temperature.csv", "s.csv"))
    (new / "data/reef-temperature.csv").rename(new / "data/s.csv")
    (new / "data/s.csv").write_text("site_id,time,lon,lat,depth,temperature,qc_flag\n")
    coll = new / "collection.jsonnet"
    coll.write_text(coll.read_text().replace("id='reef-temperature'", "id='reef-salinity'"))
    commit(catalog_repo, "delete and add")

    report = run_check(GitRepo(catalog_repo), "main", "HEAD", settings())

    assert plan_of(report) == {"marine-protected-areas": Action.REMOVE, "reef-salinity": Action.NEW}
    assert report.entries[1].diffs["collection"].created


def test_pipeline_change_is_republish(catalog_repo: Path) -> None:
    branch(catalog_repo)
    pipe = catalog_repo / REEF / "pipeline.yaml"
    pipe.write_text(pipe.read_text().replace('schedule: "0 3 * * 1"', 'schedule: "0 4 * * 1"'))
    commit(catalog_repo, "schedule")
    report = run_check(GitRepo(catalog_repo), "main", "HEAD", settings())
    assert plan_of(report) == {"reef-temperature": Action.REPUBLISH}
    assert report.entries[0].diffs["pipeline"].lines() == ['~ /schedule: "0 3 * * 1" -> "0 4 * * 1"']
    assert report.entries[0].reasons[0] == "pipeline.yaml changed"


def test_pipeline_comment_only_is_unchanged(catalog_repo: Path) -> None:
    branch(catalog_repo)
    pipe = catalog_repo / REEF / "pipeline.yaml"
    pipe.write_text("# reviewed\n" + pipe.read_text())
    commit(catalog_repo, "comment")
    report = run_check(GitRepo(catalog_repo), "main", "HEAD", settings())
    assert plan_of(report) == {"reef-temperature": Action.UNCHANGED}


def test_added_field_is_breaking(catalog_repo: Path) -> None:
    branch(catalog_repo)
    path = catalog_repo / REEF / "tableschema.json"
    schema = json.loads(path.read_text())
    schema["fields"].append({"name": "salinity", "type": "number"})
    path.write_text(json.dumps(schema, indent=2))
    commit(catalog_repo, "field")
    report = run_check(GitRepo(catalog_repo), "main", "HEAD", settings())
    [entry] = report.entries
    assert entry.action is Action.REPUBLISH
    assert entry.diffs["tableschema"].breaking == ["field salinity added"]
    assert "tableschema.json: field salinity added" in entry.reasons


def test_invalid_change_reports_located_problem(catalog_repo: Path) -> None:
    branch(catalog_repo)
    path = catalog_repo / REEF / "datapackage.json"
    doc = json.loads(path.read_text())
    del doc["title"]
    path.write_text(json.dumps(doc, indent=2))
    commit(catalog_repo, "drop title")
    report = run_check(GitRepo(catalog_repo), "main", "HEAD", settings())
    assert report.exit_code == 1
    errors = report.errors
    assert errors and all(p.dataset == "reef-temperature" for p in errors)
    assert any(p.file == f"{REEF}/datapackage.json" for p in errors)


def test_profile_change_validates_all_without_rendering(catalog_repo: Path) -> None:
    branch(catalog_repo)
    path = catalog_repo / "profiles/catalog-datapackage.json"
    profile = json.loads(path.read_text())
    profile.setdefault("required", []).append("homepage")
    path.write_text(json.dumps(profile, indent=2))
    commit(catalog_repo, "require homepage")
    report = run_check(GitRepo(catalog_repo), "main", "HEAD", settings())
    assert set(plan_of(report)) == {
        "reef-temperature",
        "reef-temperature-daily",
        "marine-protected-areas",
        "sea-surface-temperature",
    }
    assert all(e.action is Action.UNCHANGED and e.errors for e in report.entries)
    assert any("homepage" in p.message for p in report.errors)
    assert any("profiles/catalog-datapackage.json changed" in n for n in report.notices)


def test_catalog_in_subfolder_annotations_use_repo_paths(tmp_path: Path, example_catalog: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.move(example_catalog, repo / "catalog")
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "init")
    branch(repo)
    dp = repo / "catalog" / REEF / "datapackage.json"
    doc = json.loads(dp.read_text())
    doc["access"] = "secret"
    dp.write_text(json.dumps(doc, indent=2))
    commit(repo, "bad access")
    report = run_check(GitRepo(repo / "catalog"), "main", "HEAD", settings())
    assert report.exit_code == 1
    paths = {a.path for a in report.annotations() if a.level == "error"}
    assert f"catalog/{REEF}/datapackage.json" in paths


# -- CLI -------------------------------------------------------------------


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def test_cli_unknown_base_exits_2_with_hint(catalog_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(["check", "--base", "develop", str(catalog_repo)], capsys)
    assert code == 2
    assert "git revision 'develop' does not exist" in err
    assert "git fetch" in err
    assert "Traceback" not in err


def test_cli_json_and_exit_codes(catalog_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["check", "--catalog", str(catalog_repo), "--format", "json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["touched"] == [] and data["exit_code"] == 0 and data["head"]["ref"] == WORKTREE

    dp = catalog_repo / REEF / "datapackage.json"
    dp.write_text(dp.read_text().replace('"access": "public"', '"access": "everyone"'))
    code, out, _ = run_cli(["check", str(catalog_repo), "-f", "json"], capsys)
    data = json.loads(out)
    assert code == 1 and data["exit_code"] == 1
    assert data["plan"][0]["dataset"] == "reef-temperature"
    assert any(p["file"] == f"{REEF}/datapackage.json" for p in data["plan"][0]["problems"])


def test_cli_github_actions_annotations_and_summary(
    catalog_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    dp = catalog_repo / REEF / "datapackage.json"
    dp.write_text(dp.read_text().replace('"access": "public"', '"access": "everyone"'))

    code, out, _ = run_cli(["check", str(catalog_repo), "--format", "markdown"], capsys)

    assert code == 1
    assert out.startswith("<!-- catalog-bot:check -->")
    assert re.search(rf"^::error file={REEF}/datapackage\.json,line=\d+", out, flags=re.MULTILINE)
    text = summary.read_text()
    assert text.startswith("<!-- catalog-bot:check -->") and "reef-temperature" in text


def test_all_flag_and_config_change(catalog_repo: Path) -> None:
    branch(catalog_repo)
    cfg = catalog_repo / "catalog-bot.yaml"
    cfg.write_text(cfg.read_text().replace("title: Example marine data catalog", "title: Marine catalog"))
    commit(catalog_repo, "config")
    report = run_check(GitRepo(catalog_repo), "main", "HEAD", settings())
    assert report.entries == []
    assert any("catalog-bot.yaml changed" in n and "--all" in n for n in report.notices)
    report = run_check(GitRepo(catalog_repo), "main", "HEAD", settings(), all_datasets=True)
    assert set(plan_of(report)) == {
        "reef-temperature",
        "reef-temperature-daily",
        "marine-protected-areas",
        "sea-surface-temperature",
    }
    assert report.exit_code == 0, [p.format() for p in report.errors]


def test_invalid_config_at_head_is_a_problem(catalog_repo: Path) -> None:
    branch(catalog_repo)
    (catalog_repo / "catalog-bot.yaml").write_text("version: 1\nenvironmnets: {}\n")
    commit(catalog_repo, "typo")
    report = run_check(GitRepo(catalog_repo), "main", "HEAD", settings())
    assert report.exit_code == 1
    [problem] = report.problems
    assert problem.file == "catalog-bot.yaml" and "environmnets" in (problem.hint or "") + (problem.pointer or "")


def test_usage_errors_not_a_catalog_and_unknown_dataset(catalog_repo: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown dataset 'nope'"):
        run_check(GitRepo(catalog_repo), "main", "HEAD", settings(), datasets=["nope"])
    (catalog_repo / "docs").mkdir()
    (catalog_repo / "docs" / "x.md").write_text("x\n")
    commit(catalog_repo, "docs")
    with pytest.raises(UsageError, match="is not a catalog"):
        run_check(GitRepo(catalog_repo / "docs"), "main", "HEAD", settings())


def test_two_datasets_claiming_one_id(catalog_repo: Path) -> None:
    """A new dataset whose collection and datapackage claim an existing dataset's id."""
    import shutil

    from bot.catalog.check import run_check
    from tests.conftest import git

    shutil.copytree(catalog_repo / "datasets" / "reef-temperature", catalog_repo / "datasets" / "reef-temperature-copy")
    git(catalog_repo, "checkout", "-qb", "copy")
    git(catalog_repo, "add", "-A")
    git(catalog_repo, "commit", "-qm", "copy a dataset without changing its id")
    report = run_check(GitRepo(catalog_repo), "main", "HEAD", settings())
    dup = [p for p in report.all_problems() if p.code == "duplicate-id"]
    assert {p.file for p in dup} == {
        "datasets/reef-temperature-copy/collection.jsonnet",
        "datasets/reef-temperature-copy/datapackage.json",
    }
    assert all("datasets/reef-temperature/" in p.message and p.dataset == "reef-temperature-copy" for p in dup)
    assert report.exit_code == 1
