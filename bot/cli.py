"""Command-line entry point: parse args, build settings, call one function, map errors to exit codes.

Why thin: every verb lives in ``bot/commands/<verb>.py`` (stactools style) and
only wires arguments to a core function.  This module owns the one place
where :class:`bot.errors.BotError` becomes a message and an exit code, so no
command prints a traceback for a failure the user can fix.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from bot.errors import EXIT_USAGE, BotError
from bot.logging import mask

app = typer.Typer(
    name="catalog-bot",
    help="Render, validate, diff and publish a STAC + Frictionless + pygeoapi data catalog.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# One module per verb; each exposes ``register(app)``.
COMMAND_MODULES = ("check", "render", "validate", "init", "publish", "step", "argo", "event", "harvest", "dev")

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
    try:
        app(args=argv, standalone_mode=False)
    except BotError as exc:
        err_console.print(f"[bold red]error:[/] {mask(str(exc))}", markup=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    except Exception as exc:  # click usage errors and true bugs
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(EXIT_USAGE)
        err_console.print(f"[bold red]internal error:[/] {mask(type(exc).__name__ + ': ' + str(exc))}")
        err_console.print("please report this with the command you ran (set CATALOG_BOT_DEBUG=1 for a traceback)")
        import os

        if os.environ.get("CATALOG_BOT_DEBUG"):
            raise
        sys.exit(EXIT_USAGE)
