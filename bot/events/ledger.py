"""The publish ledger: the last commit of the default branch whose publish succeeded, per environment.

Why: GitHub keeps one pending run per concurrency group and cancels the
older pending one, so with three quick merges the middle push never runs;
a failed run leaves its datasets unpublished too.  If each push published
only its own ``before..after``, those changes would be lost until someone
noticed.  So a push publishes everything changed since the commit recorded
here (when it is an ancestor of the pushed commit), and records the pushed
commit only when every run succeeded: a cancelled or failed run is caught up
by the next one.

Engines that only *submit* (Argo) do not know the outcome when the push job
ends.  Their push is recorded as *pending* with the names of its runs; the
next push first asks the engine how they ended (:meth:`PublishLedger.reconcile`):
all succeeded -> the pending commit becomes the confirmed one; one failed or
was deleted -> the entry (and every later one, whose range started from it)
is dropped, so the next range starts again at the last confirmed commit and
re-publishes those datasets.  While runs are still going, the next push
starts where they started (:meth:`PublishLedger.covered`) instead of
submitting their datasets a second time.

The record lives next to the data it describes, in the environment's
*limited* object store (not publicly readable), as
``_catalog-bot/published/<environment>.json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import EnvironmentConfig
from bot.errors import BotError
from bot.logging import get_logger, mask

log = get_logger("events.ledger")

_SHA = re.compile(r"^[0-9a-f]{40}$")
MAX_PENDING = 50
"""More pending pushes than this means runs never end: all are dropped (the next push covers them)."""

SUCCEEDED = "Succeeded"
RUNNING = {"Pending", "Running", ""}

PhaseLookup = Callable[[Sequence[str]], Mapping[str, str | None]]
"""Run ids -> engine phase (``Succeeded``, ``Failed``, ``Running``...), ``None`` for a run that no longer exists."""


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

    def _read(self) -> dict[str, Any]:
        """The record (``{}`` when absent or unreadable: the push's own range is used)."""
        try:
            store = self._store()
            if not store.exists(self.key):
                return {}
            data = json.loads(store.get_bytes(self.key))
        except (BotError, ValueError, OSError) as exc:
            log.warning("cannot read the publish ledger of %s: %s", self.env_name, mask(str(exc)))
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        """Store the record (a failure is logged: the next push then covers more, never less)."""
        try:
            self._store().put_bytes(self.key, json.dumps(data).encode(), content_type="application/json")
        except (BotError, OSError) as exc:
            log.error("cannot record the publish ledger of %s: %s", self.env_name, mask(str(exc)))

    def last(self) -> str | None:
        """The last *confirmed* commit, or None (never published, unreadable)."""
        return _confirmed(self._read())

    def pending(self) -> list[dict[str, Any]]:
        """Submitted pushes whose outcome is not known yet, oldest first (well-formed entries only)."""
        return _entries(self._read())

    def covered(self) -> str | None:
        """Where the next push's range starts: the newest pending push, else the last confirmed one."""
        data = self._read()
        pending = _entries(data)
        return str(pending[-1]["sha"]) if pending else _confirmed(data)

    def record(self, sha: str, run_url: str = "") -> None:
        """Record ``sha`` as published (pending entries are kept: they are still reconciled)."""
        data = self._read()
        data.update(sha=sha, environment=self.env_name, at=_now(), run=run_url)
        self._write(data)

    def advance(self, sha: str, base: str, open_runs: Sequence[str], run_url: str = "") -> None:
        """After a push's runs were started without failure: confirmed now, or pending while anything is open.

        Pending also when ``open_runs`` is empty but earlier pushes are still
        pending: ``base`` is then one of them, and ``sha`` is confirmed only
        after they are.
        """
        if not open_runs and not _entries(self._read()):
            self.record(sha, run_url)
        else:
            self.submitted(sha, base, open_runs, run_url)

    def submitted(self, sha: str, base: str, runs: Sequence[str], run_url: str = "") -> None:
        """Record a push whose runs continue elsewhere: ``base..sha`` is confirmed once they all succeed."""
        data = self._read()
        pending = _entries(data)
        pending.append({"sha": sha, "base": base, "runs": list(runs), "at": _now(), "run": run_url})
        if len(pending) > MAX_PENDING:
            log.warning("%d pending publishes in %s: dropping them all", len(pending), self.env_name)
            pending = []
        data.update(pending=pending, environment=self.env_name)
        self._write(data)

    def reconcile(self, phases: PhaseLookup, is_ancestor: Callable[[str, str], bool]) -> str | None:
        """Settle pending pushes from the engine's answer; returns the confirmed commit.

        In submission order: a push whose runs all succeeded becomes the
        confirmed commit when nothing before it is still open and its range
        started at (or before) the confirmed commit; a push with a failed or
        vanished run is dropped together with every later push (their
        ranges started from it); running pushes are kept.  An engine that
        cannot answer leaves the record as it is.
        """
        data = self._read()
        entries = _entries(data)
        confirmed = _confirmed(data)
        if not entries:
            return confirmed
        try:
            answer = phases([r for e in entries for r in e["runs"]])
        except BotError as exc:
            log.warning("cannot ask the engine about pending publishes of %s: %s", self.env_name, mask(str(exc)))
            return confirmed
        kept: list[dict[str, Any]] = []
        broken = False
        for entry in entries:
            states = [answer.get(r) for r in entry["runs"]]
            if broken or any(s is None or (s != SUCCEEDED and s not in RUNNING) for s in states):
                if not broken:
                    log.warning("publish of %s in %s did not succeed", entry["sha"][:12], self.env_name)
                broken = True
                continue
            if all(s == SUCCEEDED for s in states) and not kept:
                if confirmed is None or (
                    is_ancestor(entry["base"], confirmed) and is_ancestor(confirmed, entry["sha"])
                ):
                    confirmed = entry["sha"]
                continue  # confirmed, or overtaken by a newer confirmed commit
            kept.append(entry)
        data.update(pending=kept, environment=self.env_name)
        if confirmed is not None and confirmed != data.get("sha"):
            data.update(sha=confirmed, at=_now())
        self._write(data)
        return confirmed


def _confirmed(data: dict[str, Any]) -> str | None:
    sha = data.get("sha")
    return sha if isinstance(sha, str) and _SHA.fullmatch(sha) else None


def _entries(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The well-formed pending entries of a record (anything else in it is ignored)."""
    entries = data.get("pending")
    return [e for e in entries if _valid_entry(e)] if isinstance(entries, list) else []


def _valid_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("sha"), str)
        and bool(_SHA.fullmatch(entry["sha"]))
        and isinstance(entry.get("base"), str)
        and isinstance(entry.get("runs"), list)
        and all(isinstance(r, str) for r in entry["runs"])
    )


def _now() -> str:
    return datetime.now(UTC).isoformat()
