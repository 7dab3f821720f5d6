"""Factories for a real, unmodified `ccxt.binanceusdm` (sync) that plays the trading bot in tests.

Three wirings, matching the ways a bot reaches the firewall (README, "Routing a bot through the sidecar"):

(a) `direct_bot(base_url)` — ccxt talks straight to a fake venue (`http://` or `https://` + `ca_file`).
(b) `proxied_bot(venue_url, proxy_url, ca_file)` — ccxt's URLs point at the venue over HTTPS and every
    request goes through an intercepting HTTP proxy (`CONNECT`); `ca_file` is the CA the proxy signs with.
(c) `reverse_bot(listener_url)` — ccxt's base URL is a plain-HTTP reverse-proxy listener.

All three rewrite every `urls['api']` entry (scheme and host only; the path prefix such as `/fapi/v1` or
`/sapi/v1` is kept), set `options['fetchCurrencies'] = False` (else `load_markets()` with keys first calls
`GET /sapi/v1/capital/config/getall`), `enableRateLimit=False` and a 10 s timeout.

How CA trust is wired, and why (ccxt 4.5.64 `base/exchange.py` `fetch()`): ccxt calls
`session.request(..., verify=self.verify and self.validateServerSsl)`, so a CA path in `exchange.verify` is
discarded (it evaluates to `True`), and requests lets that per-request `True` override `session.verify`.
What does work: (1) `requests_trust_env=True` plus env `REQUESTS_CA_BUNDLE` — process-global, also pulls in
env proxies, and this machine's environment already sets `REQUESTS_CA_BUNDLE` to the system bundle;
(2) `validateServerSsl=<path>` (works only because `True and path` is `path`: an accident, not an API);
(3) what the factories do: mount a `requests` transport adapter on the bot's own session that replaces
`verify=True` with the CA file — per instance, no environment, and it covers proxied (`CONNECT`) requests.
`test_ccxt_over_tls_when_ca_wired_then_only_working_ways_are_trusted` proves each of these against the
fake's own TLS (no proxy). An untrusted certificate surfaces in ccxt as `NetworkError` (not ExchangeError).

Error classes: ccxt picks Binance's URL-specific ("linear") exception map by URL prefix
(`https://fapi.binance.com/...`). With a rewritten base URL only the common map applies
(docs/venues.md §1.5), e.g. -2027 becomes `ExchangeError`, not `OperationRejected`.

Endpoint each ccxt call uses (installed ccxt 4.5.64, observed in the fake's request log by
`test_ccxt_call_when_driven_directly_then_uses_documented_endpoint`):

| ccxt call                                            | request(s) on the wire                                   |
|------------------------------------------------------|----------------------------------------------------------|
| load_markets()                                       | GET /fapi/v1/exchangeInfo                                 |
| load_markets() with options fetchCurrencies=True     | GET /sapi/v1/capital/config/getall, GET /fapi/v1/exchangeInfo |
| fetch_time()                                         | GET /fapi/v1/time                                         |
| fetch_ticker(s)                                      | GET /fapi/v1/ticker/24hr                                  |
| fetch_order_book(s)                                  | GET /fapi/v1/depth                                        |
| fetch_mark_price(s), fetch_funding_rate(s)           | GET /fapi/v1/premiumIndex                                 |
| fetch_balance()                                      | GET /fapi/v3/account                                      |
| create_order market / limit                          | POST /fapi/v1/order (form body, newOrderRespType=RESULT)  |
| create_order with triggerPrice / stopLossPrice /     | POST /fapi/v1/algoOrder (algoType=CONDITIONAL,            |
|   takeProfitPrice / trailingPercent                  |   type STOP_MARKET/TAKE_PROFIT_MARKET/..., triggerPrice)  |
| create_orders([...])                                 | POST /fapi/v1/batchOrders (batchOrders=<raw JSON>)        |
| edit_order(id, ...)                                  | PUT /fapi/v1/order                                        |
| edit_orders([...])                                   | PUT /fapi/v1/batchOrders                                  |
| cancel_order(id, s)                                  | DELETE /fapi/v1/order                                     |
| cancel_order(id, s, {'trigger': True})               | DELETE /fapi/v1/algoOrder                                 |
| cancel_orders([ids], s)                              | DELETE /fapi/v1/batchOrders (lower-case `orderidlist`)    |
| cancel_all_orders(s)                                 | DELETE /fapi/v1/allOpenOrders                             |
| cancel_all_orders(s, {'trigger': True})              | DELETE /fapi/v1/algoOpenOrders                            |
| fetch_order(id, s) / fetch_open_orders(s)            | GET /fapi/v1/order / GET /fapi/v1/openOrders              |
| fetch_open_orders(s, params={'trigger': True})       | GET /fapi/v1/openAlgoOrders                               |
| set_leverage(n, s)                                   | POST /fapi/v1/leverage                                    |
| set_margin_mode('isolated'|'cross', s)               | POST /fapi/v1/marginType (-4046 "No need to change" is     |
|                                                      |   swallowed by ccxt unless throwMarginModeAlreadySet)     |
| set_position_mode(hedged)                            | POST /fapi/v1/positionSide/dual                           |
| fetch_position_mode()                                | GET /fapi/v1/positionSide/dual                            |
| fetch_positions([s])                                 | GET /fapi/v1/leverageBracket (first call only, cached),   |
|                                                      |   GET /fapi/v3/positionRisk (v2 with params useV2=True)   |
| fetch_leverages()                                    | GET /fapi/v1/leverageBracket (first call only, cached),   |
|                                                      |   GET /fapi/v1/symbolConfig                               |
| fetch_margin_mode(s)                                 | GET /fapi/v1/symbolConfig                                 |
| fetch_trading_fee(s)                                 | GET /fapi/v1/commissionRate                               |
| withdraw(...)                                        | POST /sapi/v1/capital/withdraw/apply                      |
| transfer(..., 'future', 'spot')                      | POST /sapi/v1/asset/transfer                              |

Signing (ccxt `binance.sign()`): private GET/DELETE carry everything, `signature` last, in the query
string; POST/PUT carry everything in an `application/x-www-form-urlencoded` body. Every private request
has `timestamp` and `recvWindow=10000`. batchOrders JSON and DELETE batchOrders id lists are *not*
percent-encoded (`rawencode`) and are signed that way.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ccxt
from requests.adapters import HTTPAdapter
from tests.fakes.binance_usdm import DEFAULT_ACCOUNTS

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_SECRET",
    "direct_bot",
    "make_binanceusdm",
    "proxied_bot",
    "reverse_bot",
    "rewrite_api_urls",
    "trust_ca",
]

DEFAULT_API_KEY, DEFAULT_SECRET = next(iter(DEFAULT_ACCOUNTS.items()))
DEFAULT_TIMEOUT_MS = 10_000


class _CaFileAdapter(HTTPAdapter):
    """Verifies HTTPS against one CA file whenever the caller asked for default verification."""

    def __init__(self, ca_file: str) -> None:
        self._ca_file = ca_file
        super().__init__()

    def send(self, request: Any, stream: bool = False, timeout: Any = None, verify: Any = True,
             cert: Any = None, proxies: Any = None) -> Any:
        if verify is True:
            verify = self._ca_file
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


def trust_ca(exchange: ccxt.Exchange, ca_file: str | Path) -> None:
    """Make a sync ccxt exchange verify HTTPS against `ca_file` (instead of certifi) — see module doc."""
    exchange.session.mount("https://", _CaFileAdapter(str(ca_file)))


def rewrite_api_urls(exchange: ccxt.Exchange, base_url: str) -> None:
    """Point every `urls['api']` entry at `base_url`, keeping each entry's path prefix."""
    base = base_url.rstrip("/")
    api = exchange.urls["api"]
    for key, url in list(api.items()):
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            parts = urlsplit(url)
            api[key] = base + parts.path


