"""Which venue a host name belongs to, with every spelling of a host reduced to one.

A venue must not be reachable under another name: `LOCALHOST`, `127.1`, `2130706433`, `[::ffff:127.0.0.1]`,
`fapi.binance.com.` and a fullwidth `ｆａｐｉ.binance.com` all reach the same server as their plain spelling, so
they are compared in that plain spelling (`canonical_host`) everywhere hosts are compared: the venue map,
the egress allowlist and `--venue-host`. A host under a venue's own domain that its adapter does not list
(`fapi2.binance.com`) is still that venue's: its reads pass and what the adapter does not understand is refused.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from riskwall.model import Venue

# RFC 6761: these names are the loopback host whatever a resolver says
_LOOPBACK_NAMES = ("localhost",)
_NUMERIC = frozenset("0123456789abcdefx.")


def canonical_host(host: str) -> str:
    """The one spelling of a host: lower case, no trailing dot or brackets, IDNA (ASCII), IP addresses in their
    standard form (short, integer, octal and hex IPv4 as inet_aton reads them; IPv4-mapped IPv6 as IPv4; the
    unspecified address as loopback, where a connection to it goes)."""
    text = host.strip().lower().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text.isascii():
        try:
            # nameprep maps look-alikes (fullwidth letters, compatibility forms) onto what DNS will resolve
            text = text.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return text
    address = _ip_address(text)
    if address is not None:
        if address.is_unspecified:  # a connection to 0.0.0.0 (or ::) reaches this host itself, as loopback does
            return "127.0.0.1" if address.version == 4 else "::1"
        return str(address)
    if text in _LOOPBACK_NAMES or text.endswith(".localhost"):
        return "127.0.0.1"
    return text


def _ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if ":" in text:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return address.ipv4_mapped
        return address
    if text and set(text) <= _NUMERIC and text[0].isdigit():
        try:
            # the resolver's own reading: 127.1, 2130706433, 0x7f.1, 0177.0.0.1
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def is_ip_literal(host: str) -> bool:
    return _ip_address(canonical_host(host)) is not None


def host_key(host: str, port: int | None = None) -> str:
    """The key of a host (and port) in host maps and allowlists, in its canonical spelling."""
    host = canonical_host(host)
    return f"{host}|{port}" if port is not None else host


def split_host_port(address: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]` or `[v6]:port` → (host, port or None); a bare IPv6 address has no port."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif address.count(":") == 1:
        host, _, port_text = address.partition(":")
    else:  # a bare host, or a bare IPv6 address
        host, port_text = address, ""
    if port_text and not port_text.isdigit():
        raise ValueError(f"{address!r}: the port must be a number")
    return host, int(port_text) if port_text else None


def listen_address(address: str, option: str) -> tuple[str, int]:
    """A `HOST:PORT` (or `[v6]:PORT`, or `:PORT` for loopback) to listen on; ValueError naming `option` else."""
    try:
        host, port = split_host_port(address.strip())
    except ValueError:
        port = None
    if port is None or port > 65535:
        raise ValueError(f"{option} {address!r}: write HOST:PORT, e.g. 127.0.0.1:8080 ([::1]:8080 for IPv6)")
    return host or "127.0.0.1", port


@dataclass(frozen=True, slots=True)
class HostMap:
    """Host (and port) → venue, plus each venue's own domains for hosts not listed one by one."""

    exact: Mapping[str, Venue] = field(default_factory=dict)
    domains: tuple[tuple[str, Venue], ...] = ()

    def __or__(self, other: Mapping[str, Venue]) -> HostMap:
        """This map with `other`'s entries (keys made by `host_key`) added; they win over listed hosts."""
        return HostMap({**self.exact, **other}, self.domains)

    def venue(self, host: str, port: int | None = None) -> Venue | None:
        name = canonical_host(host)
        if port is not None:
            found = self.exact.get(f"{name}|{port}")
            if found is not None:
                return found
        found = self.exact.get(name)
        if found is not None:
            return found
        for domain, venue in self.domains:
            if name == domain or name.endswith("." + domain):
                return venue
        return None

    def ip_entries(self) -> dict[tuple[str, int | None], Venue]:
        """Entries that name an IP address (`--venue-host binanceusdm=127.0.0.1:9001`): a connection that ends
        at one of them belongs to that venue whatever name it was opened under."""
        entries: dict[tuple[str, int | None], Venue] = {}
        for key, venue in self.exact.items():
            host, _, port = key.partition("|")
            if _ip_address(host) is not None:
                entries[(host, int(port) if port else None)] = venue
        return entries


# the header a venue takes to send a request on its own host to its demo book ("1"; absent or "0": live): only
# its own counts, a venue ignores any other (OKX reads no `paptrading`, Binance neither)
DEMO_HEADERS: Mapping[Venue, str] = {Venue.OKX: "x-simulated-trading", Venue.BITGET: "paptrading"}
UNKNOWN_ENVIRONMENT = "unknown"


def environment_of(venue: Venue, host: str, headers: Mapping[str, str], *, handshake: bool = False) -> str:
    """The environment of `venue` a request to `host` with `headers` reaches: "" for production, "testnet" or
    "demo" for the books venues keep apart for trying things (their own orders, positions and prices):
    Binance's testnet (binancefuture.com) and demo hosts, Bybit's api-testnet and api-demo, OKX's and Bitget's
    demo sockets (wspap) and their demo headers, BingX's VST hosts, BitMEX's testnet. The venue's own demo
    header with any value but "0" or "1" is UNKNOWN_ENVIRONMENT: which book the venue sends it to cannot be
    told. So is the header on a WebSocket `handshake` to a live host: the venues name their demo sockets by
    host, and what a live socket does with the header is nowhere written (a live key would trade live on it)."""
    environment = _host_environment(host)
    header = DEMO_HEADERS.get(venue)
    value = headers.get(header) if header is not None else None
    if value is None or value.strip() == "0":
        return environment
    if value.strip() != "1" or (handshake and not environment):
        return UNKNOWN_ENVIRONMENT
    return environment or "demo"


@functools.lru_cache(maxsize=256)
def _host_environment(host: str) -> str:
    """`environment_of` by the host alone: asked on every request, of the few hosts a sidecar talks to."""
    name = canonical_host(host)
    labels = name.split(".")
    if name.endswith("binancefuture.com") or any("testnet" in label for label in labels):
        return "testnet"
    if any("demo" in label or "vst" in label or (label.startswith("ws") and label.endswith("pap")) for label in labels):
        return "demo"
    return ""

