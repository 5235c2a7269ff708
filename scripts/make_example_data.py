"""Generate the example catalog's small source data files, reproducibly.

Why a script: the example data is committed (< 2 MB in total) so a fresh
clone publishes without running anything, but it must be regenerable and
reviewable.  Fixed seeds make every run byte-identical (NetCDF history
attributes are fixed too).

    python scripts/make_example_data.py [--out catalog_templates/example/datasets]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "catalog_templates" / "example" / "datasets"

SITES = [
    ("DAVIES-01", 147.63, -18.83),
    ("LIZARD-02", 145.46, -14.69),
    ("HERON-03", 151.92, -23.44),
    ("OSPREY-04", 146.60, -13.89),
    ("MYRMIDON-05", 147.38, -18.26),
]


def reef_temperature(out: Path) -> Path:
    """Logger points: hourly-ish temperature at 5 reef sites, 2024-01 .. 2024-03."""
    rng = np.random.default_rng(42)
    times = pd.date_range("2024-01-01T00:00:00Z", "2024-03-31T18:00:00Z", freq="6h")
    path = out / "reef-temperature" / "data" / "reef-temperature.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["site_id", "time", "lon", "lat", "depth", "temperature", "qc_flag"])
        for site, lon, lat in SITES:
            depth = float(rng.choice([2.0, 6.0, 9.5]))
            base = 27.5 - (abs(lat) - 14) * 0.25
            for i, t in enumerate(times):
                temp = base + 1.2 * np.sin(2 * np.pi * i / 4) + rng.normal(0, 0.15)
                flag = 1 if rng.random() > 0.02 else 4
                writer.writerow(
                    [site, t.strftime("%Y-%m-%dT%H:%M:%SZ"), f"{lon:.4f}", f"{lat:.4f}", depth, f"{temp:.3f}", flag]
                )
    return path


def _polygon(lon: float, lat: float, rx: float, ry: float, n: int, rng: np.random.Generator) -> list[list[float]]:
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    radii = 1 + rng.uniform(-0.2, 0.2, n)
    ring = [
        [round(lon + rx * r * np.cos(a), 5), round(lat + ry * r * np.sin(a), 5)]
        for a, r in zip(angles, radii, strict=True)
    ]
    return [*ring, ring[0]]


def marine_protected_areas(out: Path) -> Path:
    """Polygons: a handful of (fictional) marine protected areas."""
    rng = np.random.default_rng(7)
    zones = [
        ("MPA-001", "Davies Reef Green Zone", "Marine National Park", "II", 147.63, -18.83, "1988-07-01"),
        ("MPA-002", "Lizard Island Scientific Zone", "Scientific Research", "Ia", 145.46, -14.69, "2004-07-01"),
        ("MPA-003", "Capricorn Bunker Reserve", "Preservation Zone", "Ia", 151.92, -23.44, "1983-10-01"),
        ("MPA-004", "Osprey Reef Sanctuary", "Habitat Protection", "IV", 146.60, -13.89, "2018-07-01"),
        ("MPA-005", "Myrmidon Conservation Park", "Conservation Park", "IV", 147.38, -18.26, "2004-07-01"),
        ("MPA-006", "Swain Reefs Buffer", "Buffer Zone", "VI", 152.40, -21.70, "2004-07-01"),
    ]
    features = []
    for mpa_id, name, designation, iucn, lon, lat, established in zones:
        rx, ry = rng.uniform(0.08, 0.35), rng.uniform(0.08, 0.3)
        ring = _polygon(lon, lat, rx, ry, 12, rng)
        area = round(float(np.pi * rx * ry * 111.32**2 * np.cos(np.radians(lat))), 2)
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "mpa_id": mpa_id,
                    "name": name,
                    "designation": designation,
                    "iucn_category": iucn,
                    "area_km2": area,
                    "established": established,
                },
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    path = out / "marine-protected-areas" / "data" / "marine-protected-areas.geojson"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, indent=1) + "\n", encoding="utf-8")
    return path


def sea_surface_temperature(out: Path) -> Path:
    """Gridded: monthly SST analysis on a 0.25 degree grid over the reef, 2024."""
    rng = np.random.default_rng(2024)
    time = pd.date_range("2024-01-01", periods=12, freq="MS") + pd.Timedelta(days=15)
    lat = np.arange(-24.875, -9.875, 0.25)
    lon = np.arange(142.125, 157.125, 0.25)
    month = np.arange(12)[:, None, None]
    seasonal = 1.8 * np.cos(2 * np.pi * (month - 1) / 12)
    gradient = 29.0 - 0.28 * (np.abs(lat)[None, :, None] - 10)
    sst = gradient + seasonal + rng.normal(0, 0.2, (12, lat.size, lon.size))
    err = np.abs(rng.normal(0.3, 0.05, sst.shape))
    ds = xr.Dataset(
        {
            "sst": (
                ("time", "lat", "lon"),
                sst.astype("float32"),
                {
                    "standard_name": "sea_surface_temperature",
                    "long_name": "analysed sea surface temperature",
                    "units": "degC",
                },
            ),
            "analysed_error": (
                ("time", "lat", "lon"),
                err.astype("float32"),
                {
                    "long_name": "estimated error standard deviation of analysed_sst",
                    "units": "K",
                },
            ),
        },
        coords={
            "time": ("time", time, {"standard_name": "time", "axis": "T"}),
            "lat": ("lat", lat, {"standard_name": "latitude", "units": "degrees_north", "axis": "Y"}),
            "lon": ("lon", lon, {"standard_name": "longitude", "units": "degrees_east", "axis": "X"}),
        },
        attrs={
            "title": "Example monthly sea surface temperature analysis",
            "Conventions": "CF-1.8",
            "institution": "catalog-bot example data (synthetic)",
            "history": "generated by scripts/make_example_data.py",
        },
    )
    path = out / "sea-surface-temperature" / "data" / "sea-surface-temperature.nc"
    path.parent.mkdir(parents=True, exist_ok=True)
    encoding = {v: {"zlib": True, "complevel": 4, "dtype": "float32"} for v in ("sst", "analysed_error")}
    encoding["time"] = {"units": "days since 1970-01-01", "calendar": "standard", "dtype": "float64"}
    ds.to_netcdf(path, engine="netcdf4", encoding=encoding)
    return path


def main() -> None:
    """Write all three example sources under ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    for fn in (reef_temperature, marine_protected_areas, sea_surface_temperature):
        path = fn(args.out)
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
