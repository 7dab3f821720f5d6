"""Venue adapters, one module per exchange, and the host → venue map the proxy routes by."""

from __future__ import annotations

from riskwall.model import Venue
from riskwall.venues.base import FieldError, HttpRequest, Rejection, VenueAdapter
from riskwall.venues.binance_usdm import ADAPTER as BINANCE_USDM

ADAPTERS: dict[Venue, VenueAdapter] = {Venue.BINANCEUSDM: BINANCE_USDM}


def default_host_map() -> dict[str, Venue]:
    return {host: adapter.venue for adapter in ADAPTERS.values() for host in adapter.default_hosts}


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
    "FieldError",
    "HttpRequest",
    "Rejection",
    "VenueAdapter",
    "adapter_for",
    "default_host_map",
    "parse_venue",
]
