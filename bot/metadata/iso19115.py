"""ISO 19115 metadata records (ISO 19139 ``gmd`` and ISO 19115-3 ``mdb``) -> datapackage fields.

Why our own parser: records come from external catalogues, so parsing is
hardened first (size limit, no DTD, no entity expansion, no network) and
only then interpreted.  Paths use ``local-name()`` so one set of
expressions reads both encodings (19139 and 19115-3 differ in namespaces and
wrappers, not in the element names we need), and ``gmx:Anchor`` values
(licences, keywords) are read like ``gco:CharacterString``.  OWSLib's
``MD_Metadata`` differs across versions (0.28 vs 0.35) and ignores anchors.

The mapping (documented in the README) is a pure function from XML bytes to
:class:`IsoRecord`, and from a record to datapackage fields.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from lxml import etree

from bot.errors import DataError

MAX_RECORD_BYTES = 2 * 1024 * 1024

# ISO CI_RoleCode -> Frictionless contributor role (v1 vocabulary).
CONTRIBUTOR_ROLES = {
    "author": "author",
    "originator": "author",
    "principalInvestigator": "author",
    "coAuthor": "author",
    "publisher": "publisher",
    "distributor": "publisher",
    "custodian": "maintainer",
    "pointOfContact": "maintainer",
    "resourceProvider": "publisher",
    "owner": "publisher",
    "rightsHolder": "publisher",
    "processor": "contributor",
    "collaborator": "contributor",
    "contributor": "contributor",
    "editor": "contributor",
    "funder": "contributor",
    "sponsor": "contributor",
    "user": "contributor",
    "stakeholder": "contributor",
    "mediator": "contributor",
}
# ISO CI_RoleCode -> STAC provider roles.
PROVIDER_ROLES = {
    "originator": "producer",
    "author": "producer",
    "principalInvestigator": "producer",
    "processor": "processor",
    "owner": "licensor",
    "rightsHolder": "licensor",
    "publisher": "host",
    "distributor": "host",
    "custodian": "host",
}
# Licence URL fragments -> SPDX id.
SPDX_BY_URL = (
    ("creativecommons.org/licenses/by/4.0", "CC-BY-4.0"),
    ("creativecommons.org/licenses/by-nc/4.0", "CC-BY-NC-4.0"),
    ("creativecommons.org/licenses/by-sa/4.0", "CC-BY-SA-4.0"),
    ("creativecommons.org/licenses/by/3.0", "CC-BY-3.0"),
    ("creativecommons.org/publicdomain/zero/1.0", "CC0-1.0"),
    ("opendatacommons.org/licenses/odbl", "ODbL-1.0"),
)
SPDX_BY_TEXT = (
    (re.compile(r"\bCC[- ]?BY[- ]?NC[- ]?4\.0\b|attribution[- ]non[- ]?commercial 4\.0", re.I), "CC-BY-NC-4.0"),
    (re.compile(r"\bCC[- ]?BY[- ]?SA[- ]?4\.0\b", re.I), "CC-BY-SA-4.0"),
    (re.compile(r"\bCC[- ]?BY[- ]?4\.0\b|attribution 4\.0", re.I), "CC-BY-4.0"),
    (re.compile(r"\bCC0\b|public domain dedication", re.I), "CC0-1.0"),
)


class RecordNotFound(DataError):
    """The catalogue answered, but without the requested record."""


@dataclass(frozen=True)
class Party:
    """A person or organisation with an ISO role."""

    name: str
    role: str
    organisation: str | None = None
    email: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Keywords:
    """Keywords of one ``MD_Keywords`` block, with their thesaurus (if any)."""

    words: tuple[str, ...]
    thesaurus: str | None = None


@dataclass(frozen=True)
class OnlineResource:
    """A distribution link."""

    url: str
    name: str | None = None
    protocol: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class IsoRecord:
    """The fields of an ISO 19115 record that the catalog uses."""

    file_identifier: str | None
    title: str | None
    abstract: str | None
    keywords: tuple[Keywords, ...] = ()
    parties: tuple[Party, ...] = ()
    licence: str | None = None
    licence_url: str | None = None
    use_constraints: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    temporal: tuple[str | None, str | None] | None = None
    lineage: str | None = None
    identifiers: tuple[str, ...] = ()
    online: tuple[OnlineResource, ...] = ()
    date_stamp: str | None = None
    standard: str = "ISO 19139"
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for issue bodies and the bot's own diffs)."""
        return asdict(self)


