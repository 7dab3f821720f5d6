"""Factories for the real, unmodified OKX clients that play the trading bot in tests: ccxt.okx (sync) and
python-okx (`okx.Trade.TradeAPI` and friends, httpx with HTTP/2).

Two wirings each, matching the ways a bot reaches the firewall (README, "Routing a bot through the sidecar"):

- explicit proxy: the client keeps the venue's own HTTPS URL and sends everything through the sidecar's proxy
  port, trusting the sidecar's CA;
- reverse listener: the client's base URL is the sidecar's plain-HTTP listener for okx.

ccxt.okx: every REST call builds its URL from `urls['api']['rest']` (a bare origin; `sign()` appends
`/api/v5/...`), so one override wires it. CA trust uses `tests.support.ccxt_bots.trust_ca` (a transport adapter
on the bot's own session; ccxt discards a CA path given as `verify`). With keys, `load_markets()` first calls
`GET /api/v5/asset/currencies`, then `GET /api/v5/public/instruments` for SPOT, FUTURES, SWAP and OPTION (one per
default underlying) — all reads, so they pass the firewall, which learns contract values from them.

python-okx (0.4.4, `okx/okxclient.py`): `domain=` is httpx's `base_url`, `proxy=` httpx's proxy, `flag='0'` live
trading (it sends `x-simulated-trading: 0`). It builds its TLS context when the client is constructed, from
httpx's defaults: with `trust_env` (always on) the file in `SSL_CERT_FILE`, else certifi. So the explicit-proxy
factory sets `SSL_CERT_FILE` to the sidecar's CA only for the duration of the constructor. python-okx never
raises on an OKX business error: every call returns the answer's JSON (`{"code": ..., "data": [...]}`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ccxt
from tests.support.ccxt_bots import trust_ca

__all__ = ["make_okx", "proxied_okx", "proxied_sdk", "reverse_okx", "reverse_sdk"]

DEFAULT_TIMEOUT_MS = 10_000


def make_okx(base_url: str, *, api_key: str, secret: str, passphrase: str, ca_file: str | Path | None = None,
             https_proxy: str | None = None, options: Mapping[str, Any] | None = None) -> ccxt.okx:
    """The one place a ccxt.okx test bot is built."""
    exchange = ccxt.okx({
        "apiKey": api_key,
        "secret": secret,
        "password": passphrase,
        "enableRateLimit": False,
        "timeout": DEFAULT_TIMEOUT_MS,
        "options": dict(options or {}),
    })
    exchange.urls["api"]["rest"] = base_url.rstrip("/")
    if ca_file is not None:
        trust_ca(exchange, ca_file)
    if https_proxy is not None:
        exchange.https_proxy = https_proxy  # the setting sync ccxt applies to https:// targets (docs/venues.md §8)
    return exchange


def proxied_okx(venue_url: str, proxy_url: str, ca_file: str | Path, **kwargs: Any) -> ccxt.okx:
    if not venue_url.startswith("https://"):
        raise ValueError("explicit-proxy wiring is for HTTPS venues (the proxy intercepts TLS)")
    return make_okx(venue_url, ca_file=ca_file, https_proxy=proxy_url, **kwargs)


def reverse_okx(listener_url: str, **kwargs: Any) -> ccxt.okx:
    if not listener_url.startswith("http://"):
        raise ValueError("reverse-listener wiring is plain HTTP")
    return make_okx(listener_url, **kwargs)


@contextmanager
def _ca_bundle(ca_file: str | Path) -> Iterator[None]:
    previous = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(ca_file)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = previous


# every python-okx client built here (an httpx.Client, with its sockets): `close_sdks` closes them
_OPEN_SDKS: list[Any] = []


def close_sdks() -> None:
    while _OPEN_SDKS:
        _OPEN_SDKS.pop().close()


def proxied_sdk[Client](api_class: type[Client], venue_url: str, proxy_url: str, ca_file: str | Path, *, api_key: str,
                secret: str, passphrase: str) -> Client:
    """A python-okx API class (TradeAPI, AccountAPI, FundingAPI, ...) through the explicit proxy."""
    with _ca_bundle(ca_file):
        client = api_class(api_key, secret, passphrase, flag="0", domain=venue_url, proxy=proxy_url)  # type: ignore[call-arg]
    _OPEN_SDKS.append(client)
    return client


def reverse_sdk[Client](api_class: type[Client], listener_url: str, *, api_key: str, secret: str,
                passphrase: str) -> Client:
    """A python-okx API class whose `domain` is the sidecar's reverse listener."""
    client = api_class(api_key, secret, passphrase, flag="0", domain=listener_url)  # type: ignore[call-arg]
    _OPEN_SDKS.append(client)
    return client
