"""Garbage collection of data versions: remove what no published metadata references, after a grace period.

Why: data versions are immutable and uploaded *before* the metadata moves to
them, so a killed or failed upload leaves a version folder that nothing
points at (the issue counted 209 objects from one killed upload).  The
publish step prunes old versions of the dataset it publishes; ``gc`` is the
sweep for everything else: versions of failed runs, of datasets whose last
publish never finished, of a store shared by several runs.

Rules (per dataset, under its publish lock so a running publish is never
swept from under it):

- the version the published ``datapackage.json`` points at is kept;
- a dataset whose publish record says ``moving`` (a half-moved dataset: the
  STAC item may still reference the previous version) is left alone until a
  publish repairs it;
- any other version is removed once its newest object is older than the
  grace period (a reader that fetched the old metadata a moment ago, or an
  upload in progress without the lock, still finds its data).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.adapters.lease import acquire
from bot.errors import BotError
from bot.pipeline.guard import read_record

VERSION = re.compile(r"^[0-9a-f]{16}$")
DATAPACKAGE = "datapackage.json"


@dataclass
class DatasetSweep:
    """What gc found (and did) for one dataset."""

    dataset: str
    current: str | None
    removed: list[str] = field(default_factory=list)
    kept_young: list[str] = field(default_factory=list)
    objects_removed: int = 0
    note: str = ""


def current_version(store: Any, dataset: str) -> str | None:
    """The data version the published datapackage points at (None: none published or unreadable)."""
    try:
        found = store.get_versioned(f"{dataset}/{DATAPACKAGE}")
        if found is None:
            return None
        path = str(json.loads(found[0])["resources"][0]["path"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    head = path.split("/", 1)[0]
    return head if VERSION.match(head) else None


def _versions(listing: dict[str, float]) -> dict[str, dict[str, list[tuple[str, float]]]]:
    """dataset -> version -> [(key, mtime)] from a store listing."""
    out: dict[str, dict[str, list[tuple[str, float]]]] = {}
    for key, mtime in listing.items():
        parts = key.split("/")
        if len(parts) >= 3 and VERSION.match(parts[1]):
            out.setdefault(parts[0], {}).setdefault(parts[1], []).append((key, mtime))
    return out


def sweep_store(
    store: Any,
    *,
    grace: float,
    datasets: Iterable[str] | None = None,
    dry_run: bool = False,
    now: Callable[[], float] = time.time,
    lock_wait: float = 60.0,
) -> list[DatasetSweep]:
    """Remove unreferenced data versions older than ``grace`` seconds from one object store."""
    wanted = set(datasets) if datasets is not None else None
    by_dataset = _versions(store.list_modified(""))
    results: list[DatasetSweep] = []
    for dataset in sorted(by_dataset):
        if wanted is not None and dataset not in wanted:
            continue
        lease = None if dry_run else acquire(store, dataset, wait=lock_wait, heartbeat=False)
        try:
            results.append(_sweep_dataset(store, dataset, by_dataset[dataset], grace, dry_run, now()))
        finally:
            if lease is not None:
                lease.release()
    return results


def _sweep_dataset(
    store: Any, dataset: str, versions: dict[str, list[tuple[str, float]]], grace: float, dry_run: bool, now: float
) -> DatasetSweep:
    current = current_version(store, dataset)
    sweep = DatasetSweep(dataset, current)
    record = read_record(store, dataset)
    if record is not None and record.get("state") == "moving":
        sweep.note = "half-moved (a publish stopped midway): left alone until the next publish repairs it"
        return sweep
    if current is None and store.get_versioned(f"{dataset}/{DATAPACKAGE}") is not None:
        sweep.note = "published datapackage.json is unreadable: left alone"
        return sweep
    for version, objects in sorted(versions.items()):
        if version == current:
            continue
        newest = max(mtime for _, mtime in objects)
        if now - newest < grace:
            sweep.kept_young.append(version)
            continue
        sweep.removed.append(version)
        sweep.objects_removed += len(objects)
        if not dry_run:
            store.delete([key for key, _ in objects])
    return sweep


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``12h``, ``7d`` or plain seconds -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise BotError(f"cannot read the duration {text!r}", hint="use e.g. 90s, 30m, 12h or 7d")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
