"""Conversions through the CLI, as an Argo pod runs them (issue #16 item 7).

Why through the CLI: under Argo the conversion is ``catalog-bot step convert
--dataset ID`` in a fresh pod, so start-up, catalog loading and the step's
own bookkeeping are part of the cost.  The baselines are the scripts a user
would write, each in a fresh interpreter too (imports included on both sides):

* CSV -> GeoParquet on a CSV of lon/lat/time/value (``--csv-mb``, default
  1,000 MB): ``catalog-bot step convert`` vs ``pandas.read_csv(parse_dates)
  + DataFrame.to_parquet`` (no geometry: generous to pandas), and polars
  ``scan_csv(...).sink_parquet(...)`` beside it (streaming, no geometry).
  Goals: <= 0.7x pandas, ahead of polars, peak RSS < 1 GB.
* NetCDF -> Zarr on an SST-like NetCDF-4 (``--nc-mb``, default 500 MB,
  deflate + shuffle): ``catalog-bot step convert`` vs eager
  ``xarray.open_dataset(...).load()`` + ``to_zarr`` with the same chunks and
  compressor.  Goals: <= 0.75x, peak RSS < 300 MB.

Each case runs ``--pairs`` interleaved rounds (baseline, CLI, polars ...);
ratios are taken per round and reported as median (min, max).  Peak RSS is
``/usr/bin/time``'s maximum resident set of the command (its largest
process).  Row counts (CSV) and the decoded arrays (NetCDF) are compared.

polars is in the ``test`` extra (``pip install -e .[test]``); ``--no-polars``
skips it.  The CSV row also gives the output sizes (ours / pandas'), the
GeoParquet size goal of issue #13 (<= 1.2x) on the same all-distinct points.

    python benchmarks/bench_convert_cli.py --pairs 5
    python benchmarks/bench_convert_cli.py --csv-mb 200 --nc-mb 100 --pairs 3   # quick check of direction
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_convert import make_netcdf

CATALOG_YAML = """\
version: 1
title: Conversion benchmark
default_branch: main
default_environment: local
environments:
  local:
    engine: local
    output: _published
"""

TABLESCHEMA = {
    "fields": [
        {"name": "lon", "type": "number"},
        {"name": "lat", "type": "number"},
        {"name": "time", "type": "datetime"},
        {"name": "value", "type": "number"},
    ]
}


def make_csv(path: Path, target_bytes: int) -> Path:
    """A logger-like CSV of lon/lat/time/value of about ``target_bytes`` (cached).

    Lines are formatted by Arrow (shortest round-trip decimals of values
    rounded to 5/5/3 places, ISO 8601 UTC times): ~50x faster than Python
    string formatting, so a 1 GB input takes seconds, not minutes.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if path.exists() and path.stat().st_size >= target_bytes * 0.95:
        return path
    rng = np.random.default_rng(42)
    chunk = 1_000_000
    tmp = path.with_suffix(".tmp")
    start = np.datetime64("2000-01-01T00:00:00", "s")
    done = 0
    with tmp.open("wb") as fh:
        fh.write(b"lon,lat,time,value\n")
        while fh.tell() < target_bytes:
            idx = np.arange(done, done + chunk)
            cols = [
                pc.cast(pa.array(np.round(rng.uniform(140, 155, chunk), 5)), pa.string()),
                pc.cast(pa.array(np.round(rng.uniform(-25, -10, chunk), 5)), pa.string()),
                pc.strftime(pa.array(start + idx.astype("timedelta64[s]") * 37), format="%Y-%m-%dT%H:%M:%SZ"),
                pc.cast(pa.array(np.round(rng.normal(26, 1.5, chunk), 3)), pa.string()),
            ]
            lines = pc.binary_join_element_wise(*cols, ",")
            fh.write("\n".join(lines.to_pylist()).encode() + b"\n")
            done += chunk
    tmp.replace(path)
    return path


