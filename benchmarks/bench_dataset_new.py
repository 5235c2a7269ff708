"""`catalog-bot dataset new` reads metadata only (issue #12 benchmarks), through the CLI.

1. **Probe vs full read**: ``catalog-bot dataset new`` on a GeoParquet
   (``--parquet-mb``, default 1,000 MB; written by our GeoParquet writer:
   ``geo`` bbox, row-group statistics) and on an SST-like NetCDF-4
   (``--nc-mb``, default 1,000 MB, deflate + shuffle), each a fresh process
   on a fresh one-dataset catalog, vs the full read a user would otherwise do
   to learn the same facts: ``pandas.read_parquet`` / ``xarray.open_dataset(...).load()``
   in a fresh interpreter.  Two ratios are reported, each the median (min,
   max) of per-round ratios of interleaved rounds:

   * *end to end*: wall time of the whole commands (interpreter start-up and
     imports on both sides; ``dataset new`` also copies the source into the
     catalog, as it does for every local file); the row also gives the
     start-up alone (``catalog-bot dataset new --help``) and the ratio it
     caps end to end at (full read / start-up);
   * *read part*: the full read vs :func:`bot.convert.probe.probe_source`
     (sample conversion + extents), each timed inside its process after its
     imports (pandas/xarray for the full read; everything the probe may
     import for the probe) -- what "reads metadata only" saves, without the
     start-up costs that no 1 GB read amortises.

   Peak RSS is ``/usr/bin/time``'s maximum resident set of the CLI process.
   Targets: >= 50x faster than a full read, peak RSS <= 150 MB.
2. **Reprojection**: ``catalog-bot step convert`` on a CSV of ``--points``
   points (default 10 M) with x/y in EPSG:25833 (``source.crs``) vs the same
   points as lon/lat without reprojection, interleaved.  Target: <= 1.5x.

The extents ``dataset new`` wrote are checked against the generated data on
every run (a fast wrong answer is not a result).

    python benchmarks/bench_dataset_new.py                                      # full size (quiet machine)
    python benchmarks/bench_dataset_new.py --parquet-mb 100 --nc-mb 100 --points 1000000 --pairs 3   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_convert import make_netcdf
from bench_convert_cli import CATALOG_YAML, _cli, timed
from bench_extents import make_geoparquet

# The full read a user would write; prints the seconds of the read itself (after the imports).
FULL_PARQUET = (
    "import sys, time, pandas as pd\nt = time.perf_counter()\ndf = pd.read_parquet(sys.argv[1])\n"
    "print(json.dumps({'read': time.perf_counter() - t, 'rows': len(df)}))"
)
FULL_NETCDF = (
    "import sys, time, xarray as xr\nt = time.perf_counter()\nds = xr.open_dataset(sys.argv[1]).load()\n"
    "print(json.dumps({'read': time.perf_counter() - t, 'cells': int(ds.sst.size)}))"
)
# The probe alone, timed the same way (the CLI run beside it is the end-to-end number).
PROBE = """import sys, time, json, tempfile
from pathlib import Path
import dask.array, netCDF4, numcodecs, pandas, pyarrow.parquet, shapely, xarray, zarr  # imported before the clock, as above
from bot.catalog.layout import PipelineSpec
from bot.convert.probe import probe_source
from bot.structs import load
spec = load(json.loads(sys.argv[2]), PipelineSpec)
with tempfile.TemporaryDirectory() as tmp:
    t = time.perf_counter()
    meta = probe_source(spec, Path(sys.argv[1]), Path(tmp), "big")
    print(json.dumps({"read": time.perf_counter() - t, "bbox": meta.bbox}))
