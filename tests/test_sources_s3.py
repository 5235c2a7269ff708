"""S3 sources against the real SeaweedFS of the dev services.

``catalog-public`` is anonymously readable, ``catalog-limited`` is not: the
same two cases as a public open-data bucket and a private one on AWS.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from bot.adapters.download import Limits, part_paths
from bot.adapters.http_probe import AddressGuard
from bot.adapters.s3_source import S3Source
from bot.cli import main
from bot.errors import DataError, ServiceError
from bot.sources.addresses import AllowList
from tests.conftest import EXAMPLE
from tests.services import unique  # dev_services: session fixture from conftest
from tests.source_servers import free_port

pytestmark = pytest.mark.services

NC = EXAMPLE / "datasets/sea-surface-temperature/data/sea-surface-temperature.nc"
LOOPBACK = AllowList.parse(["127.0.0.1", "localhost", "::1"])
LIMITS = Limits(max_bytes=50 * 1024 * 1024, timeout=5, deadline=60, attempts=2, base_delay=0.05)


@pytest.fixture
def public_object(dev_services):
    """The example NetCDF uploaded (with the admin key) to the anonymous-read bucket; removed after."""
    client = dev_services.s3_client()
    key = f"{unique('src')}/sea-surface-temperature.nc"
    client.upload_file(str(NC), "catalog-public", key)
    yield client, f"s3://catalog-public/{key}"
    client.delete_object(Bucket="catalog-public", Key=key)


def _reader(dev_services, uri: str, *, anonymous: bool = True, allow: AllowList = LOOPBACK) -> S3Source:
    return S3Source.open(AddressGuard(allow), LIMITS, endpoint_url=dev_services.s3_url, anonymous=anonymous, uri=uri)


def test_public_bucket_read_unsigned_then_etag_decides_redownload(dev_services, public_object, tmp_path: Path):
    client, uri = public_object
    reader = _reader(dev_services, uri)
    dest = tmp_path / "sst.nc"
    first = reader.fetch(uri, dest, "netcdf")
    assert first.status == "downloaded" and dest.read_bytes() == NC.read_bytes()
    assert first.validators.etag and first.validators.size == NC.stat().st_size
    assert reader.probe(uri) == first.validators
    again = reader.fetch(uri, dest, "netcdf", first)
    assert again.status == "not-modified" and again.bytes_transferred == 0

    key = uri.removeprefix("s3://catalog-public/")
    client.put_object(Bucket="catalog-public", Key=key, Body=NC.read_bytes() + b"\0" * 8)
    changed = reader.fetch(uri, dest, "netcdf", again)
    assert changed.status == "downloaded" and changed.validators.etag != first.validators.etag
    assert dest.stat().st_size == NC.stat().st_size + 8


def test_no_credentials_in_the_environment_means_unsigned(
    dev_services,
    public_object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, uri = public_object
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    record = _reader(dev_services, uri, anonymous=False).fetch(uri, tmp_path / "a.nc", "netcdf")
    assert record.status == "downloaded"


def test_private_bucket_read_anonymously_is_access_denied_with_the_fix(dev_services, tmp_path: Path):
    client = dev_services.s3_client()
    key = f"{unique('src')}/secret.nc"
    client.upload_file(str(NC), "catalog-limited", key)
    uri = f"s3://catalog-limited/{key}"
    try:
        with pytest.raises(DataError) as err:
            _reader(dev_services, uri).fetch(uri, tmp_path / "a.nc", "netcdf")
    finally:
        client.delete_object(Bucket="catalog-limited", Key=key)
    assert uri in str(err.value) and "access denied" in str(err.value)
    assert "AWS_ACCESS_KEY_ID" in (err.value.hint or "")
    assert list(tmp_path.iterdir()) == []


def test_missing_object_and_unreachable_endpoint_are_named(dev_services, tmp_path: Path) -> None:
    uri = f"s3://catalog-public/{unique('none')}/missing.nc"
    with pytest.raises(DataError, match="no such object"):
        _reader(dev_services, uri).fetch(uri, tmp_path / "a.nc", "netcdf")
    down = S3Source.open(
        AddressGuard(LOOPBACK), LIMITS, endpoint_url=f"http://127.0.0.1:{free_port()}", anonymous=True, uri=uri
    )
    with pytest.raises(ServiceError) as err:
        down.fetch(uri, tmp_path / "a.nc", "netcdf")
    assert uri in str(err.value) and "reachable" in (err.value.hint or "")
    assert not any(p.exists() for p in part_paths(tmp_path / "a.nc"))


def test_loopback_endpoint_is_refused_without_allow_list(dev_services) -> None:
    uri = "s3://catalog-public/x/a.nc"
    with pytest.raises(DataError, match="loopback"):
        _reader(dev_services, uri, allow=AllowList())


def test_publish_from_a_public_bucket(dev_services, public_object, example_catalog: Path, tmp_path: Path) -> None:
    _, uri = public_object
    sst = example_catalog / "datasets" / "sea-surface-temperature"
    shutil.rmtree(sst / "data")
    spec = yaml.safe_load((sst / "pipeline.yaml").read_text())
    spec["source"].update({"path": uri, "anonymous": True, "endpoint_url": dev_services.s3_url})
    (sst / "pipeline.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    cfg_path = example_catalog / "catalog-bot.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["network"] = {"allow": ["127.0.0.1"]}
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    output = tmp_path / "out"
    main_args = ["publish", "--catalog", str(example_catalog), "--output", str(output), "sea-surface-temperature"]
    with pytest.raises(SystemExit) as info:
        main(main_args)
    assert info.value.code in (0, None)
    result = json.loads((output / ".catalog-bot/work/sea-surface-temperature/convert/result.json").read_text())
    assert result["sources"][0]["uri"] == uri and result["sources"][0]["validators"]["etag"]
    package = json.loads((output / "data/catalog-public/sea-surface-temperature/datapackage.json").read_text())
    assert any(s.get("title") == f"source data ({uri})" and s.get("version") for s in package["sources"])


def test_s3_pattern_lists_the_prefix_and_an_empty_prefix_is_an_error(
    dev_services, example_catalog: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    from tests.test_sources_many import split_netcdf

    for name, value in dev_services.env.items():  # the keys of THIS S3 server, whatever ran before
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)

    client = dev_services.s3_client()
    prefix = unique("glob")
    months = split_netcdf(NC, tmp_path / "months")
    for path in months:
        client.upload_file(str(path), "catalog-public", f"{prefix}/{path.name}")
    client.put_object(Bucket="catalog-public", Key=f"{prefix}/README.txt", Body=b"not data")
    sst = example_catalog / "datasets" / "sea-surface-temperature"
    shutil.rmtree(sst / "data")
    spec = yaml.safe_load((sst / "pipeline.yaml").read_text())
    spec["source"].update({"path": f"s3://catalog-public/{prefix}/sst-*.nc", "endpoint_url": dev_services.s3_url})
    (sst / "pipeline.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    output = tmp_path / "out"
    args = ["publish", "--catalog", str(example_catalog), "--output", str(output), "sea-surface-temperature"]
    try:
        with pytest.raises(SystemExit) as info:
            main([*args, "--jobs", "2"])
        assert info.value.code in (0, None)
        result = json.loads((output / ".catalog-bot/work/sea-surface-temperature/convert/result.json").read_text())
        assert len(result["sources"]) == 12 and all(s["uri"].endswith(".nc") for s in result["sources"])

        spec["source"]["path"] = f"s3://catalog-public/{unique('empty')}/sst-*.nc"
        (sst / "pipeline.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        with pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code == 1
        out = " ".join(capsys.readouterr().out.split())
        assert "matched no objects (0 object(s)" in out and "[source.path]" in out and "upload missing" in out
    finally:
        for key in [f"{prefix}/{p.name}" for p in months] + [f"{prefix}/README.txt"]:
            client.delete_object(Bucket="catalog-public", Key=key)
