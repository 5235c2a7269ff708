"""The catalog contract as code: folders, files, ids and ``pipeline.yaml``.

Why a module of its own: every other part (render, validate, diff, publish,
harvest, the GitHub bot) asks the same questions -- which datasets exist,
which files make them up, what the pipeline says -- and must get the same
answers.  Discovery reads only directory listings and small YAML files, so
it stays cheap on a 1,000-dataset catalog.
"""

import datetime
import re
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Literal

import msgspec

from bot.config import CatalogConfig, config_error, load_catalog_config, load_yaml
from bot.errors import CatalogError, UsageError
from bot.sources.uri import check_source_path, is_glob, parse_source
from bot.structs import FieldError, InvalidData, Record, at_field, load

DATASET_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
DATASETS_DIR = "datasets"
LIB_DIR = "lib"
PROFILES_DIR = "profiles"

COLLECTION = "collection.jsonnet"
DATAPACKAGE = "datapackage.json"
TABLESCHEMA = "tableschema.json"
GRIDSCHEMA = "gridschema.json"
PIPELINE = "pipeline.yaml"
DATASET_FILES = (COLLECTION, DATAPACKAGE, TABLESCHEMA, GRIDSCHEMA, PIPELINE)

# Cron: 5 fields, each a comma list of `*`, `v` or `v-v`, with optional `/step`.
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_CRON_PART = re.compile(r"^(\*|(?P<a>[0-9a-z]+)(-(?P<b>[0-9a-z]+))?)(/(?P<step>[0-9]+))?$")


def _cron_value(text: str, index: int) -> int | None:
    low, high = _CRON_RANGES[index]
    if text.isdigit():
        return int(text) if low <= int(text) <= high else None
    names = _MONTHS if index == 3 else _DAYS if index == 4 else ()
    return names.index(text) + (1 if index == 3 else 0) if text in names else None


def check_cron(expr: str) -> str:
    """Validate a 5-field cron expression (what Argo CronWorkflows accept), naming the bad field."""
    if expr.startswith("@"):
        if expr in _CRON_MACROS:
            return expr
        raise ValueError(f"unknown cron macro {expr!r}; use one of {', '.join(sorted(_CRON_MACROS))}")
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"cron expression {expr!r} must have 5 fields (minute hour day month weekday)")
    labels = ("minute", "hour", "day of month", "month", "weekday")
    for index, text in enumerate(fields):
        for part in text.lower().split(","):
            match = _CRON_PART.fullmatch(part)
            ok = match is not None
            if match and match.group("a"):
                ok = all(_cron_value(v, index) is not None for v in (match.group("a"), match.group("b")) if v)
            if match and match.group("step") is not None and int(match.group("step")) == 0:
                ok = False
            if not ok:
                low, high = _CRON_RANGES[index]
                raise ValueError(f"cron {labels[index]} field {text!r} in {expr!r} is not valid (allowed {low}-{high})")
    return expr


def check_dataset_id(value: str) -> str:
    """Return ``value`` if it is a valid dataset id, else raise with the rule."""
    if not DATASET_ID.fullmatch(value):
        raise CatalogError(
            f"invalid dataset id {value!r}",
            hint="use 2-63 characters: lower-case letters, digits and '-', starting with a letter or digit",
        )
    return value


# Records (msgspec structs, bot.structs): strict, frozen, keyword-only; checks in __post_init__,
# FieldError for a check about one field.


class Subset(Record, frozen=True, kw_only=True):
    """A server-side subset of an OPeNDAP grid: ``bbox`` [west, south, east, north], ``time`` [start, end]."""

    bbox: tuple[float, float, float, float] | None = None
    time: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if self.bbox is not None:
            west, south, east, north = self.bbox
            if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
                raise FieldError("bbox", "bbox must be [west, south, east, north] with west < east and south < north")


