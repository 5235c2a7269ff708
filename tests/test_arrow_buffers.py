"""Arrow <-> numpy through buffers: the same values pyarrow's pandas-backed conversions give, without pandas."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely

from bot.convert.arrow_buffers import binary_array, binary_values, float_array, float_values


def _wkb(n: int) -> list[bytes | None]:
    """Mixed WKB as real files hold it: points, polygons, a line, missing geometries."""
    rng = np.random.default_rng(3)
    out: list[bytes | None] = []
    for i in range(n):
        x, y = rng.uniform(140, 155), rng.uniform(-25, -10)
        if i % 7 == 3:
            out.append(None)
        elif i % 5 == 0:
            out.append(shapely.to_wkb(shapely.box(x, y, x + 0.1, y + 0.2), flavor="iso"))
        elif i % 11 == 0:
            out.append(shapely.to_wkb(shapely.LineString([(x, y), (x + 1, y + 1), (x, y + 2)]), flavor="iso"))
        else:
            out.append(shapely.to_wkb(shapely.Point(x, y), flavor="iso"))
    return out


@pytest.mark.parametrize("kind", [pa.binary(), pa.large_binary(), pa.binary_view()])
def test_binary_values_match_pyarrow_also_for_slices_and_nulls(kind: pa.DataType) -> None:
    values = _wkb(500)
    arr = pa.array(values, kind)
    for part in (arr, arr.slice(37, 200), arr.slice(499, 1)):
        got = binary_values(part)
        assert got.dtype == object
        assert got.tolist() == part.to_pylist()
    geoms = shapely.from_wkb(binary_values(arr))
    assert shapely.is_missing(geoms).sum() == sum(v is None for v in values)


def test_binary_array_roundtrip_is_a_valid_arrow_array() -> None:
    values = np.array(_wkb(300), dtype=object)
    arr = binary_array(values)
    arr.validate(full=True)
    assert arr.type == pa.binary() and arr.null_count == sum(v is None for v in values)
    assert arr.equals(pa.array(values, pa.binary()))
    none = binary_array(np.array([None, None], dtype=object))
    none.validate(full=True)
    assert none.to_pylist() == [None, None]
    empty = binary_array(np.array([], dtype=object))
    assert len(empty) == 0 and empty.type == pa.binary()


def test_float_array_and_values_keep_nan_and_nulls() -> None:
    xs = np.array([151.2, np.nan, -33.9, 0.0])
    arr = float_array(xs)
    arr.validate(full=True)
    reference = pa.array(xs, pa.float64())
    assert arr.null_count == reference.null_count == 0  # NaN stays a value, as pa.array does
    assert np.array_equal(float_values(arr), xs, equal_nan=True)
    with_nulls = pa.array([1.5, None, 3, None, 5], pa.int32()).slice(1)
    assert np.array_equal(float_values(with_nulls), np.array([np.nan, 3, np.nan, 5]), equal_nan=True)
    assert float_array(np.arange(5, dtype=np.int16)).to_pylist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_geoparquet_conversion_does_not_import_pandas(tmp_path: Path) -> None:
    """Re-encoding a GeoParquet (write_wkb) and the covering column run without pandas in the process."""
    values = _wkb(2_000)
    table = pa.table(
        {
            "site": pa.array([f"S{i % 40}" for i in range(len(values))]),
            "depth": pa.array(np.linspace(0, 40, len(values))),
            "geometry": pa.array(values, pa.binary()),
        }
    )
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": []}},
    }
    src = tmp_path / "polygons.parquet"
    pq.write_table(table.replace_schema_metadata({"geo": json.dumps(geo)}), src)
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from bot.catalog.layout import Coordinates
        from bot.convert.tabular import passthrough_parquet
        r = passthrough_parquet(Path({str(src)!r}), Path({str(tmp_path / "out.parquet")!r}), Coordinates(geometry="geometry"))
        print(r.rows, "pandas" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(len(values)), "False"]
    back = pq.read_table(tmp_path / "out.parquet")
    assert back.column("geometry").to_pylist() == values
    assert "bbox" in back.column_names  # polygons: the covering column was built from float_array
