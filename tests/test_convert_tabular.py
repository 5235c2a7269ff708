"""CSV / GeoJSON / Parquet -> GeoParquet: real files in, real files out."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from bot.catalog.layout import Catalog, Coordinates, PipelineSpec
from bot.convert import convert_dataset
from bot.convert.tabular import convert_csv, passthrough_parquet, points_wkb
from bot.errors import DataError
from bot.structs import load

COORDS = Coordinates(x="lon", y="lat", z="depth", t="time")


def _spec(fmt: str = "csv", **source: object) -> PipelineSpec:
    return load(
        {
            "source": {"path": f"data/x.{fmt}", "format": fmt, **source},
            "output": "parquet",
            "coordinates": msgspec.structs.asdict(COORDS),
        },
        PipelineSpec,
    )


def _write_csv(path: Path, rows: list[str], header: str = "site_id,time,lon,lat,depth,temperature,qc_flag") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _rows(n: int, start_lat: float = -20.0) -> list[str]:
    return [
        f"S{i % 7},2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z,{140 + i * 0.001:.4f},"
        f"{start_lat + i * 0.0005:.4f},{i % 10}.0,{20 + i % 9}.5,{1 + i % 4}"
        for i in range(n)
    ]


def _assert_nothing_left(out_dir: Path) -> None:
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def test_example_csv_to_geoparquet_matches_source(example_catalog: Path, tmp_path: Path) -> None:
    ds = Catalog.open(example_catalog).dataset("reef-temperature")
    spec = ds.pipeline()
    schema = json.loads(ds.path("tableschema.json").read_text())
    src = ds.dir / spec.source.path
    result = convert_dataset(spec, src, tmp_path / "out", schema)

    expected = pd.read_csv(src)
    table = pq.read_table(result.path)
    assert result.format == "parquet"
    assert result.rows == len(expected) == table.num_rows
    assert result.files == [result.path] and result.bytes == result.path.stat().st_size
    assert table.schema.field("time").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("qc_flag").type == pa.int64()
    times = pd.to_datetime(expected["time"], utc=True)
    assert table.column("time").to_pandas().equals(times.astype("datetime64[us, UTC]"))
    # geometry: WKB points that decode to exactly the lon/lat columns
    pts = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    assert np.array_equal(shapely.get_x(pts), expected["lon"].to_numpy())
    assert np.array_equal(shapely.get_y(pts), expected["lat"].to_numpy())
    geo = json.loads(pq.read_metadata(result.path).metadata[b"geo"])
    col = geo["columns"]["geometry"]
    assert geo["version"] == "1.1.0" and geo["primary_column"] == "geometry"
    assert col["encoding"] == "WKB" and col["geometry_types"] == ["Point"] and "crs" not in col
    assert col["bbox"] == [expected.lon.min(), expected.lat.min(), expected.lon.max(), expected.lat.max()]
    # Points carry no covering column: it would repeat lon/lat twice (their own statistics prune row groups).
    assert "covering" not in col and "bbox" not in table.column_names
    # the schema metadata is visible to Arrow readers too (geopandas / pygeoapi read it there)
    assert b"geo" in pq.read_schema(result.path).metadata


def test_csv_streams_into_row_groups_with_statistics(tmp_path: Path) -> None:
    src = _write_csv(tmp_path / "big.csv", _rows(20_000))
    result = convert_csv(src, tmp_path / "out" / "big.parquet", COORDS, block_size=64 << 10, row_group_rows=3000)
    md = pq.read_metadata(result.path)
    assert md.num_row_groups > 3, "small blocks must give several row groups (streamed, not one table)"
    assert md.num_rows == 20_000 == result.rows
    names = [md.row_group(0).column(i).path_in_schema for i in range(md.row_group(0).num_columns)]
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        for leaf in ("lat", "lon", "time"):
            assert rg.column(names.index(leaf)).statistics.has_min_max
    df = pd.read_csv(src)
    geo = json.loads(md.metadata[b"geo"])
    assert geo["columns"]["geometry"]["bbox"] == [df.lon.min(), df.lat.min(), df.lon.max(), df.lat.max()]


def test_points_wkb_is_identical_to_shapely() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-180, 180, 1000), rng.uniform(-90, 90, 1000)
    ours = points_wkb(x, y).to_pylist()
    theirs = shapely.to_wkb(shapely.points(x, y), flavor="iso", byte_order=0).tolist()  # big endian
    assert ours == theirs


def test_iso_offsets_are_converted_to_utc(tmp_path: Path) -> None:
    src = _write_csv(
        tmp_path / "tz.csv",
        ["A,2024-01-01T10:00:00+10:00,150,-20,1,20,1", "A,2024-01-01T00:30:00Z,150,-20,1,20,1"],
    )
    result = convert_dataset(_spec(), src, tmp_path / "out")
    times = pq.read_table(result.path).column("time").to_pylist()
    assert [t.isoformat() for t in times] == ["2024-01-01T00:00:00+00:00", "2024-01-01T00:30:00+00:00"]


def test_explicit_timestamp_format_is_used(tmp_path: Path) -> None:
    src = _write_csv(tmp_path / "fmt.csv", ["A,01/02/2024 13:45,150,-20,1,20,1"])
    result = convert_dataset(_spec(timestamp_format="%d/%m/%Y %H:%M"), src, tmp_path / "out")
    (t,) = pq.read_table(result.path).column("time").to_pylist()
    assert (t.year, t.month, t.day, t.hour, t.minute, t.utcoffset().total_seconds()) == (2024, 2, 1, 13, 45, 0)


# --- bad input: DataError naming file, column/row, and nothing left behind -------------------------


def test_missing_coordinate_column(tmp_path: Path) -> None:
    src = _write_csv(tmp_path / "a.csv", ["A,2024-01-01T00:00:00Z,150,-20,1,20,1"])
    spec = load(
        {
            "source": {"path": "a.csv", "format": "csv"},
            "output": "parquet",
            "coordinates": {"x": "longitude", "y": "lat"},
        },
        PipelineSpec,
    )
    with pytest.raises(DataError) as err:
        convert_dataset(spec, src, tmp_path / "out")
    assert "longitude" in str(err.value) and "coordinates.x" in str(err.value) and str(src) in str(err.value)
    _assert_nothing_left(tmp_path / "out")


def test_mixed_types_with_schema_names_row_and_value(example_catalog: Path, tmp_path: Path) -> None:
    schema = json.loads((example_catalog / "datasets/reef-temperature/tableschema.json").read_text())
    rows = _rows(3000)
    rows[2500] = rows[2500].rsplit(",", 2)[0] + ",warm,1"
    src = _write_csv(tmp_path / "m.csv", rows)
    with pytest.raises(DataError) as err:
        convert_dataset(_spec(), src, tmp_path / "out", schema)
    msg = str(err.value)
    assert "[temperature]" in msg and "'warm'" in msg and "row 2501" in msg and "mixes types" in msg
    _assert_nothing_left(tmp_path / "out")


def test_mixed_types_without_schema_in_later_block(tmp_path: Path) -> None:
    rows = _rows(20_000)
    rows[-1] = rows[-1].rsplit(",", 1)[0] + ",bad"
    src = _write_csv(tmp_path / "m.csv", rows)
    with pytest.raises(DataError) as err:
        convert_csv(src, tmp_path / "out" / "m.parquet", COORDS, block_size=64 << 10)
    assert "[qc_flag]" in str(err.value) and "row 20000" in str(err.value)
    _assert_nothing_left(tmp_path / "out")


def test_unparseable_timestamp_names_row_and_value(tmp_path: Path) -> None:
    rows = _rows(500)
    rows[321] = rows[321].replace(rows[321].split(",")[1], "2024-13-45T99:00:00Z")
    src = _write_csv(tmp_path / "t.csv", rows)
    with pytest.raises(DataError) as err:
        convert_dataset(_spec(), src, tmp_path / "out")
    msg = str(err.value)
    assert "[time]" in msg and "row 322" in msg and "2024-13-45T99:00:00Z" in msg
    _assert_nothing_left(tmp_path / "out")


def test_timestamp_without_zone_is_rejected_without_format(tmp_path: Path) -> None:
    src = _write_csv(tmp_path / "t.csv", ["A,2024-01-01 00:00:00,150,-20,1,20,1"])
    with pytest.raises(DataError, match=r"zone offset.*timestamp_format"):
        convert_dataset(_spec(), src, tmp_path / "out")


def test_latitude_out_of_range(tmp_path: Path) -> None:
    rows = _rows(100)
    parts = rows[41].split(",")
    parts[3] = "95.5"
    rows[41] = ",".join(parts)
    src = _write_csv(tmp_path / "lat.csv", rows)
    with pytest.raises(DataError) as err:
        convert_dataset(_spec(), src, tmp_path / "out")
    assert "[lat]" in str(err.value) and "row 42" in str(err.value) and "95.5" in str(err.value)
    _assert_nothing_left(tmp_path / "out")


@pytest.mark.parametrize("content", ["", "site_id,time,lon,lat,depth,temperature,qc_flag\n"])
def test_empty_source(tmp_path: Path, content: str) -> None:
    src = tmp_path / "empty.csv"
    src.write_text(content)
    with pytest.raises(DataError, match=r"empty|no data rows|no header"):
        convert_dataset(_spec(), src, tmp_path / "out")
    _assert_nothing_left(tmp_path / "out")


def test_truncated_csv_names_line(tmp_path: Path) -> None:
    src = _write_csv(tmp_path / "cut.csv", _rows(50))
    data = src.read_bytes()
    src.write_bytes(data[: data.rindex(b"\n", 0, len(data) - 1) + 12])  # last line cut after a few bytes
    with pytest.raises(DataError) as err:
        convert_dataset(_spec(), src, tmp_path / "out")
    assert "truncated" in str(err.value) and "line 51" in str(err.value)
    _assert_nothing_left(tmp_path / "out")


def test_source_path_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        convert_dataset(_spec(), tmp_path / "nope.csv", tmp_path / "out")


def test_failed_conversion_keeps_previous_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    good = convert_dataset(_spec(), _write_csv(tmp_path / "x.csv", _rows(10)), out)
    before = good.path.read_bytes()
    _write_csv(tmp_path / "x.csv", [*_rows(10), "A,2024-01-01T00:00:00Z,150,-91,1,20,1"])
    with pytest.raises(DataError):
        convert_dataset(_spec(), tmp_path / "x.csv", out)
    assert good.path.read_bytes() == before
    assert [p.name for p in out.iterdir()] == [good.path.name]


# --- GeoJSON --------------------------------------------------------------------------------------


def test_example_geojson_to_geoparquet(example_catalog: Path, tmp_path: Path) -> None:
    ds = Catalog.open(example_catalog).dataset("marine-protected-areas")
    spec = ds.pipeline()
    schema = json.loads(ds.path("tableschema.json").read_text())
    src = ds.dir / spec.source.path
    result = convert_dataset(spec, src, tmp_path / "out", schema)
    features = json.loads(src.read_text())["features"]
    table = pq.read_table(result.path)
    assert result.rows == len(features) == table.num_rows
    assert table.schema.field("established").type == pa.date32()
    geoms = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    for geom, feature in zip(geoms, features, strict=True):
        assert geom.equals(shapely.geometry.shape(feature["geometry"]))
    assert table.column("mpa_id").to_pylist() == [f["properties"]["mpa_id"] for f in features]
    geo = json.loads(pq.read_metadata(result.path).metadata[b"geo"])
    bounds = shapely.total_bounds(geoms).tolist()
    assert geo["columns"]["geometry"]["bbox"] == bounds
    assert set(geo["columns"]["geometry"]["geometry_types"]) == {g.geom_type for g in geoms}


def test_geojson_mixed_property_types(tmp_path: Path) -> None:
    feats = [
        {"type": "Feature", "properties": {"code": 1}, "geometry": {"type": "Point", "coordinates": [150, -20]}},
        {"type": "Feature", "properties": {"code": "B"}, "geometry": {"type": "Point", "coordinates": [151, -21]}},
    ]
    src = tmp_path / "m.geojson"
    src.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    spec = load(
        {
            "source": {"path": "m.geojson", "format": "geojson"},
            "output": "parquet",
            "coordinates": {"geometry": "geometry"},
        },
        PipelineSpec,
    )
    with pytest.raises(DataError) as err:
        convert_dataset(spec, src, tmp_path / "out")
    assert "[code]" in str(err.value) and "feature 2" in str(err.value)
    _assert_nothing_left(tmp_path / "out")


def test_geojson_empty_collection(tmp_path: Path) -> None:
    src = tmp_path / "e.geojson"
    src.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    spec = load(
        {
            "source": {"path": "e.geojson", "format": "geojson"},
            "output": "parquet",
            "coordinates": {"geometry": "geometry"},
        },
        PipelineSpec,
    )
    with pytest.raises(DataError, match="no features"):
        convert_dataset(spec, src, tmp_path / "out")


# --- Parquet pass-through -------------------------------------------------------------------------


def test_parquet_passthrough_copies_geoparquet(tmp_path: Path) -> None:
    first = convert_dataset(_spec(), _write_csv(tmp_path / "x.csv", _rows(100)), tmp_path / "a")
    result = passthrough_parquet(first.path, tmp_path / "b" / "x.parquet", COORDS)
    assert result.path.read_bytes() == first.path.read_bytes()
    assert result.rows == 100


def test_plain_parquet_gets_geometry(tmp_path: Path) -> None:
    df = pd.DataFrame({"lon": [150.0, 151.5], "lat": [-20.0, -21.25], "v": [1, 2]})
    src = tmp_path / "plain.parquet"
    df.to_parquet(src)
    spec = load(
        {
            "source": {"path": "plain.parquet", "format": "parquet"},
            "output": "parquet",
            "coordinates": {"x": "lon", "y": "lat"},
        },
        PipelineSpec,
    )
    result = convert_dataset(spec, src, tmp_path / "out")
    table = pq.read_table(result.path)
    pts = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    assert shapely.get_x(pts).tolist() == df.lon.tolist() and shapely.get_y(pts).tolist() == df.lat.tolist()
    assert table.column("v").to_pylist() == [1, 2]


def test_parquet_passthrough_missing_column(tmp_path: Path) -> None:
    src = tmp_path / "p.parquet"
    pd.DataFrame({"x": [1.0], "lat": [2.0]}).to_parquet(src)
    spec = load(
        {
            "source": {"path": "p.parquet", "format": "parquet"},
            "output": "parquet",
            "coordinates": {"x": "lon", "y": "lat"},
        },
        PipelineSpec,
    )
    with pytest.raises(DataError, match=r"'lon'.*coordinates\.x"):
        convert_dataset(spec, src, tmp_path / "out")
    _assert_nothing_left(tmp_path / "out")


def test_not_a_parquet_file(tmp_path: Path) -> None:
    src = tmp_path / "p.parquet"
    src.write_bytes(b"PAR1 this is not parquet")
    spec = load(
        {
            "source": {"path": "p.parquet", "format": "parquet"},
            "output": "parquet",
            "coordinates": {"x": "lon", "y": "lat"},
        },
        PipelineSpec,
    )
    with pytest.raises(DataError, match="not a readable Parquet"):
        convert_dataset(spec, src, tmp_path / "out")


def test_geojson_without_schema_infers_types(example_catalog: Path, tmp_path: Path) -> None:
    ds = Catalog.open(example_catalog).dataset("marine-protected-areas")
    spec = ds.pipeline()
    result = convert_dataset(spec, ds.dir / spec.source.path, tmp_path / "out")
    schema = pq.read_schema(result.path)
    assert schema.field(spec.coordinates.t).type == pa.date32()
    assert schema.field("area_km2").type == pa.float64() and schema.field("mpa_id").type == pa.string()
