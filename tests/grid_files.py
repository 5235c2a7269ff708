"""Real-world-shaped daily NetCDF files for the many-file grid tests.

Shaped like a CMIP/reanalysis daily product: a ``noleap`` (365_day)
calendar in "days since" units, SST packed as int16 with a float32
``scale_factor``/``add_offset`` and a ``_FillValue`` over land, a float32
error field with its own fill value and a land mask, deflated NetCDF-4
chunks of one day -- the encodings that have to survive being split into
parts and assembled again.
"""

from __future__ import annotations

from pathlib import Path

import cftime
import numpy as np
import xarray as xr

LAT = np.linspace(-29.875, -10.125, 80)
LON = np.linspace(142.125, 161.875, 80)


def daily_files(
    folder: Path,
    files: int,
    days: int = 3,
    *,
    start: int = 0,
    lat: np.ndarray = LAT,
    packed: bool = True,
    own_epoch: bool = False,
    calendar: str = "noleap",
    noon: bool = False,
) -> list[Path]:
    """``files`` NetCDF files of ``days`` consecutive days each (file ``i`` starts at day ``start + i*days``).

    ``packed=False``: SST as float32 (NaN fill) instead of CF-packed int16;
    ``own_epoch``: each file counts its times from its own first day ("days
    since <that day>", as many daily products do) instead of 1850-01-01;
    ``noon``: daily means stamped at 12:00 (0.5, 1.5, ... days).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(42 + start)
    field = 26 - 0.35 * (lat[:, None] + 20) + 0.6 * np.sin(np.deg2rad(LON[None, :] * 4))
    land = (lat[:, None] > -16) & (LON[None, :] < 146)  # the Cape York corner
    out = []
    for i in range(files):
        first = start + i * days
        time = np.arange(first, first + days, dtype="float64")
        epoch, counted = "1850-01-01", time
        if own_epoch:  # the same days, counted from the file's first day (in the file's calendar)
            epoch = cftime.num2date(first, "days since 1850-01-01", calendar=calendar).strftime("%Y-%m-%d")
            counted = time - first
        counted = counted + 0.5 if noon else counted
        season = 1.5 * np.cos(2 * np.pi * (time - 45) / 365)[:, None, None]
        sst = (field[None] + season + rng.normal(0, 0.2, (days, len(lat), len(LON)))).astype("float32")
        sst[:, land] = np.nan
        err = np.abs(rng.normal(0.3, 0.05, sst.shape)).astype("float32")
        err[:, land] = np.nan
        ds = xr.Dataset(
            {
                "sst": (("time", "lat", "lon"), sst, {"long_name": "sea surface temperature", "units": "degC",
                                                      "standard_name": "sea_surface_temperature"}),
                "analysed_error": (("time", "lat", "lon"), err, {"long_name": "estimated error", "units": "K"}),
            },
            coords={
                "time": ("time", counted, {"units": f"days since {epoch}", "calendar": calendar, "axis": "T"}),
                "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
                "lon": ("lon", LON, {"units": "degrees_east", "standard_name": "longitude"}),
            },
            attrs={"title": "Daily SST (synthetic, noleap)", "Conventions": "CF-1.8", "source": f"day file {i}"},
        )  # fmt: skip
        path = folder / f"tos_day_{first:05d}.nc"
        packing = {"dtype": "int16", "scale_factor": np.float32(0.001), "add_offset": np.float32(20.0),
                   "_FillValue": np.int16(-32768)} if packed else {}  # fmt: skip
        ds.to_netcdf(
            path,
            encoding={
                "sst": {**packing, "zlib": True, "complevel": 1, "chunksizes": (1, len(lat), 80)},
                "analysed_error": {"_FillValue": np.float32(-999.0), "zlib": True, "chunksizes": (1, len(lat), 80)},
                "time": {"dtype": "float64", "_FillValue": None},
            },
        )  # fmt: skip
        out.append(path)
    return out


def grouped_copies(files: list[Path], folder: Path, group: str = "PRODUCT") -> list[Path]:
    """Copies of ``files`` with the variables in a named group, as satellite L3 products keep them."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for f in files:
        dest = folder / f.name
        xr.Dataset(attrs={"title": "grouped product"}).to_netcdf(dest)
        with xr.open_dataset(f) as ds:
            ds.load().to_netcdf(dest, group=group, mode="a")
        out.append(dest)
    return out
