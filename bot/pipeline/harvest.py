"""The metadata harvester: creator mode (new dataset issues) and updater mode (update PRs).

Why split this way: :mod:`bot.metadata.iso19115` turns XML into fields
(pure), :func:`merge_datapackage` and :func:`compare` decide what changed
(pure), :mod:`bot.adapters.csw` fetches and :mod:`bot.adapters.github`
writes.  This module wires them and owns the two promises of the harvester:
one dataset failing never stops the others, and *no change writes nothing*
(not an issue edit, not a blob, not a branch).

Extents: the data's win.  When the data's own extents are known (check-extents
ran in this pipeline run) they are used; otherwise the datapackage's own
extents are kept (they come from the data at every publish, or were curated)
and the record's fill only what is missing, marked ``"source": "record"``.
At publish, a dataset whose data has no spatial extent falls back to the
datapackage's (:mod:`bot.metadata.extents`) instead of failing.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.adapters.github import GitHub, open_or_update_bot_pr
from bot.catalog.diff import diff_documents
from bot.catalog.layout import DATAPACKAGE, Catalog, Dataset
from bot.errors import BotError, DataError
from bot.metadata.iso19115 import IsoRecord, RecordNotFound, parse_record, record_to_datapackage_fields
from bot.metadata.issue_form import replace_bot_section

# Fields a harvest may set; anything else in the datapackage is curated and kept.
HARVESTED_FIELDS = ("title", "description", "keywords", "contributors", "licenses", "lineage", "source_record")
EXTENT_FIELDS = ("spatial", "temporal")
# Volatile: present in records or our output but never a reason for a PR.
VOLATILE_KEYS = ("harvested_at", "date_stamp", "source")
ISSUE_LABEL = "dataset"
RECORD_MARKER = "<!-- catalog-bot:record={} -->"
DATASET_MARKER = "<!-- catalog-bot:dataset={} -->"


class RecordSource(Protocol):
    """What the harvester needs from a metadata source (see bot.adapters.csw)."""

    def get_record(self, record_id: str) -> bytes: ...

    def get_url(self) -> bytes: ...


@dataclass
class HarvestOutcome:
    """What one dataset's harvest found."""

    dataset: str
    status: str  # unchanged | changed | missing-record | error | skipped
    record: IsoRecord | None = None
    datapackage: dict[str, Any] | None = None
    changes: list[str] = field(default_factory=list)
    extent_source: str | None = None
    error: str | None = None

    def summary(self) -> str:
        """One line for logs and the CLI table."""
        detail = self.error or (f"{len(self.changes)} change(s)" if self.changes else "")
        return f"{self.dataset}: {self.status}" + (f" ({detail})" if detail else "")


def merge_datapackage(
    current: dict[str, Any], fields: dict[str, Any], data_extents: dict[str, Any] | None
) -> tuple[dict[str, Any], str | None]:
    """The datapackage with harvested fields applied; returns it and where the extents came from.

    Extents, per key (``spatial``, ``temporal``): the data's win when known
    (``data_extents``, from check-extents); otherwise the record's are used
    only where the datapackage has none or has the record's from an earlier
    harvest (``"source": "record"``).  Extents already in the datapackage --
    written from the data at publish, or curated (an open interval for data
    without a time axis) -- are never replaced by the record's.  The second
    value is ``"data"``, ``"record"``, ``"data+record"`` or ``None`` (kept).
    """
    new = copy.deepcopy(current)
    for key in HARVESTED_FIELDS:
        if key in fields:
            new[key] = fields[key]
    used: list[str] = []
    for key in EXTENT_FIELDS:
        have = current.get(key)
        if data_extents and data_extents.get(key):
            new[key] = {**data_extents[key], "source": "data"}
            used.append("data")
        elif key in fields and (not have or (isinstance(have, dict) and have.get("source") == "record")):
            new[key] = {**fields[key], "source": "record"}
            used.append("record")
    source = "+".join(sorted(set(used))) or None
    return new, source


def _strip_volatile(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _strip_volatile(v) for k, v in doc.items() if k not in VOLATILE_KEYS}
    if isinstance(doc, list):
        return [_strip_volatile(v) for v in doc]
    return doc


