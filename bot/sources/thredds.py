"""THREDDS catalogs (``catalog.xml``): which datasets a ``thredds:`` source selects, and their URLs.

Pure: parsing and selection only; the catalog documents are fetched by the
HTTP source adapter (address rules, size cap) and parsed with the hardened
XML parser of :mod:`bot.metadata.iso19115` (no DTDs, no entities, no
network).

A dataset's URLs are the catalog URL joined with each service's ``base`` and
the dataset's ``urlPath`` (THREDDS InvCatalog 1.0); compound services are
flattened.  ``match`` is a regular expression searched in the dataset's
``urlPath`` (or name); ``since`` keeps datasets whose date (``modified``,
then any ``date``, then the time coverage start) is on or after it; a
dataset without any date is kept (nothing says it is old).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urljoin

from bot.errors import DataError
from bot.metadata.iso19115 import parse_xml

NS = "{http://www.unidata.ucar.edu/namespaces/thredds/InvCatalog/v1.0}"
XLINK = "{http://www.w3.org/1999/xlink}"
MAX_CATALOG_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ThreddsDataset:
    """One dataset of a catalog with its access URLs by service type (``HTTPServer``, ``OPeNDAP``...)."""

    name: str
    url_path: str
    urls: dict[str, str]
    date: date | None = None
    size: int | None = None

    @property
    def http_url(self) -> str | None:
        """The plain download URL (HTTPServer service), if the catalog offers one."""
        return self.urls.get("httpserver")


@dataclass(frozen=True)
class ParsedCatalog:
    """The datasets of one catalog document and the catalogs it refers to (absolute URLs)."""

    datasets: list[ThreddsDataset]
    refs: list[str]


def _services(root: Any, base_url: str) -> dict[str, dict[str, str]]:
    """Service name -> {service type (lower case): absolute base URL}, compound services flattened."""
    out: dict[str, dict[str, str]] = {}
    for service in root.iter(f"{NS}service"):
        name = service.get("name") or ""
        kind = (service.get("serviceType") or "").lower()
        children = [c for c in service if c.tag == f"{NS}service"]
        if kind == "compound" or children:
            for child in children:
                out.setdefault(name, {})[(child.get("serviceType") or "").lower()] = urljoin(
                    base_url, child.get("base") or ""
                )
        else:
            out.setdefault(name, {})[kind] = urljoin(base_url, service.get("base") or "")
    return out


def _date(node: Any) -> date | None:
    candidates = []
    for element in node.iter(f"{NS}date"):
        kind = element.get("type") or ""
        candidates.append((0 if kind == "modified" else 1, (element.text or "").strip()))
    for element in node.iter(f"{NS}start"):
        candidates.append((2, (element.text or "").strip()))
    for _, text in sorted(candidates):
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            continue
    return None


def parse_catalog(data: bytes, url: str) -> ParsedCatalog:
    """The datasets (with URLs) and catalogRefs of a ``catalog.xml`` served at ``url``."""
    root = parse_xml(data, source=url, max_bytes=MAX_CATALOG_BYTES)
    if root.tag != f"{NS}catalog":
        raise DataError(
            f"{url} is not a THREDDS catalog (root element {root.tag!r})",
            field="source.thredds.catalog",
            hint="point thredds.catalog at a catalog.xml (THREDDS InvCatalog 1.0)",
        )
    services = _services(root, url)
    datasets = []
    for node in root.iter(f"{NS}dataset"):
        url_path = node.get("urlPath")
        if not url_path:
            continue
        service_name = node.get("serviceName")
        if service_name is None:
            for parent in node.iterancestors(f"{NS}dataset"):
                meta = parent.find(f"{NS}metadata[@inherited='true']/{NS}serviceName")
                if meta is not None and meta.text:
                    service_name = meta.text.strip()
                    break
            own = node.find(f"{NS}serviceName")
            if own is not None and own.text:
                service_name = own.text.strip()
        bases = services.get(service_name or "", {}) if service_name else next(iter(services.values()), {})
        size_node = node.find(f"{NS}dataSize")
        size = None
        if size_node is not None and size_node.text:
            try:
                factor = {"bytes": 1, "kbytes": 1024, "mbytes": 1024**2, "gbytes": 1024**3}
                size = int(float(size_node.text) * factor.get((size_node.get("units") or "bytes").lower(), 1))
            except ValueError:
                size = None
        datasets.append(
            ThreddsDataset(
                name=node.get("name") or url_path,
                url_path=url_path,
                urls={
                    kind: base + url_path.lstrip("/") if base.endswith("/") else base + url_path
                    for kind, base in bases.items()
                },
                date=_date(node),
                size=size,
            )
        )
    refs = [
        urljoin(url, ref.get(f"{XLINK}href") or "") for ref in root.iter(f"{NS}catalogRef") if ref.get(f"{XLINK}href")
    ]
    return ParsedCatalog(datasets, refs)


def select(datasets: list[ThreddsDataset], match: str | None, since: date | None) -> list[ThreddsDataset]:
    """The datasets whose urlPath/name matches ``match`` and whose date is on/after ``since``, by urlPath."""
    pattern = re.compile(match) if match else None
    chosen = [
        d
        for d in datasets
        if (pattern is None or pattern.search(d.url_path) or pattern.search(d.name))
        and (since is None or d.date is None or d.date >= since)
    ]
    return sorted(chosen, key=lambda d: d.url_path)
