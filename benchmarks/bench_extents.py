"""Benchmark data-driven extents against reading the data, in one run.

1. GeoParquet: ``extract_parquet_metadata`` (footer only) vs the fair
   baseline ``pandas.read_parquet(columns=[lon, lat, time])`` + min/max
   (only the columns extents need; #16), and, for reference, a read of every
   column.  Targets: >= 100x faster than the fair baseline, peak RSS < 100 MB.
2. Zarr: ``extract_zarr_metadata`` (1-D coordinates only) vs the fair
   baseline ``xarray.open_zarr`` + min/max of the coordinates (lazy: no data
   variable is read), and, for reference, ``.load()`` of everything.
   Target: >= 50x faster than loading.

Each contender runs in its own interpreter; "ms" is the timed compute
(library imports done before the clock starts, on both sides), "peak RSS"
is the whole child process including those imports.  Contenders run
interleaved (A B C A B C ...) for ``--pairs`` rounds (>= 5); each speed-up is
taken per round and reported as the median with min and max.

    python benchmarks/bench_extents.py           # small: ~150 MB Parquet, ~250 MB Zarr
    python benchmarks/bench_extents.py --full    # >= 1 GB Parquet, ~1 GB Zarr
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import statistics

from _child import rounds, table

ROW_BYTES = 80  # on-disk bytes per row of the generated GeoParquet (measured ~81, snappy)


def make_geoparquet(path: Path, target_bytes: int) -> Path:
    """A point GeoParquet (our writer: geo metadata, covering, statistics) of ~``target_bytes``."""
    import pyarrow as pa

    from bot.convert.tabular import GeoParquetWriter, bbox_struct, points_wkb

    if path.exists() and path.stat().st_size >= target_bytes * 0.9:
        return path
    rng = np.random.default_rng(11)
    rows = int(target_bytes // ROW_BYTES)
    chunk = 500_000
    tmp = path.with_suffix(".tmp")
    writer = GeoParquetWriter(tmp, "geometry")
    start = np.datetime64("2000-01-01T00:00:00", "us")
    for offset in range(0, rows, chunk):
        n = min(chunk, rows - offset)
        lon = rng.uniform(110, 155, n)
        lat = rng.uniform(-45, -9, n)
        t = start + (np.arange(offset, offset + n) * 60_000_000).astype("timedelta64[us]")
        batch = pa.RecordBatch.from_arrays(
            [
                pa.array(lon),
                pa.array(lat),
                pa.array(t, pa.timestamp("us", tz="UTC")),
                pa.array(rng.normal(20, 3, n)),
                pa.array(rng.integers(0, 50, n)),
                points_wkb(lon, lat),
                bbox_struct(lon, lat, lon, lat),
            ],
            names=["lon", "lat", "time", "value", "depth", "geometry", "bbox"],
        )
        writer.write(batch, (lon.min(), lat.min(), lon.max(), lat.max()), ["Point"])
    writer.close()
    tmp.replace(path)
    return path


def make_zarr(path: Path, target_bytes: int) -> Path:
    """A gridded Zarr store (written by our converter's encoding) of ~``target_bytes`` uncompressed."""
    import dask.array as da
    import pandas as pd
    import xarray as xr

    from bot.convert.grid import ZARR_FORMAT, choose_chunks, zarr_encoding

    if (path / ".zmetadata").exists():
        return path
    lat = np.linspace(-44.875, 44.875, 360)
    lon = np.linspace(60.125, 179.875, 480)
    steps = max(2, int(target_bytes // (lat.size * lon.size * 4)))
    plan = choose_chunks({"time": steps, "lat": lat.size, "lon": lon.size}, 4, time_dim="time")
    sst = (
        da.random.default_rng(5)
        .normal(25, 2, (steps, lat.size, lon.size), chunks=tuple(plan.values()))
        .astype("float32")
    )
    ds = xr.Dataset(
        {"sst": (("time", "lat", "lon"), sst, {"units": "degC", "standard_name": "sea_surface_temperature"})},
        coords={"time": pd.date_range("2000-01-01", periods=steps, freq="D"), "lat": lat, "lon": lon},
    )
    ds.to_zarr(path, mode="w", consolidated=True, zarr_format=ZARR_FORMAT, encoding=zarr_encoding(ds, plan))
    return path


def _ratio(base: list[dict], ours: list[dict]) -> str:
    ratios = [b["seconds"] / o["seconds"] for b, o in zip(base, ours, strict=True)]
    return f"{statistics.median(ratios):,.0f}x (min {min(ratios):,.0f}, max {max(ratios):,.0f})"


def _row(case: str, name: str, runs: list[dict], speedup: str, target: str) -> list[str]:
    ms = statistics.median(r["seconds"] for r in runs) * 1000
    return [case, name, f"{ms:,.1f}", f"{max(r['rss_mb'] for r in runs):.0f}", speedup, target]


def bench_parquet(work: Path, size: int, pairs: int) -> list[list[str]]:
    src = make_geoparquet(work / f"extents-{size // 1_000_000}.parquet", size)
    minmax = """
                extra = [[df.lon.min(), df.lat.min(), df.lon.max(), df.lat.max()],
                         [df.time.min().strftime("%Y-%m-%dT%H:%M:%SZ"), df.time.max().strftime("%Y-%m-%dT%H:%M:%SZ")], len(df)]
                """
    res = rounds(
        {
            "ours": (
                "from pathlib import Path\nimport pyarrow.parquet\nfrom bot.catalog.layout import Coordinates\n"
                "from bot.metadata.datadriven import extract_parquet_metadata",
                f"""
                m = extract_parquet_metadata(Path({str(src)!r}), Coordinates(x="lon", y="lat", t="time"))
                extra = [m.bbox, list(m.time_range), m.rows]
                """,
            ),
            "columns": (
                "import pandas as pd\nimport pyarrow.parquet",
                f"\n                df = pd.read_parquet({str(src)!r}, columns=['lon', 'lat', 'time'])" + minmax,
            ),
            "all": (
                "import pandas as pd\nimport pyarrow.parquet",
                f"\n                df = pd.read_parquet({str(src)!r})" + minmax,
            ),
        },
        pairs,
    )
    ours, cols, full = res["ours"], res["columns"], res["all"]
    for other in (cols, full):
        assert all(o["extra"] == ours[0]["extra"] for o in [*ours, *other]), (ours[0]["extra"], other[0]["extra"])
    mb = src.stat().st_size / 1e6
    case = f"GeoParquet extents ({mb:,.0f} MB, {ours[0]['extra'][2]:,} rows)"
    return [
        _row(case, "bot extract_parquet_metadata", ours, f"{_ratio(cols, ours)} faster", ">=100x, <100 MB"),
        _row("", "pandas read_parquet(columns=lon,lat,time) + min/max", cols, "1x (fair baseline)", ""),
        _row("", "pandas read_parquet (all columns) + min/max", full, f"{_ratio(full, ours)} (reference)", ""),
    ]


def bench_zarr(work: Path, size: int, pairs: int) -> list[list[str]]:
    src = make_zarr(work / f"extents-{size // 1_000_000}.zarr", size)
    minmax = """
                extra = [[float(ds.lon.min()), float(ds.lat.min()), float(ds.lon.max()), float(ds.lat.max())],
                         [str(ds.time.values.min())[:19] + "Z", str(ds.time.values.max())[:19] + "Z"]]
                """
    res = rounds(
        {
            "ours": (
                "from pathlib import Path\nimport zarr, cftime\nfrom bot.catalog.layout import Coordinates\n"
                "from bot.metadata.datadriven import extract_zarr_metadata",
                f"""
                m = extract_zarr_metadata(Path({str(src)!r}), Coordinates(x="lon", y="lat", t="time"))
                extra = [m.bbox, list(m.time_range)]
                """,
            ),
            "lazy": ("import xarray as xr\nimport zarr", f"\n                ds = xr.open_zarr({str(src)!r})" + minmax),
            "load": (
                "import xarray as xr\nimport zarr",
                f"\n                ds = xr.open_zarr({str(src)!r}).load()" + minmax,
            ),
        },
        pairs,
    )
    ours, lazy, load = res["ours"], res["lazy"], res["load"]
    for other in (lazy, load):
        assert all(o["extra"] == ours[0]["extra"] for o in [*ours, *other]), (ours[0]["extra"], other[0]["extra"])
    mb = sum(p.stat().st_size for p in src.rglob("*") if p.is_file()) / 1e6
    case = f"Zarr extents ({mb:,.0f} MB on disk)"
    return [
        _row(case, "bot extract_zarr_metadata", ours, f"{_ratio(load, ours)} faster than loading", ">=50x"),
        _row("", "xarray open_zarr + coordinate min/max (lazy)", lazy, f"{_ratio(lazy, ours)} (fair baseline)", ""),
        _row("", "xarray open_zarr().load() + min/max", load, "1x", ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help=">= 1 GB Parquet and ~1 GB Zarr")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/catalog-bot-bench"), help="inputs are cached here")
    parser.add_argument("--pairs", type=int, default=5, help="interleaved rounds (at least 5)")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    pairs = max(args.pairs, 5)
    pq_size = 1_200_000_000 if args.full else 150_000_000
    zarr_size = 1_000_000_000 if args.full else 250_000_000
    rows = [["case", "contender", "ms (median)", "peak RSS MB", "speed-up: median (min, max)", "target"]]
    rows += bench_parquet(args.workdir, pq_size, pairs)
    rows += bench_zarr(args.workdir, zarr_size, pairs)
    print(table(rows))


if __name__ == "__main__":
    main()