class ThreddsSource(Record, frozen=True, kw_only=True):
    """Datasets picked from a THREDDS ``catalog.xml``: ``match`` (regex on urlPath) and ``since`` (date)."""

    catalog: str
    match: str | None = None
    since: datetime.date | None = None

    def __post_init__(self) -> None:
        with at_field("catalog"):
            kind = parse_source(self.catalog).kind
        if kind != "http":
            raise FieldError("catalog", f"thredds.catalog {self.catalog!r} must be the http(s) URL of a catalog.xml")
        if self.match is not None:
            try:
                re.compile(self.match)
            except re.error as exc:
                raise FieldError("match", f"thredds.match {self.match!r} is not a regular expression: {exc}") from None


class SourceSpec(Record, frozen=True, kw_only=True):
    """Where the source data is and how to read it.

    ``path`` is relative to the dataset folder, or an ``https://``,
    ``http://`` or ``s3://bucket/key`` URI (only those schemes: see
    :mod:`bot.sources.uri`).  ``anonymous`` reads a public S3 bucket without
    signing; ``endpoint_url`` names a non-AWS S3 store for this source.
    """

    path: str | None = None
    paths: list[str] | None = None
    opendap: str | None = None
    thredds: ThreddsSource | None = None
    variables: list[str] | None = None
    subset: Subset | None = None
    format: Literal[
        "csv", "geojson", "geojsonseq", "gpkg", "shapefile", "flatgeobuf", "netcdf", "parquet", "zarr", "geotiff"
    ]
    delimiter: str = ","
    timestamp_format: str | None = None
    # None: the file's own CRS (vector files, GeoParquet), EPSG:4326 for CSV x/y; EPSG code, WKT or PROJJSON.
    crs: str | None = None
    layer: str | None = None  # which layer of a multi-layer file (GeoPackage)
    group: str | None = None  # NetCDF group holding the variables (e.g. "PRODUCT")
    anonymous: bool = False
    endpoint_url: str | None = None

    @property
    def entries(self) -> list[str]:
        """Every path or pattern of the source (``[path]`` or ``paths``)."""
        if self.opendap is not None:
            return [self.opendap]
        if self.thredds is not None:
            return [self.thredds.catalog]
        return list(self.paths) if self.paths is not None else [self.path or ""]

    @property
    def single(self) -> str | None:
        """The one file of a single-file source (``path`` without a glob), else None."""
        if self.paths is None and self.path is not None and not is_glob(self.path):
            return self.path
        return None

    @property
    def label(self) -> str:
        """How errors and logs name the source (the path, or the first of ``paths`` + count)."""
        entries = self.entries
        return entries[0] if len(entries) == 1 else f"{entries[0]} (+{len(entries) - 1} more)"

    def __post_init__(self) -> None:
        if self.path is not None:
            with at_field("path"):
                check_source_path(self.path)
        if self.paths is not None:
            if not self.paths:
                raise FieldError("paths", "paths is empty; list at least one file or pattern")
            with at_field("paths"):
                for entry in self.paths:
                    check_source_path(entry)
        if self.opendap is not None:
            with at_field("opendap"):
                kind = parse_source(self.opendap).kind
            if kind != "http":
                raise FieldError("opendap", f"opendap {self.opendap!r} must be an http:// or https:// OPeNDAP URL")
        if self.endpoint_url is not None and not self.endpoint_url.startswith(("http://", "https://")):
            raise FieldError(
                "endpoint_url",
                f"endpoint_url {self.endpoint_url!r} must be an http:// or https:// URL (the S3 endpoint)",
            )
        given = [k for k in ("path", "paths", "opendap", "thredds") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of source.path (one file or a glob), source.paths (a list), "
                "source.opendap (a URL) or source.thredds (a catalog)"
                + (f"; found {', '.join(given)}" if given else "")
            )
        if self.opendap is not None:
            if self.format != "netcdf":
                raise ValueError("an opendap source is a grid: use format: netcdf (and output: zarr)")
            return
        if self.variables is not None or self.subset is not None:
            raise ValueError("variables and subset apply to opendap sources only")
        entries = self.entries
        if (self.anonymous or self.endpoint_url) and not all(e.startswith("s3://") for e in entries):
            raise ValueError("anonymous and endpoint_url apply to s3:// sources only")
        if self.format == "zarr" and (any("://" in e for e in entries) or self.single is None):
            raise ValueError(
                "a remote Zarr store cannot be fetched as one file; use a NetCDF/CSV/GeoJSON/Parquet source"
            )


