"""Vector formats through pyogrio and reprojection: GeoPackage (layers), Shapefile (plain, zipped), FlatGeobuf,
GeoJSONSeq, and CSV in a projected CRS -- each to valid GeoParquet 1.1 in longitude/latitude."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely
from pyproj import CRS

from bot.catalog.layout import Coordinates, PipelineSpec
from bot.convert import convert_dataset
from bot.errors import DataError
from bot.structs import load

from .test_geoparquet import assert_valid_geoparquet_11


def _zones() -> gpd.GeoDataFrame:
    """Marine zones as agencies publish them: polygons and multipolygons with typed attributes."""
    rng = np.random.default_rng(5)
    geoms = []
    for i in range(60):
        x, y = 145 + (i % 10) * 0.7, -22 + (i // 10) * 1.1
        ring = shapely.Polygon([(x, y), (x + 0.5, y), (x + 0.55, y + 0.4), (x + 0.1, y + 0.6), (x, y)])
        geoms.append(shapely.MultiPolygon([ring, shapely.box(x + 0.6, y, x + 0.65, y + 0.05)]) if i % 7 == 0 else ring)
    return gpd.GeoDataFrame(
        {
            "zone_id": [f"MZ-{i:03d}" for i in range(60)],
            "name": [f"Zone {i}" for i in range(60)],
            "area_km2": np.round(rng.uniform(1, 900, 60), 2),
            "iucn": rng.choice(["Ia", "II", "IV", "VI"], 60),
            "established": pd.to_datetime(rng.integers(1980, 2020, 60).astype(str) + "-07-01"),
        },
        geometry=geoms,
        crs="EPSG:4326",
    )


def _spec(fmt: str, path: str, t: str = "established", **source: str) -> PipelineSpec:
    return load(
        {
            "source": {"path": path, "format": fmt, **source},
            "output": "parquet",
            "coordinates": {"geometry": "geometry", "t": t},
        },
        PipelineSpec,
    )


def _check(result_path: Path, zones: gpd.GeoDataFrame, atol: float = 1e-9) -> None:
    geo = assert_valid_geoparquet_11(result_path)
    col = geo["columns"]["geometry"]
    # GDAL promotes mixed layers to MultiPolygon for some formats (GeoPackage, FlatGeobuf): either is right.
    assert set(col["geometry_types"]) <= {"MultiPolygon", "Polygon"} and "MultiPolygon" in col["geometry_types"]
    assert "crs" not in col and "covering" in col
    assert np.allclose(col["bbox"], zones.total_bounds, atol=atol)
    table = pq.read_table(result_path).sort_by("zone_id")  # FlatGeobuf's spatial index reorders features
    assert table.num_rows == len(zones)
    assert table.column("zone_id").to_pylist() == zones["zone_id"].tolist()
    assert np.allclose(table.column("area_km2").to_numpy(), zones["area_km2"].to_numpy())
    assert table.column("iucn").to_pylist() == zones["iucn"].tolist()
    got = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    assert np.allclose(shapely.area(got), shapely.area(zones.geometry.to_numpy()), rtol=1e-6)


@pytest.mark.parametrize(
    ("fmt", "name", "driver"),
    [
        ("gpkg", "zones.gpkg", "GPKG"),
        ("flatgeobuf", "zones.fgb", "FlatGeobuf"),
        ("geojsonseq", "zones.geojsonl", "GeoJSONSeq"),
    ],
)
def test_vector_format_to_geoparquet(fmt: str, name: str, driver: str, tmp_path: Path) -> None:
    zones = _zones()
    src = tmp_path / name
    zones.to_file(src, driver=driver, engine="pyogrio")
    result = convert_dataset(_spec(fmt, name), src, tmp_path / "out", name="zones")
    _check(result.path, zones)


def test_shapefile_plain_zipped_reprojected_and_without_prj(tmp_path: Path) -> None:
    zones = _zones()
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    zones.to_crs("EPSG:3577").to_file(shp_dir / "zones.shp", engine="pyogrio")  # GDA94 / Australian Albers
    # Shapefile field names stop at 10 characters: the time column is 'establishe' there.
    with pytest.raises(DataError, match=r"'established' \(coordinates.t\) does not exist"):
        convert_dataset(_spec("shapefile", "zones.shp"), shp_dir / "zones.shp", tmp_path / "out0", name="a")
    plain = convert_dataset(
        _spec("shapefile", "zones.shp", t="establishe"), shp_dir / "zones.shp", tmp_path / "out1", name="a"
    )
    _check(plain.path, zones, atol=1e-6)
    archive = tmp_path / "zones.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in shp_dir.iterdir():
            zf.write(part, part.name)
    zipped = convert_dataset(_spec("shapefile", "zones.zip", t="establishe"), archive, tmp_path / "out2", name="b")
    _check(zipped.path, zones, atol=1e-6)
    (shp_dir / "zones.prj").unlink()
    with pytest.raises(DataError, match="declares no CRS") as err:
        convert_dataset(
            _spec("shapefile", "zones.shp", t="establishe"), shp_dir / "zones.shp", tmp_path / "out3", name="c"
        )
    assert err.value.field == "source.crs"
    named = convert_dataset(
        _spec("shapefile", "zones.shp", t="establishe", crs="EPSG:3577"),
        shp_dir / "zones.shp",
        tmp_path / "out3",
        name="c",
    )
    _check(named.path, zones, atol=1e-6)


def test_geopackage_layers(tmp_path: Path) -> None:
    zones = _zones()
    src = tmp_path / "marine.gpkg"
    zones.to_file(src, layer="zones", engine="pyogrio")
    zones.iloc[:5].to_file(src, layer="draft", engine="pyogrio")
    with pytest.raises(DataError, match="2 layers: zones, draft") as err:
        convert_dataset(_spec("gpkg", "marine.gpkg"), src, tmp_path / "out")
    assert "source.layer" in (err.value.hint or "")
    with pytest.raises(DataError, match="layer 'zone' does not exist; layers are: zones, draft"):
        convert_dataset(_spec("gpkg", "marine.gpkg", layer="zone"), src, tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.parquet"))  # nothing written on error
    result = convert_dataset(_spec("gpkg", "marine.gpkg", layer="zones"), src, tmp_path / "out")
    _check(result.path, zones)


def test_truncated_and_unknown_crs(tmp_path: Path) -> None:
    zones = _zones()
    src = tmp_path / "zones.gpkg"
    zones.to_file(src, engine="pyogrio")
    with pytest.raises(DataError, match="unknown CRS 'EPSG:0'"):
        convert_dataset(_spec("gpkg", "zones.gpkg", crs="EPSG:0"), src, tmp_path / "out")
    cut = tmp_path / "cut.fgb"
    zones.to_file(tmp_path / "full.fgb", driver="FlatGeobuf", engine="pyogrio")
    cut.write_bytes((tmp_path / "full.fgb").read_bytes()[:2000])
    with pytest.raises(DataError) as err:
        convert_dataset(_spec("flatgeobuf", "cut.fgb"), cut, tmp_path / "out")
    assert "cut.fgb" in str(err.value)
    assert not list((tmp_path / "out").iterdir())


def projected_stations_csv(
    folder: Path, n: int, *, sites: int, seed: int
) -> tuple[pd.DataFrame, PipelineSpec, Path, np.ndarray, np.ndarray]:
    """A CSV in ETRS89 / UTM 33N (as German and Norwegian agencies ship them), its pipeline spec and true lon/lat."""
    from pyproj import Transformer

    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(12.0, 14.5, n), rng.uniform(52.0, 54.5, n)
    east, north = Transformer.from_crs("OGC:CRS84", "EPSG:25833", always_xy=True).transform(lon, lat)
    df = pd.DataFrame(
        {
            "station": [f"ST{i % sites:03d}" for i in range(n)],
            "time": pd.date_range("2023-05-01", periods=n, freq="h", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
            "x": np.round(east, 2),
            "y": np.round(north, 2),
            "no2": np.round(rng.uniform(5, 60, n), 1),
        }
    )
    src = folder / "air.csv"
    df.to_csv(src, index=False)
    spec = load(
        {
            "source": {"path": "air.csv", "format": "csv", "crs": "EPSG:25833"},
            "output": "parquet",
            "coordinates": {"x": "x", "y": "y", "t": "time"},
        },
        PipelineSpec,
    )
    return df, spec, src, lon, lat


def test_csv_in_a_projected_crs_keeps_native_columns(tmp_path: Path) -> None:
    """Projected x/y stay as they are; the geometry is lon/lat."""
    df, spec, src, lon, lat = projected_stations_csv(tmp_path, 400, sites=40, seed=8)
    result = convert_dataset(spec, src, tmp_path / "out")
    table = pq.read_table(result.path)
    assert np.array_equal(table.column("x").to_numpy(), df["x"].to_numpy())  # native columns kept
    pts = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    assert np.allclose(shapely.get_x(pts), lon, atol=1e-6) and np.allclose(shapely.get_y(pts), lat, atol=1e-6)
    col = assert_valid_geoparquet_11(result.path)["columns"]["geometry"]
    assert np.allclose(col["bbox"], [lon.min(), lat.min(), lon.max(), lat.max()], atol=1e-6)
    from bot.metadata.datadriven import extract_parquet_metadata

    meta = extract_parquet_metadata(result.path, Coordinates(x="x", y="y", t="time"))
    assert np.allclose(meta.bbox or [], col["bbox"])
    x_field = next(f for f in meta.to_tableschema()["fields"] if f["name"] == "x")
    assert "constraints" not in x_field  # metres, not degrees
    assert CRS.from_user_input("EPSG:25833").is_projected


def test_projected_csv_in_many_batches_matches_pyproj_exactly(tmp_path: Path) -> None:
    """Reprojected on the geometry thread, batch by batch: every point is pyproj's own answer, in source order."""
    from pyproj import Transformer

    from bot.convert.tabular import convert_csv

    df, spec, src, _, _ = projected_stations_csv(tmp_path, 30_000, sites=300, seed=21)
    result = convert_csv(
        src, tmp_path / "out.parquet", spec.coordinates, crs="EPSG:25833", block_size=64 << 10, row_group_rows=7_000
    )
    md = pq.read_metadata(result.path)
    assert md.num_row_groups >= 4 and result.rows == len(df)
    table = pq.read_table(result.path)
    lon, lat = Transformer.from_crs("EPSG:25833", "OGC:CRS84", always_xy=True).transform(
        df["x"].to_numpy(), df["y"].to_numpy()
    )
    pts = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    assert np.array_equal(shapely.get_x(pts), lon) and np.array_equal(shapely.get_y(pts), lat)
    assert np.array_equal(table.column("lon").to_numpy(), lon) and np.array_equal(table.column("lat").to_numpy(), lat)
    assert table.column("station").to_pylist() == df["station"].tolist()  # order kept across batches
    geo = assert_valid_geoparquet_11(result.path)["columns"]["geometry"]
    assert geo["bbox"] == [lon.min(), lat.min(), lon.max(), lat.max()]


def test_a_reprojected_point_outside_lonlat_names_its_row(tmp_path: Path) -> None:
    """A projected coordinate PROJ cannot invert (inf) fails on its row, in a later batch; nothing is written."""
    from bot.convert.tabular import convert_csv

    df, spec, src, _, _ = projected_stations_csv(tmp_path, 20_000, sites=20, seed=3)
    df.loc[15_000, "x"] = 1e9  # a million km east of the zone: PROJ returns inf
    df.to_csv(src, index=False)
    with pytest.raises(DataError, match="row 15001") as err:
        convert_csv(src, tmp_path / "out.parquet", spec.coordinates, crs="EPSG:25833", block_size=64 << 10)
    assert err.value.field == "y"
    assert not list(tmp_path.glob("*.parquet")) and not list(tmp_path.glob(".out.parquet*"))
