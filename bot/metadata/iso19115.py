"""ISO 19115 metadata records (ISO 19139 ``gmd``, 19115-2 ``gmi``, 19115-3 ``mdb``) -> datapackage fields.

Why our own parser: records come from external catalogues, so parsing is
hardened first (size limit, no DTD, no entity expansion, no network) and
only then interpreted.  Paths use ``local-name()`` so one set of
expressions reads both encodings (19139 and 19115-3 differ in namespaces and
wrappers, not in the element names we need), and ``gmx:Anchor`` values
(licences, keywords) are read like ``gco:CharacterString``.  OWSLib's
``MD_Metadata`` differs across versions (0.28 vs 0.35) and ignores anchors.

The mapping (documented in the README) is a pure function from XML bytes to
:class:`IsoRecord`, and from a record to datapackage fields.

What counts as the record: ``MD_Metadata``, ``MI_Metadata`` (19115-2, used by
NOAA) or a national profile's root that substitutes for them (the
Australian MCP's ``mcp:MD_Metadata``, any root with ``gco:isoType``
naming one).  Whose contacts: only the resource's own parties
(identification ``pointOfContact``, the resource citation's responsible
parties) and the metadata ``contact``.  A record also cites *other* things
-- aggregate and parent datasets, keyword thesauri, the CRS authority
(EPSG) -- and their parties are not the dataset's; reading every
``CI_ResponsibleParty`` in the document is what turned one record into 38
contributors.  Placeholder end dates (year 2999 or 9999) mean "ongoing".
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from lxml import etree

from bot.errors import DataError
from bot.metadata.iso_vocab import CONTRIBUTOR_ROLES, PROVIDER_ROLES, find_licence, role_code

MAX_RECORD_BYTES = 2 * 1024 * 1024


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
    licence_title: str | None = None
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


_METADATA_ROOTS = ("MD_Metadata", "MI_Metadata")
_IS_METADATA = (
    "(local-name()='MD_Metadata' or local-name()='MI_Metadata'"
    " or @*[local-name()='isoType'][contains(., 'MD_Metadata') or contains(., 'MI_Metadata')])"
)


def _is_metadata(node: etree._Element) -> bool:
    return bool(node.xpath("boolean(self::*[" + _IS_METADATA + "])"))


def _metadata_elements(root: etree._Element) -> list[etree._Element]:
    """The outermost metadata records in a document (the root itself, or those in a CSW response)."""
    if _is_metadata(root):
        return [root]
    return list(root.xpath(".//*[" + _IS_METADATA + "][not(ancestor::*[" + _IS_METADATA + "])]"))


def _ident(md: etree._Element) -> etree._Element | None:
    return _first(md, "./" + _ln("identificationInfo") + "/*")


def _party(rp: etree._Element) -> Party | None:
    """One ``CI_ResponsibleParty`` (19139) or ``CI_Responsibility`` (19115-3)."""
    role_node = _first(rp, "./" + _ln("role") + "/*")
    role = "pointOfContact"
    if role_node is not None:
        role = role_code(role_node.get("codeListValue"), _text(role_node)) or "pointOfContact"
    org = _text(_first(rp, "./" + _ln("organisationName"))) or _text(_first(rp, ".//" + _ln("CI_Organisation", "name")))
    person = _text(_first(rp, "./" + _ln("individualName"))) or _text(_first(rp, ".//" + _ln("CI_Individual", "name")))
    email = _text(_first(rp, ".//" + _ln("electronicMailAddress")))
    url = _text(_first(rp, ".//" + _ln("CI_OnlineResource", "linkage")))
    name = person or org
    return Party(name=name, role=role, organisation=org, email=email, url=url) if name else None


def _parties(md: etree._Element, ident: etree._Element | None) -> list[Party]:
    """The resource's own parties, then the metadata contact; one entry per (name, role)."""
    nodes: list[etree._Element] = []
    if ident is not None:
        nodes += ident.xpath("./" + _ln("pointOfContact") + "/*")
        nodes += ident.xpath("./" + _ln("citation") + "/*/" + _ln("citedResponsibleParty") + "/*")
    nodes += md.xpath("./" + _ln("contact") + "/*")
    parties: dict[tuple[str, str], Party] = {}
    for node in nodes:
        party = _party(node)
        if party is None:
            continue
        key = (" ".join(party.name.split()).casefold(), party.role)
        seen = parties.get(key)
        if seen is None:
            parties[key] = party
        else:  # the same party listed twice: keep what either entry knows
            parties[key] = Party(
                name=seen.name,
                role=seen.role,
                organisation=seen.organisation or party.organisation,
                email=seen.email or party.email,
                url=seen.url or party.url,
            )
    return list(parties.values())


