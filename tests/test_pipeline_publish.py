"""The publish pipeline end to end: executor + steps on a copy of the example catalog.

Real files, real converters, a real static STAC catalog and pygeoapi config;
failures are injected only where the brief asks (an object store whose write
fails on the Nth object).
"""

from __future__ import annotations

import json
from pathlib import Path

import pystac
import pytest
import yaml
from frictionless import Package

from bot.adapters.objectstore import LocalObjectStore, PutResult, open_store
from bot.catalog.layout import Catalog
from bot.catalog.schemas import SchemaRegistry, stac_core_url
from bot.cli import main
from bot.commands.publish import select_datasets
from bot.config import Settings
from bot.errors import SchemaChanged, ServiceError
from bot.metadata.frictionless import validate_datapackage
from bot.pipeline.context import RunContext
from bot.pipeline.dag import PUBLISH
from bot.pipeline.executor import plan, publish, read_record

from .test_objectstore import s3_client, s3_endpoint  # noqa: F401  (fixtures: a real S3 server on 127.0.0.1)

TABULAR = ["marine-protected-areas", "reef-temperature"]


def _run(catalog: Path, output: Path, **kwargs) -> RunContext:
    cat = Catalog.open(catalog)
    return RunContext(cat, "local", cat.config.environment("local"), output, Settings.from_env(), **kwargs)


def _publish(catalog: Path, output: Path, ids: list[str] | None = None, **kwargs):
    run = _run(catalog, output, store_factory=kwargs.pop("store_factory", None))
    # As `publish --all` selects: the remote example dataset is published only in dev-sources.
    return publish(run, select_datasets(run.catalog, ids or [], not ids, "local"), **kwargs)


def _stac_problems(doc: dict, registry: SchemaRegistry) -> list[str]:
    kind = {"Feature": "item", "Collection": "collection", "Catalog": "catalog"}[doc["type"]]
    errors = []
    for url in [stac_core_url(doc["stac_version"], kind), *doc.get("stac_extensions", [])]:
        errors += [f"{doc['id']}: {e.message}" for e in registry.validator(url).iter_errors(doc)]
    return errors


def _data_root(output: Path) -> Path:
    return output / "data" / "catalog-public"


def test_publish_example_catalog_then_rerun_does_nothing(
    example_catalog: Path, tmp_path: Path, schemas_dir: Path
) -> None:
    output = tmp_path / "out"
    report = _publish(example_catalog, output, jobs=3)
    assert [o.status for o in report.outcomes] == ["published"] * 3, [str(o.error) for o in report.failed]
    by_id = {o.dataset: o for o in report.outcomes}
    assert by_id["reef-temperature"].metrics["rows"] > 0
    assert by_id["sea-surface-temperature"].metrics["cells"] > 0
    skipped = {s.step: s for s in by_id["reef-temperature"].steps if s.status == "skipped"}
    assert set(skipped) == {"harvest-metadata"} and "no metadata source" in skipped["harvest-metadata"].message

    # STAC: pystac walks catalog -> collections -> items; every document valid offline.
    root = pystac.Catalog.from_file(str(output / "stac" / "catalog.json"))
    registry = SchemaRegistry(schemas_dir, tmp_path / "cache")
    seen_items = []
    problems = _stac_problems(root.to_dict(include_self_link=False), registry)
    for _, children, items in root.walk():
        for child in children:
            problems += _stac_problems(child.to_dict(include_self_link=False), registry)
        for item in items:
            seen_items.append(item.id)
            problems += _stac_problems(item.to_dict(include_self_link=False), registry)
            data = item.assets["data"]
            assert Path(data.get_absolute_href()).exists(), data.href  # relative href resolves
    assert problems == []
    assert sorted(seen_items) == sorted(["marine-protected-areas", "reef-temperature", "sea-surface-temperature"])

    # Frictionless: every published package validates and points at existing data with the right hash.
    for ds in seen_items:
        folder = _data_root(output) / ds
        package = json.loads((folder / "datapackage.json").read_text())
        assert validate_datapackage(package) == []
        assert list(Package.metadata_validate(package)) == []
        resource = package["resources"][0]
        assert (folder / resource["path"]).exists()
        assert resource["hash"].startswith("sha256:")
        schema_file = "gridschema.json" if ds == "sea-surface-temperature" else "tableschema.json"
        assert (folder / schema_file).is_file()

    # pygeoapi: one resource per dataset plus the assembled config.
    config = yaml.safe_load((output / "pygeoapi" / "config-pygeoapi.yaml").read_text())
    assert sorted(config["resources"]) == sorted(seen_items)
    assert config["server"]  # header kept

    # A second run with nothing changed does no work.
    before = {p: p.stat().st_mtime_ns for p in output.rglob("*") if p.is_file() and ".catalog-bot" not in p.parts}
    again = _publish(example_catalog, output)
    assert not again.did_work
    assert [o.status for o in again.outcomes] == ["unchanged"] * 3
    assert again.outcomes[1].metrics["rows"] == by_id["reef-temperature"].metrics["rows"]  # summary from records
    after = {p: p.stat().st_mtime_ns for p in output.rglob("*") if p.is_file() and ".catalog-bot" not in p.parts}
    assert after == before


