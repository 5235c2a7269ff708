"""Dataset issues: the issue-form body -> datapackage fields, and the bot's own section (pure).

Why pure and separate: the form (``catalog_templates/.github/ISSUE_TEMPLATE/
dataset.yml``) renders as ``### Label\\n\\nvalue`` sections; turning that
into curated ``datapackage.json`` fields is plain text processing that must
be exact (ids by the folder rule, bbox ranges, ISO dates) and report every
problem at once, so the issue author can fix them in one edit.  The bot
writes its findings into the issue between ``<!-- catalog-bot:start -->``
and ``<!-- catalog-bot:end -->`` and edits only that part.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml

from bot.catalog.layout import DATASET_ID

START = "<!-- catalog-bot:start -->"
END = "<!-- catalog-bot:end -->"
NO_RESPONSE = "_No response_"

# Issue-form label -> key (the labels in dataset.yml; keep both in step).
LABELS: dict[str, str] = {
    "Dataset id": "id",
    "Title": "title",
    "Description": "description",
    "Licence": "licence",
    "Contributors": "contributors",
    "Keywords": "keywords",
    "Access": "access",
    "Bounding box": "bbox",
    "Temporal start": "start",
    "Temporal end": "end",
    "Metadata source": "metadata_source",
}
REQUIRED = ("id", "title", "description", "licence", "contributors", "access", "bbox", "start")
CONTRIBUTOR_ROLES = ("author", "publisher", "maintainer", "wrangler", "contributor")
LICENCES = {
    "CC-BY-4.0": ("https://creativecommons.org/licenses/by/4.0/", "Creative Commons Attribution 4.0 International"),
    "CC0-1.0": ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0 1.0 Universal"),
    "CC-BY-SA-4.0": (
        "https://creativecommons.org/licenses/by-sa/4.0/",
        "Creative Commons Attribution-ShareAlike 4.0 International",
    ),
    "CC-BY-NC-4.0": (
        "https://creativecommons.org/licenses/by-nc/4.0/",
        "Creative Commons Attribution-NonCommercial 4.0 International",
    ),
    "ODbL-1.0": ("https://opendatacommons.org/licenses/odbl/1-0/", "Open Data Commons Open Database License 1.0"),
}
_HEADING = re.compile(r"^###\s+(.+?)\s*$", re.MULTILINE)
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


@dataclass
class DatasetRequest:
    """The parsed issue: datapackage fields, the metadata source and the problems found."""

    fields: dict[str, Any] = field(default_factory=dict)
    metadata_source: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problems: a dataset can be generated."""
        return not self.problems

    @property
    def dataset_id(self) -> str | None:
        """The requested dataset id when it is valid."""
        value = self.fields.get("name")
        return value if isinstance(value, str) and DATASET_ID.fullmatch(value) else None


def sections(body: str) -> dict[str, str | None]:
    """``### Label`` sections of an issue-form body: label -> text (None for "_No response_")."""
    body = strip_bot_section(body or "").replace("\r\n", "\n")
    out: dict[str, str | None] = {}
    matches = list(_HEADING.finditer(body))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(body)
        text = body[m.end() : end].strip()
        out[m.group(1)] = None if text in ("", NO_RESPONSE) else text
    return out


def is_dataset_form(body: str) -> bool:
    """Does the body look like the dataset issue form (its id and title headings)?"""
    found = sections(body)
    return "Dataset id" in found and "Title" in found


