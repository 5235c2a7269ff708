"""OPeNDAP sources: open a remote grid lazily with xarray and let the server subset it.

Why OPeNDAP and not a download: a remote aggregation can be terabytes; with
``variables`` and ``subset`` only the selected hyperslabs cross the network
(netCDF-C's DAP client asks the server for index ranges).  The subset is
written to one local NetCDF file in the work folder, which the ordinary
grid converter then turns into Zarr.

Change detection: the server's ``.dds`` and ``.das`` (structure and
attributes: a grown time axis or a new ``history`` changes them) are
hashed, plus ``Last-Modified`` when the server sends one.  A server that
rewrites values in place without touching either is not noticed; a
re-publish with ``--force`` re-reads it.

The address rules apply to the URL's host before netCDF-C connects;
redirects are followed by netCDF-C (libcurl) and are not re-checked.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.adapters.download import SERVICE, Limits, now_iso, retry_source, too_big
from bot.adapters.http_source import HttpSource
from bot.errors import DataError, ServiceError
from bot.sources.manifest import SourceRecord, Validators


def dap_validators(http: HttpSource, url: str) -> Validators:
    """A version id of the remote grid from its DDS + DAS (small text documents; no data)."""
    dds, headers = http.get_small(f"{url}.dds")
    das, _ = http.get_small(f"{url}.das")
    digest = hashlib.sha256(dds + b"\0" + das).hexdigest()[:32]
    return Validators(etag=f"dap:{digest}", last_modified=headers.get("last-modified"))


def _open(url: str, limits: Limits) -> Any:
    import xarray as xr

    def once() -> Any:
        try:
            return xr.open_dataset(url, engine="netcdf4", cache=False)
        except OSError as exc:
            raise ServiceError(
                SERVICE,
                f"cannot open the OPeNDAP dataset: {exc}",
                url=url,
                transient=True,
                hint="check that the URL is an OPeNDAP dataset (the URL + '.dds' must answer) and the server is up",
            ) from exc

    return retry_source(limits, once, max_delay=20.0)


def _slice(values: Any, low: Any, high: Any) -> slice:
    """A label slice that works whether the coordinate increases or decreases."""
    if len(values) > 1 and values[0] > values[-1]:
        return slice(high, low)
    return slice(low, high)


def subset_dataset(
    ds: Any,
    *,
    variables: Sequence[str] | None,
    bbox: tuple[float, float, float, float] | None,
    time: tuple[str, str] | None,
    x: str | None,
    y: str | None,
    t: str | None,
    url: str,
) -> Any:
    """The lazy selection of ``ds``: variables, then bbox on x/y, then the time range (no data read)."""
    if variables:
        missing = [v for v in variables if v not in ds.data_vars]
        if missing:
            raise DataError(
                f"{url}: no variable {', '.join(map(repr, missing))}; the dataset has {', '.join(map(str, ds.data_vars))}",
                field="source.variables",
                hint="list variables by their OPeNDAP names",
            )
        ds = ds[list(variables)]
    selection: dict[str, slice] = {}
    if bbox is not None:
        if not x or not y or x not in ds.coords or y not in ds.coords:
            raise DataError(
                f"{url}: subset.bbox needs coordinates.x and coordinates.y naming the grid's longitude/latitude",
                field="coordinates",
                hint=f"coordinates are {', '.join(map(str, ds.coords))}",
            )
        west, south, east, north = bbox
        selection[x] = _slice(ds[x].values, west, east)
        selection[y] = _slice(ds[y].values, south, north)
    if time is not None:
        if not t or t not in ds.coords:
            raise DataError(f"{url}: subset.time needs coordinates.t", field="coordinates.t", hint="set coordinates.t")
        selection[t] = slice(time[0], time[1])
    out = ds.sel(selection) if selection else ds
    empty = [str(d) for d, n in out.sizes.items() if n == 0]
    if empty:
        extent = {k: [str(ds[k].values.min()), str(ds[k].values.max())] for k in selection if k in ds.coords}
        raise DataError(
            f"{url}: the subset selects nothing along {', '.join(empty)} (the grid covers {extent})",
            field="source.subset",
            hint="choose a bbox / time range inside the grid's extent",
        )
    return out


def fetch_subset(
    url: str,
    dest: Path,
    *,
    variables: Sequence[str] | None,
    bbox: tuple[float, float, float, float] | None,
    time: tuple[str, str] | None,
    coords: tuple[str | None, str | None, str | None],
    limits: Limits,
    validators: Validators,
) -> SourceRecord:
    """Write the server-side subset of ``url`` to ``dest`` (NetCDF, atomically) and return its record."""
    ds = _open(url, limits)
    try:
        x, y, t = coords
        sub = subset_dataset(ds, variables=variables, bbox=bbox, time=time, x=x, y=y, t=t, url=url)
        if sub.nbytes > limits.max_bytes:
            raise too_big(url + " (subset)", int(sub.nbytes), limits)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            sub.load()  # bounded by max_download_mb (checked above)
            for var in sub.variables.values():
                var.encoding.pop("source", None)
            sub.to_netcdf(tmp)
            os.replace(tmp, dest)
        except OSError as exc:
            raise ServiceError(
                SERVICE, f"reading the subset failed: {exc}", url=url, hint="retry; check the server's logs"
            ) from exc
        finally:
            tmp.unlink(missing_ok=True)
        size = int(sub.nbytes)
    finally:
        ds.close()
    return SourceRecord(
        uri=url,
        file=dest.name,
        validators=Validators(validators.etag, validators.last_modified, size),
        retrieved=now_iso(),
        status="downloaded",
        bytes_transferred=size,
    )