def test_editing_curated_metadata_reruns_metadata_steps_only(example_catalog: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    assert not _publish(example_catalog, output, ["reef-temperature"]).failed
    dp_path = example_catalog / "datasets" / "reef-temperature" / "datapackage.json"
    package = json.loads(dp_path.read_text())
    package["title"] = "Reef temperature (renamed)"
    dp_path.write_text(json.dumps(package))
    report = _publish(example_catalog, output, ["reef-temperature"])
    ran = {s.step for s in report.outcomes[0].steps if s.status == "done"}
    assert "convert" not in ran and "upload-arco-data" in ran  # cached conversion, idempotent upload
    assert "generate-frictionless-metadata" in ran and "update-collection" in ran
    published = json.loads((_data_root(output) / "reef-temperature" / "datapackage.json").read_text())
    assert published["title"] == "Reef temperature (renamed)"
    upload = read_record(output, "reef-temperature", "upload-arco-data")
    assert upload is not None and "0/1 objects uploaded" in upload["message"]


def test_missing_source_fails_that_dataset_only(example_catalog: Path, tmp_path: Path, capsys) -> None:
    pipeline = example_catalog / "datasets" / "reef-temperature" / "pipeline.yaml"
    pipeline.write_text(pipeline.read_text().replace("data/reef-temperature.csv", "data/missing.csv"))
    output = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["publish", "--catalog", str(example_catalog), "--output", str(output), *TABULAR])
    assert info.value.code == 1
    out = capsys.readouterr().out
    assert "step convert failed for dataset reef-temperature" in out
    assert "datasets/reef-temperature/pipeline.yaml [source.path]" in out and "missing.csv" in out
    assert "Traceback" not in out
    assert (_data_root(output) / "marine-protected-areas" / "datapackage.json").is_file()  # the other one published
    assert not (_data_root(output) / "reef-temperature").exists()
    assert not (output / "stac" / "reef-temperature").exists()


def test_schema_change_stops_before_upload(example_catalog: Path, tmp_path: Path) -> None:
    csv = example_catalog / "datasets" / "reef-temperature" / "data" / "reef-temperature.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([lines[0] + ",salinity"] + [line + ",35.1" for line in lines[1:]]) + "\n")
    output = tmp_path / "out"
    report = _publish(example_catalog, output, ["reef-temperature"])
    (outcome,) = report.failed
    assert isinstance(outcome.error.cause, SchemaChanged)
    assert outcome.error.step == "schema-gate"
    assert "column 'salinity' added" in str(outcome.error)
    assert not (_data_root(output) / "reef-temperature").exists()  # nothing uploaded
    assert not (output / "stac").exists() and not (output / "pygeoapi").exists()
    statuses = {s.step: s.status for s in outcome.steps}
    assert statuses["upload-arco-data"] == "not-run"


class FailOnNth(LocalObjectStore):
    """A local store whose write of the Nth object fails (a broken network/disk mid-upload)."""

    def __init__(self, root: Path, fail_at: int) -> None:
        super().__init__(root)
        self.fail_at, self.count = fail_at, 0

    def _stage_one(self, staging: Path, prefix: str, rel: str, path: Path) -> PutResult:
        self.count += 1
        if self.count == self.fail_at:
            raise ServiceError("local", f"simulated failure writing object {self.count}", url=rel)
        return super()._stage_one(staging, prefix, rel, path)


