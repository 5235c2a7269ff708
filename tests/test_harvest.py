"""The harvester: ISO 19139 / 19115-3 parsing (hardened), the mapping, and harvests from a real pycsw."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from pathlib import Path

import pytest
import yaml
from lxml import etree

from bot.adapters.csw import MetadataSource
from bot.catalog.layout import Catalog
from bot.errors import DataError, ServiceError
from bot.metadata.iso19115 import (
    RecordNotFound,
    parse_record,
    providers_from_record,
    record_to_datapackage_fields,
)
from bot.pipeline.harvest import compare, harvest_all, issue_body_for_record, merge_datapackage
from tests.csw_server import PycswServer, mcf, write_record

REEF_BBOX = [145.46, -23.44, 151.92, -13.89]

ISO_19115_3 = b"""<?xml version="1.0" encoding="UTF-8"?>
<mdb:MD_Metadata xmlns:mdb="http://standards.iso.org/iso/19115/-3/mdb/2.0"
  xmlns:mcc="http://standards.iso.org/iso/19115/-3/mcc/1.0" xmlns:mri="http://standards.iso.org/iso/19115/-3/mri/1.0"
  xmlns:cit="http://standards.iso.org/iso/19115/-3/cit/2.0" xmlns:gco="http://standards.iso.org/iso/19115/-3/gco/1.0"
  xmlns:gex="http://standards.iso.org/iso/19115/-3/gex/1.0" xmlns:mco="http://standards.iso.org/iso/19115/-3/mco/1.0"
  xmlns:mrl="http://standards.iso.org/iso/19115/-3/mrl/2.0" xmlns:gml="http://www.opengis.net/gml/3.2"
  xmlns:gcx="http://standards.iso.org/iso/19115/-3/gcx/1.0" xmlns:xlink="http://www.w3.org/1999/xlink">
  <mdb:metadataIdentifier><mcc:MD_Identifier><mcc:code><gco:CharacterString>rec-19115-3</gco:CharacterString></mcc:code></mcc:MD_Identifier></mdb:metadataIdentifier>
  <mdb:identificationInfo><mri:MD_DataIdentification>
    <mri:citation><cit:CI_Citation><cit:title><gco:CharacterString>Seagrass extent</gco:CharacterString></cit:title></cit:CI_Citation></mri:citation>
    <mri:abstract><gco:CharacterString>Mapped seagrass meadows.</gco:CharacterString></mri:abstract>
    <mri:pointOfContact><cit:CI_Responsibility>
      <cit:role><cit:CI_RoleCode codeList="x" codeListValue="originator">originator</cit:CI_RoleCode></cit:role>
      <cit:party><cit:CI_Organisation><cit:name><gco:CharacterString>Seagrass Watch</gco:CharacterString></cit:name></cit:CI_Organisation></cit:party>
    </cit:CI_Responsibility></mri:pointOfContact>
    <mri:extent><gex:EX_Extent>
      <gex:geographicElement><gex:EX_GeographicBoundingBox>
        <gex:westBoundLongitude><gco:Decimal>142.5</gco:Decimal></gex:westBoundLongitude>
        <gex:eastBoundLongitude><gco:Decimal>153.1</gco:Decimal></gex:eastBoundLongitude>
        <gex:southBoundLatitude><gco:Decimal>-25.0</gco:Decimal></gex:southBoundLatitude>
        <gex:northBoundLatitude><gco:Decimal>-10.5</gco:Decimal></gex:northBoundLatitude>
      </gex:EX_GeographicBoundingBox></gex:geographicElement>
      <gex:temporalElement><gex:EX_TemporalExtent><gex:extent><gml:TimePeriod gml:id="t1">
        <gml:beginPosition>2019-06-01</gml:beginPosition><gml:endPosition indeterminatePosition="now"/>
      </gml:TimePeriod></gex:extent></gex:EX_TemporalExtent></gex:temporalElement>
    </gex:EX_Extent></mri:extent>
    <mri:descriptiveKeywords><mri:MD_Keywords>
      <mri:keyword><gcx:Anchor xlink:href="https://vocab.example.org/seagrass">seagrass</gcx:Anchor></mri:keyword>
      <mri:thesaurusName><cit:CI_Citation><cit:title><gco:CharacterString>Marine vocabulary</gco:CharacterString></cit:title></cit:CI_Citation></mri:thesaurusName>
    </mri:MD_Keywords></mri:descriptiveKeywords>
    <mri:resourceConstraints><mco:MD_LegalConstraints>
      <mco:otherConstraints><gcx:Anchor xlink:href="https://creativecommons.org/publicdomain/zero/1.0/">CC0</gcx:Anchor></mco:otherConstraints>
    </mco:MD_LegalConstraints></mri:resourceConstraints>
  </mri:MD_DataIdentification></mdb:identificationInfo>
  <mdb:resourceLineage><mrl:LI_Lineage><mrl:statement><gco:CharacterString>Field surveys.</gco:CharacterString></mrl:statement></mrl:LI_Lineage></mdb:resourceLineage>
