"""GeoParquet output: always valid 1.1 (also from pre-1.0 input), compact for points, readable by real readers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from pyproj import CRS

from bot.adapters.objectstore import file_sha256
from bot.catalog.layout import Coordinates
from bot.convert.tabular import convert_csv, passthrough_parquet
from bot.errors import DataError

_TYPE = re.compile(r"^(GeometryCollection|(Multi)?(Point|LineString|Polygon))( Z)?$")


def assert_valid_geoparquet_11(path: Path) -> dict[str, Any]:
    """The GeoParquet 1.1.0 metadata rules a reader relies on, checked against the file itself."""
    pf = pq.ParquetFile(path)
    geo = json.loads(pf.metadata.metadata[b"geo"])
    assert geo["version"] == "1.1.0"
    schema = pf.schema_arrow
    assert geo["primary_column"] in geo["columns"]
    for name, col in geo["columns"].items():
        assert col["encoding"] == "WKB"
        assert pa.types.is_binary(schema.field(name).type) or pa.types.is_large_binary(schema.field(name).type)
        assert isinstance(col["geometry_types"], list) and all(_TYPE.match(t) for t in col["geometry_types"])
        assert len(col["bbox"]) == 4 and col["bbox"][0] <= col["bbox"][2] and col["bbox"][1] <= col["bbox"][3]
        if "crs" in col:  # PROJJSON, or omitted for OGC:CRS84 (never a WKT string, never "OGC:CRS84")
            assert isinstance(col["crs"], dict) and col["crs"].get("type")
        assert "geometry_type" not in col  # the pre-1.0 singular key
        if "covering" in col:
            paths = col["covering"]["bbox"]
            assert set(paths) == {"xmin", "ymin", "xmax", "ymax"}
            struct = schema.field(paths["xmin"][0]).type
            assert pa.types.is_struct(struct)
            assert {struct.field(i).name for i in range(struct.num_fields)} == set(paths)
    return geo


def _stations(n: int, seed: int = 3) -> pd.DataFrame:
    """Logger time series as real monitoring networks ship them: few sites, many readings."""
    rng = np.random.default_rng(seed)
    site = rng.integers(0, 150, n)
    lon = np.round(rng.uniform(142, 154, 150), 5)[site]
    lat = np.round(rng.uniform(-24, -10, 150), 5)[site]
    return pd.DataFrame(
        {
            "site_id": np.array([f"GBR{i:03d}" for i in range(150)])[site],
            "time": pd.Timestamp("2021-01-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 60, unit="s"),
            "lon": lon,
            "lat": lat,
            "depth": np.round(rng.uniform(0.5, 30, n), 1),
            "temperature": np.round(rng.normal(26, 1.5, n), 3),
            "qc_flag": rng.choice(np.array([1, 1, 1, 1, 2, 4]), n),
        }
    )


def _old_geoparquet(path: Path, df: pd.DataFrame, geo: dict[str, Any], geometry: str = "geometry") -> Path:
    table = pa.Table.from_pandas(df, preserve_index=False)
    wkb = shapely.to_wkb(shapely.points(df["lon"], df["lat"]), flavor="iso")
    table = table.append_column(geometry, pa.array(wkb, pa.binary()))
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(geo).encode()}), path, compression="snappy")
    return path


def test_pre_1_0_geoparquet_is_upgraded_not_passed_through(tmp_path: Path) -> None:
    df = _stations(5000)
    geo_04 = {
        "version": "0.4.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_type": "Point",
                "crs": CRS.from_user_input("EPSG:4326").to_wkt(),  # 0.x wrote WKT2 strings
            }
        },
    }
    src = _old_geoparquet(tmp_path / "old.parquet", df, geo_04)
    out = passthrough_parquet(src, tmp_path / "out" / "new.parquet", Coordinates(geometry="geometry", t="time"))
    assert out.path.read_bytes() != src.read_bytes()
    geo = assert_valid_geoparquet_11(out.path)
    col = geo["columns"]["geometry"]
    assert col["geometry_types"] == ["Point"] and "crs" not in col
    assert col["bbox"] == [df.lon.min(), df.lat.min(), df.lon.max(), df.lat.max()]
    table = pq.read_table(out.path)
    assert table.num_rows == len(df)
    assert table.drop(["geometry"]).to_pandas().equals(df.astype({"time": "datetime64[us, UTC]"}))


def test_wrong_primary_column_is_overridden_by_pipeline_coordinates(tmp_path: Path) -> None:
    df = _stations(300)
    geo = {"version": "1.0.0", "primary_column": "geom", "columns": {"shape": {"encoding": "WKB"}}}
    src = _old_geoparquet(tmp_path / "wrong.parquet", df, geo, geometry="shape")
    with pytest.raises(DataError, match="primary column 'geom' is not a column") as err:
        passthrough_parquet(src, tmp_path / "a.parquet", Coordinates(t="time"))
    assert "coordinates.geometry" in (err.value.hint or "")
    out = passthrough_parquet(src, tmp_path / "b.parquet", Coordinates(geometry="shape", t="time"))
    geo_out = assert_valid_geoparquet_11(out.path)
    assert geo_out["primary_column"] == "shape" and geo_out["columns"]["shape"]["geometry_types"] == ["Point"]


def test_polygons_get_a_covering_with_statistics_and_old_covering_is_replaced(tmp_path: Path) -> None:
    boxes = [shapely.box(140 + i, -20 - i, 140.5 + i, -19 - i) for i in range(40)]
    table = pa.table(
        {
            "name": [f"zone {i}" for i in range(40)],
            "bbox": pa.array([{"minx": 0.0}] * 40),  # somebody's old covering, under the name we use
            "geometry": pa.array(shapely.to_wkb(np.array(boxes), flavor="iso"), pa.binary()),
        }
    )
    geo = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": ["Polygon"],
                "covering": {"bbox": {k: ["bbox", "minx"] for k in ("xmin", "ymin", "xmax", "ymax")}},
            }
        },
    }
    src = tmp_path / "zones.parquet"
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(geo).encode()}), src)
    out = passthrough_parquet(src, tmp_path / "zones-out.parquet", Coordinates(geometry="geometry"))
    geo_out = assert_valid_geoparquet_11(out.path)
    assert geo_out["columns"]["geometry"]["bbox"] == [140.0, -59.0, 179.5, -19.0]
    md = pq.read_metadata(out.path)
    names = [md.row_group(0).column(i).path_in_schema for i in range(md.num_columns)]
    stats = md.row_group(0).column(names.index("bbox.xmin")).statistics
    assert stats.has_min_max and (stats.min, stats.max) == (140.0, 179.0)
    cover = pq.read_table(out.path).column("bbox").to_pylist()
    assert cover[0] == {"xmin": 140.0, "ymin": -20.0, "xmax": 140.5, "ymax": -19.0}


def test_projected_geoparquet_is_reprojected_and_unknown_crs_refused(tmp_path: Path) -> None:
    from pyproj import Transformer

    df = _stations(500)
    to_utm = Transformer.from_crs("OGC:CRS84", "EPSG:32755", always_xy=True)
    east, north = to_utm.transform(df["lon"].to_numpy(), df["lat"].to_numpy())
    projected = df.assign(lon=east, lat=north)  # the geometry is built from these (UTM 55S)
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "crs": CRS.from_epsg(32755).to_json_dict()}},
    }
    src = _old_geoparquet(tmp_path / "utm.parquet", projected, geo)
    out = passthrough_parquet(src, tmp_path / "x.parquet", Coordinates(geometry="geometry"))
    col = assert_valid_geoparquet_11(out.path)["columns"]["geometry"]
    assert "crs" not in col  # what is stored is lon/lat
    assert np.allclose(col["bbox"], [df.lon.min(), df.lat.min(), df.lon.max(), df.lat.max()], atol=1e-6)
    geo["columns"]["geometry"]["crs"] = "EPSG:999999"
    bad = _old_geoparquet(tmp_path / "bad.parquet", projected, geo)
    with pytest.raises(DataError, match="unknown CRS 'EPSG:999999'") as err:
        passthrough_parquet(bad, tmp_path / "y.parquet", Coordinates(geometry="geometry"))
    assert "EPSG code" in (err.value.hint or "")
    assert not (tmp_path / "y.parquet").exists()


def _tracks(n: int, seed: int = 5) -> pd.DataFrame:
    """Vessel tracks as AIS feeds ship them: every position distinct, one fix a minute per vessel."""
    rng = np.random.default_rng(seed)
    vessels = 40
    per = n // vessels
    start = np.repeat(np.column_stack([rng.uniform(142, 154, vessels), rng.uniform(-24, -10, vessels)]), per, axis=0)
    steps = rng.normal(0, 0.003, (vessels, per, 2)).cumsum(axis=1).reshape(-1, 2)
    return pd.DataFrame(
        {
            "vessel": np.repeat([f"MMSI{503000000 + i}" for i in range(vessels)], per),
            "time": np.tile(
                pd.Timestamp("2023-03-01", tz="UTC") + pd.to_timedelta(np.arange(per) * 60, unit="s"), vessels
            ),
            "lon": np.round(start[:, 0] + steps[:, 0], 5),
            "lat": np.round(start[:, 1] + steps[:, 1], 5),
            "sog": np.round(rng.gamma(4, 2.5, vessels * per), 1),
            "sst": np.round(rng.normal(26, 1.5, vessels * per), 2),
        }
    )


def _uniform_points(n: int, seed: int = 42) -> pd.DataFrame:
    """The benchmark's lon/lat/time/value: positions drawn uniformly, so nothing repeats (worst case)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "lon": np.round(rng.uniform(140, 155, n), 5),
            "lat": np.round(rng.uniform(-25, -10, n), 5),
            "time": pd.Timestamp("2000-01-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 37, unit="s"),
            "value": np.round(rng.normal(26, 1.5, n), 3),
        }
    )


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    """``df.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")``, byte for byte, in a quarter of the CPU.

    Why: pandas formats 1.2 M floats one by one in Python (1.5-2 CPU-s per
    300,000-row case) and the CSV is only this test's input.  Arrow casts
    floats to their shortest round-trip text as Python's ``repr`` does;
    pandas' ``.0`` on whole numbers is added back.  The three shapes were
    compared byte for byte with pandas' output when this replaced it.
    """
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    columns = []
    for name in df.columns:
        values = df[name]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            utc = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
            text = pc.binary_join_element_wise(pa.array(np.datetime_as_string(utc, unit="s")), "Z", "")
        else:
            text = pc.cast(pa.array(values.to_numpy()), pa.string())
            if values.dtype.kind == "f":
                whole = pc.match_substring_regex(text, r"^-?\d+$")
                text = pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)
        columns.append(text)
    with path.open("wb") as out:
        out.write((",".join(df.columns) + "\n").encode())
        options = pcsv.WriteOptions(include_header=False, quoting_style="none")
        pcsv.write_csv(pa.table(columns, names=list(df.columns)), out, options)


