"""A real CSW server for the harvester tests: pycsw on loopback, records made with pygeometa.

pycsw 2.6.2 pins OWSLib < 0.29 and breaks on SQLAlchemy 2, so it lives in
its own virtual environment (``.venv-services/pycsw``), created on first use
(``python -m tests.csw_server --install`` pre-installs it; ``scripts/test.sh``
does).  Records are written as MCF YAML, turned into ISO 19139 by the real
``pygeometa`` and loaded into pycsw's SQLite repository with
``pycsw-admin.py``; pycsw reads its repository per request, so a reload shows
changed records without a restart.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".venv-services" / "pycsw"
# setuptools: pycsw 2.6 imports pkg_resources, which a uv-made environment does not bring (pip's venv did).
PACKAGES = ["pycsw==2.6.2", "SQLAlchemy<2", "OWSLib==0.28.1", "pygeometa==0.19.0", "gunicorn", "setuptools<81"]


def ensure_venv() -> Path:
    """Create the pycsw virtual environment unless it is there with exactly these pins (idempotent)."""
    marker = VENV / ".installed"
    if marker.exists() and marker.read_text() == "\n".join(PACKAGES):
        return VENV
    from tests.services import load_dev_module

    load_dev_module().install_into(VENV, PACKAGES)  # uv when available, else pip (scripts/devsvc/install.py)
    marker.write_text("\n".join(PACKAGES))
    return VENV


def mcf(identifier: str, title: str, *, abstract: str = "", bbox: list[float] | None = None, begin: str | None = None,
        end: str | None = None, keywords: list[str] | None = None, licence: str = "CC-BY-4.0",
        licence_url: str = "https://creativecommons.org/licenses/by/4.0/", organisation: str = "Reef Monitoring Laboratory",
        email: str = "data@example.org", lineage: str = "Loggers retrieved and QC'd yearly.") -> dict[str, Any]:  # fmt: skip
    """A pygeometa MCF document for a dataset record (title may be '' to test missing titles)."""
    ident: dict[str, Any] = {
        "language": "en",
        "charset": "utf8",
        "title": title,
        "abstract": abstract or f"Abstract of {title}",
        "dates": {"creation": "2024-01-01"},
        "keywords": {
            "default": {
                "keywords": keywords or ["ocean temperature"],
                "keywords_type": "theme",
                "vocabulary": {"name": "GCMD Science Keywords", "url": "https://gcmd.earthdata.nasa.gov/kms"},
            }
        },
        "topiccategory": ["oceans"],
        "extents": {"spatial": [], "temporal": []},
        "fees": "None",
        "accessconstraints": "otherRestrictions",
        "license": {"name": licence, "url": licence_url},
        "rights": "Attribution required",
        "url": "https://example.org/datasets/" + identifier,
        "status": "onGoing",
        "maintenancefrequency": "continual",
    }
    if bbox:
        ident["extents"]["spatial"] = [{"bbox": bbox, "crs": 4326}]
    if begin:
        ident["extents"]["temporal"] = [{"begin": begin, "end": end or "now"}]
    contact = {
        "organization": organisation,
        "url": "https://example.org",
        "individualname": "A. Diver",
        "positionname": "Data manager",
        "email": email,
        "contactinstructions": "email",
    }
    return {
        "mcf": {"version": 1.0},
        "metadata": {
            "identifier": identifier,
            "language": "en",
            "charset": "utf8",
            "hierarchylevel": "dataset",
            "datestamp": "2024-05-01",
        },
        "spatial": {"datatype": "vector", "geomtype": "point"},
        "identification": ident,
        "contact": {"pointOfContact": contact, "custodian": contact},
        "distribution": {
            "web": {
                "url": f"https://example.org/data/{identifier}",
                "type": "WWW:LINK",
                "name": "data",
                "description": "download",
                "function": "download",
            }
        },
        "dataquality": {"scope": {"level": "dataset"}, "lineage": {"statement": lineage}},
    }


def write_record(doc: dict[str, Any], out_dir: Path) -> Path:
    """MCF -> ISO 19139 XML with the real pygeometa; returns the XML path."""
    ensure_venv()
    out_dir.mkdir(parents=True, exist_ok=True)
    ident = doc["metadata"]["identifier"]
    yml = out_dir / f"{ident}.yml.src"
    yml.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    xml = out_dir / f"{ident}.xml"
    subprocess.run(
        [
            str(VENV / "bin" / "pygeometa"),
            "metadata",
            "generate",
            str(yml),
            "--schema",
            "iso19139",
            "--output",
            str(xml),
        ],
        check=True,
        capture_output=True,
    )
    yml.unlink()
    return xml


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIG = """[server]
home={home}
url={url}
mimetype=application/xml; charset=UTF-8
encoding=UTF-8
language=en-US
maxrecords=1000
loglevel=WARNING
logfile={home}/pycsw.log
pretty_print=false
federatedcatalogues=
profiles=apiso