</mdb:MD_Metadata>
"""


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real ISO 19139 records written by pygeometa."""
    out = tmp_path_factory.mktemp("records")
    write_record(
        mcf(
            "rec-reef",
            "Reef water temperature loggers",
            bbox=REEF_BBOX,
            begin="2024-01-01",
            end="2024-03-31",
            keywords=["ocean temperature", "coral reef"],
        ),
        out,
    )
    write_record(
        mcf("rec-sst", "Monthly sea surface temperature analysis", bbox=[142, -25, 157, -10], begin="2024-01-01"), out
    )
    # pygeometa needs an extent to render; drop it afterwards to get a record without one
    no_extent = write_record(mcf("rec-no-extent", "A record without extents", bbox=[0, 0, 1, 1]), out)
    tree = etree.fromstring(no_extent.read_bytes())
    for node in tree.xpath("//*[local-name()='extent' and *[local-name()='EX_Extent']]"):
        node.getparent().remove(node)
    no_extent.write_bytes(etree.tostring(tree))
    return out


@pytest.fixture(scope="module")
def csw(records: Path, tmp_path_factory: pytest.TempPathFactory):
    with PycswServer(tmp_path_factory.mktemp("pycsw")) as server:
        server.load(records)
        yield server


# ---- parsing and mapping (pure) -------------------------------------------------------------


def test_iso19139_record_maps_to_datapackage_fields(records: Path) -> None:
    record = parse_record((records / "rec-reef.xml").read_bytes(), source="rec-reef.xml")
    fields = record_to_datapackage_fields(record)
    assert fields["title"] == "Reef water temperature loggers"
    assert fields["keywords"] == ["ocean temperature", "coral reef"]
    assert record.keywords[0].thesaurus == "GCMD Science Keywords"
    assert fields["licenses"] == [
        {
            "name": "CC-BY-4.0",
            "path": "https://creativecommons.org/licenses/by/4.0/",
            "title": "Creative Commons Attribution 4.0 International",
        }
    ]
    assert fields["spatial"] == {"bbox": REEF_BBOX}
    assert fields["temporal"] == {"start": "2024-01-01T00:00:00Z", "end": "2024-03-31T00:00:00Z"}
    assert fields["lineage"] == "Loggers retrieved and QC'd yearly."
    assert {c["role"] for c in fields["contributors"]} == {"maintainer"}  # custodian + pointOfContact
    assert all("Petroleum" not in c["title"] for c in fields["contributors"])  # CRS authority is not a party
    assert record.online[0].url == "https://example.org/data/rec-reef"
    assert providers_from_record(record) == [
        {"name": "Reef Monitoring Laboratory", "roles": ["host"], "url": "https://example.org"}
    ]


def test_iso19115_3_record_with_anchors() -> None:
    record = parse_record(ISO_19115_3, source="seagrass.xml")
    assert record.standard == "ISO 19115-3"
    assert record.file_identifier == "rec-19115-3"
    assert record.licence == "CC0-1.0"  # from the gcx:Anchor href
    assert record.keywords[0].words == ("seagrass",) and record.keywords[0].thesaurus == "Marine vocabulary"
    assert record.bbox == (142.5, -25.0, 153.1, -10.5)
    assert record.temporal == ("2019-06-01", None)  # indeterminate "now" = open end
    assert record.parties[0].name == "Seagrass Watch" and record.parties[0].role == "originator"
    assert record.lineage == "Field surveys."


