"""``catalog-bot init``: create a new catalog repository from the templates.

Why copy instead of generate: the templates are real files that the example
catalog itself uses (and the tests publish), so a new catalog starts from
something known to render, validate and publish.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from bot.errors import UsageError

TEMPLATES = Path(__file__).resolve().parents[2] / "catalog_templates"
EXAMPLE = TEMPLATES / "example"

# What a new catalog gets from the example catalog (datasets only with --example).
_FROM_EXAMPLE = ("catalog-bot.yaml", "lib", "profiles", "pygeoapi")
# What it gets from the top of catalog_templates/ (workflows, issue form).
_FROM_TEMPLATES = (".github",)
# What a publish writes inside the catalog folder: never content of the catalog
# (``check`` would count published files as changes).
GITIGNORE = "# catalog-bot: local publish output and run state\n_published/\n.catalog-bot/\n"


def templates_dir() -> Path:
    """The catalog_templates folder (source checkout or installed package data)."""
    if TEMPLATES.is_dir():
        return TEMPLATES
    packaged = Path(__file__).resolve().parents[1] / "resources" / "catalog_templates"
    if packaged.is_dir():
        return packaged
    raise UsageError("catalog_templates not found", hint="install catalog-bot from a source checkout")


ACTION_PLACEHOLDER = "catalog-bot/catalog-bot@0000000000000000000000000000000000000000"
_SHA = re.compile(r"^[0-9a-f]{40}$")


def check_action(action: str) -> str:
    """``owner/repo@<40-hex sha>`` or a UsageError (actions are pinned by commit, never by tag)."""
    repo, _, sha = action.partition("@")
    if "/" not in repo or not _SHA.fullmatch(sha):
        raise UsageError(
            f"--action {action!r} must be owner/repo@<full 40-character commit SHA>",
            hint="pin actions by commit, not by tag",
        )
    return action


def pin_action(files: list[Path], action: str | None) -> int:
    """Replace the placeholder action pin in workflow files with ``owner/repo@<40-hex sha>``."""
    if not action:
        return 0
    check_action(action)
    count = 0
    for path in files:
        if path.suffix in (".yml", ".yaml") and ".github" in path.parts:
            text = path.read_text(encoding="utf-8")
            if ACTION_PLACEHOLDER in text:
                path.write_text(text.replace(ACTION_PLACEHOLDER, action), encoding="utf-8")
                count += 1
    return count


def init_catalog(
    dest: Path, *, with_examples: bool = False, force: bool = False, action: str | None = None
) -> list[Path]:
    """Write a new catalog into ``dest``; refuses a non-empty folder unless ``force``.

    ``action`` (``owner/repo@sha``) pins the workflows to a catalog-bot release.
    """
    if action:
        check_action(action)  # before anything is written
    base = templates_dir()
    example = base / "example"
    if dest.exists() and any(dest.iterdir()) and not force:
        raise UsageError(
            f"{dest} is not empty", hint="choose an empty folder or pass --force to add missing files only"
        )
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    sources = [(example / n, dest / n) for n in _FROM_EXAMPLE] + [(base / n, dest / n) for n in _FROM_TEMPLATES]
    if with_examples:
        sources.append((example / "datasets", dest / "datasets"))
    for src, dst in sources:
        if not src.exists():
            continue
        if src.is_dir():
            for file in sorted(p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
                target = dst / file.relative_to(src)
                if target.exists():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, target)
                written.append(target)
        elif not dst.exists():
            shutil.copy2(src, dst)
            written.append(dst)
    (dest / "datasets").mkdir(exist_ok=True)
    keep = dest / "datasets" / ".gitkeep"
    if not with_examples and not keep.exists():
        keep.write_text("")
        written.append(keep)
    if not with_examples:
        _drop_example_only(dest / "catalog-bot.yaml")
    ignore = dest / ".gitignore"
    if not ignore.exists():
        ignore.write_text(GITIGNORE, encoding="utf-8")
        written.append(ignore)
    pin_action(written, action)
    return written


_EXAMPLE_ONLY = re.compile(r"^# >>> example only.*?^# <<< example only[^\n]*\n\n?", re.MULTILINE | re.DOTALL)


def _drop_example_only(config: Path) -> None:
    """Remove the example-only block (the loopback allow-list) from a new catalog's configuration.

    Why: a real catalog must not let pull requests reach loopback services;
    only the example, which runs against local dev servers, opens it.
    """
    if config.is_file():
        text = config.read_text(encoding="utf-8")
        config.write_text(_EXAMPLE_ONLY.sub("", text), encoding="utf-8")
