"""The publish ledger: the last commit of the default branch whose publish succeeded, per environment.

Why: GitHub keeps one pending run per concurrency group and cancels the
older pending one, so with three quick merges the middle push never runs;
a failed run leaves its datasets unpublished too.  If each push published
only its own ``before..after``, those changes would be lost until someone
noticed.  So a push publishes everything changed since the commit recorded
here (when it is an ancestor of the pushed commit), and records the pushed
commit only when every run succeeded: a cancelled or failed run is caught up
by the next one.

The record lives next to the data it describes, in the environment's
*limited* object store (not publicly readable), as
``_catalog-bot/published/<environment>.json``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import EnvironmentConfig
from bot.errors import BotError
from bot.logging import get_logger, mask

log = get_logger("events.ledger")

_SHA = re.compile(r"^[0-9a-f]{40}$")


class PublishLedger:
    """Read and advance the last successfully published commit of one environment."""

    def __init__(self, env_name: str, env: EnvironmentConfig, repo_dir: Path) -> None:
        self.env_name = env_name
        self.env = env
        output = Path(env.output)
        self.output = output if output.is_absolute() else repo_dir / output
        self.key = f"_catalog-bot/published/{env_name}.json"

    def _store(self) -> Any:
        from bot.adapters.objectstore import open_store

        return open_store(self.env, self.output, "limited")

    def last(self) -> str | None:
        """The recorded commit, or None (never published, unreadable: the push's own range is used)."""
        try:
            store = self._store()
            if not store.exists(self.key):
                return None
            data = json.loads(store.get_bytes(self.key))
        except (BotError, ValueError, OSError) as exc:
            log.warning("cannot read the publish ledger of %s: %s", self.env_name, mask(str(exc)))
            return None
        sha = data.get("sha") if isinstance(data, dict) else None
        return sha if isinstance(sha, str) and _SHA.fullmatch(sha) else None

    def record(self, sha: str, run_url: str = "") -> None:
        """Record ``sha`` as published (a failure is logged: the next push then covers more, never less)."""
        body = {"sha": sha, "environment": self.env_name, "at": datetime.now(UTC).isoformat(), "run": run_url}
        try:
            self._store().put_bytes(self.key, json.dumps(body).encode(), content_type="application/json")
        except (BotError, OSError) as exc:
            log.error("cannot record the publish of %s in %s: %s", sha[:12], self.env_name, mask(str(exc)))
