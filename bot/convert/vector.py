"""Vector sources -> GeoParquet: GeoJSON (in memory: GeoJSON sources are small)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bot.catalog.layout import Coordinates
from bot.convert.arrow_buffers import binary_array
from bot.convert.arrow_types import UTC_US, parse_timestamps, schema_types
from bot.convert.common import ConversionResult, atomic_output, list_files, require_lonlat_crs, require_source
from bot.convert.geoparquet import BBOX_COLUMN, DEFAULT_GEOMETRY, GeoParquetWriter, bbox_struct, check_lonlat
from bot.errors import DataError

# ---------------------------------------------------------------------------
# GeoJSON


def _property_array(name: str, values: list[Any], target: pa.DataType | None, *, file: str) -> pa.Array:
    """One property column, typed from the schema or inferred (mixed types are an error)."""
    try:
        if target is None:
            return pa.array(values)
        if target == UTC_US:
            raw = pa.array([None if v is None else str(v) for v in values], pa.string())
            return parse_timestamps(raw, None, file=file, column=name, first_row=1)
        if pa.types.is_date(target) or pa.types.is_time(target):
            return pc.cast(pa.array([None if v is None else str(v) for v in values], pa.string()), target)
        return pa.array(values, type=target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        kinds: dict[str, int] = {}
        for i, v in enumerate(values):
            if v is not None:
                kinds.setdefault(type(v).__name__, i)
        listing = ", ".join(f"{k} (first in feature {i + 1})" for k, i in kinds.items())
        expect = f" {target}" if target is not None else ""
        raise DataError(
            f"property values cannot form one{expect} column; found {listing}",
            file=file,
            field=name,
            hint=f"use one type for {name} in every feature, or declare its type in tableschema.json",
        ) from None


def convert_geojson(
    source: Path, dest: Path, coords: Coordinates, *, schema: dict[str, Any] | None = None, crs: str | None = None
) -> ConversionResult:
    """GeoJSON FeatureCollection -> GeoParquet (in memory: GeoJSON sources are small)."""
    import shapely

    require_source(source)
    require_lonlat_crs(crs, source)
    file = str(source)
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"not valid GeoJSON: {exc}", file=file, hint="re-export the file as UTF-8 GeoJSON") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise DataError(
            "not a GeoJSON FeatureCollection", file=file, field="type", hint="wrap the features in a FeatureCollection"
        )
    features = doc["features"]
    if not features:
        raise DataError(
            "the FeatureCollection has no features", file=file, field="features", hint="upload the complete file"
        )
    geometry = coords.geometry or DEFAULT_GEOMETRY
    names: list[str] = []
    for f in features:
        for key in (f.get("properties") or {}) if isinstance(f, dict) else {}:
            if key not in names:
                names.append(key)
    if coords.t and coords.t not in names:
        raise DataError(
            f"coordinate property {coords.t!r} (coordinates.t) does not exist; properties are: {', '.join(names)}",
            file=file,
            field=coords.t,
            hint="fix coordinates.t in pipeline.yaml",
        )
    for reserved in (geometry, BBOX_COLUMN):
        if reserved in names:
            raise DataError(
                f"a property is named {reserved!r}, which the converter creates",
                file=file,
                field=reserved,
                hint="rename the property",
            )
    geoms = []
    for i, f in enumerate(features):
        g = f.get("geometry") if isinstance(f, dict) else None
        if not g:
            raise DataError(
                f"feature {i + 1} has no geometry",
                file=file,
                field=f"features/{i}/geometry",
                hint="give every feature a geometry",
            )
        try:
            geoms.append(shapely.from_geojson(json.dumps(g)))
        except Exception as exc:  # shapely raises GEOSException / ValueError variants
            raise DataError(
                f"feature {i + 1}: invalid geometry: {exc}",
                file=file,
                field=f"features/{i}/geometry",
                hint="fix the geometry",
            ) from None
    garr = np.array(geoms, dtype=object)
    bounds = shapely.bounds(garr)
    check_lonlat(
        np.concatenate([bounds[:, 0], bounds[:, 2]]),
        np.concatenate([bounds[:, 1], bounds[:, 3]]),
        file=file,
        xname=geometry,
        yname=geometry,
        first_row=1,
    )
    types, descriptions = schema_types(schema)
    if coords.t and coords.t not in types:
        # No declared type: plain dates (YYYY-MM-DD) stay dates, anything else must be a zoned timestamp.
        values = [str(v) for f in features if (v := (f.get("properties") or {}).get(coords.t)) is not None]
        is_date = bool(values) and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) for v in values)
        types[coords.t] = pa.date32() if is_date else UTC_US
    columns = [
        _property_array(n, [(f.get("properties") or {}).get(n) for f in features], types.get(n), file=file)
        for n in names
    ]
    geom_types = {g.geom_type + (" Z" if z else "") for g, z in zip(geoms, shapely.has_z(garr).tolist(), strict=True)}
    wkb = binary_array(shapely.to_wkb(garr, flavor="iso"))
    # A covering column only where it says more than the coordinates (see GeoParquetWriter).
    covering = geom_types != {"Point"}
    arrays, labels = [*columns, wkb], [*names, geometry]
    if covering:
        arrays.append(bbox_struct(bounds[:, 0], bounds[:, 1], bounds[:, 2], bounds[:, 3]))
        labels.append(BBOX_COLUMN)
    batch = pa.RecordBatch.from_arrays(arrays, names=labels)
    total = (float(bounds[:, 0].min()), float(bounds[:, 1].min()), float(bounds[:, 2].max()), float(bounds[:, 3].max()))
    with atomic_output(dest) as tmp:
        writer = GeoParquetWriter(
            tmp, geometry, {"descriptions": descriptions} if descriptions else None, covering=covering
        )
        try:
            writer.write(batch, total, geom_types)
            writer.close()
        except BaseException:
            writer.abort()
            raise
    files, size = list_files(dest)
    return ConversionResult(
        path=dest, format="parquet", rows=len(features), files=files, bytes=size, sha256=writer.sha256
    )