class Coordinates(Record, frozen=True, kw_only=True):
    """Names of the coordinate columns (tabular) or variables (gridded)."""

    x: str | None = None
    y: str | None = None
    z: str | None = None
    t: str | None = None
    geometry: str | None = None


class MetadataSource(Record, frozen=True, kw_only=True):
    """External metadata record harvested for this dataset."""

    kind: Literal["csw", "url"] = "csw"
    url: str
    record_id: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "csw" and not self.record_id:
            raise ValueError("a csw metadata source needs record_id")


class PipelineSpec(Record, frozen=True, kw_only=True):
    """``pipeline.yaml``: how a dataset is converted and published."""

    source: SourceSpec
    output: Literal["parquet", "zarr"]
    coordinates: Coordinates = Coordinates()
    access: Literal["public", "limited"] = "public"
    converter: str | None = None
    chunks: dict[str, int] = {}
    schedule: str | None = None
    timezone: str = "UTC"
    metadata_source: MetadataSource | None = None
    # Publish only in these environments (e.g. a source on the dev services); ``publish --all`` elsewhere
    # skips the dataset with a notice. None: every environment.
    environments: list[str] | None = None

    def __post_init__(self) -> None:
        if self.schedule:
            with at_field("schedule"):
                check_cron(self.schedule)
        c = self.coordinates
        if self.output == "parquet" and not (c.geometry or (c.x and c.y)):
            raise ValueError("tabular output needs coordinates.geometry or coordinates.x and coordinates.y")
        if self.output == "zarr" and not (c.x and c.y):
            raise ValueError("gridded output needs coordinates.x and coordinates.y (dimension names)")

    def published_in(self, env_name: str) -> bool:
        """Whether environment ``env_name`` publishes this dataset (``environments``; None: every one)."""
        return self.environments is None or env_name in self.environments

    @property
    def kind(self) -> Literal["tabular", "gridded"]:
        """Tabular (Parquet, table schema) or gridded (Zarr, grid schema)."""
        return "tabular" if self.output == "parquet" else "gridded"


def load_pipeline(path: Path, rel: str | None = None) -> PipelineSpec:
    """Parse and validate a ``pipeline.yaml`` with file/field errors."""
    return parse_pipeline(load_yaml(path), rel or str(path))


def parse_pipeline(data: object, name: str) -> PipelineSpec:
    """Validate parsed ``pipeline.yaml`` data; errors name ``name``, the field path and the fix."""
    if not isinstance(data, dict):
        raise CatalogError(
            "must be a YAML mapping", file=name, hint="see catalog_templates/example for a pipeline.yaml"
        )
    try:
        return load(data, PipelineSpec)
    except InvalidData as exc:
        raise config_error(exc, name) from None


class Dataset(msgspec.Struct, frozen=True):
    """One dataset folder; paths are absolute, ``rel`` gives catalog-relative names.

    A struct, not a dataclass: creating a dataclass costs ~0.5 ms of every start-up (a step pod's).
    """

    id: str
    dir: Path
    root: Path

    def path(self, name: str) -> Path:
        """Absolute path of one of this dataset's files."""
        return self.dir / name

    def rel(self, name: str) -> str:
        """Catalog-relative path (POSIX) of one of this dataset's files."""
        return (self.dir / name).relative_to(self.root).as_posix()

    @property
    def schema_file(self) -> str:
        """``tableschema.json`` or ``gridschema.json``, whichever exists (table by default)."""
        return GRIDSCHEMA if (self.dir / GRIDSCHEMA).exists() else TABLESCHEMA

    def pipeline(self) -> PipelineSpec:
        """The parsed ``pipeline.yaml`` (raises :class:`CatalogError`)."""
        path = self.path(PIPELINE)
        if not path.exists():
            raise CatalogError(
                "required file is missing", file=self.rel(PIPELINE), hint="add a pipeline.yaml (see catalog-bot init)"
            )
        return load_pipeline(path, self.rel(PIPELINE))

    def missing_files(self) -> list[str]:
        """Required files that are absent (schema: either table or grid)."""
        missing = [n for n in (COLLECTION, DATAPACKAGE, PIPELINE) if not self.path(n).exists()]
        if not self.path(TABLESCHEMA).exists() and not self.path(GRIDSCHEMA).exists():
            missing.append(f"{TABLESCHEMA} or {GRIDSCHEMA}")
        return missing


