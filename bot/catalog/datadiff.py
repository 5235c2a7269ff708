"""What a pull request does to the *data*, in plain words and on a map.

Why: the document diff shows JSON pointers ("~ /extent/spatial/bbox/0/0:
145.46 -> 143.46") and a new dataset as "+ (new document)"; a reviewer
cannot see from that that the data now reaches 2° further west, that a
column became an integer (which the schema gate will refuse at merge), or
what a new dataset even holds.  This module compares the data-derived
metadata of the base and the head (computed by :mod:`bot.catalog.dataprobe`
with the publish pipeline's own converter and readers) and says it the way a
reviewer would: "west edge 147.63° -> 141.00° (6.63° further west)", "end
2024-12-31 -> 2026-12-01 (+11 months)", "depth: number -> integer".  It
also draws the base and head extents as a ```geojson block, which GitHub
renders as an interactive map (simplestyle colours and titles).

Pure: summaries in, words and JSON out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

# simplestyle-spec colours: base in red, head in green (GitHub's diff colours).
BASE_STYLE = {"stroke": "#cf222e", "stroke-width": 2, "fill": "#cf222e", "fill-opacity": 0.05}
HEAD_STYLE = {"stroke": "#1a7f37", "stroke-width": 2, "fill": "#1a7f37", "fill-opacity": 0.1}
MAX_MAP_CHARS = 20_000  # well inside GitHub's 65,536-character comment limit
_EPS = 1e-9


@dataclass(frozen=True)
class DataSummary:
    """The data-derived facts a reviewer cares about, for one side of a change."""

    kind: str
    bbox: tuple[float, float, float, float] | None = None
    start: str | None = None
    end: str | None = None
    rows: int | None = None
    cells: int | None = None
    crs: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # name -> Frictionless type
    variables: dict[str, str] = field(default_factory=dict)  # name -> "float32 (time, lat, lon)"
    dimensions: dict[str, int] = field(default_factory=dict)  # name -> size

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``bbox`` as a list)."""
        data = asdict(self)
        data["bbox"] = list(self.bbox) if self.bbox else None
        return data