def test_failure_in_the_middle_of_upload_publishes_nothing_then_rerun_completes(
    example_catalog: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out"
    env = Catalog.open(example_catalog).config.environment("local")
    failing = FailOnNth(open_store(env, output, "public").root, fail_at=5)  # the Zarr store has ~20 objects
    report = _publish(example_catalog, output, ["sea-surface-temperature"], store_factory=lambda access: failing)
    (outcome,) = report.failed
    assert outcome.error.step == "upload-arco-data" and "simulated failure" in str(outcome.error)
    folder = _data_root(output) / "sea-surface-temperature"
    assert not folder.exists() or not any(folder.iterdir())  # no partial version, no metadata
    assert not (output / "stac").exists()
    assert not (output / "pygeoapi").exists()
    assert read_record(output, "sea-surface-temperature", "upload-arco-data") is None

    rerun = _publish(example_catalog, output, ["sea-surface-temperature"])
    (done,) = rerun.outcomes
    assert done.status == "published"
    by_step = {s.step: s.status for s in done.steps}
    assert by_step["convert"] == "cached" and by_step["upload-arco-data"] == "done"  # resumed at the failed step
    package = json.loads((folder / "datapackage.json").read_text())
    store = folder / package["resources"][0]["zarr"]["store"]  # ``path`` names the store's metadata document
    assert (folder / package["resources"][0]["path"]).is_file() and (store / ".zgroup").is_file()
    assert (output / "stac" / "sea-surface-temperature" / "collection.json").is_file()


def test_unknown_dataset_and_unknown_step_are_usage_errors(example_catalog: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["publish", "--catalog", str(example_catalog), "--output", str(tmp_path / "o"), "no-such-dataset"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'no-such-dataset'" in err and "reef-temperature" in err
    with pytest.raises(SystemExit) as info:
        main(["step", "convertt", "--dataset", "reef-temperature", "--catalog", str(example_catalog)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown step 'convertt'" in err and "schema-gate" in err
    assert not (tmp_path / "o").exists()


def test_dry_run_prints_the_plan_and_writes_nothing(example_catalog: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "out"
    main_args = ["publish", "--catalog", str(example_catalog), "--output", str(output), "--dry-run", "--all"]
    with pytest.raises(SystemExit) as info:
        main(main_args)
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "upload-arco-data" in out and "never ran" in out and "nothing was written" in out
    assert not output.exists()
    _publish(example_catalog, output, ["reef-temperature"])
    rows = plan(_run(example_catalog, output), Catalog.open(example_catalog).select(["reef-temperature"]))
    assert {r.action for r in rows if r.step != "harvest-metadata"} == {"skip"}
    assert len(rows) == len(PUBLISH.steps)


def test_step_command_reruns_one_step_from_the_work_folder(example_catalog: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "out"
    assert not _publish(example_catalog, output, ["reef-temperature"]).failed
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(
            [
                "step",
                "schema-gate",
                "-d",
                "reef-temperature",
                "--catalog",
                str(example_catalog),
                "--output",
                str(output),
            ]
        )
    assert info.value.code == 0
    assert "step schema-gate for reef-temperature: done" in capsys.readouterr().out
    # A step whose inputs were never produced says which step to run first.
    with pytest.raises(SystemExit) as info:
        main(
            [
                "step",
                "schema-gate",
                "-d",
                "marine-protected-areas",
                "--catalog",
                str(example_catalog),
                "--work",
                str(tmp_path / "w"),
            ]
        )
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "step schema-gate failed for dataset marine-protected-areas" in err
    assert "run step 'generate-datadriven-metadata' first" in err


def test_publish_to_s3_uploads_data_then_metadata_and_skips_unchanged(
    example_catalog: Path,
    tmp_path: Path,
    s3_client,  # noqa: F811 (the imported fixture)
) -> None:
    from bot.adapters.s3store import S3ObjectStore

    bucket = s3_client.bucket_name
    store = S3ObjectStore(s3_client, bucket, prefix="catalog", public_base_url="https://data.example.org")
    output = tmp_path / "out"
    report = _publish(example_catalog, output, ["reef-temperature"], store_factory=lambda access: store)
    assert not report.failed, [str(o.error) for o in report.failed]
    keys = store.list("reef-temperature")
    assert "reef-temperature/datapackage.json" in keys and "reef-temperature/tableschema.json" in keys
    package = json.loads(store.get_bytes("reef-temperature/datapackage.json"))
    data_key = f"reef-temperature/{package['resources'][0]['path']}"
    assert data_key in keys
    head = store.head(data_key)
    assert head is not None and f"sha256:{head.sha256}" == package["resources"][0]["hash"]
    item = json.loads((output / "stac" / "reef-temperature" / "reef-temperature" / "reef-temperature.json").read_text())
    assert item["assets"]["data"]["href"] == f"https://data.example.org/catalog/{data_key}"
    upload = read_record(output, "reef-temperature", "upload-arco-data")
    assert upload is not None and "1/1 objects uploaded" in upload["message"]
    # Forced re-run: every step runs again, but the store already has identical objects.
    again = _publish(example_catalog, output, ["reef-temperature"], store_factory=lambda access: store, force=True)
    assert not again.failed
    upload = read_record(output, "reef-temperature", "upload-arco-data")
    assert upload is not None and "0/1 objects uploaded" in upload["message"]


def test_cli_summary_and_no_change_message(example_catalog: Path, tmp_path: Path, capsys) -> None:
    args = ["publish", "--catalog", str(example_catalog), "--output", str(tmp_path / "out"), "--jobs", "2", *TABULAR]
    csv = example_catalog / "datasets" / "reef-temperature" / "data" / "reef-temperature.csv"
    rows = f"{len(csv.read_text().splitlines()) - 1:,}"
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "publish summary" in out and rows in out and "published" in out
    assert "config-pygeoapi.yaml" in out and "catalog.json" in out
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "nothing changed: all 2 datasets are up to date, no step ran" in out
    assert "unchanged" in out and rows in out  # the summary still shows the recorded facts


def test_items_record_the_catalog_commit_and_run_id(
    example_catalog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CATALOG_BOT_COMMIT", "c0ffee" * 6 + "abcd")
    monkeypatch.setenv("CATALOG_BOT_RUN_ID", "publish-reef-x1y2z")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["publish", "--catalog", str(example_catalog), "--output", str(out), "reef-temperature"])
    assert info.value.code == 0
    item = json.loads(next((out / "stac").rglob("reef-temperature/reef-temperature.json")).read_text())
    assert item["properties"]["catalog_bot:commit"] == "c0ffee" * 6 + "abcd"
    assert item["properties"]["catalog_bot:run_id"] == "publish-reef-x1y2z"