def parse_dataset_issue(body: str) -> DatasetRequest:
    """Map the form to curated datapackage fields; collect every problem with a fix."""
    raw = {LABELS[k]: v for k, v in sections(body).items() if k in LABELS and v}
    req = DatasetRequest()
    for key in REQUIRED:
        if not raw.get(key):
            label = next(label for label, k in LABELS.items() if k == key)
            req.problems.append(f"**{label}** is empty: fill it in (edit the issue)")
    f = req.fields
    if raw.get("id"):
        ident = raw["id"].strip().strip("`")
        if DATASET_ID.fullmatch(ident):
            f["name"] = ident
            f["id"] = f"urn:catalog:dataset:{ident}"
        else:
            req.problems.append(
                f"**Dataset id** `{ident[:64]}` is not valid: "
                "use 2-63 characters of a-z, 0-9 and '-', starting with a letter or digit"
            )
    if raw.get("title"):
        f["title"] = " ".join(raw["title"].split())
    if raw.get("description"):
        f["description"] = raw["description"].strip()
    if raw.get("licence"):
        lic = raw["licence"].split()[0].strip()
        path, title = LICENCES.get(lic, (f"https://spdx.org/licenses/{lic}.html", lic))
        if not re.fullmatch(r"[A-Za-z0-9.+-]{2,64}", lic):
            req.problems.append(f"**Licence** `{lic[:64]}` is not an SPDX identifier (e.g. CC-BY-4.0)")
        f["licenses"] = [{"name": lic, "path": path, "title": title}]
    if raw.get("contributors"):
        f["contributors"] = _contributors(raw["contributors"], req.problems)
    if raw.get("keywords"):
        f["keywords"] = [k.strip() for k in re.split(r"[,\n]", raw["keywords"]) if k.strip()]
    if raw.get("access"):
        access = raw["access"].strip().lower()
        if access in ("public", "limited"):
            f["access"] = access
        else:
            req.problems.append("**Access** must be `public` or `limited`")
    if raw.get("bbox"):
        bbox = _bbox(raw["bbox"], req.problems)
        if bbox:
            f["spatial"] = {"bbox": bbox}
    start = _datetime(raw.get("start"), "Temporal start", req.problems) if raw.get("start") else None
    end = _datetime(raw.get("end"), "Temporal end", req.problems) if raw.get("end") else None
    if start:
        if end and end < start:
            req.problems.append("**Temporal end** is before **Temporal start**")
        f["temporal"] = {"start": start, "end": end}
    if raw.get("metadata_source"):
        url = raw["metadata_source"].strip()
        if re.fullmatch(r"https?://\S+", url):
            req.metadata_source = url
        else:
            req.problems.append("**Metadata source** must be an http(s) URL (a CSW GetRecordById or ISO 19115 XML URL)")
    if req.dataset_id:
        f["resources"] = [{"name": req.dataset_id, "path": f"{req.dataset_id}.parquet", "format": "parquet"}]
    return req


def _contributors(text: str, problems: list[str]) -> list[dict[str, str]]:
    """One per line: ``Name | role | email | organization`` (role, email and organization optional)."""
    out = []
    for n, line in enumerate(x for x in text.splitlines() if x.strip()):
        parts = [p.strip() for p in line.strip().lstrip("-* ").split("|")]
        item: dict[str, str] = {"title": parts[0], "role": "author"}
        if len(parts) > 1 and parts[1]:
            role = parts[1].lower()
            if role not in CONTRIBUTOR_ROLES:
                problems.append(
                    f"**Contributors** line {n + 1}: role `{role[:32]}` is not one of {', '.join(CONTRIBUTOR_ROLES)}"
                )
            item["role"] = role
        if len(parts) > 2 and parts[2]:
            if not _EMAIL.fullmatch(parts[2]):
                problems.append(f"**Contributors** line {n + 1}: `{parts[2][:64]}` is not an e-mail address")
            item["email"] = parts[2]
        if len(parts) > 3 and parts[3]:
            item["organization"] = parts[3]
        if not item["title"]:
            problems.append(f"**Contributors** line {n + 1}: the name is empty")
        out.append(item)
    return out


def _bbox(text: str, problems: list[str]) -> list[float] | None:
    parts = [p for p in re.split(r"[,\s]+", text.strip().strip("[]")) if p]
    try:
        w, s, e, n = (float(p) for p in parts)
    except ValueError:
        problems.append("**Bounding box** must be four numbers: west, south, east, north (degrees)")
        return None
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= n <= 90):
        problems.append("**Bounding box** is out of range: west/east in -180..180, -90 <= south <= north <= 90")
        return None
    return [w, s, e, n]


def _datetime(text: str | None, label: str, problems: list[str]) -> str | None:
    value = (text or "").strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.fromisoformat(value).strftime("%Y-%m-%dT00:00:00Z")
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        problems.append(f"**{label}** `{value[:40]}` is not an ISO date (YYYY-MM-DD) or date-time")
        return None


# ---------------------------------------------------------------------- the bot's section


def strip_bot_section(body: str) -> str:
    """The body without the bot's section."""
    start, end = body.find(START), body.find(END)
    if start == -1 or end == -1 or end < start:
        return body
    return (body[:start].rstrip("\n") + "\n" + body[end + len(END) :].lstrip("\n")).strip("\n")