def make_catalog(root: Path, dataset: str, source: Path, kind: str) -> Path:
    """A one-dataset catalog whose source is ``source`` (hard-linked, not copied)."""
    shutil.rmtree(root, ignore_errors=True)
    ds = root / "datasets" / dataset
    (ds / "data").mkdir(parents=True)
    (root / "catalog-bot.yaml").write_text(CATALOG_YAML)
    os.link(source, ds / "data" / source.name)  # a hard link: symlinks out of the catalog are refused
    if kind == "csv":
        pipeline = (
            f"source:\n  path: data/{source.name}\n  format: csv\n"
            "output: parquet\ncoordinates: {x: lon, y: lat, t: time}\naccess: public\n"
        )
        (ds / "tableschema.json").write_text(json.dumps(TABLESCHEMA, indent=2))
    else:
        pipeline = (
            f"source:\n  path: data/{source.name}\n  format: netcdf\n"
            "output: zarr\ncoordinates: {x: lon, y: lat, t: time}\naccess: public\n"
        )
    (ds / "pipeline.yaml").write_text(pipeline)
    return root


def _cli() -> list[str]:
    exe = shutil.which("catalog-bot")
    return [exe] if exe else [sys.executable, "-m", "bot"]


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Wall seconds and peak RSS (MB, largest process) of one command; its stdout."""
    stats = cwd / ".time.txt"
    start = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M %U %S", "-o", str(stats), *cmd],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:5])} ... failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    rss_kb, user, system = stats.read_text().split()[-3:]
    return {"wall": wall, "rss": int(rss_kb) / 1024, "cpu": float(user) + float(system), "out": proc.stdout}


def _row_count(path: Path) -> int:
    import pyarrow.parquet as pq

    if path.is_dir():
        return sum(pq.ParquetFile(p).metadata.num_rows for p in path.glob("*.parquet"))
    return int(pq.ParquetFile(path).metadata.num_rows)


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}x (min {min(values):.2f}, max {max(values):.2f})"


def bench_csv(work: Path, mb: int, pairs: int, polars: bool) -> list[str]:
    src = make_csv(work / f"lonlat-{mb}mb.csv", mb * 1_000_000)
    root = make_catalog(work / "csv-catalog", "loggers", src, "csv")
    out = work / "csv-out"
    cli = [*_cli(), "step", "convert", "--dataset", "loggers", "--output", str(out)]
    pandas_code = (
        "import sys, pandas as pd\n"
        "df = pd.read_csv(sys.argv[1], parse_dates=['time'])\n"
        "df.to_parquet(sys.argv[2])\nprint(len(df))"
    )
    polars_code = (
        "import sys, polars as pl\n"
        "pl.scan_csv(sys.argv[1], schema_overrides={'time': pl.Datetime('us', 'UTC')}).sink_parquet(sys.argv[2])"
    )
    runs: dict[str, list[dict[str, Any]]] = {"pandas": [], "cli": [], "polars": []}
    for _ in range(pairs):
        runs["pandas"].append(timed([sys.executable, "-c", pandas_code, str(src), str(work / "pandas.parquet")], work))
        shutil.rmtree(out, ignore_errors=True)
        runs["cli"].append(timed(cli, root))
        if polars:
            runs["polars"].append(
                timed([sys.executable, "-c", polars_code, str(src), str(work / "polars.parquet")], work)
            )
    ours_rows = _row_count(out / ".catalog-bot" / "work" / "loggers" / "convert")
    pandas_rows = int(runs["pandas"][-1]["out"].strip().splitlines()[-1])
    assert ours_rows == pandas_rows, (ours_rows, pandas_rows)
    if polars:
        assert _row_count(work / "polars.parquet") == pandas_rows
    ours_bytes = sum(
        f.stat().st_size for f in (out / ".catalog-bot" / "work" / "loggers" / "convert").glob("*.parquet")
    )
    pandas_bytes = (work / "pandas.parquet").stat().st_size
    case = (
        f"CSV->GeoParquet {src.stat().st_size / 1e6:,.0f} MB, {pandas_rows:,} rows; "
        f"output {ours_bytes / 1e6:,.0f} MB = {ours_bytes / pandas_bytes:.2f}x pandas' {pandas_bytes / 1e6:,.0f} MB"
    )
    rows = [_line(case, runs, "pandas")]
    for p in (out, work / "pandas.parquet", work / "polars.parquet"):
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    return rows


def bench_netcdf(work: Path, mb: int, pairs: int) -> list[str]:
    src = make_netcdf(work / f"bench-z{mb}.nc", mb * 1_000_000)
    root = make_catalog(work / "nc-catalog", "sst", src, "netcdf")
    out = work / "nc-out"
    cli = [*_cli(), "step", "convert", "--dataset", "sst", "--output", str(out)]
    # The baseline is the script a user would write: no bot import in its
    # interpreter (that would charge it our start-up).  Same chunks and
    # compressor as ours, decided here in the parent.
    import xarray as xr

    from bot.convert.grid import ZSTD_LEVEL, choose_chunks

    with xr.open_dataset(src) as probe:
        plan = choose_chunks(dict(probe.sizes), 4, time_dim="time")
    eager_code = (
        "import sys, json, xarray as xr\n"
        "from numcodecs import Blosc\n"
        "plan, level = json.loads(sys.argv[3]), int(sys.argv[4])\n"
        "ds = xr.open_dataset(sys.argv[1]).load()\n"
        "comp = (Blosc(cname='zstd', clevel=level, shuffle=Blosc.SHUFFLE),)\n"
        "enc = {n: {'chunks': v.shape if v.dims == (n,) else tuple(plan.get(d, k) for d, k in zip(v.dims, v.shape)),"
        " 'compressors': comp} for n, v in ds.variables.items() if v.ndim}\n"
        "ds.to_zarr(sys.argv[2], mode='w', consolidated=True, zarr_format=2, encoding=enc)"
    )
    eager = [sys.executable, "-c", eager_code, str(src), str(work / "eager.zarr"), json.dumps(plan), str(ZSTD_LEVEL)]
    runs: dict[str, list[dict[str, Any]]] = {"eager": [], "cli": []}
    for _ in range(pairs):
        shutil.rmtree(work / "eager.zarr", ignore_errors=True)
        runs["eager"].append(timed(eager, work))
        shutil.rmtree(out, ignore_errors=True)
        runs["cli"].append(timed(cli, root))
    [ours_path] = list((out / ".catalog-bot" / "work" / "sst" / "convert").glob("*.zarr"))
    a, b = xr.open_zarr(ours_path), xr.open_zarr(work / "eager.zarr")
    assert all(bool(a[v].equals(b[v])) for v in b.data_vars), "outputs differ"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(work / "eager.zarr", ignore_errors=True)
    return [_line(f"NetCDF->Zarr {src.stat().st_size / 1e6:,.0f} MB", runs, "eager")]


def _line(case: str, runs: dict[str, list[dict[str, Any]]], base: str) -> str:
    """One markdown row: medians, per-round ratios vs ``base`` (median, min, max) and peak RSS."""
    b = runs[base]
    cells = []
    for name in ("cli", *[n for n in runs if n not in ("cli", base)], base):
        r = runs[name]
        if not r:
            continue
        wall = statistics.median(x["wall"] for x in r)
        rss = max(x["rss"] for x in r)
        ratio = [x["wall"] / y["wall"] for x, y in zip(r, b, strict=True)]
        cpu = [x["cpu"] / y["cpu"] for x, y in zip(r, b, strict=True)]
        label = "catalog-bot step convert" if name == "cli" else name
        cells.append(f"{label} {wall:.1f} s, {rss:.0f} MB, wall {_summary(ratio)}, CPU {_summary(cpu)}")
    return f"| {case} | " + "; ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/catalog-bot-bench"), help="inputs are cached here")
    parser.add_argument("--only", choices=["csv", "netcdf"])
    parser.add_argument("--csv-mb", type=int, default=1000)
    parser.add_argument("--nc-mb", type=int, default=500)
    parser.add_argument(
        "--pairs", type=int, default=5, help="interleaved rounds (>= 5 for a goal measurement; fewer: a quick check)"
    )
    parser.add_argument("--no-polars", action="store_true", help="skip the polars contender")
    args = parser.parse_args(argv)
    pairs = max(1, args.pairs)
    args.workdir.mkdir(parents=True, exist_ok=True)
    polars = not args.no_polars
    if polars and importlib.util.find_spec("polars") is None:
        raise SystemExit("polars is missing: pip install -e .[test] (or pass --no-polars)")
    quick = " (quick check: fewer than 5 rounds, not a goal measurement)" if pairs < 5 else ""
    print(f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f}, {pairs} interleaved rounds{quick}", flush=True)
    rows = []
    if args.only in (None, "csv"):
        rows += bench_csv(args.workdir, args.csv_mb, pairs, polars)
    if args.only in (None, "netcdf"):
        rows += bench_netcdf(args.workdir, args.nc_mb, pairs)
    print(f"load after: {os.getloadavg()[0]:.1f}")
    print("| case | contenders: median wall, peak RSS, ratio to the baseline per round median (min, max) |")
    print("|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
