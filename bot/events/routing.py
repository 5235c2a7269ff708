"""Route a typed event to its handlers by ``(event, action)``, like gidgethub's ``routing.py``.

Why a router and not an ``if`` ladder: handlers register themselves next to
their code, an event may have several handlers (or none, which is a normal
"nothing to do"), and tests can build a router with only the handler under
test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.events.models import Event


@dataclass
class Outcome:
    """What a handler did: a one-line message for the log and whether the job should fail."""

    handler: str
    message: str
    ok: bool = True
    details: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Any, Any], Outcome | None]


class Router:
    """Handlers by event name and (optionally) action; ``None`` action matches all actions."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str | None], list[Handler]] = {}

    def register(self, event: str, action: str | None = None) -> Callable[[Handler], Handler]:
        """Decorator: ``@router.register("pull_request", action="opened")``."""

        def deco(fn: Handler) -> Handler:
            self._routes.setdefault((event, action), []).append(fn)
            return fn

        return deco

    @classmethod
    def compose(cls, *routers: Router) -> Router:
        """One router with the routes of ``routers`` (in order), like gidgethub's ``Router(*others)``."""
        joined = cls()
        for other in routers:
            for key, handlers in other._routes.items():
                joined._routes.setdefault(key, []).extend(handlers)
        return joined

    def handlers(self, event: Event) -> list[Handler]:
        """Handlers for the event: action-specific ones first, then catch-alls."""
        found = list(self._routes.get((event.name, event.action), [])) if event.action else []
        found += self._routes.get((event.name, None), [])
        return found

    def dispatch(self, event: Event, ctx: Any) -> list[Outcome]:
        """Run every matching handler in order; returns their outcomes (empty: nothing to do)."""
        outcomes = []
        for handler in self.handlers(event):
            result = handler(event, ctx)
            if result is not None:
                outcomes.append(result)
        return outcomes
