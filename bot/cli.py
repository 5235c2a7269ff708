"""Command-line entry point: parse args, build settings, call one function, map errors to exit codes.

Why thin: every verb lives in ``bot/commands/<verb>.py`` (stactools style) and
only wires arguments to a core function.  This module owns the one place
where :class:`bot.errors.BotError` becomes a message and an exit code, so no
command prints a traceback for a failure the user can fix.
"""

from __future__ import annotations

import importlib
import os
import sys

import click
import typer
from rich.console import Console
from rich.markup import escape

from bot.adapters import schema_fetch
from bot.errors import EXIT_USAGE, BotError
from bot.logging import mask, register_env_secrets

app = typer.Typer(
    name="catalog-bot",
    help="Render, validate, diff and publish a STAC + Frictionless + pygeoapi data catalog.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# One module per verb; each exposes ``register(app)``.
COMMAND_MODULES = (
    "check",
    "render",
    "validate",
    "init",
    "publish",
    "step",
    "argo",
    "event",
    "harvest",
    "dev",
    "converters",
    "dataset",
)

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"bot.commands.{name}")
        except ModuleNotFoundError as exc:  # a verb still being built
            if exc.name == f"bot.commands.{name}":
                continue
            raise
        module.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; exit 0 clean, 1 catalog problems, 2 usage/internal error."""
    register_env_secrets()
    schema_fetch.install()
    try:
        result = app(args=argv, standalone_mode=False)
    except BotError as exc:
        err_console.print(f"[bold red]error:[/] {escape(mask(str(exc)))}")
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    except click.exceptions.ClickException as exc:  # usage errors
        exc.show()
        sys.exit(EXIT_USAGE)
    except Exception as exc:  # a bug: one line, no traceback unless asked for
        err_console.print(f"[bold red]internal error:[/] {escape(mask(type(exc).__name__ + ': ' + str(exc)))}")
        err_console.print("please report this with the command you ran (set CATALOG_BOT_DEBUG=1 for a traceback)")
        if os.environ.get("CATALOG_BOT_DEBUG"):
            raise
        sys.exit(EXIT_USAGE)
    # click returns the exit code of typer.Exit in non-standalone mode
    sys.exit(result if isinstance(result, int) else 0)
