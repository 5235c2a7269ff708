"""Many files per dataset: lists and patterns, parallel conversion, combined outputs, errors.

Real files cut from the example data (the reef logger CSV by site, the SST
grid by month), served from the dataset folder, a real nginx and SeaweedFS.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import xarray as xr
import yaml

from bot.adapters.objectstore import tree_sha256
from bot.catalog.layout import load_pipeline
from bot.cli import main
from bot.convert import convert_dataset
from bot.convert.many import convert_many
from bot.errors import ConfigError
from bot.pipeline.executor import read_record
from tests.conftest import EXAMPLE
from tests.source_servers import Nginx

REEF = EXAMPLE / "datasets/reef-temperature"
SST = EXAMPLE / "datasets/sea-surface-temperature"


def split_csv(src: Path, folder: Path) -> list[Path]:
    """One CSV per logger site (as loggers are delivered), header repeated."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = list(csv.reader(io.StringIO(src.read_text())))
    header, body = rows[0], rows[1:]
    sites: dict[str, list[list[str]]] = {}
    for row in body:
        sites.setdefault(row[0], []).append(row)
    out = []
    for site, site_rows in sorted(sites.items()):
        path = folder / f"reef-{site.lower()}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(site_rows)
        out.append(path)
    return out


def split_netcdf(src: Path, folder: Path) -> list[Path]:
    """One NetCDF per month, as a daily/monthly product is published."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    with xr.open_dataset(src) as ds:
        for i in range(ds.sizes["time"]):
            month = ds.isel(time=slice(i, i + 1)).load()
            path = folder / f"sst-2024{i + 1:02d}.nc"
            month.to_netcdf(path)
            out.append(path)
    return out


def _publish(catalog: Path, output: Path, dataset: str, *extra: str) -> int:
    try:
        main(["publish", "--catalog", str(catalog), "--output", str(output), *extra, dataset])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _set_source(catalog: Path, dataset: str, **source: object) -> None:
    path = catalog / "datasets" / dataset / "pipeline.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["source"].pop("path", None)
    spec["source"].update(source)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def test_path_and_paths_are_exclusive_and_paths_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text("source: {path: a.csv, paths: [b.csv], format: csv}\noutput: parquet\ncoordinates: {x: x, y: y}\n")
    with pytest.raises(ConfigError, match="exactly one of"):
        load_pipeline(path)
    path.write_text(
        "source: {paths: [a.csv, 'ftp://x/b.csv'], format: csv}\noutput: parquet\ncoordinates: {x: x, y: y}\n"
    )
    with pytest.raises(ConfigError, match="scheme 'ftp'"):
        load_pipeline(path)
    path.write_text("source: {path: '../../secrets/*.csv', format: csv}\noutput: parquet\ncoordinates: {x: x, y: y}\n")
    with pytest.raises(ConfigError, match="leaves the dataset folder"):
        load_pipeline(path)


def test_tabular_parts_combine_into_the_same_table_as_one_file_whatever_the_workers(tmp_path: Path) -> None:
    spec = load_pipeline(REEF / "pipeline.yaml")
    schema = json.loads((REEF / "tableschema.json").read_text())
    parts = split_csv(REEF / "data/reef-temperature.csv", tmp_path / "parts")
    assert len(parts) >= 3
    whole = convert_dataset(spec, REEF / "data/reef-temperature.csv", tmp_path / "one", schema, name="reef")
    serial = convert_many(spec, parts, tmp_path / "serial", schema, name="reef", jobs=1)
    parallel = convert_many(spec, parts, tmp_path / "parallel", schema, name="reef", jobs=2)
    assert serial.rows == whole.rows == parallel.rows
    assert serial.path.read_bytes() == parallel.path.read_bytes()  # identical with 1 or 2 workers
    a, b = pq.read_table(whole.path), pq.read_table(serial.path)
    key = ["site_id", "time"]
    assert a.sort_by([(k, "ascending") for k in key]).equals(b.sort_by([(k, "ascending") for k in key]))
    geo = json.loads(pq.ParquetFile(serial.path).metadata.metadata[b"geo"])
    whole_geo = json.loads(pq.ParquetFile(whole.path).metadata.metadata[b"geo"])
    assert geo["columns"]["geometry"]["bbox"] == whole_geo["columns"]["geometry"]["bbox"]
    assert not any(p.name.startswith(".parts") for p in (tmp_path / "serial").iterdir())


def test_gridded_files_concatenate_along_time_whatever_their_order_and_workers(tmp_path: Path) -> None:
    spec = load_pipeline(SST / "pipeline.yaml")
    months = split_netcdf(SST / "data/sea-surface-temperature.nc", tmp_path / "months")
    shuffled = months[:]
    random.Random(7).shuffle(shuffled)
    serial = convert_many(spec, shuffled, tmp_path / "serial", name="sst", jobs=1)
    parallel = convert_many(spec, months, tmp_path / "parallel", name="sst", jobs=2)
    assert tree_sha256(serial.path) == tree_sha256(parallel.path)
    with xr.open_zarr(serial.path) as got, xr.open_dataset(SST / "data/sea-surface-temperature.nc") as want:
        assert list(got.time.values) == list(want.time.values)
        xr.testing.assert_allclose(got.sst.load(), want.sst.load())
        xr.testing.assert_allclose(got.analysed_error.load(), want.analysed_error.load())


def test_local_pattern_publishes_and_a_new_file_is_noticed(example_catalog: Path, tmp_path: Path) -> None:
    ds = example_catalog / "datasets/reef-temperature"
    split_csv(ds / "data/reef-temperature.csv", ds / "data/loggers")
    (ds / "data/reef-temperature.csv").unlink()
    _set_source(example_catalog, "reef-temperature", path="data/loggers/*.csv", format="csv",
                timestamp_format="%Y-%m-%dT%H:%M:%SZ")  # fmt: skip
    output = tmp_path / "out"
    assert _publish(example_catalog, output, "reef-temperature", "--jobs", "2") == 0
    result = json.loads((output / ".catalog-bot/work/reef-temperature/convert/result.json").read_text())
    assert result["rows"] == 1820 and len(result["sources"]) == len(list((ds / "data/loggers").iterdir()))
    first = read_record(output, "reef-temperature", "convert")
    assert _publish(example_catalog, output, "reef-temperature") == 0
    assert read_record(output, "reef-temperature", "convert") == first  # unchanged: not re-run
    extra = ds / "data/loggers/reef-zz-new.csv"
    extra.write_text(
        "site_id,time,lon,lat,depth,temperature,qc_flag\nNEW-01,2025-01-01T00:00:00Z,147.1,-18.1,3.0,27.5,1\n"
    )
    assert _publish(example_catalog, output, "reef-temperature") == 0
    result = json.loads((output / ".catalog-bot/work/reef-temperature/convert/result.json").read_text())
    assert result["rows"] == 1821
    assert (result["mode"], result["converted"]) == ("append", 1)  # the new logger file sorts last: appended
    assert all(s["sha256"] for s in result["sources"])  # catalog files are recognised by content next time


def test_remote_list_downloads_only_the_new_file(example_catalog: Path, nginx: Nginx, tmp_path: Path) -> None:
    folder = f"m{os.urandom(5).hex()}"
    months = split_netcdf(SST / "data/sea-surface-temperature.nc", nginx.root / folder)
    (example_catalog / "datasets/sea-surface-temperature/data/sea-surface-temperature.nc").unlink()
    urls = [nginx.url(f"{folder}/{m.name}") for m in months]
    _set_source(example_catalog, "sea-surface-temperature", paths=urls[:11], format="netcdf")
    cfg = example_catalog / "catalog-bot.yaml"
    assert "127.0.0.1" in cfg.read_text()  # the example allow-lists loopback
    output = tmp_path / "out"
    assert _publish(example_catalog, output, "sea-surface-temperature", "--jobs", "2") == 0
    got = sum(1 for m, s, _ in nginx.body_bytes(folder) if m == "GET" and s == 200)
    assert got == 11
    _set_source(example_catalog, "sea-surface-temperature", paths=urls, format="netcdf")  # the December file appears
    assert _publish(example_catalog, output, "sea-surface-temperature") == 0
    log = [entry for entry in nginx.body_bytes(folder) if entry[0] == "GET"]
    assert sum(1 for _, s, _ in log if s == 200) == 12  # only the new file was downloaded
    assert sum(1 for _, s, _ in log if s == 304) == 0  # the others: known unchanged from their HEAD validators
    result = json.loads((output / ".catalog-bot/work/sea-surface-temperature/convert/result.json").read_text())
    assert result["mode"] == "append" and result["converted"] == 1  # appended, not re-converted
    store = next((output / "data/catalog-public/sea-surface-temperature").glob("*/sea-surface-temperature.zarr"))
    with xr.open_zarr(store) as ds:
        assert ds.sizes["time"] == 12
    package = json.loads((output / "data/catalog-public/sea-surface-temperature/datapackage.json").read_text())
    assert package["temporal"]["end"].startswith("2024-12")
    assert len([s for s in package["sources"] if s.get("path", "").startswith(nginx.base)]) == 12


def test_pattern_matching_nothing_fails_with_the_pattern_named(example_catalog: Path, tmp_path: Path, capsys) -> None:
    _set_source(example_catalog, "reef-temperature", path="data/loggers/*.csv", format="csv")
    assert _publish(example_catalog, tmp_path / "out", "reef-temperature") == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "datasets/reef-temperature/pipeline.yaml [source.path]" in out and "data/loggers/*.csv" in out
    assert "matched no files" in out
    assert not (tmp_path / "out/data/catalog-public/reef-temperature").exists()


def test_server_killed_during_a_multi_file_fetch_then_rerun_recovers_without_redownloading(
    example_catalog: Path, tmp_path: Path
) -> None:

    server = Nginx(tmp_path / "nginx", tmp_path / "nginx" / "root", rate="64k").start()  # ~0.5 s per file
    try:
        months = split_netcdf(SST / "data/sea-surface-temperature.nc", server.root / "m")
        (example_catalog / "datasets/sea-surface-temperature/data/sea-surface-temperature.nc").unlink()
        urls = [server.url(f"m/{m.name}", location="slow") for m in months]
        _set_source(example_catalog, "sea-surface-temperature", paths=urls, format="netcdf")
        config = example_catalog / "catalog-bot.yaml"
        config.write_text(
            config.read_text().replace('allow: [127.0.0.1, localhost, "::1"]', "allow: [127.0.0.1]\n  attempts: 2")
        )
        output = tmp_path / "out"

        def kill_after_two_files() -> None:  # the first files complete, the next ones are mid-transfer
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if sum(1 for m, s, _ in server.body_bytes("/slow/m/") if m == "GET" and s == 200) >= 2:
                    server.kill()
                    return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_after_two_files)
        killer.start()
        assert _publish(example_catalog, output, "sea-surface-temperature") == 1
        killer.join()
        assert not (output / "data/catalog-public/sea-surface-temperature").exists()  # nothing published
        manifest = json.loads((output / ".catalog-bot/work/sea-surface-temperature/.sources/manifest.json").read_text())
        done_first = set(manifest["sources"])
        assert 0 < len(done_first) < 12  # what finished before the kill is remembered

        server.start()
        seen = len((server.home / "access.log").read_text().splitlines())
        assert _publish(example_catalog, output, "sea-surface-temperature") == 0
        second = [line.split() for line in (server.home / "access.log").read_text().splitlines()[seen:]]
        fetched_again = {
            f"{server.base}{uri}" for method, uri, status, *_ in second if method == "GET" and status == "200"
        }
        assert not fetched_again & done_first  # files completed before the kill were not downloaded again
        store = next((output / "data/catalog-public/sea-surface-temperature").glob("*/sea-surface-temperature.zarr"))
        with xr.open_zarr(store) as got, xr.open_dataset(SST / "data/sea-surface-temperature.nc") as want:
            xr.testing.assert_allclose(got.sst.load(), want.sst.load())  # no corruption from the interrupted parts
    finally:
        server.stop()
