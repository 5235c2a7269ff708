"""`catalog-bot publish` with remote sources: the whole pipeline against real nginx (and SeaweedFS).

What the issue asks of a re-run: an unchanged remote costs only conditional
requests (0 body bytes in nginx's own access log) and re-uses every step; a
changed remote re-runs exactly the convert step and its descendants; a bad
source fails that dataset with an error naming pipeline.yaml, source.path,
the URI and the fix, and publishes nothing for it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.pipeline.executor import read_record
from tests.source_servers import Nginx

SST = "sea-surface-temperature"


def _remote_catalog(example_catalog: Path, server: Nginx, *, allow: bool = True) -> tuple[str, Path]:
    """The example catalog with the gridded dataset's NetCDF served by nginx instead of committed."""
    folder = f"p{os.urandom(5).hex()}"
    (server.root / folder).mkdir()
    nc = example_catalog / "datasets" / SST / "data" / f"{SST}.nc"
    shutil.move(nc, server.root / folder / f"{SST}.nc")
    url = server.url(f"{folder}/{SST}.nc")
    pipeline = example_catalog / "datasets" / SST / "pipeline.yaml"
    spec = yaml.safe_load(pipeline.read_text())
    spec["source"]["path"] = url
    pipeline.write_text(yaml.safe_dump(spec, sort_keys=False))
    config = example_catalog / "catalog-bot.yaml"
    cfg = yaml.safe_load(config.read_text())
    cfg["network"] = {"allow": ["127.0.0.1", "localhost", "::1"] if allow else [], "attempts": 2}
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return url, server.root / folder / f"{SST}.nc"


def _publish(catalog: Path, output: Path) -> int:
    try:
        main(["publish", "--catalog", str(catalog), "--output", str(output), SST])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_remote_netcdf_is_published_and_an_unchanged_remote_is_never_downloaded_again(
    example_catalog: Path,
    nginx: Nginx,
    tmp_path: Path,
) -> None:
    url, remote = _remote_catalog(example_catalog, nginx)
    output = tmp_path / "out"
    assert _publish(example_catalog, output) == 0
    result = json.loads((output / ".catalog-bot/work" / SST / "convert/result.json").read_text())
    [record] = result["sources"]
    assert record["uri"] == url and record["status"] == "downloaded"
    assert record["validators"]["etag"] and record["validators"]["size"] == remote.stat().st_size
    assert record["sha256"] and record["retrieved"]
    package = json.loads((output / "data/catalog-public" / SST / "datapackage.json").read_text())
    assert ".zarr/" in package["resources"][0]["path"]  # the store's metadata document (see docs/publish.md)
    assert {"title": "source data", "path": url, "version": record["validators"]["etag"]} in package["sources"]
    item = json.loads((output / "stac" / SST / SST / f"{SST}.json").read_text())
    [via] = [link for link in item["links"] if link["rel"] == "via"]
    assert via["href"] == url and via["etag"] == record["validators"]["etag"] and via["size"] == remote.stat().st_size
    assert via["retrieved"] == record["retrieved"]
    first_convert = read_record(output, SST, "convert")
    assert first_convert is not None

    sent_before = sum(b for _, _, b in nginx.body_bytes(remote.parent.name) if b)  # this test's folder only
    assert _publish(example_catalog, output) == 0
    log = nginx.body_bytes(remote.parent.name)
    assert sum(b for _, _, b in log if b) == sent_before  # the re-run transferred 0 data bytes
    assert log[-1][0] == "HEAD"  # only the validators were asked for
    assert read_record(output, SST, "convert") == first_convert  # convert did not run again

    # The remote changes (same grid, one more variable attribute): convert runs again, data version changes.
    import xarray as xr

    with xr.open_dataset(remote) as ds:
        changed = ds.load()
    changed.attrs["history"] = "reprocessed"
    changed.to_netcdf(remote.with_suffix(".tmp"))
    os.replace(remote.with_suffix(".tmp"), remote)
    os.utime(remote, (time.time() + 3, time.time() + 3))
    assert _publish(example_catalog, output) == 0
    again = read_record(output, SST, "convert")
    assert again is not None and again["fingerprint"] != first_convert["fingerprint"]
    result = json.loads((output / ".catalog-bot/work" / SST / "convert/result.json").read_text())
    assert result["sources"][0]["validators"]["etag"] != record["validators"]["etag"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda url: url.replace(f"{SST}.nc", "no-such-file.nc"), "HTTP 404 not found"),
        (lambda url: url.replace("/files/", "/login/"), "HTML page where a NetCDF file was expected"),
        (lambda url: "http://169.254.169.254/latest/meta-data/iam/x.nc", "link-local"),
    ],
)
def test_bad_remote_source_fails_with_a_located_error_and_publishes_nothing(
    example_catalog: Path,
    nginx: Nginx,
    tmp_path: Path,
    capsys,
    mutate,
    message: str,
) -> None:
    url, _ = _remote_catalog(example_catalog, nginx)
    pipeline = example_catalog / "datasets" / SST / "pipeline.yaml"
    bad = mutate(url)
    pipeline.write_text(pipeline.read_text().replace(url, bad))
    output = tmp_path / "out"
    assert _publish(example_catalog, output) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert f"datasets/{SST}/pipeline.yaml [source.path]" in out and message in out and "Traceback" not in out
    assert bad.split("//", 1)[1].split("/", 1)[0] in out  # the host of the URI is named
    assert not (output / "data/catalog-public" / SST).exists()
    assert not (output / "stac" / SST).exists()


def test_loopback_source_without_allow_list_is_refused(
    example_catalog: Path,
    nginx: Nginx,
    tmp_path: Path,
    capsys,
) -> None:
    _, remote = _remote_catalog(example_catalog, nginx, allow=False)
    assert _publish(example_catalog, tmp_path / "out") == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "loopback" in out and "network.allow" in out
    assert nginx.body_bytes(remote.parent.name) == []  # refused before any request
