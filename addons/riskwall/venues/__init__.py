"""Venue adapters, one module per exchange, and the host → venue map the proxy routes by."""

from __future__ import annotations

import re

from riskwall.model import Decision, Reason, Venue, Verdict, Violation
from riskwall.venues.base import FieldError, HttpRequest, Rejection, VenueAdapter, screen
from riskwall.venues.binance_coinm import ADAPTER as BINANCE_COINM
from riskwall.venues.binance_usdm import ADAPTER as BINANCE_USDM
from riskwall.venues.bingx import ADAPTER as BINGX
from riskwall.venues.bitget import ADAPTER as BITGET
from riskwall.venues.bitmex import ADAPTER as BITMEX
from riskwall.venues.bybit import ADAPTER as BYBIT
from riskwall.venues.frames import FrameReader
from riskwall.venues.hosts import (
    HostMap,
    canonical_host,
    host_key,
    is_ip_literal,
    listen_address,
    split_host_port,
)
from riskwall.venues.okx import ADAPTER as OKX

ADAPTERS: dict[Venue, VenueAdapter] = {Venue.BINANCEUSDM: BINANCE_USDM, Venue.BYBIT: BYBIT,
                                       Venue.BITGET: BITGET, Venue.OKX: OKX}
# COIN-M owns dapi hosts; testnet.binancefuture.com stays binanceusdm's, which hands /dapi paths to this one
ADAPTERS[Venue.BINANCECOINM] = BINANCE_COINM
ADAPTERS[Venue.BINGX] = BINGX
ADAPTERS[Venue.BITMEX] = BITMEX


def _native_symbols() -> dict[Venue, re.Pattern[str]]:
    from riskwall.venues import binance_usdm, bingx, bitget, bitmex, bybit, okx

    return {Venue.BINANCEUSDM: binance_usdm.SYMBOL, Venue.BINANCECOINM: binance_usdm.SYMBOL, Venue.BYBIT: bybit.SYMBOL,
            Venue.OKX: okx.INST_ID, Venue.BITGET: bitget.SYMBOL, Venue.BINGX: bingx.SYMBOL, Venue.BITMEX: bitmex.SYMBOL}


NATIVE_SYMBOLS = _native_symbols()


def symbol_problem(venue: Venue, symbol: str) -> str | None:
    """Why `symbol` (upper-cased) cannot be one of the venue's own instrument ids, which a trading state's symbol
    scope is compared with (ccxt's BTC/USDT:USDT, another venue's BTC-USDT, a stray space: a halt of it would
    report HALTED and block nothing); None when it can."""
    if NATIVE_SYMBOLS[venue].fullmatch(symbol):
        return None
    return f"symbol must be {venue}'s own instrument id (as its orders name it, e.g. " \
           f"{_EXAMPLE_SYMBOLS[venue]}), not {symbol!r}"


_EXAMPLE_SYMBOLS = {Venue.BINANCEUSDM: "BTCUSDT", Venue.BINANCECOINM: "BTCUSD_PERP", Venue.BYBIT: "BTCUSDT",
                    Venue.OKX: "BTC-USDT-SWAP", Venue.BITGET: "BTCUSDT", Venue.BINGX: "BTC-USDT",
                    Venue.BITMEX: "XBTUSD"}


def _last_resort(adapter: VenueAdapter) -> Rejection:
    decision = Decision(Verdict.BLOCK, "fallback", "none",
                        (Violation("riskwall.internal", Reason.INTERNAL_ERROR),))
    return adapter.rejection(decision)


def _frames() -> dict[Venue, FrameReader]:
    # imported after the adapters: each reader builds on its venue's REST adapter
    from riskwall.venues.binance_frames import COINM_FRAMES, USDM_FRAMES
    from riskwall.venues.bybit_frames import BYBIT_FRAMES
    from riskwall.venues.okx_frames import OKX_FRAMES

    return {Venue.BINANCEUSDM: USDM_FRAMES, Venue.BINANCECOINM: COINM_FRAMES, Venue.BYBIT: BYBIT_FRAMES,
            Venue.OKX: OKX_FRAMES}


# The venues whose WebSocket order entry is read frame by frame (Bitget's and BingX's private sockets are not:
# their order sockets stay refused)
FRAMES: dict[Venue, FrameReader] = _frames()

# Each venue's answer for a block whose own rejection could not be built, made once at import: even then the
# bot must get its venue's error shape (a Binance body would read as a network error to pybit)
LAST_RESORT: dict[Venue, Rejection] = {venue: _last_resort(adapter) for venue, adapter in ADAPTERS.items()}


def default_host_map() -> HostMap:
    """Every venue's listed hosts, and its own domains for the hosts it does not list."""
    return HostMap(
        {host_key(host): adapter.venue for adapter in ADAPTERS.values() for host in adapter.default_hosts},
        tuple((canonical_host(domain), adapter.venue) for adapter in ADAPTERS.values() for domain in adapter.domains),
    )


def parse_venue_hosts(entries: list[str] | tuple[str, ...]) -> dict[str, Venue]:
    """`VENUE=HOST[:PORT]` entries (IPv6 hosts in brackets) → venue map keys."""
    mapping: dict[str, Venue] = {}
    for entry in entries:
        venue_name, sep, address = entry.partition("=")
        address = address.strip()
        if not sep or not address:
            raise ValueError(f"--venue-host {entry!r}: write VENUE=HOST[:PORT], e.g. binanceusdm=127.0.0.1:9001")
        try:
            host, port = split_host_port(address)
            mapping[host_key(host, port)] = parse_venue(venue_name)
        except ValueError as exc:
            raise ValueError(f"--venue-host {entry!r}: {exc}") from None
    return mapping


def adapter_for(venue: Venue) -> VenueAdapter:
    return ADAPTERS[venue]


def parse_venue(name: str) -> Venue:
    try:
        venue = Venue(name.strip().lower())
    except ValueError:
        raise ValueError(f"unknown venue {name!r}; one of: {', '.join(v.value for v in Venue)}") from None
    if venue not in ADAPTERS:
        supported = ", ".join(v.value for v in ADAPTERS)
        raise ValueError(f"venue {venue} has no adapter yet; supported: {supported}")
    return venue


__all__ = [
    "ADAPTERS",
    "FRAMES",
    "LAST_RESORT",
    "FieldError",
    "HostMap",
    "HttpRequest",
    "Rejection",
    "VenueAdapter",
    "adapter_for",
    "canonical_host",
    "default_host_map",
    "host_key",
    "is_ip_literal",
    "listen_address",
    "parse_venue",
    "parse_venue_hosts",
    "screen",
    "split_host_port",
]
