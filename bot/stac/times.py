"""STAC time fields: RFC 3339 normalisation and the datetime/start/end rules.

Why its own module: items, collections and datacube dimensions all need the
same parsing of ISO 8601 values, and the rules for ranges vs instants (see
:mod:`bot.stac.build`) are easier to test apart from item assembly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.errors import CatalogError, DataError


def to_rfc3339(value: Any, *, what: str = "datetime") -> str | None:
    """An ISO 8601 value (str/datetime/date) as an RFC 3339 UTC string ending in ``Z``.

    Naive values are taken as UTC (the converters write UTC timestamps).
    STAC's schema requires ``Z`` or ``+00:00``, so other offsets are converted.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        text = str(value).strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            text += "T00:00:00"
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise DataError(
                f"{what} {value!r} is not an ISO 8601 date-time",
                field=what,
                hint="use e.g. 2024-01-31T00:00:00Z",
            ) from None
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.isoformat().replace("+00:00", "Z")


def instant(text: str) -> datetime:
    """Parse one of our RFC 3339 strings (for ordering: strings with and
    without fractional seconds do not sort chronologically as text)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def dataset_time_range(meta: Mapping[str, Any], datapackage: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(start, end) from the data (preferred) or the curated ``temporal`` block."""
    start = end = None
    rng = meta.get("time_range")
    if isinstance(rng, Mapping):
        start, end = rng.get("start"), rng.get("end")
    elif isinstance(rng, Sequence) and not isinstance(rng, str) and len(rng) == 2:
        start, end = rng[0], rng[1]
    if start is None and end is None:
        temporal = datapackage.get("temporal") or {}
        start, end = temporal.get("start"), temporal.get("end")
    return to_rfc3339(start, what="temporal.start"), to_rfc3339(end, what="temporal.end")


def datetime_properties(start: str | None, end: str | None, dataset_id: str) -> dict[str, Any]:
    """STAC datetime fields for a time range (see module docstring for the rules)."""
    if start is None and end is None:
        raise CatalogError(
            f"dataset {dataset_id} has no time information (no time coordinate in the data and no temporal.start)",
            file=f"datasets/{dataset_id}/datapackage.json",
            field="temporal.start",
            hint="add temporal.start (ISO 8601) to datapackage.json, or a `t` coordinate in pipeline.yaml",
        )
    if start is None or end is None or start == end:
        return {"datetime": start or end}
    if instant(start) > instant(end):
        raise DataError(
            f"time range starts after it ends ({start} > {end})",
            file=f"datasets/{dataset_id}/datapackage.json",
            field="temporal",
            hint="swap temporal.start and temporal.end",
        )
    return {"datetime": None, "start_datetime": start, "end_datetime": end}