def test_malformed_xml_is_a_clear_error() -> None:
    with pytest.raises(DataError, match=r"bad\.xml.*malformed XML at line 1"):
        parse_record(b"<gmd:MD_Metadata><unclosed></gmd:MD_Metadata>", source="bad.xml")


def test_xml_bomb_and_external_entities_are_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><MD_Metadata>&lol2;</MD_Metadata>'
    xxe = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><MD_Metadata>&x;</MD_Metadata>'
    for doc in (bomb, xxe):
        with pytest.raises(DataError, match="DTD or entity"):
            parse_record(doc, source="evil.xml")


def test_huge_record_is_refused_by_size() -> None:
    huge = b"<MD_Metadata>" + b"<a>x</a>" * 400_000 + b"</MD_Metadata>"
    with pytest.raises(DataError, match="byte limit"):
        parse_record(huge, source="huge.xml")


def test_exception_report_is_an_error() -> None:
    report = (
        b'<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows" version="1.2.0">'
        b'<ows:Exception exceptionCode="InvalidParameterValue"><ows:ExceptionText>bad outputschema</ows:ExceptionText>'
        b"</ows:Exception></ows:ExceptionReport>"
    )
    with pytest.raises(DataError, match="exception: bad outputschema") as info:
        parse_record(report, source="csw")
    assert "InvalidParameterValue" in str(info.value)


def test_record_without_title_or_extent_is_flagged(records: Path) -> None:
    record = parse_record((records / "rec-no-extent.xml").read_bytes())
    assert "record has no spatial or temporal extent" in record.warnings
    assert "spatial" not in record_to_datapackage_fields(record)


def test_data_extents_win_over_the_record() -> None:
    current = {"name": "x", "title": "old", "spatial": {"bbox": [0, 0, 1, 1]}}
    fields = {
        "title": "new",
        "spatial": {"bbox": [10, 10, 20, 20]},
        "temporal": {"start": "2020-01-01T00:00:00Z", "end": None},
    }
    data = {
        "spatial": {"bbox": [1, 2, 3, 4]},
        "temporal": {"start": "2021-01-01T00:00:00Z", "end": "2021-12-31T00:00:00Z"},
    }
    merged, source = merge_datapackage(current, fields, data)
    assert source == "data" and merged["spatial"]["bbox"] == [1, 2, 3, 4] and merged["title"] == "new"
    assert merged["temporal"]["end"] == "2021-12-31T00:00:00Z"
    # data extents unknown (no check-extents in this run): the datapackage's own bbox is kept,
    # the record fills only what is missing
    merged, source = merge_datapackage(current, fields, None)
    assert source == "record" and merged["spatial"] == {"bbox": [0, 0, 1, 1]}
    assert merged["temporal"] == {"start": "2020-01-01T00:00:00Z", "end": None, "source": "record"}
    assert compare(merged, merged) == []


def test_issue_body_uses_the_issue_form_layout(records: Path) -> None:
    from bot.metadata.issue_form import parse_dataset_issue

    record = parse_record((records / "rec-reef.xml").read_bytes())
    body = issue_body_for_record(record, "rec-reef")
    request = parse_dataset_issue(body)
    assert request.fields["title"] == "Reef water temperature loggers"
    assert request.fields["spatial"]["bbox"] == REEF_BBOX
    assert "<!-- catalog-bot:record=rec-reef -->" in body


# ---- against the real pycsw ------------------------------------------------------------------


def _with_source(catalog_dir: Path, dataset: str, url: str, record_id: str) -> None:
    path = catalog_dir / "datasets" / dataset / "pipeline.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["metadata_source"] = {"kind": "csw", "url": url, "record_id": record_id}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def test_csw_get_record_and_missing_record(csw: PycswServer) -> None:
    source = MetadataSource(csw.url)
    record = parse_record(source.get_record("rec-sst"), source="rec-sst")
    assert record.title == "Monthly sea surface temperature analysis"
    with pytest.raises(RecordNotFound):
        parse_record(source.get_record("withdrawn-record"), source="withdrawn-record")
    assert source.search("surface temperature analysis") == ["rec-sst"]


