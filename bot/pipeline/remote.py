"""Remote sources read once, outside a publish: the reader ``dataset new`` is given.

Why here: fetching needs the network adapters (HTTP, S3, the address guard),
which the pure convert layer must not import; the rules are the same ones
``publish`` applies (``network.allow``, size and time limits, retries).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from bot.catalog.layout import Catalog
from bot.errors import UsageError


class CatalogRemoteReader:
    """Reads URI sources under ``catalog``'s network rules (a :class:`bot.convert.new.RemoteReader`)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def fetch(self, uri: str, fmt: str, folder: Path, endpoint_url: str | None, anonymous: bool) -> Path:
        """One copy of ``uri`` in ``folder``, read as ``publish`` reads it (address rules, limits, retries)."""
        from bot.adapters.http_probe import AddressGuard
        from bot.adapters.http_source import HttpSource
        from bot.adapters.s3_source import S3Source
        from bot.pipeline.sources import limits_of
        from bot.sources.addresses import AllowList

        network = self.catalog.config.network
        guard = AddressGuard(AllowList.parse(network.allow))
        limits = limits_of(network)
        dest = folder / (Path(urlsplit(uri).path).name or "source")
        if uri.startswith("s3://"):
            S3Source.open(guard, limits, endpoint_url=endpoint_url, anonymous=anonymous, uri=uri).fetch(uri, dest, fmt)
        else:
            http = HttpSource(guard, limits)
            try:
                http.fetch(uri, dest, fmt)
            finally:
                http.close()
        return dest

    def check_opendap(self, url: str) -> str:
        """An http(s) OPeNDAP URL whose host the address rules allow (checked before netCDF-C connects)."""
        from bot.adapters.http_probe import AddressGuard
        from bot.sources.addresses import AllowList

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(
                f"{url} is not an http(s) OPeNDAP URL", hint="pass the dataset's OPeNDAP URL with --opendap"
            )
        guard = AddressGuard(AllowList.parse(self.catalog.config.network.allow))
        guard.check(url, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        return url