def _licence(ident: etree._Element | None) -> tuple[dict[str, str] | None, list[str]]:
    """The licence entry (catalog profile shape) and the constraint texts of the resource."""
    if ident is None:
        return None, []
    texts: list[str] = []
    urls: list[str] = []
    for cons in ident.xpath("./" + _ln("resourceConstraints") + "/*"):
        names = ("otherConstraints", "useLimitation", "licenseName", "reference")
        for node in cons.xpath(" | ".join(".//" + _ln(n) for n in names)):
            for anchor in node.xpath("descendant-or-self::*[local-name()='Anchor']"):
                href = anchor.get("{http://www.w3.org/1999/xlink}href")
                if href:
                    urls.append(href)
            value = _text(node)
            if value and value not in texts:
                texts.append(value)
        for node in cons.xpath(".//" + _ln("linkage") + " | .//" + _ln("licenseLink")):
            value = _text(node)
            if value:
                urls.append(value)
    urls += [u.rstrip(").,;") for t in texts for u in re.findall(r"https?://[^\s\"'<>]+", t)]
    found = find_licence(urls, texts)
    return (found[0].entry(found[1]) if found else None), texts


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _bbox(ident: etree._Element | None) -> tuple[float, float, float, float] | None:
    """The union of the resource's bounding boxes (the first one if any crosses the antimeridian)."""
    if ident is None:
        return None
    boxes = []
    for box in ident.xpath("./" + _ln("extent") + "//" + _ln("EX_GeographicBoundingBox")):
        values = [
            _float(_text(_first(box, "./" + _ln(n))))
            for n in ("westBoundLongitude", "southBoundLatitude", "eastBoundLongitude", "northBoundLatitude")
        ]
        if all(v is not None for v in values):
            boxes.append(tuple(float(v) for v in values if v is not None))
    if not boxes:
        return None
    if len(boxes) == 1 or any(b[0] > b[2] for b in boxes):
        w, s, e, n = boxes[0]
    else:
        w, s, e, n = (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
    return (w, s, e, n)


def _placeholder(value: str) -> bool:
    """Far-future dates catalogues write for "ongoing" (2999-12-31, 9999-01-01...)."""
    match = re.match(r"\s*(\d{4})", value)
    return match is not None and int(match.group(1)) >= 2999


def _position(period: etree._Element, plain: str, nested: str) -> str | None:
    """``gml:beginPosition`` or ``gml:begin/gml:TimeInstant/gml:timePosition`` text; ``None`` when open."""
    node = _first(period, "./" + _ln(plain))
    if node is None:
        node = _first(period, "./" + _ln(nested, "TimeInstant", "timePosition"))
    if node is None:
        return None
    text = (node.text or "").strip()
    if node.get("indeterminatePosition") in ("now", "unknown", "after") or not text or _placeholder(text):
        return None
    return text


def _temporal(ident: etree._Element | None) -> tuple[str | None, str | None] | None:
    if ident is None:
        return None
    extent = "./" + _ln("extent") + "//" + _ln("EX_TemporalExtent")
    period = _first(ident, extent + "//" + _ln("TimePeriod"))
    if period is None:
        instant = _first(ident, extent + "//" + _ln("TimeInstant", "timePosition"))
        value = _text(instant) if instant is not None else None
        return (value, value) if value else None
    begin = _position(period, "beginPosition", "begin")
    end = _position(period, "endPosition", "end")
    return (begin, end) if begin or end else None


def _select(root: etree._Element, source: str, record_id: str | None) -> etree._Element:
    """The one record of a response: by id when given; several without an id is an error."""
    found = _metadata_elements(root)
    if record_id is not None and len(found) > 1:
        matching = [md for md in found if _file_identifier(md) == record_id]
        if not matching:
            ids = ", ".join(str(_file_identifier(md)) for md in found[:10])
            raise RecordNotFound(
                f"the response holds {len(found)} records, none with id {record_id!r} (ids: {ids})",
                file=source,
                hint="check the record id",
            )
        return matching[0]
    if len(found) > 1:
        raise DataError(
            f"the response holds {len(found)} records; which one is meant is ambiguous",
            file=source,
            hint="give the record id (harvest --record-id, or metadata_source.record_id)",
        )
    if found:
        md = found[0]
        in_search = etree.QName(root).localname.startswith("GetRecords")
        if record_id is not None and in_search and _file_identifier(md) not in (record_id, None):
            raise RecordNotFound(f"the response has no record with id {record_id!r}", file=source)
        return md
    if etree.QName(root).localname in ("GetRecordByIdResponse", "GetRecordsResponse"):
        raise RecordNotFound(
            f"the catalogue has no such record ({source})",
            file=source,
            hint="the record may have been withdrawn; check the id",
        )
    raise DataError(
        f"no ISO 19115 metadata element (MD_Metadata / MI_Metadata) in a <{etree.QName(root).localname}> document",
        file=source,
        hint="request outputschema=http://www.isotc211.org/2005/gmd",
    )


def _file_identifier(md: etree._Element) -> str | None:
    return _text(_first(md, "./" + _ln("fileIdentifier"))) or _text(
        _first(md, "./" + _ln("metadataIdentifier") + "//" + _ln("code"))
    )


def parse_record(data: bytes, *, source: str = "<record>", record_id: str | None = None) -> IsoRecord:
    """Parse one ISO 19139 / 19115-2 / 19115-3 record (alone or in a CSW response).

    ``record_id`` selects the record in a response that holds several; a
    response with several records and no id is refused rather than read
    as its first record.
    """
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
    md = _select(root, source, record_id)
    namespace = etree.QName(md).namespace or ""
    standard = "ISO 19139"
    if "standards.iso.org/iso/19115/-3" in namespace:
        standard = "ISO 19115-3"
    elif etree.QName(md).localname == "MI_Metadata":
        standard = "ISO 19115-2"
    elif namespace != "http://www.isotc211.org/2005/gmd":
        standard = f"ISO 19139 profile ({etree.QName(md).localname} in {namespace})"
    ident = _ident(md)
    citation = "./" + _ln("citation") + "/*/"
    title = _text(_first(ident, citation + _ln("title"))) if ident is not None else None
    abstract = _text(_first(ident, "./" + _ln("abstract"))) if ident is not None else None
    keywords = []
    for block in ident.xpath(".//" + _ln("MD_Keywords")) if ident is not None else []:
        words = tuple(w for w in (_text(k) for k in block.xpath("./" + _ln("keyword"))) if w)
        thesaurus = _text(_first(block, "./" + _ln("thesaurusName") + "//" + _ln("title")))
        if words:
            keywords.append(Keywords(words, thesaurus))
    licence, constraints = _licence(ident)
    identifiers = tuple(
        v
        for v in (
            _text(n)
            for n in (ident.xpath(citation + _ln("identifier") + "//" + _ln("code")) if ident is not None else [])
        )
        if v
    )
    online = tuple(
        OnlineResource(
            url=url,
            name=_text(_first(res, "./" + _ln("name"))),
            protocol=_text(_first(res, "./" + _ln("protocol"))),
            description=_text(_first(res, "./" + _ln("description"))),
        )
        for res in md.xpath("./" + _ln("distributionInfo") + "//" + _ln("CI_OnlineResource"))
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
    if constraints and licence is None:
        warnings.append("no licence recognised in the record's constraints; set licenses by hand")
    return IsoRecord(
        file_identifier=_file_identifier(md),
        title=title,
        abstract=abstract,
        keywords=tuple(keywords),
        parties=tuple(_parties(md, ident)),
        licence=licence["name"] if licence else None,
        licence_url=licence["path"] if licence else None,
        licence_title=licence["title"] if licence else None,
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
    # One contributor per (name, role): ISO roles that map to the same role
    # (custodian and pointOfContact are both "maintainer") merge, keeping what each knew.
    contributors: dict[tuple[str, str], dict[str, Any]] = {}
    for party in record.parties:
        role = CONTRIBUTOR_ROLES.get(party.role, "contributor")
        entry = contributors.setdefault(
            (" ".join(party.name.split()).casefold(), role), {"title": party.name, "role": role}
        )
        if party.organisation and party.organisation != party.name:
            entry.setdefault("organization", party.organisation)
        if party.email:
            entry.setdefault("email", party.email)
        if party.url:
            entry.setdefault("path", party.url)
    contributors_list = list(contributors.values())
    if contributors_list:
        fields["contributors"] = contributors_list
    if record.licence and record.licence_url and record.licence_title:
        fields["licenses"] = [{"name": record.licence, "path": record.licence_url, "title": record.licence_title}]
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
