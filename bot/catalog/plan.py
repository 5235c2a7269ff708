"""The publish plan: what merging a change will do to each dataset (pure).

Why a separate, pure step: the PR comment, the ``/catalog publish`` command
and the push-to-main publisher must agree on what a change means.  The rules
live here and nowhere else:

- dataset folder only at head -> ``new``; only at base -> ``remove``; a
  removed and an added folder that are the same dataset (same datapackage
  ``id``, same pipeline ``source``, or git paired their files as renames)
  -> ``rename`` (the old collection goes, the new one is published);
- ``pipeline.yaml`` changed (parsed, not textually), source data files
  changed, or a breaking schema change (field/variable added, removed,
  retyped) -> ``republish`` (convert and upload the data again);
- only rendered metadata documents changed -> ``metadata``;
- nothing rendered changed (e.g. a lib edit that does not reach this
  dataset's output, or whitespace) -> ``unchanged``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.catalog.diff import DocumentDiff, changes_summary
from bot.errors import Problem, Severity


class Action(StrEnum):
    """What publishing will do to a dataset."""

    NEW = "new"
    METADATA = "metadata"
    REPUBLISH = "republish"
    REMOVE = "remove"
    RENAME = "rename"
    UNCHANGED = "unchanged"


# Actions that need a publish after merge (and the command to start it).
PUBLISHING = frozenset({Action.NEW, Action.METADATA, Action.REPUBLISH, Action.RENAME})


@dataclass
class DatasetDelta:
    """Everything known about one touched dataset, collected by the check.

    ``files``: changed catalog-relative paths inside the dataset folder;
    ``via``: changed shared files (``lib/x.libsonnet``) it imports;
    ``data_changed``: files outside the metadata documents changed (source
    data under the folder); ``pipeline_changed``: the parsed pipeline.yaml
    differs; ``notes``: extra reasons to show (e.g. "fails the changed profile");
    ``complete``: every head document loaded (else "unchanged" is not claimed
    as "identical").
    """

    dataset: str
    in_base: bool
    in_head: bool
    files: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)
    diffs: dict[str, DocumentDiff] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    data_changed: list[str] = field(default_factory=list)
    renamed_from: str | None = None
    notes: list[str] = field(default_factory=list)
    complete: bool = True


@dataclass
class PlanEntry:
    """One row of the publish plan."""

    dataset: str
    action: Action
    reasons: list[str] = field(default_factory=list)
    diffs: dict[str, DocumentDiff] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    old_id: str | None = None

    @property
    def counts(self) -> tuple[int, int, int]:
        """``(added, changed, removed)`` over all documents."""
        return changes_summary(self.diffs)

    @property
    def errors(self) -> list[Problem]:
        """Problems of severity error (they fail the check)."""
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        """Problems of severity warning."""
        return [p for p in self.problems if p.severity is Severity.WARNING]

    @property
    def breaking(self) -> list[str]:
        """Breaking schema changes across documents."""
        return [b for d in self.diffs.values() for b in d.breaking]

    def next_command(self) -> str | None:
        """The comment command that publishes this entry (``None`` if nothing to publish)."""
        if self.action in PUBLISHING:
            return f"/catalog publish {self.dataset}"
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        added, changed, removed = self.counts
        return {
            "dataset": self.dataset,
            "action": self.action.value,
            "old_id": self.old_id,
            "reasons": list(self.reasons),
            "counts": {"added": added, "changed": changed, "removed": removed},
            "breaking": self.breaking,
            "diffs": {k: d.to_dict() for k, d in self.diffs.items()},
            "problems": [p.to_dict() for p in self.problems],
        }


@dataclass(frozen=True)
class Fingerprint:
    """What identifies a dataset's content independently of its folder name."""

    datapackage_id: str | None = None
    pipeline_source: str | None = None
    blobs: frozenset[str] = frozenset()