def compare(current: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human lines for the real changes between two datapackages (volatile fields ignored)."""
    diff = diff_documents(_strip_volatile(current), _strip_volatile(new), "datapackage")
    return [change.format() for change in [*diff.added, *diff.removed, *diff.changed]]


def harvest_record(source: RecordSource, record_id: str | None, *, label: str) -> IsoRecord:
    """Fetch and parse one record (by id from a CSW, or the source URL itself)."""
    data = source.get_record(record_id) if record_id else source.get_url()
    return parse_record(data, source=label, record_id=record_id)


def harvest_dataset(
    dataset: Dataset,
    source_for: Callable[[str], RecordSource],
    *,
    data_extents: dict[str, Any] | None = None,
) -> HarvestOutcome:
    """Harvest one dataset's record and compute its regenerated datapackage (no writes)."""
    try:
        pipeline = dataset.pipeline()
        meta = pipeline.metadata_source
        if meta is None:
            return HarvestOutcome(dataset.id, "skipped", error="no metadata_source in pipeline.yaml")
        record = harvest_record(
            source_for(meta.url), meta.record_id if meta.kind == "csw" else None, label=meta.record_id or meta.url
        )
        if not record.title:
            raise DataError(
                "record has no title",
                file=meta.record_id or meta.url,
                field="title",
                hint="fix the record in the catalogue",
            )
        current = json.loads(dataset.path(DATAPACKAGE).read_text(encoding="utf-8"))
        new, extent_source = merge_datapackage(current, record_to_datapackage_fields(record), data_extents)
        changes = compare(current, new)
        return HarvestOutcome(
            dataset.id,
            "changed" if changes else "unchanged",
            record=record,
            datapackage=new,
            changes=changes,
            extent_source=extent_source,
        )
    except RecordNotFound as exc:
        return HarvestOutcome(dataset.id, "missing-record", error=str(exc))
    except (BotError, ValueError, OSError) as exc:
        return HarvestOutcome(dataset.id, "error", error=str(exc))


def harvest_all(
    catalog: Catalog,
    datasets: Sequence[Dataset] | None,
    source_for: Callable[[str], RecordSource],
    *,
    concurrency: int = 8,
    data_extents: dict[str, dict[str, Any]] | None = None,
) -> list[HarvestOutcome]:
    """Harvest many datasets with bounded concurrency; one failure never stops the rest."""
    chosen = list(datasets) if datasets is not None else catalog.datasets()
    extents = data_extents or {}
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(pool.map(lambda d: harvest_dataset(d, source_for, data_extents=extents.get(d.id)), chosen))


# --------------------------------------------------------------------------- GitHub side


def find_issue(issues: Iterable[dict[str, Any]], marker: str) -> dict[str, Any] | None:
    """The issue whose body carries ``marker`` (pull requests excluded)."""
    for issue in issues:
        if "pull_request" not in issue and marker in (issue.get("body") or ""):
            return issue
    return None


def bot_section(outcome: HarvestOutcome, pr_url: str | None = None) -> str:
    """The harvester's part of a dataset issue (kept between the bot markers)."""
    lines = ["### Harvested metadata"]
    if outcome.status == "missing-record":
        lines.append(f":warning: the metadata record could not be found: {outcome.error}")
        return "\n".join(lines)
    record = outcome.record
    if record is not None:
        lines.append(f"- record: `{record.file_identifier}` ({record.standard}, date stamp {record.date_stamp or '?'})")
        lines.append(f"- extents from: {outcome.extent_source or 'unchanged'}")
    if outcome.changes:
        lines.append("- changes:")
        lines += [f"  - `{c}`" for c in outcome.changes[:50]]
    if pr_url:
        lines.append(f"- update pull request: {pr_url}")
    return "\n".join(lines)


def issue_body_for_record(record: IsoRecord, record_id: str) -> str:
    """A dataset issue filled from a record, in the issue form's ``### Label`` layout."""
    fields = record_to_datapackage_fields(record)
    bbox = ", ".join(str(v) for v in fields.get("spatial", {}).get("bbox", []))
    temporal = fields.get("temporal", {})
    contributors = "\n".join(
        f"{c['title']} | {c['role']}" + (f" | {c['email']}" if c.get("email") else "")
        for c in fields.get("contributors", [])
    )
    licence = (fields.get("licenses") or [{}])[0].get("name", "")
    suggested = "-".join("".join(ch if ch.isalnum() else " " for ch in (record.title or record_id).lower()).split())[
        :63
    ]
    sections = [
        ("Dataset id", suggested or "_No response_"),
        ("Title", record.title or "_No response_"),
        ("Description", record.abstract or "_No response_"),
        ("Licence", licence or "_No response_"),
        ("Contributors", contributors or "_No response_"),
        ("Keywords", ", ".join(fields.get("keywords", [])) or "_No response_"),
        ("Access", "public"),
        ("Bounding box", bbox or "_No response_"),
        ("Temporal start", temporal.get("start") or "_No response_"),
        ("Temporal end", temporal.get("end") or "_No response_"),
        ("Metadata source", record_id),
    ]
    body = "\n\n".join(f"### {label}\n\n{value}" for label, value in sections)
    return f"{body}\n\n{RECORD_MARKER.format(record_id)}\n"


@dataclass
class UpdateAction:
    """What the updater did for one dataset (for the CLI summary and notifications)."""

    dataset: str
    action: str  # none | issue-updated | pr-created | pr-updated | pr-unchanged | pr-closed | blocked | warned
    url: str | None = None


def propose_updates(
    outcomes: Sequence[HarvestOutcome],
    repo: GitHub,
    *,
    label: str = ISSUE_LABEL,
) -> list[UpdateAction]:
    """Updater mode, GitHub side: dataset issue + one update PR per changed dataset.

    Unchanged datasets cause no write at all, unless an update PR from an
    earlier harvest is still open (then it is closed: its diff is gone).
    """
    actions: list[UpdateAction] = []
    issues: list[dict[str, Any]] | None = None
    for outcome in outcomes:
        branch = f"catalog-bot/harvest/{outcome.dataset}"
        path = f"datasets/{outcome.dataset}/{DATAPACKAGE}"
        if outcome.status in ("skipped", "error"):
            continue
        if outcome.status == "unchanged":
            if repo.open_pulls(branch) and outcome.datapackage is not None:
                pr = open_or_update_bot_pr(
                    repo,
                    branch,
                    {path: _json_bytes(outcome.datapackage)},
                    f"Harvest: update {outcome.dataset}",
                    "No change.",
                )
                actions.append(UpdateAction(outcome.dataset, f"pr-{pr.action}", pr.url))
            continue
        if issues is None:
            issues = repo.list_issues(labels=label, state="open")
        issue = find_issue(issues, DATASET_MARKER.format(outcome.dataset)) or _issue_by_form_id(issues, outcome.dataset)
        pr_url = None
        if outcome.status == "changed" and outcome.datapackage is not None:
            body = "\n".join(
                [
                    f"The metadata record of **{outcome.dataset}** changed; this PR regenerates its `datapackage.json`.",
                    "",
                    *[f"- `{c}`" for c in outcome.changes[:100]],
                    "",
                    f"Extents from: {outcome.extent_source or 'unchanged'}.",
                    f"Refs #{issue['number']}" if issue else "",
                ]
            )
            pr = open_or_update_bot_pr(
                repo, branch, {path: _json_bytes(outcome.datapackage)}, f"Harvest: update {outcome.dataset}", body
            )
            pr_url = pr.url
            actions.append(UpdateAction(outcome.dataset, f"pr-{pr.action}", pr.url))
        if issue is not None:
            new_body = replace_bot_section(issue.get("body"), bot_section(outcome, pr_url))
            if new_body != issue.get("body"):
                repo.edit_issue(int(issue["number"]), body=new_body)
                actions.append(
                    UpdateAction(outcome.dataset, "issue-updated" if outcome.status == "changed" else "warned")
                )
    return actions


def _issue_by_form_id(issues: Iterable[dict[str, Any]], dataset_id: str) -> dict[str, Any] | None:
    """A dataset issue whose form says ``### Dataset id`` = ``dataset_id``."""
    for issue in issues:
        body = issue.get("body") or ""
        if "pull_request" not in issue and f"### Dataset id\n\n{dataset_id}\n" in body + "\n":
            return issue
    return None


def _json_bytes(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def create_dataset_issues(
    record_ids: Sequence[str],
    source: RecordSource,
    repo: GitHub,
    *,
    label: str = ISSUE_LABEL,
    concurrency: int = 8,
) -> list[UpdateAction]:
    """Creator mode: one dataset issue per new record; a second run creates no duplicate."""
    existing = repo.list_issues(labels=label, state="all")

    def fetch(record_id: str) -> tuple[str, IsoRecord | None, str | None]:
        try:
            return record_id, harvest_record(source, record_id, label=record_id), None
        except BotError as exc:
            return record_id, None, str(exc)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        fetched = list(pool.map(fetch, [r for r in record_ids if not find_issue(existing, RECORD_MARKER.format(r))]))
    actions = [UpdateAction(r, "exists") for r in record_ids if find_issue(existing, RECORD_MARKER.format(r))]
    for record_id, record, error in fetched:
        if record is None:
            actions.append(UpdateAction(record_id, f"error: {error}"))
            continue
        issue = repo.create_issue(
            f"New dataset: {record.title or record_id}", issue_body_for_record(record, record_id), [label, "harvest"]
        )
        actions.append(UpdateAction(record_id, "issue-created", issue.get("html_url")))
    return actions
