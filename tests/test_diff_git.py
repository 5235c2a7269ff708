"""GitRepo against real repositories in tmp: changes, renames, batch reads, worktree, bad refs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters.git import WORKTREE, FileChange, GitRepo
from bot.errors import UsageError
from tests.conftest import git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "cat" / "datasets" / "a").mkdir(parents=True)
    (root / "cat" / "lib").mkdir()
    (root / "cat" / "datasets" / "a" / "datapackage.json").write_text('{"name": "a"}\n')
    (root / "cat" / "datasets" / "a" / "pipeline.yaml").write_text("source: {path: x.csv, format: csv}\n" * 20)
    (root / "cat" / "lib" / "x.libsonnet").write_text("{}\n")
    (root / "README.md").write_text("outside the catalog\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "one")
    return root


def test_changes_renames_and_subdir_relative_paths(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    cat = repo / "cat"
    git(cat, "mv", "datasets/a", "datasets/b")
    (cat / "lib" / "x.libsonnet").write_text("{ a: 1 }\n")
    (cat / "lib" / "new.libsonnet").write_text("{}\n")
    (repo / "README.md").write_text("changed, but outside the catalog\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "two")

    g = GitRepo(cat)
    assert g.prefix == "cat/"
    changes = g.changed_files(g.rev_parse("main"), g.rev_parse("feature"))
    assert FileChange("A", "lib/new.libsonnet") in changes
    assert FileChange("M", "lib/x.libsonnet") in changes
    assert FileChange("R", "datasets/b/pipeline.yaml", "datasets/a/pipeline.yaml") in changes
    assert FileChange("R", "datasets/b/datapackage.json", "datasets/a/datapackage.json") in changes
    assert not any("README" in c.path for c in changes)
    assert g.rel_to_repo("lib/x.libsonnet") == "cat/lib/x.libsonnet"


def test_read_tree_one_batch_and_missing(repo: Path) -> None:
    g = GitRepo(repo / "cat")
    sha = g.rev_parse("main")
    got = g.read_tree(sha, ["lib/x.libsonnet", "nope.txt", "datasets/a/datapackage.json"])
    assert got == {"lib/x.libsonnet": b"{}\n", "datasets/a/datapackage.json": b'{"name": "a"}\n'}
    assert g.read_file(sha, "nope.txt") is None
    assert g.list_files(sha, "datasets/a") == ["datasets/a/datapackage.json", "datasets/a/pipeline.yaml"]
    assert g.list_many(sha, ["lib", "datasets"]) == [
        "datasets/a/datapackage.json",
        "datasets/a/pipeline.yaml",
        "lib/x.libsonnet",
    ]


def test_worktree_includes_uncommitted_and_untracked(repo: Path) -> None:
    cat = repo / "cat"
    (cat / "lib" / "x.libsonnet").write_text("{ edited: true }\n")
    (cat / "datasets" / "a" / "datapackage.json").unlink()
    (cat / "datasets" / "c").mkdir()
    (cat / "datasets" / "c" / "pipeline.yaml").write_text("new\n")
    (cat / ".gitignore").write_text("*.tmp\n")
    (cat / "scratch.tmp").write_text("ignored\n")
    g = GitRepo(cat)
    changes = g.changed_files(g.rev_parse("main"), WORKTREE)
    assert {(c.status, c.path) for c in changes} == {
        ("M", "lib/x.libsonnet"),
        ("D", "datasets/a/datapackage.json"),
        ("A", "datasets/c/pipeline.yaml"),
        ("A", ".gitignore"),
    }
    assert g.read_file(WORKTREE, "lib/x.libsonnet") == b"{ edited: true }\n"
    assert "datasets/a/datapackage.json" not in g.list_files(WORKTREE, "datasets")
    assert "datasets/c/pipeline.yaml" in g.list_files(WORKTREE, "datasets")


def test_unknown_ref_is_usage_error_with_fetch_hint(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://example.invalid/cat.git")
    g = GitRepo(repo / "cat")
    with pytest.raises(UsageError) as info:
        g.rev_parse("develop")
    text = str(info.value)
    assert "'develop'" in text and "git fetch origin develop" in text
    assert info.value.exit_code == 2


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not inside a git repository"):
        GitRepo(tmp_path)


def test_merge_base_follows_fork_point(repo: Path) -> None:
    g = GitRepo(repo)
    fork = g.rev_parse("main")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "f.txt").write_text("f\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "feature")
    git(repo, "checkout", "-q", "main")
    (repo / "m.txt").write_text("m\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "main moves on")
    assert g.merge_base("main", "feature") == fork
    assert [c.path for c in g.changed_files(fork, g.rev_parse("feature"))] == ["f.txt"]


def test_list_dirs_and_grep_paths_at_a_revision_and_in_the_worktree(catalog_repo: Path) -> None:
    from bot.adapters.git import WORKTREE, GitRepo

    repo = GitRepo(catalog_repo)
    ids = ["marine-protected-areas", "reef-temperature", "reef-temperature-daily", "sea-surface-temperature"]
    assert repo.list_dirs("HEAD", "datasets") == ids
    (catalog_repo / "datasets" / "new-one").mkdir()
    assert repo.list_dirs(WORKTREE, "datasets") == sorted([*ids, "new-one"])
    globs = [":(glob)datasets/**/*.jsonnet"]
    assert repo.grep_paths("HEAD", ["catalog.libsonnet"], globs) == {f"datasets/{d}/collection.jsonnet" for d in ids}
    assert repo.grep_paths("HEAD", ["no-such-lib.libsonnet"], globs) == set()
    (catalog_repo / "datasets" / "new-one" / "collection.jsonnet").write_text("import 'catalog.libsonnet'")
    assert "datasets/new-one/collection.jsonnet" in repo.grep_paths(WORKTREE, ["catalog.libsonnet"], globs)
