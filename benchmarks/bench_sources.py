"""Benchmark: remote sources through the CLI (``catalog-bot publish``), against nginx on loopback.

Claims checked (issue #11):

1. An unchanged remote re-run downloads 0 data bytes (conditional requests
   only: counted in nginx's own access log) and takes <= 10% of the first
   run's wall time.
2. Many NetCDF files: ``--jobs 2`` vs ``--jobs 1`` on this 2-core machine
   (target >= 1.6x), median of interleaved pairs, output identical.

    python benchmarks/bench_sources.py                 # 12 files, ~130 MB
    python benchmarks/bench_sources.py --full          # 48 files, >= 1 GB
    python benchmarks/bench_sources.py --files 24 --days 20 --repeat 3

Every run is a fresh ``catalog-bot`` process (start-up included, the same for
every variant).  Needs nginx (``apt-get install nginx``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("CATALOG_BOT_SCHEMAS", str(REPO.parent / "shared" / "contracts" / "schemas"))

from bot.adapters.objectstore import tree_sha256  # noqa: E402
from tests.source_servers import Nginx  # noqa: E402

EXAMPLE = REPO / "catalog_templates" / "example"
SST = "sea-surface-temperature"


def make_files(folder: Path, files: int, days: int, lat: int = 360, lon: int = 720) -> list[Path]:
    """``files`` daily-stacked NetCDF files (smooth field + noise, deflate 1), one after the other in time."""
    folder.mkdir(parents=True, exist_ok=True)
    lats = np.linspace(-89.75, 89.75, lat)
    lons = np.linspace(-179.75, 179.75, lon)
    base = (15 + 12 * np.cos(np.deg2rad(lats))[:, None] + np.sin(np.deg2rad(lons))[None, :]).astype("float32")
    rng = np.random.default_rng(11)
    out = []
    for i in range(files):
        path = folder / f"sst-{i:03d}.nc"
        if not path.exists():
            times = np.datetime64("2020-01-01") + np.arange(i * days, (i + 1) * days).astype("timedelta64[D]")
            data = base[None] + rng.normal(0, 0.3, (days, lat, lon)).astype("float32")
            ds = xr.Dataset(
                {"sst": (("time", "lat", "lon"), data, {"units": "degC", "long_name": "sea surface temperature"})},
                coords={
                    "time": times,
                    "lat": ("lat", lats, {"units": "degrees_north"}),
                    "lon": ("lon", lons, {"units": "degrees_east"}),
                },
            )
            ds.to_netcdf(path, encoding={"sst": {"zlib": True, "complevel": 1, "chunksizes": (1, lat, lon)}})
        out.append(path)
    return out


def catalog(dest: Path, source: dict) -> Path:
    """The example catalog with the grid dataset reading ``source``."""
    shutil.copytree(EXAMPLE, dest)
    shutil.rmtree(dest / "datasets" / SST / "data")
    pipeline = dest / "datasets" / SST / "pipeline.yaml"
    spec = yaml.safe_load(pipeline.read_text())
    spec["source"] = {**source, "format": "netcdf"}
    spec["chunks"] = {"time": 1}
    pipeline.write_text(yaml.safe_dump(spec, sort_keys=False))
    gridschema = dest / "datasets" / SST / "gridschema.json"
    text = gridschema.read_text()
    if '"analysed_error"' in text:  # the benchmark grid has sst only: drop the example's second variable
        import json

        schema = json.loads(text)
        schema["variables"] = [v for v in schema.get("variables", []) if v.get("name") != "analysed_error"]
        gridschema.write_text(json.dumps(schema, indent=2))
    return dest


def publish(cat: Path, out: Path, *extra: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "publish", "--catalog", str(cat), "--output", str(out), *extra, SST],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"publish failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return wall


def bench_unchanged(work: Path, server: Nginx, big: Path) -> None:
    url = server.url(f"bench/{big.name}")
    cat = catalog(work / "cat-remote", {"path": url})
    out = work / "out-remote"
    first = publish(cat, out)
    seen = len((server.home / "access.log").read_text().splitlines())
    again = [publish(cat, out) for _ in range(3)]
    lines = (server.home / "access.log").read_text().splitlines()[seen:]
    sent = sum(int(line.split()[3]) for line in lines if " 200 " in line or " 206 " in line)
    kinds = sorted({f"{line.split()[0]} {line.split()[2]}" for line in lines})
    rerun = statistics.median(again)
    size_mb = big.stat().st_size / 1e6
    print(f"unchanged remote ({size_mb:.0f} MB NetCDF over HTTP): first {first:.2f} s, re-run {rerun:.2f} s "
          f"({100 * rerun / first:.1f}%), data bytes on re-runs: {sent} (requests: {', '.join(kinds)})")  # fmt: skip


def bench_jobs(work: Path, files: list[Path], repeat: int) -> None:
    data = work / "jobs-data"
    cat = catalog(work / "cat-jobs", {"path": "data/*.nc"})
    (cat / "datasets" / SST / "data").mkdir()
    for f in files:
        os.link(f, cat / "datasets" / SST / "data" / f.name)
    times: dict[int, list[float]] = {1: [], 2: []}
    digests: dict[int, str] = {}
    for r in range(repeat):
        for jobs in (1, 2) if r % 2 == 0 else (2, 1):
            out = data / f"out-{jobs}-{r}"
            times[jobs].append(publish(cat, out, "--jobs", str(jobs)))
            store = next((out / "data/catalog-public" / SST).glob(f"*/{SST}.zarr"))
            digests[jobs] = tree_sha256(store)
            shutil.rmtree(out)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    total = sum(f.stat().st_size for f in files) / 1e6
    print(f"{len(files)} NetCDF files ({total:.0f} MB): --jobs 1 {one:.2f} s, --jobs 2 {two:.2f} s "
          f"(**{one / two:.2f}x**, median of {repeat} interleaved pairs), output identical: {digests[1] == digests[2]}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--days", type=int, default=10, help="time steps per file (360x720 float32 each)")
    parser.add_argument("--full", action="store_true", help="48 files of 10 days (>= 1 GB)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--remote-days", type=int, default=120, help="time steps of the one remote file (~1 MB each)")
    args = parser.parse_args()
    files_n, days = (48, 10) if args.full else (args.files, args.days)
    cache = Path(tempfile.gettempdir()) / "catalog-bot-bench" / f"sources-{files_n}x{days}"
    files = make_files(cache, files_n, days)
    [big] = make_files(cache.parent / f"sources-remote-{args.remote_days}", 1, args.remote_days)
    with tempfile.TemporaryDirectory(prefix="bench-sources-") as tmp:
        work = Path(tmp)
        server = Nginx(work / "nginx", work / "nginx" / "root").start()
        try:
            (server.root / "bench").mkdir()
            os.link(big, server.root / "bench" / big.name)
            bench_unchanged(work, server, big)
        finally:
            server.stop()
        bench_jobs(work, files, args.repeat)


if __name__ == "__main__":
    main()