def test_updater_detects_changes_then_nothing(example_catalog: Path, csw: PycswServer) -> None:
    _with_source(example_catalog, "reef-temperature", csw.url, "rec-reef")
    _with_source(example_catalog, "sea-surface-temperature", csw.url, "withdrawn-record")
    catalog = Catalog.open(example_catalog)
    chosen = [d for d in catalog.datasets() if d.pipeline().metadata_source]
    outcomes = {o.dataset: o for o in harvest_all(catalog, chosen, lambda url: MetadataSource(url))}
    reef = outcomes["reef-temperature"]
    assert reef.status == "changed" and reef.extent_source is None  # the datapackage's (data) extents are kept
    assert reef.datapackage is not None
    current = json.loads((example_catalog / "datasets" / "reef-temperature" / "datapackage.json").read_text())
    assert reef.datapackage["spatial"] == current["spatial"] and reef.datapackage["temporal"] == current["temporal"]
    assert any("/lineage" in c for c in reef.changes)
    assert not any("/spatial" in c or "/temporal" in c for c in reef.changes)
    assert outcomes["sea-surface-temperature"].status == "missing-record"
    # apply the regenerated datapackage (what merging the PR does): the next harvest finds nothing
    (example_catalog / "datasets" / "reef-temperature" / "datapackage.json").write_text(
        json.dumps(reef.datapackage, indent=2)
    )
    again = harvest_all(catalog, [catalog.dataset("reef-temperature")], lambda url: MetadataSource(url))
    assert again[0].status == "unchanged" and again[0].changes == []


def test_record_changed_between_harvests(
    example_catalog: Path, csw: PycswServer, records: Path, tmp_path: Path
) -> None:
    _with_source(example_catalog, "reef-temperature", csw.url, "rec-reef")
    catalog = Catalog.open(example_catalog)
    first = harvest_all(catalog, [catalog.dataset("reef-temperature")], lambda url: MetadataSource(url))[0]
    (example_catalog / "datasets" / "reef-temperature" / "datapackage.json").write_text(json.dumps(first.datapackage))
    changed_dir = tmp_path / "changed"
    shutil.copytree(records, changed_dir)
    write_record(
        mcf("rec-reef", "Reef water temperature loggers (v2)", bbox=REEF_BBOX, begin="2024-01-01", end="2024-06-30"),
        changed_dir,
    )
    csw.load(changed_dir)
    try:
        second = harvest_all(catalog, [catalog.dataset("reef-temperature")], lambda url: MetadataSource(url))[0]
        assert second.status == "changed"
        assert any("/title" in c and "(v2)" in c for c in second.changes)
        # the record's new end date does not replace the data-derived interval of the datapackage
        assert not any("/temporal" in c for c in second.changes)
    finally:
        csw.load(records)


def _silent_server() -> tuple[str, socket.socket]:
    """A server that accepts connections and never answers (a hung CSW)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    threading.Thread(target=lambda: [sock.accept() for _ in range(8)], daemon=True).start()
    return f"http://127.0.0.1:{sock.getsockname()[1]}/csw", sock


def test_down_or_slow_csw_fails_that_dataset_only(example_catalog: Path, csw: PycswServer) -> None:
    slow_url, sock = _silent_server()
    try:
        _with_source(example_catalog, "reef-temperature", csw.url, "rec-reef")
        _with_source(example_catalog, "sea-surface-temperature", slow_url, "rec-sst")
        _with_source(example_catalog, "marine-protected-areas", "http://127.0.0.1:9/csw", "rec-x")
        catalog = Catalog.open(example_catalog)
        outcomes = {
            o.dataset: o
            for o in harvest_all(catalog, catalog.datasets(), lambda url: MetadataSource(url, timeout=0.5, attempts=2))
        }
        assert outcomes["reef-temperature"].status == "changed"
        assert outcomes["sea-surface-temperature"].status == "error"
        assert "timed out" in outcomes["sea-surface-temperature"].error
        assert outcomes["marine-protected-areas"].status == "error"
        assert "cannot connect" in outcomes["marine-protected-areas"].error
    finally:
        sock.close()


def test_size_limit_applies_to_the_download(csw: PycswServer) -> None:
    with pytest.raises(ServiceError, match="larger than"):
        MetadataSource(csw.url, max_bytes=500).get_record("rec-reef")
