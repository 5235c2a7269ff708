"""ISO 19115 mapping on records shaped like real national catalogues' (NOAA 19115-2, Canadian HNAP,
Australian MCP, INSPIRE), a multi-record GetRecords response, and the ``harvest --record`` preview."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.catalog.layout import Catalog
from bot.catalog.schemas import SchemaRegistry
from bot.catalog.validate import validate_many
from bot.cli import main
from bot.errors import DataError, Severity
from bot.metadata.iso19115 import (
    IsoRecord,
    RecordNotFound,
    parse_record,
    providers_from_record,
    record_to_datapackage_fields,
)
from bot.metadata.iso_vocab import NAP_ROLES, role_code
from bot.pipeline.harvest import merge_datapackage

ISO = Path(__file__).parent / "fixtures" / "iso"
RECORDS = ("noaa-ncei-19115-2.xml", "hnap-canada.xml", "aodn-imos-mcp.xml", "inspire-de.xml")


def _record(name: str, record_id: str | None = None) -> IsoRecord:
    return parse_record((ISO / name).read_bytes(), source=name, record_id=record_id)


def _names(record: IsoRecord) -> set[str]:
    return {p.name for p in record.parties} | {p.organisation for p in record.parties if p.organisation}


def test_noaa_19115_2_record_is_read_with_only_the_resources_own_parties() -> None:
    record = _record("noaa-ncei-19115-2.xml")
    assert record.standard == "ISO 19115-2" and record.file_identifier == "gov.noaa.nodc:0214183"
    fields = record_to_datapackage_fields(record)
    assert [(c["title"], c["role"]) for c in fields["contributors"]] == [
        ("Rivera, Maria", "author"),  # citation PI, repeated as pointOfContact PI: once
        (
            "DOC/NOAA/NESDIS/NCEI > National Centers for Environmental Information, NESDIS, NOAA, U.S. "
            "Department of Commerce",
            "maintainer",
        ),  # identification pointOfContact = metadata contact: once
        ("Woods Hole Oceanographic Institution", "author"),
        ("US DOC; NOAA; NESDIS; National Centers for Environmental Information", "publisher"),
    ]
    # platform / instrument citations, projects, thesauri, the CRS authority: other things' parties
    for other in ("European Petroleum Survey Group", "National Science Foundation", "Sun, Charles",
                  "NASA Earth Science Data and Information System", "Sea-Bird Scientific",
                  "Office of Naval Research"):  # fmt: skip
        assert other not in _names(record)
    assert record.identifiers == ("0214183", "doi:10.25921/abcd-ef12")  # not the EPSG code
    assert fields["licenses"] == [
        {
            "name": "CC0-1.0",
            "path": "https://creativecommons.org/publicdomain/zero/1.0",
            "title": "Creative Commons Zero v1.0 Universal",
        }
    ]
    assert fields["temporal"] == {"start": "2019-06-02T00:00:00Z", "end": "2021-09-30T23:59:59Z"}
    assert fields["spatial"] == {"bbox": [-75.62, 35.04, -62.18, 42.77]}
    assert providers_from_record(record) == [
        {"name": "Woods Hole Oceanographic Institution", "roles": ["producer"]},
        {
            "name": "US DOC; NOAA; NESDIS; National Centers for Environmental Information",
            "roles": ["host"],
            "url": "https://www.ncei.noaa.gov/",
        },
    ]


def test_canadian_hnap_role_codes_placeholder_end_and_open_government_licence() -> None:
    record = _record("hnap-canada.xml")
    roles = {(p.name, p.role) for p in record.parties}
    assert roles == {
        ("Tremblay, Julie", "pointOfContact"),  # RI_414, in the identification and as metadata contact
        ("Chen, Wei", "principalInvestigator"),  # RI_415
        ("Government of Canada; Fisheries and Oceans Canada; Ocean Science Division", "resourceProvider"),  # RI_408
        ("Government of Canada; Fisheries and Oceans Canada", "custodian"),  # RI_409
        ("Government of Canada; Fisheries and Oceans Canada", "owner"),  # empty codeListValue: from "owner; ..."
    }
    assert "Gagnon, Pierre" not in _names(record)  # the parent programme's contact
    assert "Government of Canada; Library and Archives Canada" not in _names(record)  # the thesaurus's
    assert record.temporal == ("1999-01-01", None)  # 2999-12-31 = ongoing
    fields = record_to_datapackage_fields(record)
    assert fields["temporal"] == {"start": "1999-01-01T00:00:00Z", "end": None}
    assert fields["licenses"][0]["name"] == "OGL-Canada-2.0"
    assert fields["licenses"][0]["title"] == "Open Government Licence - Canada"
    assert fields["keywords"] == ["Oceanography", "Water temperature"]  # English, not the French free text


def test_australian_mcp_profile_root_commons_licence_and_two_boxes() -> None:
    record = _record("aodn-imos-mcp.xml")
    assert record.standard.startswith("ISO 19139 profile") and "mcp-2.0" in record.standard
    assert record.bbox == (113.4, -36.2, 153.6, -14.7)  # union of the two shelves
    assert record.temporal == ("2007-08-28T00:00:00Z", None)  # 9999-12-31 = ongoing
    fields = record_to_datapackage_fields(record)
    assert fields["licenses"] == [
        {
            "name": "CC-BY-4.0",
            "path": "http://creativecommons.org/licenses/by/4.0/",
            "title": "Creative Commons Attribution 4.0 International",
        }
    ]
    titles = [(c["title"], c["role"]) for c in fields["contributors"]]
    assert titles == [
        ("Australian National Mooring Network (ANMN)", "maintainer"),  # listed twice (one with a double space)
        ("Integrated Marine Observing System (IMOS)", "maintainer"),
        ("Morris, Brett", "author"),
        ("Integrated Marine Observing System (IMOS)", "publisher"),  # "Distributor" as text
    ]
    for other in ("Lynch, Tim", "Australian Ocean Data Network (AODN)", "International Association of Oil & Gas Producers"):  # fmt: skip
        assert other not in _names(record)


def test_inspire_record_licence_is_the_licence_not_the_access_anchor() -> None:
    record = _record("inspire-de.xml")
    fields = record_to_datapackage_fields(record)
    assert fields["licenses"] == [
        {
            "name": "DL-DE-BY-2.0",
            "path": "https://www.govdata.de/dl-de/by-2-0",
            "title": "Data licence Germany - attribution - version 2.0",
        }
    ]
    # pointOfContact + custodian of the same agency both map to "maintainer": one contributor, details merged
    assert fields["contributors"] == [
        {
            "title": "Bundesamt für Seeschifffahrt und Hydrographie (BSH)",
            "role": "maintainer",
            "email": "geodaten@bsh.example.de",
            "path": "https://www.bsh.example.de",
        }
    ]
    assert "Europäische Kommission" not in _names(record) and "European Environment Agency" not in _names(record)
    assert fields["keywords"] == ["Geologie", "Meeresregionen", "Sediment", "Nordsee"]
    assert fields["temporal"] == {"start": "2010-01-01T00:00:00Z", "end": None}


@pytest.mark.parametrize(("code", "role"), sorted(NAP_ROLES.items()))
def test_every_nap_role_code(code: str, role: str) -> None:
    assert role_code(code, "whatever; n'importe") == role


@pytest.mark.parametrize(
    ("value", "text", "role"),
    [
        ("pointOfContact", "pointOfContact", "pointOfContact"),
        (None, "Point of Contact", "pointOfContact"),
        ("", "custodian; conservateur", "custodian"),
        ("", "contact", "pointOfContact"),  # the French half alone
        ("principal_investigator", None, "principalInvestigator"),
        (None, "chef de projet", None),
    ],
)
def test_role_from_code_list_value_or_text(value: str | None, text: str | None, role: str | None) -> None:
    assert role_code(value, text) == role


def test_getrecords_response_selects_by_id_and_never_takes_the_first() -> None:
    record = _record("csw-getrecords.xml", "urn:x-wmo:md:au.gov.bom::ocean-sst-monthly")
    assert record.title == "Monthly sea surface temperature analysis" and record.bbox == (90, -60, 180, 10)
    with pytest.raises(DataError, match="holds 3 records") as info:
        _record("csw-getrecords.xml")
    assert "record id" in (info.value.hint or "")
    with pytest.raises(RecordNotFound, match=r"none with id 'urn:x-wmo:md:au\.gov\.bom::ocean-tides'"):
        _record("csw-getrecords.xml", "urn:x-wmo:md:au.gov.bom::ocean-tides")


def test_a_document_without_iso_metadata_names_its_root() -> None:
    with pytest.raises(DataError, match=r"no ISO 19115 metadata element .* <metadata> document"):
        parse_record(b"<metadata><idinfo><citation/></idinfo></metadata>", source="fgdc.xml")


def test_harvested_fields_pass_the_catalogs_own_check(example_catalog: Path, schemas_dir: Path) -> None:
    """A harvest PR's datapackage passes `validate` (profile shape of licences, contributors, extents).

    The one thing left to the curator: a record whose licence differs from the
    collection's hand-written one is reported as exactly that.
    """
    path = example_catalog / "datasets" / "reef-temperature" / "datapackage.json"
    current = json.loads(path.read_text(encoding="utf-8"))
    for name in RECORDS:
        record = _record(name)
        merged, source = merge_datapackage(current, record_to_datapackage_fields(record), None)
        assert source == "record"
        path.write_text(json.dumps(merged, indent=2, ensure_ascii=False), encoding="utf-8")
        problems = validate_many(
            Catalog.open(example_catalog), ["reef-temperature"], registry=SchemaRegistry(schemas_dir, None), processes=1
        )["reef-temperature"]
        errors = [p for p in problems if p.severity == Severity.ERROR]
        expected = [] if record.licence == "CC-BY-4.0" else ["licence-mismatch"]
        assert [p.code for p in errors] == expected, (name, [p.format() for p in errors])


# ---- the preview command ---------------------------------------------------------------------


def test_cli_record_preview_json(capsys: pytest.CaptureFixture[str]) -> None:
    main_ok(["harvest", "--record", str(ISO / "hnap-canada.xml"), "--json"])
    fields = json.loads(capsys.readouterr().out)
    assert fields == record_to_datapackage_fields(_record("hnap-canada.xml"))


def test_cli_record_preview_picks_by_id_or_fails(capsys: pytest.CaptureFixture[str]) -> None:
    target = str(ISO / "csw-getrecords.xml")
    main_ok(["harvest", "--record", target, "--record-id", "urn:x-wmo:md:au.gov.bom::ocean-waves", "--json"])
    assert json.loads(capsys.readouterr().out)["title"] == "Wave height forecasts (AUSWAVE)"
    with pytest.raises(SystemExit) as info:
        main(["harvest", "--record", target, "--json"])
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "holds 3 records" in captured.err


@pytest.fixture
def http_records() -> Iterator[str]:
    """The fixture records on a real HTTP server (loopback)."""
    handler = functools.partial(QuietHandler, directory=str(ISO))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


def test_cli_record_preview_from_a_url(http_records: str, capsys: pytest.CaptureFixture[str]) -> None:
    main_ok(["harvest", "--record", f"{http_records}/aodn-imos-mcp.xml"])
    out = capsys.readouterr().out
    assert "ISO 19139 profile" in out and "7e13b5f3-4a70-4e31-9e95-335efa491c5c" in out
    assert '"name": "CC-BY-4.0"' in out
    with pytest.raises(SystemExit) as info:
        main(["harvest", "--record", f"{http_records}/missing.xml", "--json"])
    assert info.value.code not in (0, None)
    assert "404" in capsys.readouterr().err


def main_ok(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code in (0, None)