class Catalog(msgspec.Struct, dict=True):
    """A catalog repository checked out at ``root`` (``dict=True``: room for the cached properties)."""

    root: Path
    config: CatalogConfig = CatalogConfig()

    @classmethod
    def open(cls, root: Path | str) -> "Catalog":
        """Open a catalog folder; it must contain ``datasets/`` or ``catalog-bot.yaml``."""
        path = Path(root).resolve()
        if not path.is_dir():
            raise UsageError(
                f"catalog folder {root} does not exist", hint="pass --catalog DIR pointing at a catalog repository"
            )
        if not (path / DATASETS_DIR).is_dir() and not (path / "catalog-bot.yaml").exists():
            raise UsageError(
                f"{root} is not a catalog (no datasets/ folder and no catalog-bot.yaml)",
                hint="run `catalog-bot init DIR` to create one, or pass --catalog",
            )
        return cls(root=path, config=load_catalog_config(path))

    @cached_property
    def dataset_dirs(self) -> list[Path]:
        """Sorted folders under ``datasets/`` (names not yet validated)."""
        base = self.root / DATASETS_DIR
        if not base.is_dir():
            return []
        return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))

    def invalid_dataset_dirs(self) -> list[str]:
        """Folder names under ``datasets/`` that break the id rule, hidden ones (``..a``) included, as ``check``."""
        base = self.root / DATASETS_DIR
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir() and not DATASET_ID.fullmatch(p.name))

    def datasets(self) -> list[Dataset]:
        """All datasets with a valid folder name, sorted by id."""
        return [Dataset(p.name, p, self.root) for p in self.dataset_dirs if DATASET_ID.fullmatch(p.name)]

    def ids(self) -> list[str]:
        """All dataset ids."""
        return [d.id for d in self.datasets()]

    @cached_property
    def id_set(self) -> frozenset[str]:
        """All dataset ids as a set, computed once (membership checks on hot paths)."""
        return frozenset(self.ids())

    def dataset(self, dataset_id: str) -> Dataset:
        """One dataset by id; unknown ids are a usage error naming the known ones."""
        if not DATASET_ID.fullmatch(dataset_id):
            raise UsageError(
                f"invalid dataset id {dataset_id!r}",
                hint="ids are 2-63 characters of a-z, 0-9 and '-'",
            )
        path = self.root / DATASETS_DIR / dataset_id
        if not path.is_dir():
            known = ", ".join(self.ids()[:10]) or "none"
            raise UsageError(f"unknown dataset {dataset_id!r}", hint=f"known datasets: {known}")
        return Dataset(dataset_id, path, self.root)

    def select(self, ids: Iterable[str] | None) -> list[Dataset]:
        """The named datasets, or all when ``ids`` is empty/None."""
        ids = list(ids or [])
        return [self.dataset(i) for i in ids] if ids else self.datasets()

    def lib_dirs(self) -> list[Path]:
        """Jsonnet library search path (``lib/``), inside the catalog only."""
        lib = self.root / LIB_DIR
        return [lib] if lib.is_dir() else []

    def dataset_of(self, rel_path: str) -> str | None:
        """The dataset id a catalog-relative path belongs to, if any."""
        parts = Path(rel_path).parts
        if len(parts) >= 2 and parts[0] == DATASETS_DIR:
            return parts[1]
        return None
