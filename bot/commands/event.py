"""``catalog-bot event``: handle one GitHub event (in Actions, or replayed from a file).

Why one verb for every event: the workflows stay trivial (``catalog-bot
event`` with the right permissions), and a curator can replay a delivery
locally with ``--event NAME --payload FILE``.  Under Actions the event name
and payload come from ``GITHUB_EVENT_NAME`` / ``GITHUB_EVENT_PATH`` (read by
the option parser, like any other option default).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bot.config import Settings
from bot.errors import EXIT_PROBLEMS, BotError, UsageError
from bot.events.routing import Outcome
from bot.logging import mask, register_env_secrets, require_render_sandbox


class HandlerFailed(BotError):
    """A handler finished but reported failure (a publish failed, a report was unusable)."""

    exit_code = EXIT_PROBLEMS


def run_event(
    event_name: str,
    payload_path: Path,
    *,
    catalog: Path,
    settings: Settings,
    artifact_out: Path | None = None,
    artifact_in: Path | None = None,
    run_url: str = "",
    bot_login: str | None = None,
    environment: str | None = None,
    throttle: bool = True,
    only_commands: frozenset[str] | None = None,
    skip_commands: frozenset[str] = frozenset(),
) -> list[Outcome]:
    """Handle one event and return what each handler did (``ok=False``: the job should fail)."""
    from bot.adapters.github import GitHub
    from bot.events.context import BotContext
    from bot.events.handlers import handle
    from bot.events.models import parse_event

    try:
        payload = json.loads(payload_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"event payload {payload_path} not found", hint="pass --payload FILE or set GITHUB_EVENT_PATH"
        ) from None
    except ValueError as exc:
        raise UsageError(f"event payload {payload_path} is not JSON: {exc}") from None
    event = parse_event(event_name, payload)
    gh = None
    if artifact_out is None and settings.github_token is not None:
        gh = GitHub.connect(settings, event.repository or None, throttle=throttle, bot_login=bot_login)
    ctx = BotContext(
        settings=settings,
        repo_dir=catalog.resolve(),
        gh=gh,
        run_url=run_url,
        artifact_out=artifact_out,
        artifact_in=artifact_in,
        environment=environment or None,
        only_commands=only_commands,
        skip_commands=skip_commands,
    )
    return handle(event, ctx)


def _command_names(names: list[str]) -> frozenset[str]:
    """Validated ``/catalog`` command names (a typo must not silently let a command through)."""
    from bot.events.commands import SPECS

    unknown = sorted(set(names) - set(SPECS))
    if unknown:
        raise UsageError(f"unknown /catalog command {unknown[0]!r}", hint=f"use one of: {', '.join(SPECS)}")
    return frozenset(names)


def register(app: typer.Typer) -> None:
    """Add ``catalog-bot event``."""

    @app.command("event")
    def event(
        event_name: Annotated[
            str, typer.Option("--event", envvar="GITHUB_EVENT_NAME", help="event name (X-GitHub-Event)")
        ],
        payload: Annotated[
            Path, typer.Option("--payload", envvar="GITHUB_EVENT_PATH", help="webhook payload JSON file")
        ],
        catalog: Annotated[Path, typer.Option("--catalog", "-C", help="catalog folder inside a git clone")] = Path("."),
        artifact_out: Annotated[
            Path | None,
            typer.Option(
                "--artifact-out", help="unprivileged mode: write the PR report here instead of posting (no token used)"
            ),
        ] = None,
        artifact: Annotated[
            Path | None, typer.Option("--artifact", help="privileged workflow_run mode: the downloaded PR report")
        ] = None,
        run_url: Annotated[
            str, typer.Option("--run-url", envvar="CATALOG_BOT_RUN_URL", help="link to this job, used in comments")
        ] = "",
        bot_login: Annotated[
            str | None, typer.Option("--bot-login", envvar="CATALOG_BOT_LOGIN", help="the bot's own login")
        ] = None,
        environment: Annotated[
            str | None,
            typer.Option("--environment", help="publish target of merges and dispatches (default: catalog-bot.yaml)"),
        ] = None,
        only_command: Annotated[
            list[str] | None,
            typer.Option("--only-command", help="answer only this /catalog command here (repeatable): its own job"),
        ] = None,
        skip_command: Annotated[
            list[str] | None,
            typer.Option("--skip-command", help="refuse this /catalog command here (repeatable): another job runs it"),
        ] = None,
    ) -> None:
        """Handle one GitHub event: PR check, comment command, merge publish, dataset issue."""
        # Every event job evaluates pull-request Jsonnet only in the sandbox child (limits included),
        # also the unprivileged check that holds no secret: a bomb must end with an error, not the job.
        require_render_sandbox()
        register_env_secrets()
        settings = Settings.from_env()
        outcomes = run_event(
            event_name,
            payload,
            catalog=catalog,
            settings=settings,
            artifact_out=artifact_out,
            artifact_in=artifact,
            run_url=run_url,
            bot_login=bot_login,
            environment=environment,
            only_commands=_command_names(only_command) if only_command else None,
            skip_commands=_command_names(skip_command or []),
        )
        for o in outcomes:
            typer.echo(f"{o.handler}: {mask(o.message)}")
        failed = [o for o in outcomes if not o.ok]
        if failed:
            raise HandlerFailed("; ".join(mask(o.message) for o in failed))