def _parser() -> etree.XMLParser:
    # No DTD loading, no entity expansion, no network, no huge trees.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
    )


def parse_xml(data: bytes, *, source: str, max_bytes: int = MAX_RECORD_BYTES) -> etree._Element:
    """Parse untrusted XML: size limit first, DTDs (and so entities) refused."""
    if len(data) > max_bytes:
        raise DataError(
            f"record is {len(data):,} bytes, over the {max_bytes:,} byte limit",
            file=source,
            hint="check the record id; raise the limit only for a trusted catalogue",
        )
    head = data[:4096].lstrip()
    if b"<!DOCTYPE" in head.upper() or b"<!ENTITY" in data.upper():
        raise DataError(
            "XML with a DTD or entity declarations is refused (entity expansion / external entities)",
            file=source,
            hint="the catalogue must serve plain ISO 19139 / 19115-3 XML",
        )
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        line = getattr(exc, "lineno", None)
        raise DataError(
            f"malformed XML at line {line}: {exc.msg}", file=source, hint="the record is not well-formed XML"
        ) from None
    if root is None:
        raise DataError("empty XML document", file=source)
    return root


def _text(node: etree._Element | None) -> str | None:
    """Text of a CharacterString / Anchor / Decimal / URL-like wrapper or of the node itself."""
    if node is None:
        return None
    for child in node.iter():
        if child is node:
            continue
        if not isinstance(child.tag, str):
            continue
        text = (child.text or "").strip()
        if text:
            return text
    text = (node.text or "").strip()
    return text or None


def _ln(*names: str) -> str:
    """An XPath step list by local names (namespace-agnostic)."""
    return "/".join(f"*[local-name()='{n}']" if n not in ("*", "") else n for n in names)


def _first(root: etree._Element, path: str) -> etree._Element | None:
    found = root.xpath(path)
    return found[0] if found else None


def _ident(root: etree._Element) -> etree._Element | None:
    return _first(root, ".//" + _ln("identificationInfo") + "/*")


def _parties(root: etree._Element, ident: etree._Element | None) -> list[Party]:
    parties: list[Party] = []
    # Parties of the metadata and the resource; not the CRS authority under referenceSystemInfo.
    outside_crs = "[not(ancestor::*[local-name()='referenceSystemInfo'])]"
    containers = root.xpath(".//" + _ln("CI_ResponsibleParty") + outside_crs) + root.xpath(
        ".//" + _ln("CI_Responsibility") + outside_crs
    )
    for rp in containers:
        role_node = _first(rp, "./" + _ln("role") + "/*")
        role = (
            (role_node.get("codeListValue") if role_node is not None else None) or _text(role_node) or "pointOfContact"
        )
        org = _text(_first(rp, ".//" + _ln("organisationName"))) or _text(
            _first(rp, ".//" + _ln("CI_Organisation", "name"))
        )
        person = _text(_first(rp, ".//" + _ln("individualName"))) or _text(
            _first(rp, ".//" + _ln("CI_Individual", "name"))
        )
        email = _text(_first(rp, ".//" + _ln("electronicMailAddress")))
        url = _text(_first(rp, ".//" + _ln("CI_OnlineResource", "linkage")))
        name = person or org
        if name:
            party = Party(name=name, role=role, organisation=org, email=email, url=url)
            if party not in parties:
                parties.append(party)
    return parties


