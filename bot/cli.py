"""Command-line entry point: parse args, build settings, call one function, map errors to exit codes.

Why thin: every verb lives in ``bot/commands/<verb>.py`` (stactools style) and
only wires arguments to a core function.  This module owns the one place
where :class:`bot.errors.BotError` becomes a message and an exit code, so no
command prints a traceback for a failure the user can fix.

Why lazy: every Argo pod runs ``catalog-bot step`` and every GitHub job runs
one verb, so start-up is paid many times per publish.  The root group lists
the verbs from :data:`COMMANDS` without importing them and imports only the
module of the verb that runs (its own heavy imports -- pandas, pyarrow,
boto3, deepdiff -- stay inside the functions that need them).
``tests/test_cli_startup.py`` checks that ``import bot.cli`` loads none of
them and that the listed help matches each verb's own.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from typing import Any

import typer
from typer._click import exceptions as click_exceptions  # typer >= 0.26 vendors click: that copy's classes
from typer.core import TyperGroup

from bot.errors import EXIT_USAGE, BotError
from bot.logging import mask, register_env_secrets

HELP = "Render, validate, diff and publish a STAC + Frictionless + pygeoapi data catalog."

# verb -> one-line help shown by ``catalog-bot --help`` (the module's own
# docstring is the full help).  One module per verb, each with ``register(app)``.
COMMANDS: dict[str, str] = {
    "check": "Show which datasets a change touches, their problems, diffs and the publish plan.",
    "render": "Render collection.jsonnet of datasets (pretty JSON) or many Jsonnet files (JSON lines).",
    "validate": "Validate datasets (render + STAC/Frictionless schemas + cross-checks) or files; exit 1 on errors.",
    "init": "Create a new catalog: catalog-bot.yaml, lib/, profiles/, workflows, issue form.",
    "publish": "Convert, describe and publish datasets (ARCO data, Frictionless, STAC, pygeoapi).",
    "step": "Run one step of the publish pipeline for one dataset.",
    "gc": "Remove data versions that no published metadata references (after a grace period).",
    "argo": "Argo Workflows: render manifests, lint them, follow and stop runs.",
    "event": "Handle one GitHub event: PR check, comment command, merge publish, dataset issue.",
    "harvest": "Harvest ISO 19115 records; open dataset issues (creator) or update PRs (updater).",
    "dev": "Start/stop/check the local S3 (SeaweedFS), STAC API (pgstac) and pygeoapi used by `--env dev`.",
    "schemas": "Inspect and extend the offline schema registry.",
    "dataset": "Create datasets from their data.",
    "converters": "List installed converters (select one with `converter: NAME` in pipeline.yaml).",
}
# Verbs registered by another verb's module (default: the module named like the verb).
MODULES: dict[str, str] = {"schemas": "validate"}


class LazyGroup(TyperGroup):
    """A click group that imports a verb's module only when that verb runs (or shows its help)."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        return load_command(cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """List the verbs from :data:`COMMANDS` (click would import every module for its short help)."""
        with formatter.section("Commands"):
            formatter.write_dl(list(COMMANDS.items()))


def load_command(name: str) -> Any:
    """The click command of one verb, built by the verb module's ``register``."""
    import typer.main

    module = importlib.import_module(f"bot.commands.{MODULES.get(name, name)}")
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    module.register(app)
    group = typer.main.get_group(app)
    command = group.get_command(typer.Context(group), name)
    if command is None:  # a module that registers another name: a bug in COMMANDS
        raise RuntimeError(f"bot.commands.{name} does not register the verb {name!r}")
    _prepare_before_run(command)
    _hide_flag_types(command)
    return command


def _hide_flag_types(command: Any) -> None:
    """No ``<bool>`` beside on/off flags in help (a flag takes no value; the type only confuses)."""
    for param in getattr(command, "params", []):
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    make_help_option = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = make_help_option(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        _hide_flag_types(sub)


def _prepare_before_run(command: Any) -> None:
    """Wrap every callback so that secrets are registered and schema downloads enabled just before it runs.

    Why not at start-up: both import the configuration and schema machinery,
    which ``--help`` and usage errors never need.
    """
    if isinstance(command, TyperGroup):
        for sub in command.commands.values():
            _prepare_before_run(sub)
    callback = command.callback
    if callback is None:
        return

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        from bot.adapters import schema_fetch

        register_env_secrets()
        schema_fetch.install()
        return callback(*args, **kwargs)

    command.callback = run


# Plain help text (rich_markup_mode=None): rich help panels would import every verb.
cli = LazyGroup(name="catalog-bot", help=HELP, no_args_is_help=True, rich_markup_mode=None)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; exit 0 clean, 1 catalog problems, 2 usage/internal error."""
    # numpy's OpenBLAS starts a thread per core at import that spins for a while (~0.15 s of CPU on
    # two cores, taken from the conversion it competes with); the bot does no linear algebra.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        result = cli.main(args=argv, prog_name="catalog-bot", standalone_mode=False)
    except BotError as exc:
        _error(f"error: {mask(str(exc))}")
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _error("aborted")
        sys.exit(130)
    except click_exceptions.ClickException as exc:  # usage errors
        exc.show()
        sys.exit(EXIT_USAGE)
    except Exception as exc:  # a bug: one line, no traceback unless asked for
        _error(f"internal error: {mask(type(exc).__name__ + ': ' + str(exc))}")
        _error("please report this with the command you ran (set CATALOG_BOT_DEBUG=1 for a traceback)")
        if os.environ.get("CATALOG_BOT_DEBUG"):
            raise
        sys.exit(EXIT_USAGE)
    # click returns the exit code of typer.Exit in non-standalone mode
    sys.exit(result if isinstance(result, int) else 0)


def _error(text: str) -> None:
    """One line on stderr; bold red prefix on a terminal (rich is only imported then)."""
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.markup import escape

        head, sep, rest = text.partition(": ")
        styled = f"[bold red]{escape(head)}:[/] {escape(rest)}" if sep else escape(text)
        Console(stderr=True, highlight=False, soft_wrap=True).print(styled)
    else:
        print(text, file=sys.stderr)
