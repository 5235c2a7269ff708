"""``catalog-bot render``: render a dataset's collection, or any Jsonnet files.

Two modes, chosen by the arguments:

* dataset ids (or nothing) inside a catalog: ``catalog-bot render DATASET
  [--catalog DIR] [--env NAME]`` prints the rendered collection, pretty; the
  ext vars are those of the environment (:func:`bot.catalog.render.ext_vars_for`).
  Several ids print one JSON line per dataset (as in files mode).
* existing files: ``catalog-bot render FILE... -J LIBDIR -V key=value
  --jobs N`` renders each file in the sandbox rooted at the common folder of
  the files and library folders and prints one JSON line per file; exit 1
  if any failed.

Thin: the work is in :mod:`bot.catalog.render`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.catalog.render import Renderer, RenderResult, common_root, ext_vars_for
from bot.errors import EXIT_PROBLEMS, UsageError
from bot.logging import mask


def _parse_vars(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"bad ext var {pair!r}", hint="use -V key=value")
        out[key] = value
    return out


def _line(name: str, res: RenderResult, root: Path, extra: dict[str, Any] | None = None) -> str:
    """One JSON line for a result; error locations in other files are shown relative to the cwd."""
    data: dict[str, Any] = {"file": name, **(extra or {}), "ok": res.ok}
    if res.error is None:
        data["result"] = res.value
    else:
        err = res.error
        detail = getattr(err, "detail", err.message)
        data["error"] = detail
        if err.file:
            shown = os.path.relpath(root / err.file) if not Path(err.file).is_absolute() else err.file
            if os.path.normpath(shown) != os.path.normpath(name):
                data["error_file"] = shown
        data["line"] = err.line
        data["column"] = getattr(err, "column", None)
        if err.hint:
            data["hint"] = err.hint
    return mask(json.dumps(data, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    """Add the ``render`` verb."""

    @app.command("render")
    def render(
        targets: Annotated[
            list[str] | None,
            typer.Argument(help="dataset ids in the catalog (default: all), or Jsonnet files"),
        ] = None,
        catalog: Annotated[Path, typer.Option("--catalog", "-C", help="catalog folder (dataset mode)")] = Path("."),
        env: Annotated[str | None, typer.Option("--env", "-e", help="environment whose ext vars are used")] = None,
        lib: Annotated[
            list[Path] | None, typer.Option("--jpath", "-J", help="library folder for imports (files mode)")
        ] = None,
        ext_var: Annotated[
            list[str] | None, typer.Option("--ext-str", "-V", help="ext var key=value (files mode)")
        ] = None,
        jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="worker processes for many files")] = 2,
        engine: Annotated[
            str,
            typer.Option("--engine", envvar="CATALOG_BOT_JSONNET_ENGINE", help="auto, go, cpp or rust"),
        ] = "auto",
        timeout: Annotated[
            float | None,
            typer.Option("--timeout", min=0.1, help="seconds per file; renders in worker processes that are killed"),
        ] = None,
    ) -> None:
        """Render collection.jsonnet of datasets (pretty JSON) or many Jsonnet files (JSON lines)."""
        targets = targets or []
        existing = [t for t in targets if Path(t).is_file()]
        if existing and len(existing) != len(targets):
            missing = [t for t in targets if t not in existing]
            raise UsageError(
                f"{', '.join(missing)}: not a file (files mode, because {existing[0]} is a file)",
                hint="pass only Jsonnet files, or only dataset ids",
            )
        if existing:
            paths = [Path(os.path.abspath(t)) for t in existing]
            libs = [Path(os.path.abspath(d)) for d in lib or []]
            _render_files(paths, existing, libs, _parse_vars(ext_var or []), jobs, engine, timeout)
            return
        if lib or ext_var:
            raise UsageError(
                "-J/-V apply to files mode only",
                hint="in a catalog, ext vars come from catalog-bot.yaml (--env) and imports from lib/",
            )
        from bot.catalog.layout import COLLECTION, Catalog  # catalog-bot.yaml records: dataset mode only

        cat = Catalog.open(catalog)
        env_name = env or cat.config.default_environment
        renderer = Renderer(cat.root, cat.lib_dirs(), ext_vars_for(cat.config, env_name), engine, timeout=timeout)
        datasets = cat.select(targets)
        if len(targets) == 1:
            [res] = renderer.render_many([datasets[0].path(COLLECTION)], jobs=1)
            if res.error is not None:
                raise res.error
            sys.stdout.write(mask(json.dumps(res.value, indent=2, ensure_ascii=False)) + "\n")
            return
        failed = False
        paths = [d.path(COLLECTION) for d in datasets]
        for ds, res in zip(datasets, renderer.render_many(paths, jobs=jobs), strict=True):
            failed |= not res.ok
            sys.stdout.write(_line(res.path, res, cat.root, {"dataset": ds.id}) + "\n")
        if failed:
            raise typer.Exit(EXIT_PROBLEMS)


def _render_files(
    paths: list[Path],
    names: list[str],
    libs: list[Path],
    ext_vars: dict[str, str],
    jobs: int,
    engine: str,
    timeout: float | None,
) -> None:
    for lib in libs:
        if not lib.is_dir():
            raise UsageError(f"library folder {lib} does not exist", hint="pass an existing folder with -J")
    root = common_root([*paths, *libs])
    if root == Path(root.anchor):
        raise UsageError(
            f"the files and -J folders have no common folder below {root}, so imports could reach the whole disk",
            hint="render files of one tree at a time (the sandbox root is their deepest common folder)",
        )
    renderer = Renderer(root, libs, ext_vars, engine, timeout=timeout)
    failed = False
    for name, res in zip(names, renderer.render_many(paths, jobs=jobs), strict=True):
        failed |= not res.ok
        sys.stdout.write(_line(name, res, root) + "\n")
        sys.stdout.flush()
    if failed:
        raise typer.Exit(EXIT_PROBLEMS)
