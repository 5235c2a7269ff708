"""Dataset-specific converters as installed plug-ins (entry-point group ``catalog_bot.converters``).

Why entry points and not code in the catalog: a pull request controls the
catalog repository, so the bot never imports Python from it.  An
organisation packages its converters, installs them into the pipeline
image, and a dataset selects one with ``converter: NAME`` in pipeline.yaml::

    # pyproject.toml of the organisation's package
    [project.entry-points."catalog_bot.converters"]
    glider-nc = "acme_converters.glider:convert"

The contract (typed below): the function receives a :class:`ConverterInput`
-- the local source paths, the parsed pipeline.yaml, the dataset's curated
table schema (tabular) and an empty work folder -- and returns a
:class:`ConverterOutput` naming what it wrote inside that folder: a
(Geo)Parquet file for ``output: parquet`` or a Zarr store for ``output: zarr``,
plus optional extra metadata (kept in the GeoParquet's ``catalog_bot`` key,
e.g. ``{"descriptions": {column: text}}``, which the data-driven metadata reads).  The bot then treats that
output like any source of that format: a Parquet file is re-encoded as
GeoParquet 1.1 (coordinates, CRS, extents checked), a Zarr store is checked
and copied with consolidated metadata, so a plug-in cannot publish an invalid
file.  Anything the plug-in raises becomes a :class:`DataError` naming it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, cast

from bot.catalog.layout import PipelineSpec
from bot.convert.common import ConversionResult
from bot.errors import BotError, DataError

ENTRY_POINT_GROUP = "catalog_bot.converters"


@dataclass(frozen=True)
class ConverterInput:
    """What a plug-in converter gets."""

    dataset: str
    sources: list[Path]
    spec: PipelineSpec
    work_dir: Path
    schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class ConverterOutput:
    """What a plug-in converter returns: a path inside ``work_dir`` and optional extra metadata."""

    path: Path
    metadata: dict[str, Any] = field(default_factory=dict)


Converter = Callable[[ConverterInput], ConverterOutput]


def installed() -> dict[str, EntryPoint]:
    """Installed converters by name (sorted)."""
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return dict(sorted(found.items()))


def load(name: str) -> Converter:
    """The converter function registered as ``name`` (clear error when it is not installed)."""
    available = installed()
    if name not in available:
        listing = ", ".join(available) or "none"
        raise DataError(
            f"converter {name!r} is not installed (installed: {listing})",
            file="pipeline.yaml",
            field="converter",
            hint=f"install the package that registers it in the {ENTRY_POINT_GROUP!r} entry-point group "
            "into the pipeline image, or fix the name (catalog-bot converters lists them)",
        )
    try:
        func = available[name].load()
    except Exception as exc:  # an installed but broken plug-in: any import error is possible
        raise DataError(
            f"converter {name!r} cannot be imported: {exc}", field="converter", hint="fix the plug-in package"
        ) from None
    if not callable(func):
        raise DataError(f"converter {name!r} is not callable", field="converter", hint="fix the plug-in entry point")
    return cast(Converter, func)


def run_converter(
    spec: PipelineSpec,
    source: Path,
    dest: Path,
    schema: dict[str, Any] | None,
    *,
    dataset: str,
) -> ConversionResult:
    """Run ``spec.converter`` in a temporary work folder, then check and normalise its output into ``dest``."""
    assert spec.converter is not None
    func = load(spec.converter)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".convert-{dataset}-", dir=dest.parent))
    try:
        try:
            out = func(ConverterInput(dataset=dataset, sources=[source], spec=spec, work_dir=work, schema=schema))
        except BotError:
            raise
        except Exception as exc:  # plug-in code: report whatever it raised, with its name
            raise DataError(
                f"converter {spec.converter!r} failed: {type(exc).__name__}: {exc}",
                file=str(source),
                field="converter",
                hint="fix the source data or the converter",
            ) from None
        if not isinstance(out, ConverterOutput):
            raise DataError(
                f"converter {spec.converter!r} returned {type(out).__name__}, not ConverterOutput",
                field="converter",
                hint="return bot.convert.plugins.ConverterOutput(path=...)",
            )
        produced = Path(out.path)
        if not produced.is_absolute():
            produced = work / produced
        if not produced.exists() or not produced.resolve().is_relative_to(work.resolve()):
            raise DataError(
                f"converter {spec.converter!r} output {produced} is missing or outside its work folder",
                field="converter",
                hint="write the output inside ConverterInput.work_dir",
            )
        if spec.output == "parquet":
            from bot.convert.parquet import passthrough_parquet

            return passthrough_parquet(produced, dest, spec.coordinates, crs=spec.source.crs, extra=out.metadata)
        from bot.convert.grid import passthrough_zarr

        return passthrough_zarr(produced, dest, spec.coordinates)
    finally:
        shutil.rmtree(work, ignore_errors=True)