def replace_bot_section(body: str | None, content: str) -> str:
    """``body`` with the bot's section set to ``content`` (appended the first time, edited in place after)."""
    body = body or ""
    section = f"{START}\n{content.strip()}\n{END}"
    start, end = body.find(START), body.find(END)
    if start != -1 and end != -1 and end > start:
        return body[:start] + section + body[end + len(END) :]
    return (body.rstrip("\n") + "\n\n" if body.strip() else "") + section + "\n"


def request_summary(req: DatasetRequest) -> str:
    """The bot's section for a dataset issue: problems, or the fields and the next command."""
    if req.problems:
        lines = ["### catalog-bot: please fix", "", *[f"- {p}" for p in req.problems]]
        return "\n".join(lines)
    f = req.fields
    rows = [
        "### catalog-bot: ready",
        "",
        "| field | value |",
        "|---|---|",
        f"| dataset id | `{f['name']}` |",
        f"| licence | {f['licenses'][0]['name']} |",
        f"| access | {f['access']} |",
        f"| bbox | {', '.join(str(v) for v in f['spatial']['bbox'])} |",
        f"| temporal | {f['temporal']['start']} .. {f['temporal']['end'] or 'open'} |",
        "",
        "Comment `/catalog generate` to open a pull request that adds this dataset.",
    ]
    return "\n".join(rows)


# ---------------------------------------------------------------------- generated dataset folder


def dataset_files(req: DatasetRequest) -> dict[str, bytes]:
    """The files of a new dataset folder from a valid request (a curator completes the data part)."""
    if not req.ok or req.dataset_id is None:
        raise ValueError("the request has problems; generate only from a valid request")
    f = req.fields
    ident = req.dataset_id
    datapackage = {
        "name": f["name"],
        "id": f["id"],
        "title": f["title"],
        "description": f["description"],
        "licenses": f["licenses"],
        "contributors": f["contributors"],
        "keywords": f.get("keywords", []),
        "access": f["access"],
        "spatial": f["spatial"],
        "temporal": f["temporal"],
        "resources": f["resources"],
    }
    orgs = sorted(
        {c.get("organization") or c["title"] for c in f["contributors"] if c["role"] in ("publisher", "author")}
    )
    providers = [{"name": o, "roles": ["producer"]} for o in orgs]
    interval = [f["temporal"]["start"], f["temporal"]["end"]]
    collection = (
        "local lib = import 'catalog.libsonnet';\n\n"
        "lib.collection(\n"
        f"  id={_jsonnet(ident)},\n"
        f"  title={_jsonnet(f['title'])},\n"
        f"  description={_jsonnet(f['description'])},\n"
        f"  license={_jsonnet(f['licenses'][0]['name'])},\n"
        f"  keywords={_jsonnet(f.get('keywords', []))},\n"
        f"  providers={_jsonnet(providers)},\n"
        f"  extent=lib.extent({_jsonnet(f['spatial']['bbox'])}, {_jsonnet(interval)}),\n"
        ")\n"
    )
    pipeline: dict[str, Any] = {
        "source": {"path": f"data/{ident}.csv", "format": "csv"},
        "output": "parquet",
        "coordinates": {"x": "lon", "y": "lat", "t": "time"},
        "access": f["access"],
    }
    if req.metadata_source:
        pipeline["metadata_source"] = {"kind": "url", "url": req.metadata_source}
    tableschema = {
        "fields": [
            {"name": "time", "type": "datetime"},
            {"name": "lon", "type": "number"},
            {"name": "lat", "type": "number"},
        ]
    }
    base = f"datasets/{ident}"
    header = "# Generated by catalog-bot from the dataset issue; complete source and coordinates.\n"
    return {
        f"{base}/datapackage.json": (json.dumps(datapackage, indent=2, ensure_ascii=False) + "\n").encode(),
        f"{base}/collection.jsonnet": collection.encode(),
        f"{base}/pipeline.yaml": (header + yaml.safe_dump(pipeline, sort_keys=False)).encode(),
        f"{base}/tableschema.json": (json.dumps(tableschema, indent=2) + "\n").encode(),
    }


def _jsonnet(value: Any) -> str:
    """A Jsonnet literal: JSON is valid Jsonnet, and escaping is exact."""
    return json.dumps(value, ensure_ascii=False)
