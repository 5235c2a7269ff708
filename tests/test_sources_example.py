"""The example's remote dataset (reef-temperature-daily): skipped with a notice where its source is not served,
published from the real SeaweedFS where it is, new days appended."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from tests.conftest import EXAMPLE
from tests.services import unique

from .test_objectstore import s3_client, s3_endpoint  # noqa: F401  (fixtures: the real SeaweedFS, a fresh bucket)

DS = "reef-temperature-daily"
SEED = Path(__file__).resolve().parents[1] / "scripts" / "seed_example_sources.py"


def _run(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_local_publish_all_skips_the_remote_dataset_with_a_notice(example_catalog: Path, tmp_path: Path, capsys):
    output = tmp_path / "out"
    assert _run(["publish", "--catalog", str(example_catalog), "--output", str(output), "--all", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert f"skipped {DS}: published only in dev-sources" in captured.err
    assert DS not in captured.out and "reef-temperature" in captured.out  # the others are planned
    assert _run(["publish", "--catalog", str(example_catalog), "--output", str(output), DS]) == 2
    captured = capsys.readouterr()
    out = " ".join((captured.out + captured.err).split())
    assert f"{DS} is published only in dev-sources" in out and "--env dev-sources" in out
    spec = yaml.safe_load((EXAMPLE / "datasets" / DS / "pipeline.yaml").read_text())
    assert spec["source"]["path"].startswith("s3://catalog-public/example-sources/")  # what the seed script fills


def _seed(endpoint: str, prefix: str, days: int | None = None) -> None:
    spec = importlib.util.spec_from_file_location("seed_example_sources", SEED)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = ["--prefix", prefix, "--endpoint-url", endpoint] + (["--days", str(days)] if days else [])
    assert module.main(args) == 0


@pytest.mark.services
def test_remote_example_publishes_from_seaweedfs_and_appends_new_days(
    example_catalog: Path,
    tmp_path: Path,
    s3_client,  # noqa: F811
) -> None:
    endpoint = s3_client.meta.endpoint_url
    prefix = unique("example-sources")
    _seed(endpoint, prefix, days=60)
    pipeline = example_catalog / "datasets" / DS / "pipeline.yaml"
    spec = yaml.safe_load(pipeline.read_text())
    spec["source"]["path"] = spec["source"]["path"].replace("example-sources", prefix)
    spec["source"]["endpoint_url"] = endpoint  # the running SeaweedFS (8333 unless that port was taken)
    pipeline.write_text(yaml.safe_dump(spec, sort_keys=False))
    config = example_catalog / "catalog-bot.yaml"
    cfg = yaml.safe_load(config.read_text())
    cfg["environments"]["dev-sources"] = {  # the dev services' store; STAC and pygeoapi as files
        "engine": "local",
        "object_store": {
            "kind": "s3",
            "endpoint_url": endpoint,
            "region": "us-east-1",
            "public_bucket": s3_client.bucket_name,
            "limited_bucket": s3_client.bucket_name,
        },
    }
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    args = ["publish", "--catalog", str(example_catalog), "--env", "dev-sources", "--output", str(tmp_path / "o"), DS]
    assert _run(args) == 0
    result = json.loads((tmp_path / "o/.catalog-bot/work" / DS / "convert/result.json").read_text())
    assert (result["mode"], result["rows"], len(result["sources"])) == ("full", 60 * 20, 60)

    _seed(endpoint, prefix)  # the next 31 days arrive
    assert _run(args) == 0
    result = json.loads((tmp_path / "o/.catalog-bot/work" / DS / "convert/result.json").read_text())
    assert (result["mode"], result["converted"], result["rows"]) == ("append", 31, 1820)
    assert sum(1 for s in result["sources"] if s["status"] == "downloaded") == 31
    item = json.loads((tmp_path / "o/stac" / DS / DS / f"{DS}.json").read_text())
    assert item["properties"]["end_datetime"].startswith("2024-03-31")
    assert len([link for link in item["links"] if link["rel"] == "via"]) == 91


def test_merge_publisher_leaves_out_a_dataset_of_other_environments(catalog_repo: Path) -> None:
    """The GitHub publish path (a merge touching lib/ touches every dataset) follows the same rule as the CLI."""
    from bot.adapters.git import GitRepo
    from bot.config import Settings
    from bot.events.publisher import LocalPublisher

    sha = GitRepo(catalog_repo).rev_parse("HEAD")
    runs = LocalPublisher(catalog_repo, Settings.from_env()).submit(["reef-temperature", DS], sha, "local")
    assert [(r.dataset, r.status) for r in runs] == [("reef-temperature", "succeeded")]
