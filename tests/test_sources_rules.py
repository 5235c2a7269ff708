"""Pure rules of remote sources: accepted URIs, address rules, content checks, pipeline/config fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters.http_probe import AddressGuard, system_resolver
from bot.catalog.layout import load_pipeline
from bot.config import load_catalog_config
from bot.errors import ConfigError, DataError
from bot.sources.addresses import AddressRefused, AllowList, check_addresses
from bot.sources.manifest import check_content
from bot.sources.uri import parse_source

NC = Path(__file__).resolve().parents[1] / "catalog_templates/example/datasets/sea-surface-temperature/data"


@pytest.mark.parametrize(
    ("text", "kind", "host", "bucket", "key"),
    [
        ("data/reef.csv", "local", None, None, None),
        ("https://data.example.org/sst/2024/01.nc", "http", "data.example.org", None, None),
        ("http://127.0.0.1:8080/files/a.nc", "http", "127.0.0.1", None, None),
        ("s3://noaa-oisst/v2.1/2024/oisst-20240101.nc", "s3", None, "noaa-oisst", "v2.1/2024/oisst-20240101.nc"),
    ],
)
def test_accepted_sources_are_classified(text: str, kind: str, host: str | None, bucket: str | None, key: str | None):
    ref = parse_source(text)
    assert (ref.kind, ref.host, ref.bucket, ref.key) == (kind, host, bucket, key)
    assert ref.remote is (kind != "local")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("file:///etc/passwd", "scheme 'file'"),
        ("ftp://ftp.example.org/a.nc", "scheme 'ftp'"),
        ("gopher://x/1", "scheme 'gopher'"),
        ("s3://bucket-only", "s3://bucket/path/to/file"),
        ("https://user:pw@example.org/a.nc", "credentials"),
        ("https://example.org/folder/", "names a folder"),
        ("//example.org/a.nc", "has no scheme"),
        ("/etc/passwd", "leaves the dataset folder"),
        ("../../other/data.csv", "leaves the dataset folder"),
    ],
)
def test_refused_sources_say_why_and_how(text: str, fragment: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_source(text)
    assert fragment in str(err.value)


def test_pipeline_yaml_names_field_for_a_refused_scheme(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "source: {path: 'file:///etc/shadow', format: csv}\noutput: parquet\ncoordinates: {x: lon, y: lat}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_pipeline(path, "datasets/x/pipeline.yaml")
    text = str(err.value)
    assert "datasets/x/pipeline.yaml" in text and "source.path" in text and "scheme 'file'" in text


def test_anonymous_is_for_s3_sources_only(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "source: {path: 'https://e.org/a.csv', format: csv, anonymous: true}\noutput: parquet\n"
        "coordinates: {x: lon, y: lat}\n"
    )
    with pytest.raises(ConfigError, match="s3:// sources only"):
        load_pipeline(path)


@pytest.mark.parametrize(
    ("host", "addresses", "why"),
    [
        ("169.254.169.254", ["169.254.169.254"], "link-local"),
        ("metadata.google.internal", ["169.254.169.254"], "link-local"),
        ("10.1.2.3", ["10.1.2.3"], "private"),
        ("intranet.example", ["192.168.10.4"], "private"),
        ("127.0.0.1", ["127.0.0.1"], "loopback"),
        ("::1", ["::1"], "loopback"),
        ("mapped", ["::ffff:127.0.0.1"], "loopback"),
        ("fd00::1", ["fd00::1"], "private"),
        ("0.0.0.0", ["0.0.0.0"], "unspecified"),
        ("cgnat", ["100.64.0.9"], "reserved"),
        ("both", ["93.184.216.34", "10.0.0.1"], "private"),  # one private address is enough to refuse
    ],
)
def test_non_public_addresses_are_refused_by_default(host: str, addresses: list[str], why: str) -> None:
    with pytest.raises(AddressRefused) as err:
        check_addresses(host, addresses, AllowList())
    assert why in str(err.value) and "network.allow" in str(err.value)


def test_public_addresses_pass_and_allow_list_opens_exactly_what_it_names() -> None:
    check_addresses("data.example.org", ["93.184.216.34", "2606:2800:220:1::1"], AllowList())
    allow = AllowList.parse(["localhost", "127.0.0.1", "::1", "10.20.0.0/16"])
    check_addresses("127.0.0.1", ["127.0.0.1"], allow)
    check_addresses("localhost", ["127.0.0.1", "::1"], allow)
    check_addresses("data.internal", ["10.20.5.5"], allow)
    with pytest.raises(AddressRefused):
        check_addresses("other.internal", ["10.21.0.1"], allow)
    with pytest.raises(AddressRefused, match="link-local"):
        check_addresses("169.254.169.254", ["169.254.169.254"], allow)


def test_dns_name_resolving_to_loopback_is_refused_with_the_real_resolver() -> None:
    # `localhost` is a real DNS name (resolved by the system) that points at loopback.
    assert "127.0.0.1" in system_resolver("localhost", 80)
    guard = AddressGuard(AllowList())
    with pytest.raises(DataError, match="loopback"):
        guard.check("http://localhost:8080/a.nc", "localhost", 8080)
    AddressGuard(AllowList.parse(["127.0.0.1"])).check("http://localhost:8080/a.nc", "localhost", 8080)


def test_guard_checks_names_through_the_resolver_it_is_given() -> None:
    guard = AddressGuard(AllowList(), resolver=lambda host, port: ["10.0.0.5"])
    with pytest.raises(DataError) as err:
        guard.check("https://files.corp.example/a.nc", "files.corp.example", 443)
    assert "https://files.corp.example/a.nc" in str(err.value) and "private" in str(err.value)


def test_network_config_rejects_a_bad_network_and_defaults_to_no_allow_list(tmp_path: Path) -> None:
    assert load_catalog_config(tmp_path).network.allow == []
    (tmp_path / "catalog-bot.yaml").write_text("version: 1\nnetwork: {allow: ['10.0.0.0/33']}\n")
    with pytest.raises(ConfigError, match=r"network\.allow"):
        load_catalog_config(tmp_path)


def test_content_check_catches_html_and_accepts_real_files() -> None:
    netcdf = (NC / "sea-surface-temperature.nc").read_bytes()[:512]
    assert check_content(netcdf, "netcdf") is None
    page = b"<!DOCTYPE html><html><body>Sign in</body></html>"
    assert "HTML page" in (check_content(page, "netcdf", "text/html") or "")
    assert "HTML page" in (check_content(page, "csv") or "")
    assert check_content(b"time,lat,lon,temp\n2024-01-01T00:00:00Z,-18.2,147.7,27.1\n", "csv", "text/csv") is None
    assert "not JSON" in (check_content(b"time,lat\n", "geojson") or "")
    assert "not Parquet" in (check_content(b"garbage", "parquet") or "")


def test_example_allow_lists_loopback_and_init_without_example_writes_no_allow_list(tmp_path: Path) -> None:
    from bot.catalog.init import init_catalog
    from tests.conftest import EXAMPLE

    assert load_catalog_config(EXAMPLE).network.allow == ["127.0.0.1", "localhost", "::1"]
    init_catalog(tmp_path / "plain")
    plain = load_catalog_config(tmp_path / "plain")
    assert plain.network.allow == [] and "network:" not in (tmp_path / "plain/catalog-bot.yaml").read_text()
    example = load_catalog_config(EXAMPLE).environments
    assert "dev-sources" in example and "dev-sources" not in plain.environments  # only the remote example uses it
    assert plain.environments == {k: v for k, v in example.items() if k != "dev-sources"}  # the rest is kept
    assert "example only" not in (tmp_path / "plain/catalog-bot.yaml").read_text()
    init_catalog(tmp_path / "ex", with_examples=True)
    assert load_catalog_config(tmp_path / "ex").network.allow == ["127.0.0.1", "localhost", "::1"]


def test_a_link_to_a_file_outside_the_catalog_is_refused(example_catalog: Path, tmp_path: Path, capsys) -> None:
    from bot.cli import main

    outside = tmp_path / "secret.csv"
    outside.write_text("site_id,time,lon,lat,depth,temperature,qc_flag\n")
    data = example_catalog / "datasets/reef-temperature/data/reef-temperature.csv"
    data.unlink()
    data.symlink_to(outside)
    with pytest.raises(SystemExit) as info:
        main(["publish", "--catalog", str(example_catalog), "--output", str(tmp_path / "o"), "reef-temperature"])
    assert info.value.code == 1
    assert "resolves outside the catalog" in " ".join(capsys.readouterr().out.split())