def _licence(ident: etree._Element | None) -> tuple[str | None, str | None, list[str]]:
    if ident is None:
        return None, None, []
    texts: list[str] = []
    urls: list[str] = []
    for cons in ident.xpath(".//" + _ln("resourceConstraints") + "/*"):
        for node in cons.xpath("./" + _ln("otherConstraints") + " | ./" + _ln("useLimitation")):
            for anchor in node.xpath(".//" + _ln("Anchor")):
                href = anchor.get("{http://www.w3.org/1999/xlink}href")
                if href:
                    urls.append(href)
            value = _text(node)
            if value:
                texts.append(value)
        for node in cons.xpath(".//" + _ln("CI_OnlineResource", "linkage")):
            value = _text(node)
            if value:
                urls.append(value)
    urls += [u for t in texts for u in re.findall(r"https?://\S+", t)]
    spdx = next((sid for u in urls for frag, sid in SPDX_BY_URL if frag in u), None)
    if spdx is None:
        spdx = next((sid for t in texts for rx, sid in SPDX_BY_TEXT if rx.search(t)), None)
    url = next((u for u in urls if any(frag in u for frag, _ in SPDX_BY_URL)), urls[0] if urls else None)
    return spdx, url, texts


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _bbox(ident: etree._Element | None) -> tuple[float, float, float, float] | None:
    if ident is None:
        return None
    box = _first(ident, ".//" + _ln("EX_GeographicBoundingBox"))
    if box is None:
        return None
    values = [
        _float(_text(_first(box, "./" + _ln(n))))
        for n in ("westBoundLongitude", "southBoundLatitude", "eastBoundLongitude", "northBoundLatitude")
    ]
    if any(v is None for v in values):
        return None
    w, s, e, n = values
    return (w, s, e, n)  # type: ignore[return-value]


def _temporal(ident: etree._Element | None) -> tuple[str | None, str | None] | None:
    if ident is None:
        return None
    period = _first(ident, ".//" + _ln("EX_TemporalExtent") + "//" + _ln("TimePeriod"))
    if period is None:
        instant = _first(ident, ".//" + _ln("EX_TemporalExtent") + "//" + _ln("TimeInstant", "timePosition"))
        value = _text(instant) if instant is not None else None
        return (value, value) if value else None
    begin = _first(period, "./" + _ln("beginPosition"))
    end = _first(period, "./" + _ln("endPosition"))
    begin_text = (begin.text or "").strip() if begin is not None else ""
    end_text = (end.text or "").strip() if end is not None else ""
    if end is not None and end.get("indeterminatePosition") in ("now", "unknown"):
        end_text = ""
    return (begin_text or None, end_text or None) if begin_text or end_text else None


def parse_record(data: bytes, *, source: str = "<record>") -> IsoRecord:
    """Parse one ISO 19139 (``gmd:MD_Metadata``) or ISO 19115-3 (``mdb:MD_Metadata``) record."""
    root = parse_xml(data, source=source)
    # A CSW GetRecordById response wraps the record; an exception report is an error.
    if etree.QName(root).localname == "ExceptionReport":
        text = _text(_first(root, ".//" + _ln("ExceptionText"))) or "no text"
        code = _first(root, ".//" + _ln("Exception"))
        raise DataError(
            f"catalogue answered with an exception: {text}",
            file=source,
            field=code.get("exceptionCode") if code is not None else None,
        )
    md = root if etree.QName(root).localname == "MD_Metadata" else _first(root, ".//" + _ln("MD_Metadata"))
    if md is None and etree.QName(root).localname in ("GetRecordByIdResponse", "GetRecordsResponse"):
        raise RecordNotFound(
            f"the catalogue has no such record ({source})",
            file=source,
            hint="the record may have been withdrawn; check the id",
        )
    if md is None:
        raise DataError(
            "no MD_Metadata element: not an ISO 19115 record",
            file=source,
            hint="request outputschema=http://www.isotc211.org/2005/gmd",
        )
    standard = "ISO 19115-3" if "standards.iso.org/iso/19115/-3" in (etree.QName(md).namespace or "") else "ISO 19139"
    ident = _ident(md)
    title = _text(_first(md, ".//" + _ln("identificationInfo") + "/*/" + _ln("citation") + "/*/" + _ln("title")))
    abstract = _text(_first(md, ".//" + _ln("identificationInfo") + "/*/" + _ln("abstract")))
    keywords = []
    for block in md.xpath(".//" + _ln("MD_Keywords")):
        words = tuple(w for w in (_text(k) for k in block.xpath("./" + _ln("keyword"))) if w)
        thesaurus = _text(_first(block, "./" + _ln("thesaurusName") + "//" + _ln("title")))
        if words:
            keywords.append(Keywords(words, thesaurus))
    spdx, licence_url, constraints = _licence(ident)
    file_id = _text(_first(md, "./" + _ln("fileIdentifier"))) or _text(
        _first(md, "./" + _ln("metadataIdentifier") + "//" + _ln("code"))
    )
    identifiers = tuple(
        v
        for v in (_text(n) for n in md.xpath(".//" + _ln("citation") + "//" + _ln("identifier") + "//" + _ln("code")))
        if v
    )
    online = tuple(
        OnlineResource(
            url=url,
            name=_text(_first(res, "./" + _ln("name"))),
            protocol=_text(_first(res, "./" + _ln("protocol"))),
            description=_text(_first(res, "./" + _ln("description"))),
        )
        for res in md.xpath(".//" + _ln("distributionInfo") + "//" + _ln("CI_OnlineResource"))
        if (url := _text(_first(res, "./" + _ln("linkage"))))
    )
    lineage = _text(_first(md, ".//" + _ln("LI_Lineage", "statement")))
    date_stamp = _text(_first(md, "./" + _ln("dateStamp"))) or _text(
        _first(md, "./" + _ln("dateInfo") + "//" + _ln("date"))
    )
    warnings = []
    if not title:
        warnings.append("record has no title")
    bbox = _bbox(ident)
    temporal = _temporal(ident)
    if bbox is None and temporal is None:
        warnings.append("record has no spatial or temporal extent")
    return IsoRecord(
        file_identifier=file_id,
        title=title,
        abstract=abstract,
        keywords=tuple(keywords),
        parties=tuple(_parties(md, ident)),
        licence=spdx,
        licence_url=licence_url,
        use_constraints=tuple(constraints),
        bbox=bbox,
        temporal=temporal,
        lineage=lineage,
        identifiers=identifiers,
        online=online,
        date_stamp=date_stamp,
        standard=standard,
        warnings=tuple(warnings),
    )


