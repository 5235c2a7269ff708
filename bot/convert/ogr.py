"""Vector files through GDAL/OGR (pyogrio): GeoPackage, Shapefile (plain or zipped), FlatGeobuf, GeoJSONSeq.

Why pyogrio: its wheels bundle GDAL, so no system library is needed, and
``open_arrow`` streams record batches with WKB geometry straight into the
GeoParquet writer (bounded memory; no per-feature Python objects).  The
layer's CRS comes from the file (``source.crs`` in pipeline.yaml overrides
it, e.g. for a Shapefile without ``.prj``) and geometry is reprojected to
longitude/latitude with pyproj (``always_xy``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from bot.catalog.layout import Coordinates
from bot.convert.common import ConversionResult, lonlat_transform, require_source
from bot.convert.geoparquet import DEFAULT_GEOMETRY, require_columns, write_wkb
from bot.errors import DataError

OGR_FORMATS = {"gpkg", "shapefile", "flatgeobuf", "geojsonseq"}
BATCH_ROWS = 65_536


def _gdal_path(source: Path) -> str:
    """A zipped Shapefile is read in place through GDAL's /vsizip/ (nothing unpacked)."""
    return f"/vsizip/{source}" if source.suffix.lower() == ".zip" else str(source)


def _pick_layer(path: str, layer: str | None, file: str) -> str:
    import pyogrio
    from pyogrio.errors import DataSourceError

    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    except DataSourceError as exc:
        raise DataError(
            f"not a readable vector file: {exc}", file=file, hint="upload a complete file in the declared format"
        ) from None
    if not layers:
        raise DataError("the file has no layers", file=file, hint="upload a file with data")
    if layer is None:
        if len(layers) > 1:
            raise DataError(
                f"the file has {len(layers)} layers: {', '.join(layers)}",
                file=file,
                field="source.layer",
                hint="name the layer to publish with source.layer in pipeline.yaml",
            )
        return layers[0]
    if layer not in layers:
        raise DataError(
            f"layer {layer!r} does not exist; layers are: {', '.join(layers)}",
            file=file,
            field="source.layer",
            hint="fix source.layer in pipeline.yaml",
        )
    return layer


def convert_ogr(
    source: Path,
    dest: Path,
    coords: Coordinates,
    *,
    layer: str | None = None,
    crs: str | None = None,
    schema: dict[str, Any] | None = None,
) -> ConversionResult:
    """One layer of a vector file -> GeoParquet 1.1 in longitude/latitude (streamed)."""
    from pyogrio.errors import DataLayerError, DataSourceError
    from pyogrio.raw import open_arrow

    from bot.convert.arrow_types import schema_types

    require_source(source)
    file = str(source)
    path = _gdal_path(source)
    name = _pick_layer(path, layer, file)
    geometry = coords.geometry or DEFAULT_GEOMETRY
    _, descriptions = schema_types(schema)
    try:
        with open_arrow(path, layer=name, use_pyarrow=True, batch_size=BATCH_ROWS) as (meta, reader):
            file_crs = crs or meta.get("crs")
            if not file_crs:
                raise DataError(
                    "the file declares no CRS",
                    file=file,
                    field="source.crs",
                    hint="set source.crs in pipeline.yaml (e.g. EPSG:4326 or EPSG:25833)",
                )
            to_lonlat = lonlat_transform(file_crs, file=file)
            column = meta.get("geometry_name") or "wkb_geometry"
            names = [str(n) for n in meta.get("fields", [])]
            require_columns(names, {"t": coords.t, "z": coords.z}, file)
            if geometry in names:
                raise DataError(
                    f"the layer has an attribute named {geometry!r}, which the converter creates",
                    file=file,
                    field=geometry,
                    hint="set coordinates.geometry in pipeline.yaml to another name",
                )

            def batches() -> Iterator[tuple[pa.RecordBatch, int]]:
                row = 1
                for batch in reader:
                    idx = batch.schema.get_field_index(column)
                    batch = batch.set_column(idx, pa.field(geometry, pa.binary()), batch.column(idx).cast(pa.binary()))
                    yield batch, row
                    row += batch.num_rows

            extra: dict[str, Any] = {"layer": name, "source_crs": str(file_crs)[:200]}
            if descriptions:
                extra["descriptions"] = descriptions
            return write_wkb(batches(), source, dest, geometry, transform=to_lonlat, extra=extra)
    except (DataSourceError, DataLayerError) as exc:
        raise DataError(f"cannot read layer {name!r}: {exc}", file=file, hint="upload a complete file") from None
