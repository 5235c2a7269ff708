"""The PR check's Data section (issue #15): the data change in plain words and as a map, checked on real
git repositories of the example catalog with real data edits; golden files for the five reference cases.

``UPDATE_GOLDEN=1`` rewrites the golden files (review the diff before committing).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.adapters.git import WORKTREE, GitRepo
from bot.catalog.check import run_check
from bot.catalog.datadiff import DataSummary, compare, extent_lines, extent_map, geojson_block, time_lines
from bot.catalog.report import Report
from bot.cli import main
from bot.config import Settings
from tests.conftest import git

GOLDEN = Path(__file__).parent / "golden" / "datadiff"
REEF = "reef-temperature"
CSV = Path("datasets") / REEF / "data" / f"{REEF}.csv"


def _rows(repo: Path) -> tuple[list[str], list[list[str]]]:
    lines = (repo / CSV).read_text(encoding="utf-8").splitlines()
    return lines[0].split(","), [line.split(",") for line in lines[1:]]


def _write_rows(repo: Path, header: list[str], rows: list[list[str]]) -> None:
    (repo / CSV).write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")


def extent_grew(repo: Path) -> None:
    """A new logger far to the north-west (the data reaches further west and north)."""
    header, rows = _rows(repo)
    new = dict(zip(header, rows[0], strict=True))
    new.update(site_id="LIZARD-01", lon="141.0000", lat="-12.5000")
    _write_rows(repo, header, [*rows, [new[h] for h in header]])


def time_extended(repo: Path) -> None:
    """Three more months of readings from the same loggers."""
    header, rows = _rows(repo)
    t = header.index("time")
    later = [list(r) for r in rows if r[t].startswith("2024-03") and int(r[t][8:10]) <= 30]
    for r in later:
        r[t] = "2024-06" + r[t][len("2024-03") :]
    _write_rows(repo, header, [*rows, *later])


def column_retyped(repo: Path) -> None:
    """Temperatures rounded to whole degrees, and the curated schema says so: temperature number -> integer."""
    header, rows = _rows(repo)
    d = header.index("temperature")
    for r in rows:
        r[d] = str(round(float(r[d])))
    _write_rows(repo, header, rows)
    path = repo / "datasets" / REEF / "tableschema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    for fld in schema["fields"]:
        if fld["name"] == "temperature":
            fld["type"] = "integer"
    path.write_text(json.dumps(schema, indent=2), encoding="utf-8")


def new_dataset(repo: Path) -> None:
    """A second reef dataset, added as a copy of the first under a new id."""
    src, dest = repo / "datasets" / REEF, repo / "datasets" / "reef-temperature-north"
    shutil.copytree(src, dest)
    (dest / "data" / f"{REEF}.csv").rename(dest / "data" / "reef-temperature-north.csv")
    for name in ("collection.jsonnet", "datapackage.json", "pipeline.yaml"):
        path = dest / name
        path.write_text(path.read_text(encoding="utf-8").replace(REEF, "reef-temperature-north"), encoding="utf-8")


def data_unchanged(repo: Path) -> None:
    """Only the description changes: no Data section."""
    path = repo / "datasets" / REEF / "datapackage.json"
    package = json.loads(path.read_text(encoding="utf-8"))
    package["description"] += " Loggers are serviced yearly."
    path.write_text(json.dumps(package, indent=2), encoding="utf-8")
    header, rows = _rows(repo)  # the data file is rewritten byte for byte differently, same content
    (repo / CSV).write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n\n", encoding="utf-8")


CASES: dict[str, Callable[[Path], None]] = {
    "extent-grew": extent_grew,
    "time-extended": time_extended,
    "column-retyped": column_retyped,
    "new-dataset": new_dataset,
    "data-unchanged": data_unchanged,
}


def _check(repo: Path, edit: Callable[[Path], None]) -> Report:
    git(repo, "checkout", "-q", "-b", "pr")
    edit(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "pr")
    return run_check(GitRepo(repo), "main", "pr", Settings.from_env())


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, f"{name} changed: UPDATE_GOLDEN=1 on purpose"


@pytest.mark.parametrize("case", sorted(CASES))
def test_data_section_golden(catalog_repo: Path, case: str) -> None:
    report = _check(catalog_repo, CASES[case])
    assert report.errors == [], [p.format() for p in report.errors]
    data = report.to_dict()["data"]
    markdown = "\n\n".join(s.markdown() for s in report.data.values() if s.shown) + "\n"
    _golden(f"{case}.md", markdown)
    _golden(f"{case}.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    comment = "\n".join(report.to_markdown())
    if case == "data-unchanged":
        assert data == {} and "📊 Data" not in comment
    else:
        assert "📊 Data" in comment  # the sticky comment and the job summary carry the section


def test_extent_grew_reads_like_a_reviewer_would(catalog_repo: Path) -> None:
    report = _check(catalog_repo, extent_grew)
    section = report.data[REEF]
    assert "west edge 145.46° -> 141.00° (4.46° further west)" in section.lines
    assert "north edge -13.89° -> -12.50° (1.39° further north)" in section.lines
    assert "rows 1,820 -> 1,821 (+1)" in section.lines
    assert section.map is not None
    titles = [f["properties"]["title"] for f in section.map["features"]]
    assert titles[0].startswith("reef-temperature (base)") and titles[1].startswith("reef-temperature (head)")
    assert "```geojson\n" in section.markdown()


def test_new_dataset_shows_a_summary_instead_of_new_document_sections(catalog_repo: Path) -> None:
    report = _check(catalog_repo, new_dataset)
    section = report.data["reef-temperature-north"]
    assert section.status == "new"
    assert section.overview[:2] == ["title: Reef water temperature loggers", "licence: CC-BY-4.0"]
    assert any(line.startswith("columns: `site_id` (string)") for line in section.overview)
    comment = "\n".join(report.to_markdown())
    assert "(new document)" not in comment
    assert len(section.map["features"]) == 1  # type: ignore[index]  # only the head extent


def test_schema_retyped_without_the_data_is_an_error_in_the_check(catalog_repo: Path) -> None:
    """The curated schema says integer, the data still has decimals: the publish would stop at the gate."""

    def retype_schema_only(repo: Path) -> None:
        path = repo / "datasets" / REEF / "tableschema.json"
        schema = json.loads(path.read_text(encoding="utf-8"))
        for fld in schema["fields"]:
            if fld["name"] == "depth":
                fld["type"] = "integer"
        path.write_text(json.dumps(schema, indent=2), encoding="utf-8")

    report = _check(catalog_repo, retype_schema_only)
    (problem,) = report.errors
    assert problem.code == "schema-gate" and problem.file == "datasets/reef-temperature/tableschema.json"
    assert "column 'depth' type changed" in problem.message
    assert report.exit_code == 1
    assert "the schema gate would stop the publish" in report.data[REEF].markdown()


def test_a_source_the_converter_refuses_is_an_error_in_the_check(catalog_repo: Path) -> None:
    def blank_latitude(repo: Path) -> None:
        header, rows = _rows(repo)
        rows[3][header.index("lat")] = ""
        _write_rows(repo, header, rows)

    report = _check(catalog_repo, blank_latitude)
    (problem,) = report.errors
    assert problem.code == "data-probe" and "latitude at row" in problem.message


def test_remote_and_oversized_sources_are_skipped_with_a_note(
    catalog_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.catalog.dataprobe as dataprobe

    monkeypatch.setattr(dataprobe, "DEFAULT_MAX_BYTES", 1000)
    report = _check(catalog_repo, time_extended)
    section = report.data[REEF]
    assert section.status == "skipped" and report.errors == []
    assert any("over the PR check's probe budget of 0.0 MB" in n for n in section.notes), section.notes

    def remote(repo: Path) -> None:
        path = repo / "datasets" / "marine-protected-areas" / "pipeline.yaml"
        text = path.read_text(encoding="utf-8")
        old = next(line for line in text.splitlines() if line.strip().startswith("path:"))
        path.write_text(text.replace(old, "  path: https://data.example.org/mpa.geojson"), encoding="utf-8")

    git(catalog_repo, "checkout", "-q", "main")
    git(catalog_repo, "branch", "-q", "-D", "pr")
    report = _check(catalog_repo, remote)
    notes = report.data["marine-protected-areas"].notes
    assert any(
        "source https://data.example.org/mpa.geojson (remote or many files) is not read by the PR check" in n
        for n in notes
    )


def test_check_format_json_carries_the_data_section(catalog_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git(catalog_repo, "checkout", "-q", "-b", "pr")
    time_extended(catalog_repo)
    with pytest.raises(SystemExit) as info:
        main(["check", "--catalog", str(catalog_repo), "--base", "main", "--format", "json"])
    assert info.value.code in (0, None)
    data = json.loads(capsys.readouterr().out)["data"]
    assert data[REEF]["changes"][0] == "end 2024-03-31 18:00 -> 2024-06-30 18:00 (+3 months)"


# ---- pure wording ------------------------------------------------------------------------------


def test_every_edge_names_its_direction() -> None:
    lines = extent_lines((147.63, -20.0, 150.0, -10.0), (141.0, -19.0, 152.5, -12.0))
    assert lines == [
        "west edge 147.63° -> 141.00° (6.63° further west)",
        "south edge -20.00° -> -19.00° (1.00° further north)",
        "east edge 150.00° -> 152.50° (2.50° further east)",
        "north edge -10.00° -> -12.00° (2.00° further south)",
    ]
    assert extent_lines((1.0, 2.0, 3.0, 4.0), (1.0, 2.0, 3.0, 4.0)) == []


def test_time_shifts_in_plain_units() -> None:
    base = DataSummary("tabular", start="2020-01-01T00:00:00Z", end="2024-12-31T00:00:00Z")
    head = DataSummary("tabular", start="2019-12-29T00:00:00Z", end="2026-12-01T00:00:00Z")
    assert time_lines(base, head) == [
        "start 2020-01-01 -> 2019-12-29 (-3 days)",
        "end 2024-12-31 -> 2026-12-01 (+23 months)",
    ]
    head = DataSummary("tabular", start="2020-01-01T00:00:00Z", end="2025-11-30T00:00:00Z")
    assert time_lines(base, head) == ["end 2024-12-31 -> 2025-11-30 (+11 months)"]


def test_unchanged_data_has_no_section_and_no_map() -> None:
    same = DataSummary("tabular", bbox=(1.0, 2.0, 3.0, 4.0), rows=10, columns={"a": "number"})
    section = compare("x", same, same)
    assert section.status == "unchanged" and not section.shown and section.map is None
    assert extent_map((1.0, 2.0, 3.0, 4.0), (1.0, 2.0, 3.0, 4.0), "x") is None
    assert geojson_block(None) == ""


def test_git_lfs_pointer_is_a_note_not_a_converter_error(catalog_repo: Path) -> None:
    def lfs(repo: Path) -> None:
        (repo / CSV).write_text(
            "version https://git-lfs.github.com/spec/v1\n"
            "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345678\n",
            encoding="utf-8",
        )

    report = _check(catalog_repo, lfs)
    assert report.errors == []
    assert report.data[REEF].notes == [
        f"source data/{REEF}.csv is a Git LFS pointer: the data itself is not in the repository"
    ]


def test_big_parquet_source_is_read_from_its_footer_only(tmp_path: Path) -> None:
    """Over the byte budget, a Parquet source still gets extents, columns and rows (footer and statistics)."""
    from bot.catalog.dataprobe import probe
    from bot.catalog.layout import Catalog
    from bot.convert import convert_dataset
    from tests.conftest import EXAMPLE

    catalog = tmp_path / "catalog"
    shutil.copytree(EXAMPLE, catalog)
    dataset = Catalog.open(catalog).dataset(REEF)
    spec = dataset.pipeline()
    parquet = convert_dataset(spec, dataset.path(f"data/{REEF}.csv"), dataset.path("data"), name=REEF).path
    pipeline = dataset.path("pipeline.yaml")
    pipeline.write_text(
        pipeline.read_text(encoding="utf-8")
        .replace(f"data/{REEF}.csv", f"data/{REEF}.parquet")
        .replace("format: csv", "format: parquet"),
        encoding="utf-8",
    )
    found = probe(catalog, REEF, tmp_path / "work", max_bytes=1000)
    assert found.summary is not None and found.generated is None
    assert found.summary.bbox == (145.46, -23.44, 151.92, -13.89) and found.summary.rows == 1820
    assert "bbox" not in found.summary.columns and found.summary.columns["temperature"] == "number"
    assert (
        found.note
        == f"source data/{REEF}.parquet is {parquet.stat().st_size / 1e6:,.1f} MB: read from its Parquet footer only; the schema gate runs at publish"
    )
    assert not (tmp_path / "work").exists()  # nothing converted


def test_a_source_outside_the_catalog_is_not_read(catalog_repo: Path, tmp_path: Path) -> None:
    """A PR cannot make the unprivileged check read files of the runner (``../`` or a symlink out)."""
    secret = tmp_path / "runner-secret.csv"
    secret.write_text("token\nabc123\n", encoding="utf-8")

    def escape(repo: Path) -> None:
        (repo / "datasets" / REEF / "data" / "link.csv").symlink_to(secret)
        path = repo / "datasets" / REEF / "pipeline.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace(f"data/{REEF}.csv", "data/link.csv"), encoding="utf-8")

    git(catalog_repo, "checkout", "-q", "-b", "pr")
    escape(catalog_repo)
    report = run_check(
        GitRepo(catalog_repo), "main", WORKTREE, Settings.from_env()
    )  # the working tree, as a local check
    section = report.data[REEF]
    assert section.notes == ["source data/link.csv points outside the catalog folder: not read"]
    assert "abc123" not in report.to_json() and "abc123" not in "\n".join(report.to_markdown())
