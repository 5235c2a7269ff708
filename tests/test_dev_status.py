"""``catalog-bot dev status``: services, the variables file, and what the catalog you are in published where."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import boto3
import pytest
import yaml

from bot.cli import main
from tests.services import DevServices, unique


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def edit_config(catalog: Path, **environments: dict) -> None:
    """Add or replace environments in the catalog's ``catalog-bot.yaml``."""
    path = catalog / "catalog-bot.yaml"
    config = yaml.safe_load(path.read_text())
    config["environments"].update(environments)
    config["variables"] = [*config.get("variables", []), "CATALOG_BOT_TEST_PROD_S3"]
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def dataset_rows(out: str, env: str) -> dict[str, list[str]]:
    """The dataset rows printed under one environment, split into columns."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {env}: "))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 1 :]:
        if line.startswith("  ") and not line.startswith("    "):
            break
        cols = line.split()
        if cols and cols[0] not in ("last", "dataset", "not"):
            rows[cols[0]] = cols[1:]
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_reports_what_the_example_published_locally_per_dataset(
    published_example: Path, example_catalog: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    """The shared published example, read back: records current, STAC collection and pygeoapi resource present."""
    edit_config(example_catalog, local={"engine": "local", "output": str(published_example)})
    (example_catalog / "datasets" / "brand-new").mkdir()  # a dataset folder nobody published yet
    monkeypatch.chdir(example_catalog / "datasets" / "reef-temperature")  # the catalog is found from a subfolder
    code, out, err = run_cli(["dev", "status", "--state", str(tmp_path / "no-services"), "--env", "local"], capsys)
    assert code == 1, out + err  # no services recorded: status fails as `scripts/dev_services.py status` does
    assert "no services recorded" in out
    # the example's four datasets and brand-new
    assert f"catalog {example_catalog.resolve()} (5 datasets; default environment local)" in out
    rows = dataset_rows(out, "local")
    for ds in ("marine-protected-areas", "reef-temperature", "sea-surface-temperature"):
        state, commit, *_when, stac, geo = rows[ds]
        assert (state, commit, stac, geo) == ("current", "-", "yes", "yes"), rows[ds]
        assert " ".join(_when).endswith("UTC")
    assert rows["brand-new"] == ["-", "-", "never", "published", "no", "no"]
    assert "ledger): none recorded" in out
    assert "dev:" not in out  # --env: only the one asked for


def test_an_environment_that_cannot_be_read_says_why_and_the_others_still_report(
    example_catalog: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    edit_config(
        example_catalog,
        prod={"object_store": {"kind": "s3", "endpoint_url": "${CATALOG_BOT_TEST_PROD_S3}"}},
        stopped={"object_store": {"kind": "s3", "endpoint_url": dead}},
    )
    monkeypatch.delenv("CATALOG_BOT_TEST_PROD_S3", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")  # credentials present: the endpoint decides
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("CATALOG_BOT_DEV_S3_URL", dead)  # the example's dev environment: not the shared services
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(["dev", "status", "-C", str(example_catalog), "--state", str(tmp_path / "none")], capsys)
    assert code == 1
    prod = out.split("  prod:", 1)[1].splitlines()[1]
    assert "not read:" in prod and "CATALOG_BOT_TEST_PROD_S3 is not set" in prod
    stopped = out.split("  stopped:", 1)[1].splitlines()
    assert dead in stopped[0]
    assert "object store not reachable" in stopped[1]
    assert dataset_rows(out, "local")["reef-temperature"][:3] == ["-", "-", "never"]  # nothing under tmp_path


def test_outside_a_catalog_it_says_how_to_name_one(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _code, out, _ = run_cli(["dev", "status", "--state", str(tmp_path / "none")], capsys)
    assert "catalog: none here (no catalog-bot.yaml in this folder or above); pass --catalog DIR" in out


@pytest.mark.services
def test_reads_the_ledger_and_publish_records_from_the_dev_s3(
    dev_services: DevServices, example_catalog: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    """Records written where a dev publish writes them (under a private prefix) are what status shows."""
    prefix = unique("t-status")
    config = yaml.safe_load((example_catalog / "catalog-bot.yaml").read_text())
    dev = config["environments"]["dev"]
    dev["object_store"]["prefix"] = prefix
    dev["stac"]["url"] = dev_services.stac_url
    dev["pygeoapi"]["url"] = dev_services.pygeoapi_url
    dev["object_store"]["endpoint_url"] = dev_services.s3_url
    (example_catalog / "catalog-bot.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    sha = "0123456789abcdef0123456789abcdef01234567"
    s3 = dev_services.s3_client()
    record = {"state": "moving", "commit": sha, "committed_at": 1795000000, "updated": 1795000000.5, "owner": "t"}
    s3.put_object(
        Bucket="catalog-public", Key=f"{prefix}/reef-temperature/.catalog-bot/published.json", Body=json.dumps(record)
    )
    s3.put_object(
        Bucket="catalog-limited", Key=f"{prefix}/_catalog-bot/published/dev.json", Body=json.dumps({"sha": sha})
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "CATALOG_BOT_DEV_S3_URL"):
        monkeypatch.delenv(name, raising=False)  # loaded from the state's dev.env, as publish --env dev does
    monkeypatch.setenv("CATALOG_BOT_DEV_STATE", str(dev_services.state_dir))
    # botocore's default session keeps the first credentials it resolved in this process (another test's).
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(
        ["dev", "status", "-C", str(example_catalog), "--env", "dev", "--state", str(dev_services.state_dir)], capsys
    )
    assert code == 0, out + err
    assert f"variables: source {dev_services.state_dir.resolve() / 'dev.env'}" in out
    assert f"ledger): {sha}" in out
    rows = dataset_rows(out, "dev")
    assert rows["reef-temperature"][:2] == ["moving", sha[:12]]  # a half-moved dataset is visible as such
    assert rows["reef-temperature"][2:5] == ["2026-11-18", "11:06", "UTC"]
    assert rows["sea-surface-temperature"][:3] == ["-", "-", "never"]
    assert dev_services.secret_key not in out + err