@pytest.mark.parametrize("shape", ["stations", "tracks", "uniform"])
def test_point_output_is_compact_and_readable(tmp_path: Path, shape: str) -> None:
    """Size <= 1.2x a plain pandas Parquet of the same columns (was 2.6-2.9x, then 1.4-1.7x for distinct points)."""
    df = {"stations": _stations, "tracks": _tracks, "uniform": _uniform_points}[shape](300_000)
    plain = tmp_path / "plain.parquet"
    df.to_parquet(plain, index=False)
    csv = tmp_path / f"{shape}.csv"
    _write_csv(df, csv)
    out = convert_csv(
        csv, tmp_path / "out.parquet", Coordinates(x="lon", y="lat", t="time"), timestamp_format="%Y-%m-%dT%H:%M:%SZ"
    )
    assert out.sha256 == file_sha256(out.path)  # hashed while writing: the convert step does not read it back
    ratio = out.path.stat().st_size / plain.stat().st_size
    assert ratio <= 1.2, f"GeoParquet is {ratio:.2f}x the plain Parquet"
    assert_valid_geoparquet_11(out.path)
    md = pq.read_metadata(out.path)
    assert md.row_group(0).column(0).compression == "ZSTD"
    names = [md.row_group(0).column(i).path_in_schema for i in range(md.num_columns)]
    encoding = "RLE_DICTIONARY" if shape == "stations" else "BYTE_STREAM_SPLIT"  # 150 sites repeat; tracks do not
    assert encoding in md.row_group(0).column(names.index("lon")).encodings
    # regular time steps (also one vessel after another) cost bits with delta encoding, not a dictionary index
    assert "DELTA_BINARY_PACKED" in md.row_group(0).column(names.index("time")).encodings
    stats = md.row_group(0).column(names.index("lat")).statistics  # pygeoapi's y_field prunes on these
    assert stats.has_min_max
    # pyarrow: every value back exactly
    table = pq.read_table(out.path)
    assert table.num_rows == len(df)
    assert table.drop(["geometry"]).to_pandas().equals(df.astype({"time": "datetime64[us, UTC]"}))
    # geopandas (reads the geo metadata: geometry column, CRS)
    gdf = gpd.read_parquet(out.path)
    assert gdf.geometry.name == "geometry" and gdf.crs.equals(CRS.from_user_input("OGC:CRS84"))
    assert np.array_equal(gdf.geometry.x.to_numpy(), df.lon.to_numpy())
    assert np.array_equal(gdf.geometry.y.to_numpy(), df.lat.to_numpy())
    assert gdf.total_bounds.tolist() == [df.lon.min(), df.lat.min(), df.lon.max(), df.lat.max()]
