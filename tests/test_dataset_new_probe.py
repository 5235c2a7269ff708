"""The ``dataset new`` probe (bot.convert.probe) equals what ``publish`` computes, without converting the source.

Each case builds a real-world-shaped source, asks the probe, then runs the
real converter on the whole file and the publish metadata reader on its
output: bbox to 1e-3 degree (here to 1e-9: the probe applies the same
reprojection), time to the second, same schema.  Sources are bigger than the
probe's sample so that the extents must come from the whole file.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
import xarray as xr

from bot.catalog.layout import PipelineSpec
from bot.convert import convert_dataset
from bot.convert.probe import SAMPLE_ROWS, probe_source
from bot.convert.probe_keys import HASH_BUDGET, is_unique, primary_key, source_batches
from bot.errors import DataError
from bot.metadata.datadriven import extract_metadata
from bot.structs import load

pytestmark = pytest.mark.slow

ROWS = SAMPLE_ROWS * 3 + 17


def _spec(path: str, fmt: str, coords: dict[str, str], **source: str) -> PipelineSpec:
    output = "zarr" if fmt in ("netcdf", "zarr") else "parquet"
    return load(
        {"source": {"path": path, "format": fmt, **source}, "output": output, "coordinates": coords}, PipelineSpec
    )


def _same_as_publish(spec: PipelineSpec, source: Path, tmp: Path) -> dict:
    probed = probe_source(spec, source, tmp / "probe", "ds")
    full = convert_dataset(spec, source, tmp / "full", None, name="ds")
    published = extract_metadata(full.path, spec.coordinates)
    assert probed.bbox is not None and published.bbox is not None
    assert np.allclose(probed.bbox, published.bbox, atol=1e-9, rtol=0), (probed.bbox, published.bbox)
    assert probed.time_range == published.time_range
    assert probed.rows == published.rows and probed.cells == published.cells
    if probed.kind == "tabular":
        assert probed.to_tableschema(curated=True) == published.to_tableschema(curated=True)
    else:  # by name: a Zarr store lists its arrays in file-system order, which a copy need not keep
        for section in ("dimensions", "variables"):
            probed_section = sorted(probed.to_gridschema()[section], key=lambda e: e["name"])
            assert probed_section == sorted(published.to_gridschema()[section], key=lambda e: e["name"])
        assert probed.to_stac_datacube() == published.to_stac_datacube()
    return {"probed": probed, "published": published}


def _stations(n: int = ROWS, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "station": rng.choice([f"ST{i:03d}" for i in range(40)], n),
            "time": pd.Timestamp("2020-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 86400 * 900, n), "s"),
            "lon": rng.uniform(110, 155, n),
            "lat": rng.uniform(-44, -9, n),
            "temperature": rng.normal(20, 3, n).round(2),
        }
    )


def test_plain_parquet_extents_from_the_footer(tmp_path: Path) -> None:
    df = _stations()
    df.loc[ROWS - 1, ["lon", "lat"]] = [156.5, -45.25]  # the extreme rows are past the sample
    src = tmp_path / "obs.parquet"
    df.to_parquet(src, row_group_size=SAMPLE_ROWS)
    found = _same_as_publish(_spec("obs.parquet", "parquet", {"x": "lon", "y": "lat", "t": "time"}), src, tmp_path)
    assert found["probed"].bbox[2:] == [156.5, found["published"].bbox[3]] and found["probed"].extent_source == "probe"


def test_geoparquet_in_a_projected_crs_is_reprojected_like_the_converter(tmp_path: Path) -> None:
    df = _stations()
    gdf = gpd.GeoDataFrame(
        df.drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(df.lon, df.lat), crs="EPSG:4326"
    ).to_crs("EPSG:3577")
    src = tmp_path / "albers.parquet"
    gdf.to_parquet(src, row_group_size=SAMPLE_ROWS)
    assert json.loads(pq.ParquetFile(src).metadata.metadata[b"geo"])["columns"]["geometry"]["crs"]
    _same_as_publish(_spec("albers.parquet", "parquet", {"geometry": "geometry", "t": "time"}), src, tmp_path)


def test_projected_csv_streams_only_coordinates(tmp_path: Path) -> None:
    df = _stations()
    utm = gpd.GeoSeries(gpd.points_from_xy(df.lon.clip(120, 150), df.lat), crs="EPSG:4326").to_crs("EPSG:28355")
    df["easting"], df["northing"] = utm.x.round(2), utm.y.round(2)
    df = df.drop(columns=["lon", "lat"])
    df["time"] = df["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    src = tmp_path / "utm.csv"
    df.to_csv(src, index=False)
    spec = _spec("utm.csv", "csv", {"x": "easting", "y": "northing", "t": "time"}, crs="EPSG:28355")
    _same_as_publish(spec, src, tmp_path)


def test_csv_with_a_bad_coordinate_past_the_sample_is_refused(tmp_path: Path) -> None:
    df = _stations()
    df["time"] = df["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    df.loc[ROWS - 5, "lat"] = 95.0
    src = tmp_path / "bad.csv"
    df.to_csv(src, index=False)
    with pytest.raises(DataError, match="95") as err:
        probe_source(_spec("bad.csv", "csv", {"x": "lon", "y": "lat", "t": "time"}), src, tmp_path / "w", "ds")
    assert err.value.field == "lat"


@pytest.mark.parametrize(("fmt", "suffix"), [("flatgeobuf", ".fgb"), ("shapefile", ".shp"), ("gpkg", ".gpkg")])
def test_vector_layers_lonlat_and_projected(tmp_path: Path, fmt: str, suffix: str) -> None:
    rng = np.random.default_rng(5)
    x0, y0 = rng.uniform(140, 150, ROWS // 10), rng.uniform(-30, -10, ROWS // 10)
    zones = gpd.GeoDataFrame(
        {"zone": [f"Z{i}" for i in range(len(x0))], "area": rng.uniform(1, 9, len(x0))},
        geometry=shapely.box(x0, y0, x0 + 0.05, y0 + 0.04),
        crs="EPSG:4326",
    )
    for crs in ("EPSG:4326", "EPSG:3577"):
        src = tmp_path / crs.replace(":", "") / f"zones{suffix}"
        src.parent.mkdir()
        zones.to_crs(crs).to_file(src, engine="pyogrio")
        _same_as_publish(_spec(src.name, fmt, {"geometry": "geometry"}), src, src.parent)


def test_netcdf_noleap_and_zarr_v3_from_coordinates(tmp_path: Path) -> None:
    # a 0.5 degree grid: the probe reads coordinates only and the assertions compare it with publish (the
    # 0.1 degree grid of before, 230 MB of float32, cost 5 CPU-s and asserted nothing more)
    lat = np.arange(-44.75, -10, 0.5)
    lon = np.arange(110.25, 155, 0.5)
    days = np.arange(0, 24 * 365, 24.0) * 1.5  # hours on a 365-day calendar
    rng = np.random.default_rng(7)
    data = (20 + rng.normal(0, 2, (len(days), len(lat), len(lon)))).astype("float32")
    ds = xr.Dataset(
        {"sst": (("time", "lat", "lon"), data, {"units": "degC", "long_name": "sea surface temperature"})},
        coords={
            "time": ("time", days, {"units": "hours since 1990-01-01 00:00", "calendar": "noleap", "axis": "T"}),
            "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"}),
        },
    )
    coords = {"x": "lon", "y": "lat", "t": "time"}
    nc = tmp_path / "sst.nc"
    ds.to_netcdf(nc, encoding={"sst": {"dtype": "int16", "scale_factor": 0.01, "add_offset": 20.0, "_FillValue": -1}})
    found = _same_as_publish(_spec("sst.nc", "netcdf", coords), nc, tmp_path / "nc")
    assert found["probed"].time_range == ("1990-01-01T00:00:00Z", "1991-07-01T00:00:00Z")  # 546 noleap days
    store = tmp_path / "sst.zarr"
    xr.open_dataset(nc).to_zarr(store, zarr_format=3, consolidated=False)
    _same_as_publish(_spec("sst.zarr", "zarr", coords), store, tmp_path / "zarr")


def _model_output(steps: int = 9) -> xr.Dataset:
    """Ocean-model-shaped output: packed and masked integers, float variables with and without a fill value, a
    4-D variable on a depth axis, 2-D time bounds, a scalar grid-mapping variable and a dimension without a
    coordinate variable."""
    rng = np.random.default_rng(11)
    lat, lon, depth = np.arange(-30.0, -20.0, 0.5), np.arange(150.0, 162.0, 0.5), np.array([0.5, 10.0, 50.0])
    shape = (steps, len(depth), len(lat), len(lon))
    temp = (18 + rng.normal(0, 2, shape)).astype("float32")
    temp[:, :, :3, :3] = np.nan  # land
    return xr.Dataset(
        {
            "temp": (("time", "depth", "lat", "lon"), temp, {"units": "degC", "long_name": "temperature"}),
            "salt": (("time", "depth", "lat", "lon"), (35 + rng.normal(0, 0.2, shape)).astype("float64")),
            "mask": (("lat", "lon"), rng.integers(0, 2, (len(lat), len(lon))).astype("int8"), {"long_name": "wet"}),
            "count": (("time", "lat", "lon"), rng.integers(0, 99, shape[:1] + shape[2:]).astype("int32")),
            "time_bnds": (("time", "nv"), np.stack([np.arange(steps) - 0.5, np.arange(steps) + 0.5], axis=1)),
            "crs": ((), np.int32(0), {"grid_mapping_name": "latitude_longitude"}),
        },
        coords={
            "time": ("time", np.arange(steps, dtype="float64"), {"units": "days since 2010-01-01", "axis": "T"}),
            "depth": ("depth", depth, {"units": "m", "positive": "down", "long_name": "depth"}),
            "lat": ("lat", lat, {"units": "degrees_north"}),
            "lon": ("lon", lon, {"units": "degrees_east"}),
        },
    )


@pytest.mark.parametrize("group", [None, "model"])
def test_netcdf_read_with_netcdf4_alone_equals_publish(tmp_path: Path, group: str | None) -> None:
    """Packed, masked and unpacked variables, auxiliary and scalar variables, a group: read with netCDF4 only."""
    from bot.convert.probe_grid import open_netcdf, supported

    ds = _model_output()
    encoding = {
        "temp": {"dtype": "int16", "scale_factor": 0.001, "add_offset": 18.0, "_FillValue": -32767},
        "count": {"missing_value": -1},
        "salt": {"_FillValue": None},
    }
    nc = tmp_path / "model.nc"
    if group:
        xr.Dataset(attrs={"title": "root"}).to_netcdf(nc)
    ds.to_netcdf(nc, mode="a" if group else "w", group=group, encoding=encoding)
    spec = _spec("model.nc", "netcdf", {"x": "lon", "y": "lat", "z": "depth", "t": "time"}, **({"group": group} if group else {}))  # fmt: skip
    with open_netcdf(nc, group) as node:
        assert supported(node)  # the netCDF4 path, not the sample conversion
    found = _same_as_publish(spec, nc, tmp_path)
    grid = {v["name"]: v for v in found["probed"].to_gridschema()["variables"]}
    assert grid["temp"]["packing"] == {"scale_factor": 0.001, "add_offset": 18.0, "_FillValue": -32767, "decoded_data_type": "float64"}  # fmt: skip
    assert found["probed"].time_range == ("2010-01-01T00:00:00Z", "2010-01-09T00:00:00Z")


def test_netcdf_with_unsigned_bytes_falls_back_to_a_converted_sample(tmp_path: Path) -> None:
    """``_Unsigned`` bytes (NetCDF-3 has no unsigned types) are a CF encoding the netCDF4 reader does not model:
    the real converter describes such a file, on a two-step sample."""
    import netCDF4

    from bot.convert.probe_grid import open_netcdf, supported

    nc = tmp_path / "classic.nc"
    _model_output(steps=4).to_netcdf(nc)
    with netCDF4.Dataset(nc, "a") as out:  # as NetCDF-3 writers store unsigned bytes
        quality = out.createVariable("quality", "i1", ("time", "lat", "lon"))
        quality.setncattr("_Unsigned", "true")
        quality.set_auto_maskandscale(False)
        quality[:] = np.full(quality.shape, -56, dtype="int8")  # 200
    with open_netcdf(nc, None) as node:
        assert not supported(node) and node.variables["quality"].getncattr("_Unsigned") == "true"
    found = _same_as_publish(_spec("classic.nc", "netcdf", {"x": "lon", "y": "lat", "t": "time"}), nc, tmp_path)
    assert found["probed"].extent_source == "probe (coordinates)" and found["probed"].cells == 4 * 3 * 20 * 24


def test_sample_is_bounded(tmp_path: Path) -> None:
    """The converter sees at most SAMPLE_ROWS rows of a Parquet source (what makes the probe cheap)."""
    src = tmp_path / "obs.parquet"
    pq.write_table(pa.Table.from_pandas(_stations(), preserve_index=False), src)
    from bot.convert.probe import _parquet_sample

    sample = _parquet_sample(src, tmp_path / "sample.parquet")
    assert pq.ParquetFile(sample).metadata.num_rows == SAMPLE_ROWS


# ---------------------------------------------------------------------------
# primary key


def _unique_readings(n: int = ROWS) -> pd.DataFrame:
    """One reading per station and hour: station + time is unique, station alone is not."""
    stations = [f"ST{i:03d}" for i in range(37)]
    return pd.DataFrame(
        {
            "reading_id": np.arange(n, dtype="int64") * 7 + 1000,
            "station": [stations[i % 37] for i in range(n)],
            "time": pd.Timestamp("2021-06-01", tz="UTC") + pd.to_timedelta(np.arange(n) // 37, "h"),
            "lon": np.linspace(140, 150, n),
            "lat": np.linspace(-30, -20, n),
        }
    )


@pytest.mark.parametrize("budget", [HASH_BUDGET, 8 * ROWS // 5])  # one pass; five partitioned passes
def test_unique_id_column_in_a_parquet_is_the_key(tmp_path: Path, budget: int) -> None:
    df = _unique_readings()
    src = tmp_path / "obs.parquet"
    df.to_parquet(src, row_group_size=SAMPLE_ROWS)
    spec = _spec("obs.parquet", "parquet", {"x": "lon", "y": "lat", "t": "time"})
    batches = source_batches(spec, src)
    assert batches is not None
    assert is_unique(batches, ["reading_id"], ROWS, budget=budget)
    assert not is_unique(batches, ["station"], ROWS, budget=budget)
    df.loc[ROWS - 3, "reading_id"] = df.loc[2, "reading_id"]  # one repeat, far apart (different row groups)
    df.to_parquet(src, row_group_size=SAMPLE_ROWS)
    assert not is_unique(batches, ["reading_id"], ROWS, budget=budget)
    meta = probe_source(spec, src, tmp_path / "w", "obs")
    key, tried = primary_key(spec, src, meta)
    assert key == ["station", "time"] and tried == ["reading_id"]


def test_csv_station_and_time_key_only_when_unique(tmp_path: Path) -> None:
    df = _unique_readings().drop(columns="reading_id")
    df["time"] = df["time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    src = tmp_path / "loggers.csv"
    df.to_csv(src, index=False)
    spec = _spec("loggers.csv", "csv", {"x": "lon", "y": "lat", "t": "time"})
    meta = probe_source(spec, src, tmp_path / "w1", "loggers")
    assert primary_key(spec, src, meta) == (["station", "time"], [])
    pd.concat([df, df.iloc[[ROWS - 40]]]).to_csv(src, index=False)  # a logger sent one reading twice
    meta = probe_source(spec, src, tmp_path / "w2", "loggers")
    assert primary_key(spec, src, meta) == (None, ["station+time"])


def test_key_column_with_empty_values_is_not_a_key(tmp_path: Path) -> None:
    df = _unique_readings()
    src = tmp_path / "obs.parquet"
    df["reading_id"] = df["reading_id"].astype("Int64")
    df.loc[ROWS - 1, "reading_id"] = None
    df.drop(columns="station").to_parquet(src)
    spec = _spec("obs.parquet", "parquet", {"x": "lon", "y": "lat", "t": "time"})
    meta = probe_source(spec, src, tmp_path / "w", "obs")
    assert primary_key(spec, src, meta) == (None, ["reading_id", "reading_id+time"])


def test_row_hashes_match_equal_values_across_batches_and_encodings() -> None:
    """Equal values hash alike in every batch (plain or dictionary-encoded); distinct integers never collide."""
    from bot.convert.probe_keys import _hash

    ids = np.array([-(2**63), -1, 0, 1, 7, 2**62, 2**63 - 1], dtype="int64")
    words = _hash(pa.array(ids))
    assert words is not None and len(set(words.tolist())) == ids.size
    small = ids.clip(-(2**31), 2**31 - 1)
    assert np.array_equal(_hash(pa.array(small.astype("int32"))), _hash(pa.array(small)))  # same value, any width
    stations = ["ST001", "ST002", "ST001", "Île-Verte"]
    plain, encoded = _hash(pa.array(stations)), _hash(pa.array(stations).dictionary_encode())
    later = _hash(pa.chunked_array([pa.array(["Île-Verte", "ST002"])]))
    assert plain is not None and encoded is not None and later is not None
    assert np.array_equal(plain, encoded) and plain[0] == plain[2] and list(later) == [plain[3], plain[1]]
    assert _hash(pa.array(["ST001", None])) is None  # a key column has no empty values