"""


def _fresh_catalog(root: Path) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    (root / "datasets").mkdir(parents=True)
    (root / "catalog-bot.yaml").write_text(CATALOG_YAML)
    return root


def _python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", "import json\n" + code, *args]


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}x (min {min(values):.1f}, max {max(values):.1f})"


def bench_probe(work: Path, kind: str, src: Path, spec: dict[str, Any], expected: list[float], pairs: int) -> str:
    """Interleaved rounds of: full read, ``dataset new`` through the CLI, the probe alone."""
    root = _fresh_catalog(work / f"new-{kind}")
    full = FULL_PARQUET if kind == "parquet" else FULL_NETCDF
    runs: dict[str, list[dict[str, Any]]] = {"full": [], "cli": [], "probe": [], "startup": []}
    for _ in range(pairs):
        runs["startup"].append(timed([*_cli(), "dataset", "new", "--help"], work))
        runs["full"].append(timed(_python(full, str(src)), work))
        shutil.rmtree(root / "datasets" / "big", ignore_errors=True)
        runs["cli"].append(
            timed([*_cli(), "dataset", "new", "big", "--source", str(src), "--catalog", str(root)], work)
        )
        runs["probe"].append(timed(_python(PROBE, str(src), json.dumps(spec)), work))
        collection = (root / "datasets" / "big" / "collection.jsonnet").read_text()
        bbox = json.loads(collection.split("lib.extent(", 1)[1].split("]", 1)[0] + "]")
        assert np.allclose(bbox, expected, atol=1e-9), (bbox, expected)  # the probe's answer is the data's
    end_to_end = [f["wall"] / c["wall"] for f, c in zip(runs["full"], runs["cli"], strict=True)]
    read = [
        json.loads(f["out"])["read"] / json.loads(p["out"])["read"]
        for f, p in zip(runs["full"], runs["probe"], strict=True)
    ]
    size = src.stat().st_size / 1e6
    cli_wall = statistics.median(r["wall"] for r in runs["cli"])
    full_wall = statistics.median(r["wall"] for r in runs["full"])
    startup = statistics.median(r["wall"] for r in runs["startup"])
    # The ceiling of the end-to-end ratio: the full read's wall over the CLI's start-up alone
    # (interpreter, CLI, the `dataset new` command; what no probe can save).
    return (
        f"| dataset new, {kind} {size:,.0f} MB | CLI {cli_wall:.2f} s, peak {max(r['rss'] for r in runs['cli']):.0f} MB "
        f"(of which start-up `dataset new --help` {startup:.2f} s); "
        f"full read {full_wall:.2f} s, peak {max(r['rss'] for r in runs['full']):.0f} MB | "
        f"end to end {_summary(end_to_end)} (ceiling set by start-up: {full_wall / startup:.1f}x); "
        f"read part {_summary(read)} | >= 50x, <= 150 MB |"
    )


def make_points_csv(path: Path, points: int) -> Path:
    """``points`` rows of x/y in EPSG:25833 and the same points as lon/lat (two CSVs), Arrow-formatted (cached)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyproj import Transformer

    lonlat = path.with_name(path.stem + "-lonlat.csv")
    if path.exists() and lonlat.exists():
        return path
    rng = np.random.default_rng(25833)
    to_utm = Transformer.from_crs("OGC:CRS84", "EPSG:25833", always_xy=True)
    start = np.datetime64("2020-01-01T00:00:00", "s")
    with path.open("wb") as utm_fh, lonlat.open("wb") as ll_fh:
        utm_fh.write(b"x,y,time,no2\n")
        ll_fh.write(b"lon,lat,time,no2\n")
        for offset in range(0, points, 1_000_000):
            n = min(1_000_000, points - offset)
            lon, lat = rng.uniform(12.0, 14.5, n), rng.uniform(52.0, 54.5, n)
            east, north = to_utm.transform(lon, lat)
            times = pc.strftime(
                pa.array(start + np.arange(offset, offset + n).astype("timedelta64[s]") * 7),
                format="%Y-%m-%dT%H:%M:%SZ",
            )
            value = pc.cast(pa.array(np.round(rng.uniform(5, 60, n), 1)), pa.string())
            for fh, a, b, digits in ((utm_fh, east, north, 2), (ll_fh, lon, lat, 6)):
                cols = [pc.cast(pa.array(np.round(a, digits)), pa.string()), pc.cast(pa.array(np.round(b, digits)), pa.string()), times, value]  # fmt: skip
                fh.write("\n".join(pc.binary_join_element_wise(*cols, ",").to_pylist()).encode() + b"\n")
    return path