def pair_renames(
    removed: Mapping[str, Fingerprint],
    added: Mapping[str, Fingerprint],
    git_pairs: Iterable[tuple[str, str]] = (),
) -> dict[str, str]:
    """Pair removed with added datasets that are the same dataset: ``{new_id: old_id}``.

    Signals, strongest first: same datapackage ``id`` (curated, URI-like,
    meant to be stable) = 4; same pipeline ``source`` = 2; git paired files of
    the two folders as renames = 1 each (capped at 2); identical file
    content (same blob) = 1.  Pairs are taken greedily by score; a score of 2
    or more is needed, so one shared boilerplate file is not enough.
    """
    git_count: dict[tuple[str, str], int] = {}
    for pair in git_pairs:
        git_count[pair] = git_count.get(pair, 0) + 1
    scored: list[tuple[int, str, str]] = []
    for old_id, old in removed.items():
        for new_id, new in added.items():
            score = 0
            if old.datapackage_id and old.datapackage_id == new.datapackage_id:
                score += 4
            if old.pipeline_source and old.pipeline_source == new.pipeline_source:
                score += 2
            score += min(git_count.get((old_id, new_id), 0), 2)
            if old.blobs & new.blobs:
                score += 1
            if score >= 2:
                scored.append((score, old_id, new_id))
    pairs: dict[str, str] = {}
    used_old: set[str] = set()
    for _score, old_id, new_id in sorted(scored, key=lambda t: (-t[0], t[1], t[2])):
        if old_id in used_old or new_id in pairs:
            continue
        pairs[new_id] = old_id
        used_old.add(old_id)
    return pairs


def make_plan(deltas: Sequence[DatasetDelta]) -> list[PlanEntry]:
    """One :class:`PlanEntry` per touched dataset, sorted by id.

    A delta with ``renamed_from`` set stands for both folders; the old id
    gets no entry of its own (the caller passes only the new side).
    """
    return sorted((_entry(d) for d in deltas), key=lambda e: e.dataset)


def _entry(d: DatasetDelta) -> PlanEntry:
    reasons: list[str] = []
    if d.renamed_from:
        reasons.append(f"folder renamed from datasets/{d.renamed_from}/")
        action = Action.RENAME
        reasons += _republish_reasons(d)
    elif d.in_head and not d.in_base:
        action = Action.NEW
        reasons.append(f"new dataset folder datasets/{d.dataset}/")
    elif d.in_base and not d.in_head:
        action = Action.REMOVE
        reasons.append(f"dataset folder datasets/{d.dataset}/ deleted")
    else:
        republish = _republish_reasons(d)
        if republish:
            action = Action.REPUBLISH
            reasons += republish
        elif any(d.diffs.values()):
            action = Action.METADATA
            changed = sorted(k for k, v in d.diffs.items() if v)
            reasons.append("metadata changed: " + ", ".join(changed))
        else:
            action = Action.UNCHANGED
            if (d.files or d.via) and d.complete:
                reasons.append("files changed but the rendered documents are identical")
    if d.via:
        reasons.append("imports changed " + ", ".join(d.via))
    reasons += d.notes
    return PlanEntry(
        dataset=d.dataset,
        action=action,
        reasons=reasons,
        diffs={k: v for k, v in d.diffs.items() if v},
        problems=list(d.problems),
        old_id=d.renamed_from,
    )


def _republish_reasons(d: DatasetDelta) -> list[str]:
    """Why the data itself must be converted and uploaded again (empty: it need not)."""
    reasons: list[str] = []
    pipeline = d.diffs.get("pipeline")
    if pipeline:
        reasons.append("pipeline.yaml changed")
    for kind in ("tableschema", "gridschema"):
        diff = d.diffs.get(kind)
        if diff and (diff.created or diff.deleted):
            reasons.append(f"{kind}.json {'added' if diff.created else 'removed'}")
        elif diff and diff.breaking:
            reasons.append(f"{kind}.json: " + limited(diff.breaking))
    if d.data_changed:
        reasons.append("source data changed: " + limited(d.data_changed, sep=", "))
    return reasons


def limited(items: Sequence[str], n: int = 8, sep: str = "; ") -> str:
    """Join at most ``n`` items and say how many more there are (keeps reasons one line)."""
    text = sep.join(items[:n])
    return text + (f" (and {len(items) - n} more)" if len(items) > n else "")
