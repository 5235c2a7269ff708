"""THREDDS catalog sources: a static catalog.xml on a real nginx (no Java THREDDS server runs here)."""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path

import pytest
import xarray as xr
import yaml

from bot.cli import main
from bot.errors import DataError
from bot.sources.thredds import parse_catalog, select
from tests.source_servers import Nginx
from tests.test_sources_many import split_netcdf

NC = Path(__file__).resolve().parents[1] / "catalog_templates/example/datasets/sea-surface-temperature/data"
CATALOG = """<?xml version="1.0" encoding="UTF-8"?>
<catalog xmlns="http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0"
         xmlns:xlink="http://www.w3.org/1999/xlink" name="SST monthly analysis" version="1.0.6">
  <service name="all" serviceType="Compound" base="">
    <service name="http" serviceType="HTTPServer" base="{http_base}"/>
    <service name="odap" serviceType="OPeNDAP" base="{dap_base}"/>
  </service>
  <dataset name="SST monthly analysis" ID="sst-monthly">
    <metadata inherited="true"><serviceName>all</serviceName><dataType>Grid</dataType></metadata>
{datasets}
  </dataset>
{refs}
</catalog>
"""
ENTRY = """    <dataset name="{name}" ID="sst-monthly/{name}" urlPath="{path}">
      <dataSize units="Kbytes">{kb}</dataSize>
      <date type="modified">{modified}</date>
    </dataset>"""


def write_catalog(folder: Path, files: list[Path], *, http_base: str, dap_base: str, refs: list[str] = ()) -> Path:
    entries = "\n".join(
        # published early the following year, month by month: "modified" follows the month of the data
        ENTRY.format(name=f.name, path=f.name, kb=f.stat().st_size // 1024, modified=f"2025-{f.stem[-2:]}-05T00:00:00Z")
        for f in files
    )
    ref_xml = "\n".join(f'  <catalogRef xlink:href="{r}" xlink:title="more" name=""/>' for r in refs)
    path = folder / "catalog.xml"
    path.write_text(CATALOG.format(http_base=http_base, dap_base=dap_base, datasets=entries, refs=ref_xml))
    return path


@pytest.fixture
def thredds(nginx: Nginx) -> tuple[Nginx, str, list[Path]]:
    """Twelve monthly files in two catalogs (January-June, and July-December behind a catalogRef)."""
    folder = f"thredds{os.urandom(4).hex()}"
    root = nginx.root / folder
    months = split_netcdf(NC / "sea-surface-temperature.nc", root / "data")
    (root / "second").mkdir()
    for path in months[6:]:
        shutil.move(path, root / "second" / path.name)
    write_catalog(root / "second", [root / "second" / p.name for p in months[6:]],
                  http_base=f"/files/{folder}/second/", dap_base="/dap/")  # fmt: skip
    write_catalog(root, months[:6], http_base=f"/files/{folder}/data/", dap_base="/dap/", refs=["second/catalog.xml"])
    return nginx, nginx.url(f"{folder}/catalog.xml"), months


def test_catalog_parsing_gives_service_urls_dates_and_refs(thredds) -> None:
    server, url, _ = thredds
    parsed = parse_catalog((server.root / url.split("/files/", 1)[1]).read_bytes(), url)
    assert len(parsed.datasets) == 6 and parsed.refs == [url.replace("catalog.xml", "second/catalog.xml")]
    first = parsed.datasets[0]
    assert first.http_url == url.replace("catalog.xml", "data/sst-202401.nc")
    assert first.urls["opendap"] == f"{server.base}/dap/sst-202401.nc"
    assert first.date == date(2025, 1, 5) and first.size and first.size > 1024
    assert [d.name for d in select(parsed.datasets, r"2024(03|04)", None)] == ["sst-202403.nc", "sst-202404.nc"]
    assert [d.name for d in select(parsed.datasets, None, date(2025, 5, 1))] == ["sst-202405.nc", "sst-202406.nc"]


def test_hostile_catalog_xml_is_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><catalog>&b;</catalog>'
    with pytest.raises(DataError, match="DTD or entity"):
        parse_catalog(bomb, "http://x/catalog.xml")
    with pytest.raises(DataError, match="not a THREDDS catalog"):
        parse_catalog(b"<html><body>Not found</body></html>", "http://x/catalog.xml")


def _use_thredds(catalog: Path, thredds_spec: dict) -> None:
    sst = catalog / "datasets/sea-surface-temperature"
    shutil.rmtree(sst / "data")
    spec = yaml.safe_load((sst / "pipeline.yaml").read_text())
    spec["source"] = {"thredds": thredds_spec, "format": "netcdf"}
    (sst / "pipeline.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def test_publish_from_a_thredds_catalog_following_catalog_refs(thredds, example_catalog: Path, tmp_path: Path) -> None:
    server, url, _ = thredds
    _use_thredds(example_catalog, {"catalog": url, "match": r"sst-2024\d\d\.nc$", "since": "2025-03-01"})
    output = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["publish", "--catalog", str(example_catalog), "--output", str(output), "sea-surface-temperature"])
    assert info.value.code in (0, None)
    result = json.loads((output / ".catalog-bot/work/sea-surface-temperature/convert/result.json").read_text())
    names = [s["uri"].rsplit("/", 1)[-1] for s in result["sources"]]
    assert names == [f"sst-2024{m:02d}.nc" for m in range(3, 13)]  # since March, both catalogs
    # Crawled once per run: the convert fingerprint's probe and the convert share the listing.
    assert [m for m, _, _ in server.body_bytes(url.split("/files/", 1)[1])] == ["GET"]
    store = next((output / "data/catalog-public/sea-surface-temperature").glob("*/sea-surface-temperature.zarr"))
    with xr.open_zarr(store) as ds:
        assert ds.sizes["time"] == 10


def test_thredds_catalog_with_no_match_fails_with_the_catalog_named(
    thredds, example_catalog: Path, tmp_path: Path, capsys
) -> None:
    _, url, _ = thredds
    _use_thredds(example_catalog, {"catalog": url, "match": r"chlorophyll"})
    with pytest.raises(SystemExit) as info:
        main(["publish", "--catalog", str(example_catalog), "--output", str(tmp_path / "o"), "sea-surface-temperature"])
    assert info.value.code == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "[source.thredds]" in out and url in out and "no dataset matching match='chlorophyll'" in out
    assert "(12 dataset(s) in 2 catalog(s))" in out
