"""Data-driven metadata from Parquet footers and Zarr coordinates (real files)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xarray as xr
from referencing import Registry, Resource

from bot.catalog.layout import Catalog, Coordinates
from bot.convert import convert_dataset
from bot.errors import DataError
from bot.metadata.datadriven import (
    DataDrivenMetadata,
    check_extents,
    extract_metadata,
    extract_parquet_metadata,
    extract_zarr_metadata,
)

XY = Coordinates(x="lon", y="lat", t="time")


@pytest.fixture
def converted(example_catalog: Path, tmp_path: Path) -> dict[str, tuple[Path, Path, Coordinates]]:
    """Every example dataset converted: id -> (output, source, coordinates)."""
    out = {}
    cat = Catalog.open(example_catalog)
    for ds in cat.datasets():
        spec = ds.pipeline()
        if spec.source.path is None or "://" in spec.source.path:
            continue  # the remote example (reef-temperature-daily) is the local reef data, read from S3
        schema_file = ds.path("tableschema.json")
        schema = json.loads(schema_file.read_text()) if schema_file.exists() else None
        src = ds.dir / spec.source.path
        out[ds.id] = (convert_dataset(spec, src, tmp_path / "out", schema).path, src, spec.coordinates)
    return out


def _frame(n: int = 5000) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "lon": rng.uniform(110, 155, n),
            "lat": rng.uniform(-45, -9, n),
            "time": pd.date_range("2020-01-01", periods=n, freq="h", tz="UTC"),
            "value": rng.normal(size=n),
        }
    )


def _expected_bbox(df: pd.DataFrame) -> list[float]:
    return [df.lon.min(), df.lat.min(), df.lon.max(), df.lat.max()]


def test_geoparquet_extents_match_the_source(converted: dict) -> None:
    path, src, coords = converted["reef-temperature"]
    meta = extract_parquet_metadata(path, coords)
    df = pd.read_csv(src, parse_dates=["time"])
    assert meta.kind == "tabular" and meta.rows == len(df)
    assert meta.bbox == _expected_bbox(df)
    assert meta.time_range == (
        df.time.min().strftime("%Y-%m-%dT%H:%M:%SZ"),
        df.time.max().strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    assert meta.extent_source == "geo-metadata"
    assert check_extents(meta) == []
    json.dumps(meta.to_dict())


def test_plain_parquet_extents_from_statistics(tmp_path: Path) -> None:
    df = _frame()
    path = tmp_path / "plain.parquet"
    df.to_parquet(path, row_group_size=1000)
    meta = extract_parquet_metadata(path, XY)
    assert meta.extent_source == "column-statistics"
    assert meta.bbox == _expected_bbox(df)
    assert meta.time_range == (
        df.time.min().strftime("%Y-%m-%dT%H:%M:%SZ"),
        df.time.max().strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def test_footer_without_statistics_scans_only_coordinate_columns(tmp_path: Path) -> None:
    df = _frame()
    path = tmp_path / "nostats.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, write_statistics=False, row_group_size=1000)
    meta = extract_parquet_metadata(path, XY)
    assert meta.bbox == _expected_bbox(df)
    assert meta.rows == len(df)
    assert "column-scan" in meta.extent_source
    assert "value" not in meta.extent_source and "lon" in meta.extent_source and "time" in meta.extent_source


def test_covering_statistics_used_when_geo_has_no_bbox(converted: dict, tmp_path: Path) -> None:
    path, _, coords = converted["marine-protected-areas"]
    table = pq.read_table(path)
    geo = json.loads(pq.read_metadata(path).metadata[b"geo"])
    expected = geo["columns"]["geometry"].pop("bbox")
    stripped = tmp_path / "nobbox.parquet"
    pq.write_table(table.replace_schema_metadata({"geo": json.dumps(geo)}), stripped)
    meta = extract_parquet_metadata(stripped, coords)
    assert meta.extent_source == "covering-statistics"
    assert meta.bbox == expected
    assert meta.time_range is not None and meta.time_range[0] is not None and meta.time_range[0] <= meta.time_range[1]


def test_tableschema_is_valid_frictionless_and_matches_curated(
    converted: dict, example_catalog: Path, schemas_dir: Path
) -> None:
    ts_schema = json.loads((schemas_dir / "frictionless-v1/schemas/table-schema.json").read_text())
    for dataset in ("reef-temperature", "marine-protected-areas"):
        path, _, coords = converted[dataset]
        meta = extract_parquet_metadata(path, coords)
        generated = meta.to_tableschema(curated=True)
        jsonschema.validate(generated, ts_schema)
        curated = json.loads((example_catalog / "datasets" / dataset / "tableschema.json").read_text())
        assert [(f["name"], f["type"]) for f in generated["fields"]] == [
            (f["name"], f["type"]) for f in curated["fields"]
        ]
        # The pipeline's generated schema also lists a covering column (polygons only), marked as the format's.
        full = meta.to_tableschema()
        roles = {f["name"]: f.get("role") for f in full["fields"]}
        assert roles["geometry"] == "geometry"
        if dataset == "marine-protected-areas":
            assert full["fields"][-1] == {"name": "bbox", "type": "object", "role": "covering"}
        else:
            assert "bbox" not in roles


def _stac_ext_validator(schemas_dir: Path, rel: str) -> jsonschema.Draft7Validator:
    schema = json.loads((schemas_dir / rel).read_text())
    projjson = json.loads((schemas_dir / "projjson/schemas/v0.4/projjson.schema.json").read_text())
    registry = Registry().with_resource(
        "https://proj.org/schemas/v0.4/projjson.schema.json", Resource.from_contents(projjson)
    )
    return jsonschema.Draft7Validator(
        {"definitions": schema["definitions"], "$ref": "#/definitions/fields"}, registry=registry
    )


def test_stac_table_columns_valid(converted: dict, schemas_dir: Path) -> None:
    path, _, coords = converted["reef-temperature"]
    meta = extract_parquet_metadata(path, coords)
    validator = _stac_ext_validator(schemas_dir, "stac-extensions/table/v1.2.0/json-schema/schema.json")
    columns = meta.to_stac_table_columns()
    validator.validate({"table:columns": columns, "table:row_count": meta.rows})
    assert [c["name"] for c in columns] == pq.read_schema(path).names


def test_zarr_extents_from_coordinates(converted: dict) -> None:
    path, src, coords = converted["sea-surface-temperature"]
    meta = extract_zarr_metadata(path, coords)
    original = xr.open_dataset(src)
    assert meta.bbox == [
        float(original.lon.min()),
        float(original.lat.min()),
        float(original.lon.max()),
        float(original.lat.max()),
    ]
    t = original.time.values
    assert meta.time_range == (str(t.min())[:19] + "Z", str(t.max())[:19] + "Z")
    assert meta.shape == dict(original.sizes)
    assert meta.cells == original.sst.size
    sst = next(v for v in meta.variables if v.name == "sst")
    assert sst.unit == original.sst.attrs["units"] and sst.attrs["standard_name"] == original.sst.attrs["standard_name"]
    assert check_extents(meta) == []


def test_zarr_extents_do_not_read_data_chunks(converted: dict, tmp_path: Path) -> None:
    import shutil

    path, _, coords = converted["sea-surface-temperature"]
    broken = tmp_path / "broken.zarr"
    shutil.copytree(path, broken)
    for chunk in (broken / "sst").iterdir():
        if not chunk.name.startswith("."):
            chunk.write_bytes(b"corrupt")
    with pytest.raises(Exception):
        xr.open_zarr(broken).sst.load()
    assert extract_zarr_metadata(broken, coords).bbox == extract_zarr_metadata(path, coords).bbox


def test_gridschema_matches_curated(converted: dict, example_catalog: Path) -> None:
    path, _, coords = converted["sea-surface-temperature"]
    generated = extract_metadata(path, coords).to_gridschema()
    curated = json.loads((example_catalog / "datasets/sea-surface-temperature/gridschema.json").read_text())
    key = ("name", "type", "axis")
    assert sorted(tuple(d.get(k) for k in key) for d in generated["dimensions"]) == sorted(
        tuple(d.get(k) for k in key) for d in curated["dimensions"]
    )
    vkey = ("name", "type", "data_type", "unit")
    assert sorted((*tuple(v.get(k) for k in vkey), tuple(v["dimensions"])) for v in generated["variables"]) == sorted(
        (*tuple(v.get(k) for k in vkey), tuple(v["dimensions"])) for v in curated["variables"]
    )


def test_datacube_fields_valid(converted: dict, schemas_dir: Path) -> None:
    path, _, coords = converted["sea-surface-temperature"]
    cube = extract_zarr_metadata(path, coords).to_stac_datacube()
    _stac_ext_validator(schemas_dir, "stac-extensions/datacube/v2.2.0/json-schema/schema.json").validate(cube)
    assert cube["cube:dimensions"]["lon"]["axis"] == "x" and cube["cube:dimensions"]["time"]["type"] == "temporal"
    assert set(cube["cube:variables"]) == {"sst", "analysed_error"}


def test_zarr_noleap_calendar_time_decoded_from_coordinate(tmp_path: Path) -> None:
    import zarr

    path = tmp_path / "cal.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    time = group.create_array("time", shape=(3,), dtype="float64")
    time[:] = [0, 365, 730]
    time.attrs.update({"_ARRAY_DIMENSIONS": ["time"], "units": "days since 2001-01-01", "calendar": "noleap"})
    for name, values in (("lat", [-10.0, 0.0]), ("lon", [100.0, 110.0])):
        arr = group.create_array(name, shape=(2,), dtype="float64")
        arr[:] = values
        arr.attrs["_ARRAY_DIMENSIONS"] = [name]
    data = group.create_array("v", shape=(3, 2, 2), dtype="float32")
    data.attrs["_ARRAY_DIMENSIONS"] = ["time", "lat", "lon"]
    meta = extract_zarr_metadata(path, XY)
    assert meta.time_range == ("2001-01-01T00:00:00Z", "2003-01-01T00:00:00Z")
    assert meta.bbox == [100.0, -10.0, 110.0, 0.0]


def test_non_string_zarr_attributes_become_text(tmp_path: Path, schemas_dir: Path) -> None:
    """Real stores carry ``units: 1`` (dimensionless) or list-valued names: they must not leak as non-strings."""
    import zarr

    path = tmp_path / "attrs.zarr"
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    for name, values in (("lat", [-10.0, 0.0]), ("lon", [100.0, 110.0])):
        arr = group.create_array(name, shape=(2,), dtype="float64")
        arr[:] = values
        arr.attrs.update({"_ARRAY_DIMENSIONS": [name], "units": "degrees", "long_name": 7})
    data = group.create_array("salinity", shape=(2, 2), dtype="float32")
    data.attrs.update({"_ARRAY_DIMENSIONS": ["lat", "lon"], "units": 1, "long_name": ["sea water", "salinity"]})
    meta = extract_zarr_metadata(path, Coordinates(x="lon", y="lat"))
    grid = meta.to_gridschema()
    (var,) = grid["variables"]
    assert var["unit"] == "1" and var["description"] == "sea water salinity"
    assert {d["name"]: d["description"] for d in grid["dimensions"]} == {"lat": "7", "lon": "7"}
    cube = meta.to_stac_datacube()
    _stac_ext_validator(schemas_dir, "stac-extensions/datacube/v2.2.0/json-schema/schema.json").validate(cube)
    assert cube["cube:variables"]["salinity"]["unit"] == "1"


def test_missing_coordinate_is_a_data_error(converted: dict) -> None:
    path, _, _ = converted["sea-surface-temperature"]
    with pytest.raises(DataError, match=r"'depth'.*coordinates\.z"):
        extract_zarr_metadata(path, Coordinates(x="lon", y="lat", z="depth"))
    ppath, _, _ = converted["reef-temperature"]
    with pytest.raises(DataError, match=r"'longitude'"):
        extract_parquet_metadata(ppath, Coordinates(x="longitude", y="lat"))


@pytest.mark.parametrize(
    ("bbox", "rows", "needle"),
    [
        ([140.0, -95.0, 150.0, -10.0], 10, "latitude south"),
        ([140.0, -20.0, 190.0, -10.0], 10, "longitude east"),
        ([140.0, -20.0, 150.0, -10.0], 0, "empty"),
        (None, 10, "no spatial extent"),
        ([140.0, -10.0, 150.0, -20.0], 10, "south"),
    ],
)
def test_check_extents_reports(bbox: list[float] | None, rows: int, needle: str) -> None:
    meta = DataDrivenMetadata(kind="tabular", bbox=bbox, time_range=None, rows=rows)
    problems = check_extents(meta)
    assert any(needle in p for p in problems), problems


def test_geoparquet_without_a_bbox_gets_one_from_its_geometries(tmp_path: Path) -> None:
    """A GeoParquet whose ``geo`` metadata has no bbox (as many writers leave it) is scanned: nulls skipped."""
    import shapely

    from bot.metadata.parquet_extents import extract_parquet_metadata

    wkb = list(shapely.to_wkb(shapely.points(np.array([[1.0, 2.0], [3.0, -4.0], [10.0, 5.0]]))))
    table = pa.table({"geometry": pa.array([*wkb, None], pa.binary()), "v": [1, 2, 3, 4]})
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"]}},
    }
    pq.write_table(table.replace_schema_metadata({b"geo": json.dumps(geo).encode()}), tmp_path / "no-bbox.parquet")
    md = extract_parquet_metadata(tmp_path / "no-bbox.parquet", Coordinates())
    assert md.bbox == [1.0, -4.0, 10.0, 5.0]