def make_binanceusdm(
    base_url: str,
    *,
    api_key: str | None = DEFAULT_API_KEY,
    secret: str | None = DEFAULT_SECRET,
    ca_file: str | Path | None = None,
    https_proxy: str | None = None,
    fetch_currencies: bool = False,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    options: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
) -> ccxt.binanceusdm:
    """The one place a test bot is built; the three wirings below only choose its arguments."""
    exchange = ccxt.binanceusdm({
        "apiKey": api_key,
        "secret": secret,
        "enableRateLimit": False,
        "timeout": timeout_ms,
        "options": {"fetchCurrencies": fetch_currencies, **(options or {})},
        **(config or {}),
    })
    rewrite_api_urls(exchange, base_url)
    if ca_file is not None:
        trust_ca(exchange, ca_file)
    if https_proxy is not None:
        # `https_proxy` (not `http_proxy`) is the setting ccxt applies to https:// targets (docs/venues.md §8).
        exchange.https_proxy = https_proxy
    return exchange


def direct_bot(base_url: str, *, ca_file: str | Path | None = None, **kwargs: Any) -> ccxt.binanceusdm:
    """(a) Straight to a venue (a fake's `base_url`); give `ca_file` when it serves HTTPS."""
    return make_binanceusdm(base_url, ca_file=ca_file, **kwargs)


def proxied_bot(venue_url: str, proxy_url: str, ca_file: str | Path, **kwargs: Any) -> ccxt.binanceusdm:
    """(b) Through an intercepting HTTP proxy (`http://127.0.0.1:PROXYPORT`) to an HTTPS venue URL,
    trusting `ca_file` — the proxy's CA, since the proxy presents certificates it signs itself."""
    if not venue_url.startswith("https://"):
        raise ValueError("explicit-proxy wiring is for HTTPS venues (the proxy intercepts TLS)")
    return make_binanceusdm(venue_url, ca_file=ca_file, https_proxy=proxy_url, **kwargs)


def reverse_bot(listener_url: str, **kwargs: Any) -> ccxt.binanceusdm:
    """(c) Base URL set to a reverse-proxy listener over plain HTTP (`http://127.0.0.1:PORT`)."""
    if not listener_url.startswith("http://"):
        raise ValueError("reverse-listener wiring is plain HTTP")
    return make_binanceusdm(listener_url, **kwargs)
