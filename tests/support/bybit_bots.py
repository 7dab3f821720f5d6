"""Factories for real, unmodified Bybit clients that play the trading bot in tests: `ccxt.bybit` (sync) and
pybit's `unified_trading.HTTP`.

Wiring (README, "Routing a bot through the sidecar"; docs/venues.md §8):

- ccxt, explicit proxy: every `urls['api']` entry (spot, futures, v2, public, private; no path prefix) points at
  the venue's HTTPS URL, `https_proxy` at the sidecar, and the sidecar's CA is trusted through the transport
  adapter from tests/support/ccxt_bots.py (ccxt discards a CA path given as `verify`).
- ccxt, reverse listener: the same URL entries point at the plain-HTTP listener.
- pybit, reverse listener: `session.endpoint = listener URL` after construction (paths are
  `f"{endpoint}{path}"`).
- pybit, explicit proxy: `session.endpoint` is the venue's HTTPS URL, `session.client.proxies` the sidecar, and
  `session.client.verify` the sidecar's CA (pybit sends prepared requests with `Session.send`, which does not
  read REQUESTS_CA_BUNDLE but does use the session's `verify` and `proxies`).

ccxt.bybit with keys calls, before its first order: `GET /v5/asset/coin/query-info` (currencies, in
`load_markets`), `GET /v5/market/instruments-info` for spot, linear (+PreLaunch), inverse (+PreLaunch) and six
option base coins, then `GET /v5/user/query-api` and `GET /v5/account/info` (is_unified_enabled). All of them pass
the sidecar as reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ccxt
from pybit.unified_trading import HTTP
from tests.fakes.bybit import DEFAULT_ACCOUNTS
from tests.support.ccxt_bots import rewrite_api_urls, trust_ca

__all__ = ["DEFAULT_API_KEY", "DEFAULT_SECRET", "make_bybit", "make_pybit"]

DEFAULT_API_KEY, DEFAULT_SECRET = next(iter(DEFAULT_ACCOUNTS.items()))
DEFAULT_TIMEOUT_MS = 10_000


def make_bybit(
    base_url: str,
    *,
    api_key: str | None = DEFAULT_API_KEY,
    secret: str | None = DEFAULT_SECRET,
    ca_file: str | Path | None = None,
    https_proxy: str | None = None,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    options: Mapping[str, Any] | None = None,
) -> ccxt.bybit:
    """A sync ccxt.bybit whose every API URL is `base_url` (a venue over HTTPS, or a reverse listener)."""
    if https_proxy is not None and not base_url.startswith("https://"):
        raise ValueError("explicit-proxy wiring is for HTTPS venues (the proxy intercepts TLS)")
    exchange = ccxt.bybit({
        "apiKey": api_key,
        "secret": secret,
        "enableRateLimit": False,
        "timeout": timeout_ms,
        "options": dict(options or {}),
    })
    rewrite_api_urls(exchange, base_url)
    if ca_file is not None:
        trust_ca(exchange, ca_file)
    if https_proxy is not None:
        exchange.https_proxy = https_proxy
    return exchange


def make_pybit(
    endpoint: str,
    *,
    api_key: str = DEFAULT_API_KEY,
    secret: str = DEFAULT_SECRET,
    https_proxy: str | None = None,
    ca_file: str | Path | None = None,
    timeout_s: int = 10,
) -> HTTP:
    """pybit's HTTP client pointed at `endpoint`; through `https_proxy` trusting `ca_file` when given."""
    session = HTTP(api_key=api_key, api_secret=secret, timeout=timeout_s, retry_delay=0)
    session.endpoint = endpoint.rstrip("/")
    if https_proxy is not None:
        if not endpoint.startswith("https://") or ca_file is None:
            raise ValueError("explicit-proxy wiring is for HTTPS venues and needs the proxy's CA")
        session.client.proxies = {"https": https_proxy}
        session.client.verify = str(ca_file)
    elif ca_file is not None:
        session.client.verify = str(ca_file)
    return session
