"""Address rules for remote sources: no loopback, link-local or private targets unless allow-listed.

Why: a pull request writes ``source.path``.  Without these rules it could make
the bot fetch a cloud metadata endpoint (``http://169.254.169.254/...``, which
hands out credentials) or an internal service behind the firewall, and read
the answer back through the published data.  The check runs on the
addresses a host name *resolves to* (so ``internal.example`` pointing at
``10.0.0.5`` is refused as well) and again on every redirect hop.

``catalog-bot.yaml`` ``network.allow`` opens specific names, addresses or
networks (``localhost``, ``127.0.0.1``, ``10.20.0.0/16``).  The example
catalog allow-lists loopback so that the dev services and tests work.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

import msgspec

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressRefused(ValueError):
    """The host is not allowed; the message names host, address and the fix."""


class AllowList(msgspec.Struct, frozen=True):  # a struct: cheaper to create at import than a dataclass
    """Host names and networks that may be non-public (from ``network.allow``)."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """``localhost``, ``127.0.0.1``, ``::1``, ``10.0.0.0/8`` ... (raises ``ValueError`` on a bad network)."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower().strip("[]")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if "/" in entry:
                    raise ValueError(f"network.allow entry {raw!r} is not a valid network (e.g. 10.0.0.0/8)") from None
                hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        """True when ``host`` is listed by name."""
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        """True when ``address`` is inside a listed network."""
        return any(address.version == net.version and address in net for net in self.networks)


def _plain(address: IPAddress) -> IPAddress:
    """IPv4-mapped IPv6 (``::ffff:127.0.0.1``) is the IPv4 address it maps."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_class(address: IPAddress) -> str | None:
    """Why ``address`` is not public (``loopback``, ``link-local``, ``private``...), or None if it is."""
    address = _plain(address)
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified:
        return "unspecified"
    if address.is_private:
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


def check_addresses(host: str, addresses: Sequence[str], allow: AllowList) -> None:
    """Raise :class:`AddressRefused` unless every address of ``host`` is public or allow-listed."""
    if not addresses:
        raise AddressRefused(f"host {host!r} did not resolve to any address; check the host name")
    if allow.allows_host(host):
        return
    for text in addresses:
        address = _plain(ipaddress.ip_address(text.split("%", 1)[0]))
        why = address_class(address)
        if why is None or allow.allows_address(address):
            continue
        shown = host if host == str(address) else f"{host!r} ({address})"
        raise AddressRefused(
            f"host {shown} is a {why} address; remote sources may only reach public hosts "
            f"(add {host!r} or {address} to network.allow in catalog-bot.yaml only if this host is meant to be reached)"
        )