[manager]
transactions=false
allowed_ips=127.0.0.1

[metadata:main]
identification_title=catalog-bot test CSW
identification_abstract=pycsw for the harvester tests
identification_keywords=test
identification_keywords_type=theme
identification_fees=None
identification_accessconstraints=None
provider_name=catalog-bot
provider_url=https://example.org
contact_name=Test
contact_position=Test
contact_address=None
contact_city=None
contact_stateorprovince=None
contact_postalcode=None
contact_country=None
contact_phone=None
contact_fax=None
contact_email=test@example.org
contact_url=https://example.org
contact_hours=None
contact_instructions=None
contact_role=pointOfContact

[repository]
database=sqlite:///{home}/records.db
table=records

[metadata:inspire]
enabled=false
languages_supported=eng
default_language=eng
date=2024-01-01
gemet_keywords=Oceanographic geographical features
conformity_service=notEvaluated
contact_name=Test
contact_email=test@example.org
temp_extent=2024-01-01/2024-12-31
"""


class PycswServer:
    """pycsw served by gunicorn on a free loopback port, with a records folder to (re)load."""

    def __init__(self, home: Path, *, workers: int = 2, threads: int = 4) -> None:
        ensure_venv()
        self.workers = workers
        self.threads = threads
        self.home = home
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/csw"
        self.config = home / "pycsw.cfg"
        self.config.write_text(CONFIG.format(home=home, url=self.url), encoding="utf-8")
        self._proc: subprocess.Popen[bytes] | None = None
        self._admin("setup_db")

    def _admin(self, command: str, *args: str) -> None:
        subprocess.run(
            [
                str(VENV / "bin" / "python"),
                str(VENV / "bin" / "pycsw-admin.py"),
                "-c",
                command,
                "-f",
                str(self.config),
                *args,
            ],
            check=True,
            capture_output=True,
            cwd=self.home,
        )

    def load(self, records_dir: Path) -> None:
        """(Re)load every XML record in ``records_dir`` (replacing existing ones)."""
        self._admin("load_records", "-p", str(records_dir), "-y")

    def __enter__(self) -> PycswServer:
        env = {"PYCSW_CONFIG": str(self.config), "PATH": str(VENV / "bin")}
        self._proc = subprocess.Popen(
            [
                str(VENV / "bin" / "gunicorn"),
                "--no-control-socket",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{self.port}",
                "pycsw.wsgi:application",
            ],
            env=env,
            cwd=self.home,
            stdout=subprocess.DEVNULL,
            stderr=(self.home / "gunicorn.log").open("wb"),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"pycsw exited: {(self.home / 'gunicorn.log').read_text()[-2000:]}")
            try:
                if (
                    httpx.get(self.url, params={"service": "CSW", "request": "GetCapabilities"}, timeout=2).status_code
                    == 200
                ):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("pycsw did not become ready in 30 s")

    def __exit__(self, *exc: object) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()


if __name__ == "__main__":
    if "--install" in sys.argv:
        print(f"pycsw environment ready at {ensure_venv()}")
