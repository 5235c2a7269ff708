"""What validation reads: the catalog's profiles, a dataset's documents, files as UTF-8 JSON.

Why apart: every validator takes these as inputs, and a broken file must
become a located Problem (missing, not UTF-8, bad JSON), never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from bot.catalog.layout import (
    COLLECTION,
    DATAPACKAGE,
    DATASETS_DIR,
    GRIDSCHEMA,
    PIPELINE,
    PROFILES_DIR,
    TABLESCHEMA,
    PipelineSpec,
)
from bot.catalog.locate import json_line, jsonnet_line
from bot.errors import CatalogError, Problem

PROFILE_DATAPACKAGE = "catalog-datapackage.json"
PROFILE_GRIDSCHEMA = "gridschema.json"
# The example catalog's profiles are the bundled defaults (one copy; shipped in wheels
# through the bot/resources/catalog_templates link).
_BUNDLED = Path(__file__).resolve().parents[2] / "resources" / "catalog_templates" / "example" / "profiles"

LineOf = Callable[[str], int | None]


class RendererLike(Protocol):
    """What we need from :class:`bot.catalog.render.Renderer`."""

    def render_file(self, path: Path) -> Any:
        """Render a Jsonnet file to JSON data (raises ``RenderError``)."""
        ...


@dataclass(frozen=True)
class Profiles:
    """The catalog's own JSON schemas: the data-package profile and the grid schema.

    They live in the catalog (``profiles/``) so that a catalog can tighten
    its rules in a pull request; the copies bundled with the bot are the
    fallback (and what ``catalog-bot init`` starts from).
    """

    datapackage: dict[str, Any]
    gridschema: dict[str, Any]
    datapackage_file: str = f"{PROFILES_DIR}/{PROFILE_DATAPACKAGE}"
    gridschema_file: str = f"{PROFILES_DIR}/{PROFILE_GRIDSCHEMA}"

    @classmethod
    def bundled(cls) -> Profiles:
        """The profiles shipped with the bot."""
        return cls(
            datapackage=json.loads((_BUNDLED / PROFILE_DATAPACKAGE).read_text(encoding="utf-8")),
            gridschema=json.loads((_BUNDLED / PROFILE_GRIDSCHEMA).read_text(encoding="utf-8")),
        )

    @classmethod
    def load(cls, root: Path) -> Profiles:
        """The profiles of the catalog at ``root`` (bundled ones where a file is absent).

        Raises :class:`CatalogError` naming the file when a profile is not
        valid JSON or not a valid JSON Schema.
        """
        bundled = cls.bundled()
        found: dict[str, dict[str, Any]] = {}
        for name in (PROFILE_DATAPACKAGE, PROFILE_GRIDSCHEMA):
            path = root / PROFILES_DIR / name
            rel = f"{PROFILES_DIR}/{name}"
            if not path.is_file():
                continue
            doc, _text, problems = read_json(path, rel)
            if problems:
                raise CatalogError(problems[0].message, file=rel, line=problems[0].line, hint=problems[0].hint)
            if not isinstance(doc, dict):
                raise CatalogError("a profile must be a JSON Schema object", file=rel, hint="start it with {")
            _check_schema(doc, rel)
            found[name] = doc
        return cls(
            datapackage=found.get(PROFILE_DATAPACKAGE, bundled.datapackage),
            gridschema=found.get(PROFILE_GRIDSCHEMA, bundled.gridschema),
            datapackage_file=f"{PROFILES_DIR}/{PROFILE_DATAPACKAGE}",
            gridschema_file=f"{PROFILES_DIR}/{PROFILE_GRIDSCHEMA}",
        )


def _check_schema(schema: dict[str, Any], rel: str) -> None:
    from jsonschema import validators
    from jsonschema.exceptions import SchemaError

    cls = validators.validator_for(schema, default=validators.Draft7Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise CatalogError(
            f"not a valid JSON Schema: {exc.message}",
            file=rel,
            field=".".join(str(p) for p in exc.absolute_path) or None,
            hint="fix the profile (catalog_templates/example/profiles has a working one)",
        ) from None


@dataclass
class DatasetDocs:
    """Everything known about one dataset, as loaded (``None`` = absent or unreadable).

    ``files`` maps a kind (``collection``, ``datapackage``, ``tableschema``,
    ``gridschema``, ``pipeline``) to its catalog-relative path, ``sources``
    the kind to its source text (used only to map pointers to lines).
    """

    dataset_id: str
    collection: dict[str, Any] | None = None
    datapackage: dict[str, Any] | None = None
    tableschema: dict[str, Any] | None = None
    gridschema: dict[str, Any] | None = None
    pipeline: PipelineSpec | None = None
    files: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def file(self, kind: str) -> str:
        """Catalog-relative path of a document (a sensible default when unknown)."""
        default = {
            "collection": COLLECTION,
            "datapackage": DATAPACKAGE,
            "tableschema": TABLESCHEMA,
            "gridschema": GRIDSCHEMA,
            "pipeline": PIPELINE,
        }[kind]
        return self.files.get(kind, f"{DATASETS_DIR}/{self.dataset_id}/{default}")

    def line_of(self, kind: str) -> LineOf:
        """Pointer -> line function for one document (Jsonnet search for the collection)."""
        text = self.sources.get(kind)
        if kind == "collection":
            return lambda pointer: jsonnet_line(text, pointer)
        return lambda pointer: json_line(text, pointer)


def read_text(path: Path, rel: str, dataset: str | None = None) -> tuple[str | None, list[Problem]]:
    """UTF-8 text of a file, or a Problem (missing, unreadable, not UTF-8 with its line)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, [
            Problem(
                "file-missing",
                "required file is missing",
                file=rel,
                hint=f"add {path.name} (see catalog_templates/example)",
                dataset=dataset,
            )
        ]
    except OSError as exc:
        return None, [Problem("file-unreadable", f"cannot read file: {exc.strerror}", file=rel, dataset=dataset)]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [
            Problem(
                "encoding",
                f"not UTF-8: invalid byte 0x{data[exc.start]:02x} at byte {exc.start}",
                file=rel,
                line=line,
                column=col,
                hint="save the file as UTF-8",
                dataset=dataset,
            )
        ]


def read_json(path: Path, rel: str, dataset: str | None = None) -> tuple[Any, str | None, list[Problem]]:
    """Parse a JSON file: ``(data, text, problems)``; bad JSON is a Problem with line/column."""
    text, problems = read_text(path, rel, dataset)
    if text is None:
        return None, None, problems
    try:
        return json.loads(text), text, []
    except json.JSONDecodeError as exc:
        return (
            None,
            text,
            [
                Problem(
                    "json-invalid",
                    f"invalid JSON: {exc.msg}",
                    file=rel,
                    line=exc.lineno,
                    column=exc.colno,
                    hint="fix the JSON syntax (a missing comma or quote, or a trailing comma?)",
                    dataset=dataset,
                )
            ],
        )


@lru_cache(maxsize=8)
def _profiles_cached(root: str, stamp: tuple[float, ...]) -> Profiles:
    return Profiles.load(Path(root))


def load_profiles(root: Path) -> Profiles:
    """:meth:`Profiles.load`, cached per catalog while the profile files are unchanged."""
    stamp = tuple(
        (root / PROFILES_DIR / n).stat().st_mtime if (root / PROFILES_DIR / n).exists() else 0.0
        for n in (PROFILE_DATAPACKAGE, PROFILE_GRIDSCHEMA)
    )
    return _profiles_cached(str(root), stamp)
