"""Benchmark data-driven extents against loading the data, in one run.

1. GeoParquet: ``extract_parquet_metadata`` (footer only) vs
   ``pandas.read_parquet`` + min/max.  Targets: >= 100x faster (compute),
   peak RSS < 100 MB.
2. Zarr: ``extract_zarr_metadata`` (1-D coordinates only) vs
   ``xarray.open_zarr(...).load()`` + min/max.  Target: >= 50x faster.

Each contender runs in its own interpreter; "ms" is the timed compute
(library imports done before the clock starts, on both sides), "peak RSS"
is the whole child process including those imports.

    python benchmarks/bench_extents.py           # small: ~150 MB Parquet, ~250 MB Zarr
    python benchmarks/bench_extents.py --full    # >= 1 GB Parquet, ~1 GB Zarr
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import alternate, table

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


def bench_parquet(work: Path, size: int, repeat: int) -> list[list[str]]:
    src = make_geoparquet(work / f"extents-{size // 1_000_000}.parquet", size)
    res = alternate(
        {
            "ours": (
                "from pathlib import Path\nimport pyarrow.parquet\nfrom bot.catalog.layout import Coordinates\n"
                "from bot.metadata.datadriven import extract_parquet_metadata",
                f"""
                m = extract_parquet_metadata(Path({str(src)!r}), Coordinates(x="lon", y="lat", t="time"))
                extra = [m.bbox, list(m.time_range), m.rows]
                """,
            ),
            "naive": (
                "import pandas as pd\nimport pyarrow.parquet",
                f"""
                df = pd.read_parquet({str(src)!r})
                extra = [[df.lon.min(), df.lat.min(), df.lon.max(), df.lat.max()],
                         [df.time.min().strftime("%Y-%m-%dT%H:%M:%SZ"), df.time.max().strftime("%Y-%m-%dT%H:%M:%SZ")], len(df)]
                """,
            ),
        },
        repeat,
    )
    ours, naive = res["ours"], res["naive"]
    assert ours["extra"] == naive["extra"], (ours["extra"], naive["extra"])
    mb = src.stat().st_size / 1e6
    return [
        [
            f"GeoParquet extents ({mb:,.0f} MB, {ours['extra'][2]:,} rows)",
            "bot extract_parquet_metadata",
            f"{ours['seconds'] * 1000:.1f}",
            f"{ours['rss_mb']:.0f}",
            f"{naive['seconds'] / ours['seconds']:.0f}x faster",
            ">=100x, <100 MB",
        ],
        ["", "pandas read_parquet + min/max", f"{naive['seconds'] * 1000:.0f}", f"{naive['rss_mb']:.0f}", "1x", ""],
    ]


def bench_zarr(work: Path, size: int, repeat: int) -> list[list[str]]:
    src = make_zarr(work / f"extents-{size // 1_000_000}.zarr", size)
    res = alternate(
        {
            "ours": (
                "from pathlib import Path\nimport zarr, cftime\nfrom bot.catalog.layout import Coordinates\n"
                "from bot.metadata.datadriven import extract_zarr_metadata",
                f"""
                m = extract_zarr_metadata(Path({str(src)!r}), Coordinates(x="lon", y="lat", t="time"))
                extra = [m.bbox, list(m.time_range)]
                """,
            ),
            "naive": (
                "import xarray as xr\nimport zarr",
                f"""
                ds = xr.open_zarr({str(src)!r}).load()
                extra = [[float(ds.lon.min()), float(ds.lat.min()), float(ds.lon.max()), float(ds.lat.max())],
                         [str(ds.time.values.min())[:19] + "Z", str(ds.time.values.max())[:19] + "Z"]]
                """,
            ),
        },
        repeat,
    )
    ours, naive = res["ours"], res["naive"]
    assert ours["extra"] == naive["extra"], (ours["extra"], naive["extra"])
    mb = sum(p.stat().st_size for p in src.rglob("*") if p.is_file()) / 1e6
    return [
        [
            f"Zarr extents ({mb:,.0f} MB on disk)",
            "bot extract_zarr_metadata",
            f"{ours['seconds'] * 1000:.1f}",
            f"{ours['rss_mb']:.0f}",
            f"{naive['seconds'] / ours['seconds']:.0f}x faster",
            ">=50x",
        ],
        [
            "",
            "xarray open_zarr().load() + min/max",
            f"{naive['seconds'] * 1000:.0f}",
            f"{naive['rss_mb']:.0f}",
            "1x",
            "",
        ],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help=">= 1 GB Parquet and ~1 GB Zarr")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/catalog-bot-bench"), help="inputs are cached here")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender, best time kept")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    pq_size = 1_200_000_000 if args.full else 150_000_000
    zarr_size = 1_000_000_000 if args.full else 250_000_000
    rows = [["case", "contender", "ms", "peak RSS MB", "speed-up", "target"]]
    rows += bench_parquet(args.workdir, pq_size, args.repeat)
    rows += bench_zarr(args.workdir, zarr_size, args.repeat)
    print(table(rows))


if __name__ == "__main__":
    main()