def summary_from(meta: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> DataSummary:
    """A :class:`DataSummary` from ``DataDrivenMetadata.to_dict()`` and the generated table/grid schema."""
    kind = str(meta.get("kind") or "tabular")
    bbox = meta.get("bbox")
    time_range = meta.get("time_range") or [None, None]
    columns: dict[str, str] = {}
    if kind == "tabular":
        fields = (schema or {}).get("fields") or [
            {"name": c.get("name"), "type": c.get("type")}
            for c in meta.get("columns") or []
            if c.get("role") != "covering"  # the GeoParquet bbox column is not part of the table schema
        ]
        columns = {str(f.get("name")): str(f.get("type")) for f in fields if isinstance(f, Mapping)}
    variables = {
        str(v.get("name")): f"{v.get('dtype')} ({', '.join(v.get('dimensions') or [])})"
        for v in meta.get("variables") or []
        if isinstance(v, Mapping)
    }
    dimensions = {str(d.get("name")): int(d.get("size") or 0) for d in meta.get("dimensions") or []}
    return DataSummary(
        kind=kind,
        bbox=tuple(float(v) for v in bbox) if bbox and len(bbox) == 4 else None,  # type: ignore[arg-type]
        start=time_range[0],
        end=time_range[1],
        rows=meta.get("rows"),
        cells=meta.get("cells"),
        crs=meta.get("crs"),
        columns=columns,
        variables=variables,
        dimensions=dimensions,
    )


# ---- words -------------------------------------------------------------------------------------

_EDGES = (
    ("west edge", 0, "further west", "further east"),
    ("south edge", 1, "further south", "further north"),
    ("east edge", 2, "further west", "further east"),
    ("north edge", 3, "further south", "further north"),
)


def _deg(value: float) -> str:
    return f"{value:.2f}°"


def extent_lines(base: tuple[float, ...] | None, head: tuple[float, ...] | None) -> list[str]:
    """One line per bbox side that moved, with the distance and the direction."""
    if base == head:
        return []
    if base is None:
        return [f"bbox {_bbox_text(head)} (the data had no spatial extent before)"] if head else []
    if head is None:
        return [f"bbox {_bbox_text(base)} -> none (the data no longer has a spatial extent)"]
    lines = []
    for name, i, lower, higher in _EDGES:
        delta = head[i] - base[i]
        if abs(delta) > _EPS:
            lines.append(
                f"{name} {_deg(base[i])} -> {_deg(head[i])} ({_deg(abs(delta))} {lower if delta < 0 else higher})"
            )
    return lines


def _bbox_text(bbox: tuple[float, ...] | None) -> str:
    return "[" + ", ".join(_deg(v) for v in bbox) + "]" if bbox else "none"


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _span(a: datetime, b: datetime) -> str:
    """A signed, rounded human duration from ``a`` to ``b`` ("+11 months", "-3 days")."""
    days = (b - a).total_seconds() / 86400
    sign = "+" if days >= 0 else "-"
    size = abs(days)
    if size >= 730:
        amount, unit = round(size / 365.25), "year"
    elif size >= 59:
        amount, unit = round(size / 30.44), "month"
    elif size >= 1:
        amount, unit = round(size), "day"
    else:
        amount, unit = round(size * 24), "hour"
    return f"{sign}{amount} {unit}{'s' if amount != 1 else ''}"


def _day(value: str | None) -> str:
    parsed = _parse(value)
    if parsed is None:
        return value or "open"
    return parsed.strftime("%Y-%m-%d" if parsed.hour == parsed.minute == parsed.second == 0 else "%Y-%m-%d %H:%M")


def time_lines(base: DataSummary | None, head: DataSummary) -> list[str]:
    """The start / end changes of the data's time range, with the shift in plain units."""
    lines = []
    for label, old, new in (
        ("start", base.start if base else None, head.start),
        ("end", base.end if base else None, head.end),
    ):
        if old == new or base is None:
            continue
        text = f"{label} {_day(old)} -> {_day(new)}"
        a, b = _parse(old), _parse(new)
        if a and b:
            text += f" ({_span(a, b)})"
        lines.append(text)
    return lines


def _count_line(label: str, old: int | None, new: int | None) -> list[str]:
    if old == new or old is None or new is None:
        return []
    return [f"{label} {old:,} -> {new:,} ({new - old:+,})"]


def schema_lines(base: DataSummary, head: DataSummary) -> list[str]:
    """Columns / variables / dimensions added, removed or retyped."""
    lines: list[str] = []
    for noun, old, new in (("column", base.columns, head.columns), ("variable", base.variables, head.variables)):
        lines += [f"{noun} `{n}` added ({new[n]})" for n in new if n not in old]
        lines += [f"{noun} `{n}` removed (was {old[n]})" for n in old if n not in new]
        lines += [f"{noun} `{n}`: {old[n]} -> {new[n]}" for n in old if n in new and old[n] != new[n]]
    for name, size in head.dimensions.items():
        if name not in base.dimensions:
            lines.append(f"dimension `{name}` added ({size})")
        elif base.dimensions[name] != size:
            lines.append(
                f"dimension `{name}`: {base.dimensions[name]:,} -> {size:,} ({size - base.dimensions[name]:+,})"
            )
    lines += [f"dimension `{n}` removed" for n in base.dimensions if n not in head.dimensions]
    return lines


# ---- the map -----------------------------------------------------------------------------------


def _polygon(bbox: tuple[float, ...]) -> dict[str, Any]:
    w, s, e, n = bbox
    if abs(e - w) < _EPS and abs(n - s) < _EPS:
        return {"type": "Point", "coordinates": [w, s]}
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def extent_map(base: tuple[float, ...] | None, head: tuple[float, ...] | None, dataset: str) -> dict[str, Any] | None:
    """A GeoJSON FeatureCollection of the base and head extents (``None`` when nothing spatial changed)."""
    if base == head and base is not None:
        return None
    features = []
    for side, bbox, style in (("base", base, BASE_STYLE), ("head", head, HEAD_STYLE)):
        if bbox:
            props = {"title": f"{dataset} ({side}): {_bbox_text(bbox)}", **style}
            features.append({"type": "Feature", "properties": props, "geometry": _polygon(bbox)})
    return {"type": "FeatureCollection", "features": features} if features else None


def geojson_block(collection: Mapping[str, Any] | None) -> str:
    """The ```geojson fence GitHub renders as a map ("" when there is nothing to draw or it is too big)."""
    if not collection:
        return ""
    text = json.dumps(collection, separators=(",", ":"), ensure_ascii=False)
    return f"```geojson\n{text}\n```" if len(text) <= MAX_MAP_CHARS else ""


# ---- one dataset's section ---------------------------------------------------------------------


@dataclass
class DataSection:
    """The "Data" part of the report for one dataset."""

    dataset: str
    status: str  # changed | unchanged | new | skipped
    lines: list[str] = field(default_factory=list)
    gate: list[str] = field(default_factory=list)  # schema-gate differences (would stop the publish)
    notes: list[str] = field(default_factory=list)
    base: DataSummary | None = None
    head: DataSummary | None = None
    overview: list[str] = field(default_factory=list)  # new dataset: title, licence, extents, fields
    map: dict[str, Any] | None = None

    @property
    def shown(self) -> bool:
        """Whether the report shows a section (unchanged data without notes shows none)."""
        return self.status != "unchanged" or bool(self.notes or self.gate)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``check --format json``)."""
        return {
            "dataset": self.dataset,
            "status": self.status,
            "changes": list(self.lines),
            "schema_gate": list(self.gate),
            "notes": list(self.notes),
            "overview": list(self.overview),
            "base": self.base.to_dict() if self.base else None,
            "head": self.head.to_dict() if self.head else None,
            "map": self.map,
        }

    def markdown(self) -> str:
        """The section as Markdown (plain words, then the map)."""
        title = {"new": "new dataset", "changed": "what changed", "skipped": "not probed"}.get(self.status, "unchanged")
        if self.gate:
            title += " -- the schema gate would stop the publish"
        parts = [f"#### 📊 Data of `{self.dataset}`: {title}"]
        bullets = [f"- {line}" for line in (self.overview if self.status == "new" else self.lines)]
        bullets += [f"- ❌ the schema gate would stop the publish: {g}" for g in self.gate]
        bullets += [f"- \u2139\ufe0f {n}" for n in self.notes]
        if bullets:
            parts.append("\n".join(bullets))
        block = geojson_block(self.map)
        if block:
            parts.append(block)
        return "\n\n".join(parts)


def compare(dataset: str, base: DataSummary | None, head: DataSummary | None) -> DataSection:
    """The section for a dataset whose data was probed at base (maybe absent) and head."""
    if head is None:
        return DataSection(dataset, "skipped", base=base)
    if base is None:
        return DataSection(dataset, "new", head=head, map=extent_map(None, head.bbox, dataset))
    lines = schema_lines(base, head)
    lines += extent_lines(base.bbox, head.bbox)
    lines += time_lines(base, head)
    lines += _count_line("rows", base.rows, head.rows)
    if base.kind == head.kind == "gridded":
        lines += _count_line("grid cells", base.cells, head.cells)
    if base.crs != head.crs:
        lines.append(f"CRS {base.crs} -> {head.crs}")
    return DataSection(
        dataset,
        "changed" if lines else "unchanged",
        lines=lines,
        base=base,
        head=head,
        map=extent_map(base.bbox, head.bbox, dataset) if base.bbox != head.bbox else None,
    )


def overview(head: DataSummary, datapackage: Mapping[str, Any] | None) -> list[str]:
    """What a new dataset is: title, licence, extents, fields or variables, size (instead of "+ (new document)")."""
    package = datapackage or {}
    lines = []
    if package.get("title"):
        lines.append(f"title: {package['title']}")
    licences = [str(lic.get("name")) for lic in package.get("licenses") or [] if isinstance(lic, Mapping)]
    if licences:
        lines.append(f"licence: {', '.join(licences)}")
    if head.bbox:
        lines.append(f"bbox: {_bbox_text(head.bbox)} (west, south, east, north)")
    if head.start or head.end:
        lines.append(f"time: {_day(head.start)} -> {_day(head.end)}")
    if head.columns:
        lines.append("columns: " + ", ".join(f"`{n}` ({t})" for n, t in head.columns.items()))
    if head.variables:
        lines.append("variables: " + ", ".join(f"`{n}` {t}" for n, t in head.variables.items()))
    if head.dimensions:
        lines.append("grid: " + " x ".join(f"{n} {s:,}" for n, s in head.dimensions.items()))
    if head.rows is not None:
        lines.append(f"rows: {head.rows:,}")
    return lines
