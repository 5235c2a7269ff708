"""What the bot remembers about each remote source: validators, size, retrieval time.

Why a record per source: conditional requests need the ``ETag`` /
``Last-Modified`` of the copy we hold, and the convert step's fingerprint
must change exactly when the remote did.  The record is also the provenance
that ends up in the STAC item and the datapackage.

Also here: :func:`check_content`, the cheap first-bytes check that turns an
HTML error page served with status 200 (a login wall, a proxy's "not found")
into a clear error instead of a confusing NetCDF/CSV parser failure.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Validators:
    """A remote object's identity as its server reports it (any may be unknown)."""

    etag: str | None = None
    last_modified: str | None = None
    size: int | None = None

    @property
    def known(self) -> bool:
        """True when the server gave something that identifies the version (ETag or Last-Modified)."""
        return bool(self.etag or self.last_modified)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (fingerprints, the source record)."""
        return asdict(self)


@dataclass(frozen=True)
class SourceRecord:
    """One fetched source: where from, the local copy, its validators, how it was obtained."""

    uri: str
    file: str
    validators: Validators = field(default_factory=Validators)
    retrieved: str | None = None
    sha256: str | None = None
    status: str = "downloaded"  # downloaded | not-modified | local
    bytes_transferred: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form written to ``<work>/.sources/manifest.json`` and ``convert/result.json``."""
        out = asdict(self)
        out["validators"] = self.validators.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceRecord:
        """Inverse of :meth:`to_dict` (unknown keys ignored: an older record still reads)."""
        validators = Validators(
            **{k: v for k, v in (data.get("validators") or {}).items() if k in Validators.__annotations__}
        )
        return cls(
            uri=str(data["uri"]),
            file=str(data["file"]),
            validators=validators,
            retrieved=data.get("retrieved"),
            sha256=data.get("sha256"),
            status=str(data.get("status") or "downloaded"),
            bytes_transferred=int(data.get("bytes_transferred") or 0),
        )


def local_name(uri: str, name: str) -> str:
    """File name of the local copy: a short hash of the URI (unique) + the remote name (keeps the suffix)."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[-80:] or "source"
    return f"{hashlib.sha256(uri.encode()).hexdigest()[:12]}-{safe}"


_NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")


def check_content(head: bytes, fmt: str, content_type: str | None = None) -> str | None:
    """Why the first bytes cannot be a ``fmt`` file (None when they can).

    Catches the common failure of remote data: a server that answers 200 with
    an HTML page (error, login, maintenance) instead of the file.
    """
    text = head.lstrip()[:200].lower()
    html = text.startswith((b"<!doctype html", b"<html")) or (
        content_type is not None and content_type.split(";")[0].strip().lower() == "text/html"
    )
    if fmt == "netcdf":
        if not head.startswith(_NETCDF_MAGIC):
            what = "an HTML page" if html else "not NetCDF (no CDF/HDF5 signature)"
            return f"the server returned {what} where a NetCDF file was expected"
        return None
    if fmt == "parquet":
        if not head.startswith(b"PAR1"):
            what = "an HTML page" if html else "not Parquet (no PAR1 signature)"
            return f"the server returned {what} where a Parquet file was expected"
        return None
    if html:
        return f"the server returned an HTML page where a {fmt} file was expected"
    if fmt == "geojson" and text and not text.startswith(b"{"):
        return "the server returned something that is not JSON where a GeoJSON file was expected"
    return None


def fingerprint_of(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The part of probe results that identifies a remote version (for the convert step's fingerprint)."""
    return [
        {"uri": r.get("uri"), **(r.get("validators") or {}), **({"error": r["error"]} if r.get("error") else {})}
        for r in records
    ]


def _remote(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("status") != "local" and "://" in str(r.get("uri", ""))]


def stac_source_links(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``via`` links of a STAC item for its remote sources: URI, ETag, size and retrieval time.

    Why links: ``via`` (IANA: "the source of the information") is what a STAC
    client understands without an extension; the extra fields are allowed
    by the core link schema.  Local sources are covered by the commit.
    """
    links = []
    for rec in _remote(records):
        validators = rec.get("validators") or {}
        link: dict[str, Any] = {"rel": "via", "href": rec["uri"], "title": "source data"}
        for key, value in (
            ("etag", validators.get("etag")),
            ("last_modified", validators.get("last_modified")),
            ("size", validators.get("size")),
            ("retrieved", rec.get("retrieved")),
        ):
            if value is not None:
                link[key] = value
        links.append(link)
    return links


def datapackage_sources(records: list[dict[str, Any]], curated: list[Any] | None = None) -> list[dict[str, Any]]:
    """The datapackage ``sources``: the curated ones, then each remote source (by URI, once).

    Frictionless ``path`` only accepts http(s)/ftp URLs or relative paths, so
    an ``s3://`` URI goes into ``title``; the ETag (or Last-Modified) is the
    source's ``version``.
    """
    out = [dict(s) for s in (curated or []) if isinstance(s, dict)]
    seen = {s.get("path") or s.get("title") for s in out}
    for rec in _remote(records):
        uri = str(rec["uri"])
        if uri in seen:
            continue
        validators = rec.get("validators") or {}
        entry: dict[str, Any] = {"title": f"source data ({uri})" if uri.startswith("s3://") else "source data"}
        if uri.startswith(("http://", "https://")):
            entry["path"] = uri
        version = validators.get("etag") or validators.get("last_modified")
        if version:
            entry["version"] = str(version)
        out.append(entry)
        seen.add(uri)
    return out
