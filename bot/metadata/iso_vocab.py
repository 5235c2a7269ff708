"""Vocabularies for reading ISO 19115 records: role codes and licences.

Why a table module: records from national catalogues spell the same things
differently.  A role may come as ``codeListValue="pointOfContact"``, as the
element text ``Point of contact``, or -- in the Canadian North American
Profile (HNAP) -- as ``codeListValue="RI_414"`` with the text
``pointOfContact; contact``.  A licence may be an Anchor to a Creative
Commons URL, an MCP ``MD_Commons`` block, or free text naming the Open
Government Licence.  The mapping needs one canonical role (ISO
``CI_RoleCode``) and a licence in the catalog profile's shape: SPDX ``name``,
``path`` and ``title``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# ISO 19115 CI_RoleCode values (19115:2003 + the 19115-1 additions).
ISO_ROLES = (
    "resourceProvider",
    "custodian",
    "owner",
    "user",
    "distributor",
    "originator",
    "pointOfContact",
    "principalInvestigator",
    "processor",
    "publisher",
    "author",
    "sponsor",
    "coAuthor",
    "collaborator",
    "editor",
    "mediator",
    "rightsHolder",
    "contributor",
    "funder",
    "stakeholder",
)

# North American Profile (NAP, used by HNAP / the Government of Canada) CI_RoleCode
# identifiers: the eleven ISO 19115:2003 codes in order, then the four NAP additions.
NAP_ROLES = {
    "RI_408": "resourceProvider",
    "RI_409": "custodian",
    "RI_410": "owner",
    "RI_411": "user",
    "RI_412": "distributor",
    "RI_413": "originator",
    "RI_414": "pointOfContact",
    "RI_415": "principalInvestigator",
    "RI_416": "processor",
    "RI_417": "publisher",
    "RI_418": "author",
    "RI_419": "collaborator",
    "RI_420": "editor",
    "RI_421": "mediator",
    "RI_422": "rightsHolder",
}

# French labels of the NAP codes (HNAP records carry "english; français" texts).
_FRENCH_ROLES = {
    "fournisseurressource": "resourceProvider",
    "conservateur": "custodian",
    "propriétaire": "owner",
    "utilisateur": "user",
    "distributeur": "distributor",
    "créateur": "originator",
    "contact": "pointOfContact",
    "chercheurprincipal": "principalInvestigator",
    "traiteur": "processor",
    "éditeur": "publisher",
    "auteur": "author",
    "collaborateur": "collaborator",
    "réviseur": "editor",
    "médiateur": "mediator",
    "détenteurdroits": "rightsHolder",
}
_BY_FOLDED = {r.lower(): r for r in ISO_ROLES}


def _fold(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text).lower()


def role_code(code_list_value: str | None, text: str | None) -> str | None:
    """The ISO ``CI_RoleCode`` named by a role element (``None`` when neither part is a known role).

    ``codeListValue`` wins; then the element text, whose parts separated by
    ``;`` (NAP's "english; français") are tried in turn.  Case, spaces and
    underscores are ignored (``Point of Contact`` = ``pointOfContact``).
    """
    for candidate in (code_list_value, *(text or "").split(";")):
        if not candidate or not candidate.strip():
            continue
        value = candidate.strip()
        if value.upper() in NAP_ROLES:
            return NAP_ROLES[value.upper()]
        folded = _fold(value)
        if folded in _BY_FOLDED:
            return _BY_FOLDED[folded]
        if folded in _FRENCH_ROLES:
            return _FRENCH_ROLES[folded]
    return None


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


@dataclass(frozen=True)
class Licence:
    """One licence we can recognise, with what the catalog profile needs."""

    spdx: str
    title: str
    url: str
    url_fragments: tuple[str, ...]
    text: re.Pattern[str] | None = None

    def entry(self, path: str | None = None) -> dict[str, str]:
        """The ``licenses[]`` entry of a datapackage (``path``: the record's own link if it names this licence)."""
        return {"name": self.spdx, "path": path or self.url, "title": self.title}


_CC = "https://creativecommons.org/licenses/{}/"
# Order matters: the more specific licence (NC-SA before NC before BY) is tried first.
LICENCES: tuple[Licence, ...] = (
    Licence(
        "CC-BY-NC-SA-4.0",
        "Creative Commons Attribution Non Commercial Share Alike 4.0 International",
        _CC.format("by-nc-sa/4.0"),
        ("creativecommons.org/licenses/by-nc-sa/4.0",),
        re.compile(
            r"\bCC[- ]?BY[- ]?NC[- ]?SA[- ]?4\.0\b|attribution[- ]non[- ]?commercial[- ]share[- ]?alike 4\.0", re.I
        ),
    ),
    Licence(
        "CC-BY-NC-4.0",
        "Creative Commons Attribution Non Commercial 4.0 International",
        _CC.format("by-nc/4.0"),
        ("creativecommons.org/licenses/by-nc/4.0",),
        re.compile(r"\bCC[- ]?BY[- ]?NC[- ]?4\.0\b|attribution[- ]non[- ]?commercial 4\.0", re.I),
    ),
    Licence(
        "CC-BY-SA-4.0",
        "Creative Commons Attribution Share Alike 4.0 International",
        _CC.format("by-sa/4.0"),
        ("creativecommons.org/licenses/by-sa/4.0",),
        re.compile(r"\bCC[- ]?BY[- ]?SA[- ]?4\.0\b|attribution[- ]share[- ]?alike 4\.0", re.I),
    ),
    Licence(
        "CC-BY-4.0",
        "Creative Commons Attribution 4.0 International",
        _CC.format("by/4.0"),
        ("creativecommons.org/licenses/by/4.0",),
        re.compile(r"\bCC[- ]?BY[- ]?4\.0\b|attribution 4\.0", re.I),
    ),
    Licence(
        "CC-BY-3.0-AU",
        "Creative Commons Attribution 3.0 Australia",
        _CC.format("by/3.0/au"),
        ("creativecommons.org/licenses/by/3.0/au",),
        re.compile(r"\bCC[- ]?BY[- ]?3\.0[- ]?AU\b|attribution 3\.0 australia", re.I),
    ),
    Licence(
        "CC-BY-3.0",
        "Creative Commons Attribution 3.0 Unported",
        _CC.format("by/3.0"),
        ("creativecommons.org/licenses/by/3.0",),
        re.compile(r"\bCC[- ]?BY[- ]?3\.0\b|attribution 3\.0 unported", re.I),
    ),
    Licence(
        "CC0-1.0",
        "Creative Commons Zero v1.0 Universal",
        "https://creativecommons.org/publicdomain/zero/1.0/",
        ("creativecommons.org/publicdomain/zero/1.0",),
        re.compile(r"\bCC0\b|public domain dedication", re.I),
    ),
    Licence(
        "ODbL-1.0",
        "Open Data Commons Open Database License v1.0",
        "https://opendatacommons.org/licenses/odbl/1-0/",
        ("opendatacommons.org/licenses/odbl",),
        re.compile(r"\bODbL\b|open database licen[cs]e", re.I),
    ),
    Licence(
        "OGL-Canada-2.0",
        "Open Government Licence - Canada",
        "https://open.canada.ca/en/open-government-licence-canada",
        ("open.canada.ca/en/open-government-licence-canada", "ouvert.canada.ca/fr/licence-du-gouvernement-ouvert"),
        re.compile(r"open government licen[cs]e\s*[-\u2013]\s*canada|licence du gouvernement ouvert", re.I),
    ),
    Licence(
        "OGL-UK-3.0",
        "Open Government Licence v3.0",
        "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
        ("nationalarchives.gov.uk/doc/open-government-licence/version/3",),
        re.compile(r"open government licen[cs]e v(ersion )?3", re.I),
    ),
    Licence(
        "DL-DE-BY-2.0",
        "Data licence Germany - attribution - version 2.0",
        "https://www.govdata.de/dl-de/by-2-0",
        ("govdata.de/dl-de/by-2-0",),
        re.compile(r"\bdl-de/by-2-0\b|datenlizenz deutschland\W+namensnennung\W+version 2\.0", re.I),
    ),
    Licence(
        "etalab-2.0",
        "Etalab Open License 2.0",
        "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
        ("etalab.gouv.fr/licence-ouverte", "etalab-2.0"),
        re.compile(r"licence ouverte (v|version )?2\.0|etalab[- ]2\.0", re.I),
    ),
)


def find_licence(urls: list[str], texts: list[str]) -> tuple[Licence, str | None] | None:
    """The licence named by a record's links (preferred) or texts, with the link that named it."""
    for url in urls:
        folded = url.lower().replace("http://", "https://")
        for licence in LICENCES:
            if any(fragment in folded for fragment in licence.url_fragments):
                return licence, url
    for text in texts:
        for licence in LICENCES:
            if licence.text is not None and licence.text.search(text):
                return licence, None
    return None
