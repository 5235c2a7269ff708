"""Start-up: ``import bot.cli`` and a verb's ``--help`` stay light; the lazy verb list matches the verbs.

Why in a fresh interpreter: the test session itself has imported pandas,
boto3 and the rest long before this test runs, so ``sys.modules`` of the
session says nothing about what the CLI pulls in.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bot.cli import COMMANDS, load_command

HEAVY = ("pandas", "deepdiff", "xarray", "pyarrow", "boto3", "frictionless")


def _loaded_after(code: str) -> dict[str, bool]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {list(HEAVY)!r}}}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_bot_cli_loads_no_heavy_library() -> None:
    loaded = _loaded_after("import bot.cli")
    assert not any(loaded.values()), f"import bot.cli loaded {[m for m, v in loaded.items() if v]}"


def test_root_help_imports_no_verb_module() -> None:
    code = (
        "import sys\nfrom bot.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert not [m for m in sys.modules if m.startswith('bot.commands.')], sorted(sys.modules)"
    )
    loaded = _loaded_after(code)
    assert not any(loaded.values())


@pytest.mark.parametrize("verb", sorted(COMMANDS))
def test_verb_help_loads_no_heavy_library(verb: str) -> None:
    """Each verb imports what it uses when it runs: its --help needs none of the data libraries."""
    code = f"from bot.cli import main\ntry:\n    main([{verb!r}, '--help'])\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code"
    loaded = _loaded_after(code)
    assert not any(loaded.values()), f"catalog-bot {verb} --help loaded {[m for m, v in loaded.items() if v]}"


@pytest.mark.parametrize("verb", sorted(COMMANDS))
def test_listed_help_is_the_verbs_own(verb: str) -> None:
    command = load_command(verb)
    assert command.name == verb
    assert (command.help or "").strip().splitlines()[0] == COMMANDS[verb]


def test_check_worktree_constant_matches_git_adapter() -> None:
    from bot.adapters.git import WORKTREE
    from bot.commands import check

    assert check.WORKTREE == WORKTREE


def test_unknown_verb_and_missing_argument_are_usage_errors(tmp_path: object) -> None:
    for argv in (["no-such-verb"], ["init"]):
        run = subprocess.run([sys.executable, "-m", "bot", *argv], capture_output=True, text=True, timeout=120)
        assert run.returncode == 2, (argv, run.stderr)
        assert "internal error" not in run.stderr
        assert "Try 'catalog-bot" in run.stderr
