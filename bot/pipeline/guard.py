"""Publish consistency per dataset: one publish at a time, never an older commit over a newer one, repair.

Why: the publish steps move several targets (``datapackage.json`` "current",
the pygeoapi resource, the STAC item and collection) one after the other.
Three things can go wrong between runs, and this module guards each:

- **Two publishes of one dataset at once** (a `/catalog publish` and a merge
  publish, two machines): the executor holds the dataset's lease
  (:mod:`bot.adapters.lease`) in its object store for the whole run.
- **An older commit after a newer one** (a slow job finishing last): the
  dataset's *publish record* ``<dataset>/.catalog-bot/published.json``
  says which commit is current.  A run whose commit is an ancestor of it
  (git), or -- in a shallow clone that lacks the other commit -- whose
  commit time is older, is *superseded* and writes nothing.
- **A half-moved dataset** (STAC down after pygeoapi and the datapackage
  moved): before the first target-moving step the record says
  ``state: moving``; only when every step succeeded does it say
  ``current``.  The next run that finds ``moving`` re-runs every moving
  step (ignoring its fingerprints), so all targets end on one version.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bot.adapters.lease import Lease, acquire
from bot.errors import BotError

RECORD_KEY = ".catalog-bot/published.json"

# The steps that change what readers see (everything after the immutable data upload).
MOVING_STEPS = frozenset(
    {"upload-frictionless-json", "ingest-pygeoapi-entry", "ensure-collection", "ingest-stac-item", "update-collection"}
)


def record_key(dataset: str) -> str:
    """The publish record of a dataset in its object store."""
    return f"{dataset}/{RECORD_KEY}"


def read_record(store: Any, dataset: str) -> dict[str, Any] | None:
    """The dataset's publish record, or None (never published by this version of the bot, or unreadable)."""
    current = store.get_versioned(record_key(dataset))
    if current is None:
        return None
    try:
        data = json.loads(current[0])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


@dataclass
class Ordering:
    """This run's commit and its commit time (both None when unknown, e.g. a local uncommitted publish)."""

    commit: str | None
    committed_at: int | None
    git: Any = None  # a GitRepo of the catalog, for ancestry


def superseded_by(ordering: Ordering, record: dict[str, Any] | None) -> str | None:
    """Why this run must not publish (the record holds a newer commit), or None.

    Ancestry decides when both commits are in the clone; otherwise (shallow
    clones in Actions) the recorded commit time does.  Unknown either way:
    publish (a local run of uncommitted files has no commit to compare).
    """
    if record is None or not ordering.commit:
        return None
    theirs = record.get("commit")
    if not theirs or theirs == ordering.commit:
        return None
    if ordering.git is not None:
        base = ordering.git.merge_base(ordering.commit, str(theirs))
        if base == ordering.commit:
            return f"commit {str(theirs)[:12]} (a descendant of {ordering.commit[:12]}) is already published"
        if base == theirs:
            return None  # ours descends from theirs: newer
    their_time = record.get("committed_at")
    if isinstance(their_time, int) and ordering.committed_at is not None and their_time > ordering.committed_at:
        return f"commit {str(theirs)[:12]}, committed after {ordering.commit[:12]}, is already published"
    return None


@dataclass
class Guard:
    """What the executor needs while it holds a dataset: the lease, the record, the verdicts."""

    store: Any
    dataset: str
    lease: Lease
    ordering: Ordering
    record: dict[str, Any] | None
    moving: bool = False

    @property
    def superseded(self) -> str | None:
        """The reason this run must skip the dataset, or None."""
        return superseded_by(self.ordering, self.record)

    @property
    def half_moved(self) -> bool:
        """An earlier run stopped between its first and last moving step."""
        return bool(self.record and self.record.get("state") == "moving")

    def _write(self, state: str) -> None:
        body = {
            "state": state,
            "commit": self.ordering.commit,
            "committed_at": self.ordering.committed_at,
            "updated": time.time(),
            "owner": self.lease.owner,
        }
        key = record_key(self.dataset)
        current = self.store.get_versioned(key)
        # Under the lease nobody else writes the record; the condition still refuses a lost race.
        if not self.store.put_if(key, json.dumps(body).encode(), tag=None if current is None else current[1]):
            raise BotError(f"publish record {key} changed under our lock", hint="publish the dataset again")
        self.record = body

    def before_moving_step(self) -> None:
        """Mark the dataset as moving (once per run), after checking the lease is still ours."""
        self.lease.check()
        if not self.moving:
            self._write("moving")
            self.moving = True

    def finished(self) -> None:
        """Every step succeeded: the dataset is consistent on this run's version."""
        if self.moving:
            self.lease.check()
            self._write("current")


@contextmanager
def guarded(store: Any, dataset: str, ordering: Ordering, *, ttl: float, wait: float) -> Iterator[Guard]:
    """Hold the dataset's lease for the body; the publish record is read after the lease is ours."""
    lease = acquire(store, dataset, ttl=ttl, wait=wait)
    try:
        yield Guard(store, dataset, lease, ordering, read_record(store, dataset))
    finally:
        lease.release()


def run_ordering(run: Any) -> Ordering:
    """This run's commit (provenance) with its commit time and the catalog's git, when available."""
    commit = (run.provenance or {}).get("commit")
    if not commit:
        return Ordering(None, None)
    try:
        from bot.adapters.git import GitRepo

        git = GitRepo(run.catalog.root)
    except BotError:
        return Ordering(str(commit), None)
    return Ordering(str(commit), git.commit_time(str(commit)), git)