def _iso_datetime(value: str | None) -> str | None:
    if not value:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return value + "T00:00:00Z"
    if re.fullmatch(r"\d{4}", value):
        return value + "-01-01T00:00:00Z"
    return value if value.endswith("Z") or re.search(r"[+-]\d{2}:\d{2}$", value) else value + "Z"


def record_to_datapackage_fields(record: IsoRecord) -> dict[str, Any]:
    """The datapackage fields a harvest sets (see the mapping table in the README)."""
    fields: dict[str, Any] = {}
    if record.title:
        fields["title"] = record.title
    if record.abstract:
        fields["description"] = record.abstract
    words: list[str] = []
    for block in record.keywords:
        words += [w for w in block.words if w not in words]
    if words:
        fields["keywords"] = words
    contributors = []
    for party in record.parties:
        entry: dict[str, Any] = {"title": party.name, "role": CONTRIBUTOR_ROLES.get(party.role, "contributor")}
        if party.organisation and party.organisation != party.name:
            entry["organization"] = party.organisation
        if party.email:
            entry["email"] = party.email
        if party.url:
            entry["path"] = party.url
        if entry not in contributors:
            contributors.append(entry)
    if contributors:
        fields["contributors"] = contributors
    if record.licence:
        licence: dict[str, Any] = {"name": record.licence}
        if record.licence_url:
            licence["path"] = record.licence_url
        fields["licenses"] = [licence]
    if record.bbox:
        fields["spatial"] = {"bbox": list(record.bbox)}
    if record.temporal:
        fields["temporal"] = {"start": _iso_datetime(record.temporal[0]), "end": _iso_datetime(record.temporal[1])}
    if record.lineage:
        fields["lineage"] = record.lineage
    if record.file_identifier:
        fields["source_record"] = record.file_identifier
    return fields


def providers_from_record(record: IsoRecord) -> list[dict[str, Any]]:
    """STAC providers (name, roles, url) from the record's parties, merged by organisation."""
    providers: dict[str, dict[str, Any]] = {}
    for party in record.parties:
        role = PROVIDER_ROLES.get(party.role)
        name = party.organisation or party.name
        if role is None:
            continue
        entry = providers.setdefault(name, {"name": name, "roles": []})
        if role not in entry["roles"]:
            entry["roles"].append(role)
        if party.url and "url" not in entry:
            entry["url"] = party.url
    return list(providers.values())
