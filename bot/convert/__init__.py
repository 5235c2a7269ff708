"""Converters: source data -> analysis-ready, cloud-optimised outputs.

``convert_dataset`` is the one entry point the pipeline calls; it dispatches
on ``source.format`` and ``output`` from ``pipeline.yaml``:

=========  =======  ============================================
source     output   converter
=========  =======  ============================================
csv        parquet  :func:`bot.convert.tabular.convert_csv` (streamed)
geojson    parquet  :func:`bot.convert.tabular.convert_geojson`
gpkg, shapefile, flatgeobuf, geojsonseq
           parquet  :func:`bot.convert.ogr.convert_ogr` (pyogrio, streamed)
parquet    parquet  :func:`bot.convert.tabular.passthrough_parquet` (re-encoded)
netcdf     zarr     :func:`bot.convert.grid.convert_netcdf` (block copy)
zarr       zarr     :func:`bot.convert.grid.passthrough_zarr`
geotiff    zarr     :func:`bot.convert.raster.convert_geotiff` (rioxarray; reprojected to lon/lat)
=========  =======  ============================================

Heavy imports (xarray, dask, shapely) happen inside the converters so that
importing this package stays cheap for the commands that do not convert.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.catalog.layout import PipelineSpec
from bot.convert.common import ConversionResult
from bot.errors import DataError

__all__ = ["ConversionResult", "convert_dataset", "output_path"]

_SUPPORTED = {
    ("csv", "parquet"),
    ("geojson", "parquet"),
    ("parquet", "parquet"),
    ("gpkg", "parquet"),
    ("shapefile", "parquet"),
    ("flatgeobuf", "parquet"),
    ("geojsonseq", "parquet"),
    ("netcdf", "zarr"),
    ("zarr", "zarr"),
    ("geotiff", "zarr"),
}


def output_path(spec: PipelineSpec, source_path: Path, out_dir: Path, name: str | None = None) -> Path:
    """Where :func:`convert_dataset` writes: ``out_dir/<name or source stem>.<parquet|zarr>``."""
    return out_dir / f"{name or source_path.stem}.{spec.output}"


def convert_dataset(
    spec: PipelineSpec,
    source_path: Path,
    out_dir: Path,
    schema: dict[str, Any] | None = None,
    *,
    name: str | None = None,
) -> ConversionResult:
    """Convert one dataset's source into ``out_dir`` (atomically).

    ``schema`` is the curated ``tableschema.json`` (tabular only): its field
    types become the column types.  ``name`` (default: the source file stem,
    usually the dataset id) names the output.  Raises :class:`DataError` for
    bad input; on error nothing is left at the output path.
    """
    fmt = spec.source.format
    if spec.converter:
        from bot.convert.plugins import run_converter

        dest = output_path(spec, Path(source_path), Path(out_dir), name)
        return run_converter(spec, Path(source_path), dest, schema, dataset=name or Path(source_path).stem)
    if (fmt, spec.output) not in _SUPPORTED:
        raise DataError(
            f"cannot convert source format {fmt!r} to {spec.output!r}",
            file="pipeline.yaml",
            field="output",
            hint="tabular and vector sources (csv, geojson, parquet, gpkg, ...) go to parquet; gridded (netcdf, zarr, geotiff) to zarr",
        )
    source_path = Path(source_path)
    dest = output_path(spec, source_path, Path(out_dir), name)
    coords = spec.coordinates
    if fmt == "csv":
        from bot.convert.tabular import convert_csv

        return convert_csv(
            source_path,
            dest,
            coords,
            delimiter=spec.source.delimiter,
            timestamp_format=spec.source.timestamp_format,
            schema=schema,
            crs=spec.source.crs,
        )
    if fmt == "geojson":
        from bot.convert.tabular import convert_geojson

        return convert_geojson(source_path, dest, coords, schema=schema, crs=spec.source.crs)
    if fmt == "parquet":
        from bot.convert.tabular import passthrough_parquet

        return passthrough_parquet(source_path, dest, coords, crs=spec.source.crs)
    if fmt in ("gpkg", "shapefile", "flatgeobuf", "geojsonseq"):
        from bot.convert.ogr import convert_ogr

        return convert_ogr(source_path, dest, coords, layer=spec.source.layer, crs=spec.source.crs, schema=schema)
    if fmt == "geotiff":
        from bot.convert.raster import convert_geotiff

        return convert_geotiff(source_path, dest, coords, dict(spec.chunks), crs=spec.source.crs)
    from bot.convert.common import require_lonlat_crs

    require_lonlat_crs(spec.source.crs, source_path)
    if fmt == "netcdf":
        from bot.convert.grid import convert_netcdf

        return convert_netcdf(source_path, dest, coords, dict(spec.chunks), group=spec.source.group)
    from bot.convert.grid import passthrough_zarr

    return passthrough_zarr(source_path, dest, coords)