def bench_reprojection(work: Path, points: int, pairs: int) -> str:
    """``step convert`` with ``source.crs: EPSG:25833`` vs the same points in lon/lat, interleaved."""
    utm = make_points_csv(work / f"points-{points}.csv", points)
    lonlat = utm.with_name(utm.stem + "-lonlat.csv")
    roots = {}
    for name, src, coords, crs in (("reproject", utm, "{x: x, y: y, t: time}", "  crs: EPSG:25833\n"), ("lonlat", lonlat, "{x: lon, y: lat, t: time}", "")):  # fmt: skip
        root = _fresh_catalog(work / f"reproject-{name}")
        ds = root / "datasets" / "pts"
        (ds / "data").mkdir(parents=True)
        os.link(src, ds / "data" / "pts.csv")
        text = f"source:\n  path: data/pts.csv\n  format: csv\n{crs}output: parquet\ncoordinates: {coords}\naccess: public\n"
        (ds / "pipeline.yaml").write_text(text)
        x, y = ("x", "y") if crs else ("lon", "lat")
        fields = [{"name": x, "type": "number"}, {"name": y, "type": "number"}, {"name": "time", "type": "datetime"}]
        fields.append({"name": "no2", "type": "number"})
        (ds / "tableschema.json").write_text(json.dumps({"fields": fields}, indent=2))
        roots[name] = root
    runs: dict[str, list[dict[str, Any]]] = {"lonlat": [], "reproject": []}
    for _ in range(pairs):
        for name in ("lonlat", "reproject"):
            out = work / f"reproject-out-{name}"
            shutil.rmtree(out, ignore_errors=True)
            runs[name].append(
                timed([*_cli(), "step", "convert", "--dataset", "pts", "--output", str(out)], roots[name])
            )
    ratio = [r["wall"] / b["wall"] for r, b in zip(runs["reproject"], runs["lonlat"], strict=True)]
    cpu = [r["cpu"] / b["cpu"] for r, b in zip(runs["reproject"], runs["lonlat"], strict=True)]
    walls = {k: statistics.median(r["wall"] for r in v) for k, v in runs.items()}
    cpus = {k: statistics.median(r["cpu"] for r in v) for k, v in runs.items()}
    return (
        f"| reprojection, {points:,} points CSV | EPSG:25833 -> lon/lat {walls['reproject']:.1f} s "
        f"({cpus['reproject']:.1f} s CPU); lon/lat as is {walls['lonlat']:.1f} s ({cpus['lonlat']:.1f} s CPU) "
        f"| wall {_summary(ratio)}; CPU {_summary(cpu)} | <= 1.5x |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/catalog-bot-bench"), help="inputs are cached here")
    parser.add_argument("--only", choices=["parquet", "netcdf", "reprojection"])
    parser.add_argument("--parquet-mb", type=int, default=1000)
    parser.add_argument("--nc-mb", type=int, default=1000)
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--pairs", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f}, {args.pairs} interleaved rounds", flush=True)
    rows = ["| case | measured (median) | ratio vs baseline (median, min, max) | target |", "|---|---|---|---|"]
    if args.only in (None, "parquet"):
        import pyarrow.parquet as pq

        src = make_geoparquet(args.workdir / f"new-{args.parquet_mb}.parquet", args.parquet_mb * 1_000_000)
        geo = json.loads(pq.ParquetFile(src).metadata.metadata[b"geo"])
        spec = {"source": {"path": src.name, "format": "parquet"}, "output": "parquet", "coordinates": {"geometry": "geometry"}}  # fmt: skip
        rows.append(bench_probe(args.workdir, "parquet", src, spec, geo["columns"]["geometry"]["bbox"], args.pairs))
        print(rows[-1], flush=True)
    if args.only in (None, "netcdf"):
        src = make_netcdf(args.workdir / f"new-{args.nc_mb}.nc", args.nc_mb * 1_000_000)
        spec = {"source": {"path": src.name, "format": "netcdf"}, "output": "zarr", "coordinates": {"x": "lon", "y": "lat", "t": "time"}}  # fmt: skip
        rows.append(bench_probe(args.workdir, "netcdf", src, spec, [60.125, -44.875, 179.875, 44.875], args.pairs))
        print(rows[-1], flush=True)
    if args.only in (None, "reprojection"):
        rows.append(bench_reprojection(args.workdir, args.points, args.pairs))
        print(rows[-1], flush=True)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
