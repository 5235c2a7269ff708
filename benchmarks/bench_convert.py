"""Benchmark the converters against the naive approach, in one run.

1. CSV -> GeoParquet: ``bot.convert.tabular.convert_csv`` (streamed pyarrow,
   WKB geometry, GeoParquet metadata) vs ``pandas.read_csv`` +
   ``DataFrame.to_parquet`` (no geometry at all: generous to pandas).
   Targets: time <= 0.7x pandas, peak RSS < 1 GB.
2. NetCDF -> Zarr: ``bot.convert.grid.convert_netcdf`` (block pipeline) vs
   eager ``xarray.open_dataset(...).load()`` + ``to_zarr`` with the same
   chunks and compressor.  Targets: time <= 0.75x eager, peak RSS < 300 MB.

Each contender runs in its own interpreter (peak RSS is per process).

    python benchmarks/bench_convert.py            # small: ~200 MB CSV, ~100 MB NetCDF
    python benchmarks/bench_convert.py --full     # issue sizes: >= 2 GB CSV, 500 MB NetCDF
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import alternate, run, table

SCHEMA = {
    "fields": [
        {"name": "site_id", "type": "string"},
        {"name": "time", "type": "datetime"},
        {"name": "lon", "type": "number"},
        {"name": "lat", "type": "number"},
        {"name": "depth", "type": "number"},
        {"name": "temperature", "type": "number"},
        {"name": "qc_flag", "type": "integer"},
    ]
}


def make_csv(path: Path, target_bytes: int) -> Path:
    """A reef-temperature-like CSV of about ``target_bytes`` (cached)."""
    if path.exists() and path.stat().st_size >= target_bytes * 0.95:
        return path
    rng = np.random.default_rng(42)
    chunk = 500_000
    tmp = path.with_suffix(".tmp")
    start = np.datetime64("2000-01-01T00:00:00")
    done = 0
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write("site_id,time,lon,lat,depth,temperature,qc_flag\n")
        while tmp.stat().st_size < target_bytes:
            idx = np.arange(done, done + chunk)
            times = np.datetime_as_string(start + idx.astype("timedelta64[m]") * 7, unit="s")
            lon = rng.uniform(140, 155, chunk)
            lat = rng.uniform(-25, -10, chunk)
            depth = rng.integers(0, 40, chunk) / 2
            temp = rng.normal(26, 1.5, chunk)
            qc = rng.integers(1, 5, chunk)
            sites = np.char.add("SITE-", (idx % 997).astype(str))
            lines = [
                f"{s},{t}Z,{x:.5f},{y:.5f},{d:.1f},{v:.3f},{q}\n"
                for s, t, x, y, d, v, q in zip(sites, times, lon, lat, depth, temp, qc, strict=True)
            ]
            fh.write("".join(lines))
            fh.flush()
            done += chunk
    tmp.replace(path)
    return path


def make_netcdf(path: Path, target_bytes: int) -> Path:
    """An SST-like NetCDF-4 of about ``target_bytes`` on disk.

    Like real SST products: float32 variables, deflate level 4 + shuffle,
    one HDF5 chunk per time step.
    """
    import pandas as pd
    import xarray as xr

    if path.exists() and path.stat().st_size >= target_bytes * 0.9:
        return path
    lat = np.linspace(-44.875, 44.875, 360)
    lon = np.linspace(60.125, 179.875, 480)
    steps = max(2, int(target_bytes / 0.705 // (lat.size * lon.size * 4 * 2)))  # deflate keeps ~70% of noisy floats
    time = pd.date_range("2000-01-01", periods=steps, freq="D")
    rng = np.random.default_rng(7)
    base = (28 - np.abs(lat)[:, None] / 3 + 0 * lon[None, :]).astype("float32")
    sst = np.empty((steps, lat.size, lon.size), dtype="float32")
    err = np.empty_like(sst)
    for i in range(steps):
        sst[i] = base + rng.normal(0, 0.3, base.shape).astype("float32")
        err[i] = np.abs(rng.normal(0.4, 0.1, base.shape)).astype("float32")
    ds = xr.Dataset(
        {
            "sst": (("time", "lat", "lon"), sst, {"units": "degC", "standard_name": "sea_surface_temperature"}),
            "analysed_error": (("time", "lat", "lon"), err, {"units": "K"}),
        },
        coords={"time": time, "lat": lat, "lon": lon},
        attrs={"Conventions": "CF-1.8"},
    )
    tmp = path.with_suffix(".tmp.nc")
    enc = {
        v: {"zlib": True, "complevel": 4, "shuffle": True, "chunksizes": (1, lat.size, lon.size)} for v in ds.data_vars
    }
    ds.to_netcdf(tmp, engine="netcdf4", encoding=enc)
    tmp.replace(path)
    return path


def bench_csv(work: Path, size: int, repeat: int, geo_baseline: bool = True) -> list[list[str]]:
    src = make_csv(work / f"bench-{size // 1_000_000}.csv", size)
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    contenders = {
        "ours": (
            f"""
            from pathlib import Path
            from bot.catalog.layout import Coordinates
            from bot.convert.tabular import convert_csv
            SCHEMA = {SCHEMA!r}
            """,
            f"""
            r = convert_csv(Path({str(src)!r}), Path({str(out / "ours.parquet")!r}),
                            Coordinates(x="lon", y="lat", z="depth", t="time"), schema=SCHEMA)
            extra = r.rows
            """,
        ),
        "naive": (
            "import pandas as pd",
            f"""
            df = pd.read_csv({str(src)!r}, parse_dates=["time"])
            df.to_parquet({str(out / "pandas.parquet")!r})
            extra = len(df)
            """,
        ),
        "naive_geo": (
            "import pandas as pd\nimport shapely",
            f"""
            df = pd.read_csv({str(src)!r}, parse_dates=["time"])
            df["geometry"] = shapely.to_wkb(shapely.points(df.lon.to_numpy(), df.lat.to_numpy()))
            for k, c in (("xmin", "lon"), ("ymin", "lat"), ("xmax", "lon"), ("ymax", "lat")):
                df["bbox_" + k] = df[c]
            df.to_parquet({str(out / "pandas-geo.parquet")!r})
            extra = len(df)
            """,
        ),
    }
    if not geo_baseline:
        del contenders["naive_geo"]
    res = alternate(contenders, repeat)
    ours, naive = res["ours"], res["naive"]
    assert ours["extra"] == naive["extra"], (ours["extra"], naive["extra"])
    mb = src.stat().st_size / 1e6
    shutil.rmtree(out, ignore_errors=True)
    rows = [
        [
            f"CSV->GeoParquet ({mb:,.0f} MB, {ours['extra']:,} rows)",
            "bot convert_csv",
            f"{ours['seconds']:.1f}",
            f"{ours['rss_mb']:.0f}",
            f"{ours['seconds'] / naive['seconds']:.2f}x",
            "<=0.70x, <1024 MB",
        ],
        [
            "",
            "pandas read_csv+to_parquet",
            f"{naive['seconds']:.1f}",
            f"{naive['rss_mb']:.0f}",
            "1.00x",
            "(no geometry)",
        ],
    ]
    if "naive_geo" in res:
        geo = res["naive_geo"]
        rows.append(
            [
                "",
                "pandas+shapely, same columns",
                f"{geo['seconds']:.1f}",
                f"{geo['rss_mb']:.0f}",
                f"{geo['seconds'] / naive['seconds']:.2f}x",
                f"ours/this = {ours['seconds'] / geo['seconds']:.2f}x",
            ]
        )
    return rows


def bench_netcdf(work: Path, size: int, repeat: int) -> list[list[str]]:
    src = make_netcdf(work / f"bench-z{size // 1_000_000}.nc", size)
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    setup = """
        from pathlib import Path
        import xarray as xr
        import h5py, netCDF4, zarr, isal.isal_zlib  # imports are not compute: loaded before the clock on both sides
        from bot.catalog.layout import Coordinates
        from bot.convert.grid import convert_netcdf, choose_chunks, zarr_encoding, ZARR_FORMAT
        C = Coordinates(x="lon", y="lat", t="time")
        """
    res = alternate(
        {
            "ours": (setup, f"r = convert_netcdf(Path({str(src)!r}), Path({str(out / 'ours.zarr')!r}), C)"),
            "eager": (
                setup,
                f"""
                ds = xr.open_dataset({str(src)!r}).load()
                plan = choose_chunks(dict(ds.sizes), 4, time_dim="time")
                ds.to_zarr({str(out / "eager.zarr")!r}, mode="w", consolidated=True, zarr_format=ZARR_FORMAT,
                           encoding=zarr_encoding(ds, plan))
                """,
            ),
        },
        repeat,
    )
    ours, eager = res["ours"], res["eager"]
    check = run(
        "import xarray as xr",
        f"""
        a = xr.open_zarr({str(out / "ours.zarr")!r}); b = xr.open_zarr({str(out / "eager.zarr")!r})
        extra = bool(a.sst.equals(b.sst)) and bool(a.analysed_error.equals(b.analysed_error))
        """,
    )
    assert check["extra"] is True, "outputs differ"
    mb = src.stat().st_size / 1e6
    shutil.rmtree(out, ignore_errors=True)
    return [
        [
            f"NetCDF->Zarr ({mb:,.0f} MB)",
            "bot convert_netcdf (blocks)",
            f"{ours['seconds']:.1f}",
            f"{ours['rss_mb']:.0f}",
            f"{ours['seconds'] / eager['seconds']:.2f}x",
            "<=0.75x, <300 MB",
        ],
        ["", "eager load + to_zarr", f"{eager['seconds']:.1f}", f"{eager['rss_mb']:.0f}", "1.00x", ""],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="issue sizes: 2.1 GB CSV, 500 MB NetCDF")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/catalog-bot-bench"), help="inputs are cached here")
    parser.add_argument("--only", choices=["csv", "netcdf"], help="run one benchmark")
    parser.add_argument("--skip-geo-baseline", action="store_true", help="skip pandas+shapely (~11 GB RSS at --full)")
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs per contender, best time kept (default 3, 1 with --full)"
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    csv_size = 2_100_000_000 if args.full else 200_000_000
    nc_size = 500_000_000 if args.full else 100_000_000
    repeat = args.repeat or (1 if args.full else 3)
    rows = [["case", "contender", "seconds", "peak RSS MB", "time ratio", "target"]]
    if args.only in (None, "csv"):
        rows += bench_csv(args.workdir, csv_size, repeat, not args.skip_geo_baseline)
    if args.only in (None, "netcdf"):
        rows += bench_netcdf(args.workdir, nc_size, repeat)
    print(table(rows))


if __name__ == "__main__":
    main()
